//! The real kubectl against a sandbox: namespaces, apply, wait, jsonpath.

mod common;

use common::Env;

const DEPLOY: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: demo
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: main
        image: example.invalid/web:1
        ports:
        - {name: http, containerPort: 8080}
---
apiVersion: v1
kind: Service
metadata:
  name: web
  namespace: demo
  labels: {app: web}
spec:
  type: LoadBalancer
  selector: {app: web}
  ports:
  - {name: http, port: 80, targetPort: http}
  - {name: tls, port: 443, targetPort: 8443}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn create_namespace_twice_reports_already_exists() {
    let env = Env::start(&["c1"]).await;
    let out = env
        .kubectl("c1", &["create", "namespace", "demo"])
        .await
        .ok();
    assert_eq!(out.stdout.trim(), "namespace/demo created");
    let again = env.kubectl("c1", &["create", "namespace", "demo"]).await;
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("AlreadyExists"), "{again:?}");
    let phase = env
        .kubectl(
            "c1",
            &["get", "ns", "demo", "-o", "jsonpath={.status.phase}"],
        )
        .await
        .ok();
    assert_eq!(phase.stdout, "Active");
}

#[tokio::test(flavor = "multi_thread")]
async fn apply_wait_and_read_addresses() {
    let env = Env::start(&["c1"]).await;
    env.kubectl("c1", &["create", "namespace", "demo"])
        .await
        .ok();
    let f = env.write("web.yaml", DEPLOY);
    let out = env
        .kubectl("c1", &["apply", "-f", f.to_str().unwrap()])
        .await
        .ok();
    assert!(
        out.stdout.contains("deployment.apps/web created"),
        "{out:?}"
    );
    assert!(out.stdout.contains("service/web created"), "{out:?}");
    env.kubectl(
        "c1",
        &[
            "wait",
            "--for=condition=Available",
            "deploy/web",
            "-n",
            "demo",
            "--timeout=30s",
        ],
    )
    .await
    .ok();
    let ip = env
        .kubectl(
            "c1",
            &[
                "get",
                "pods",
                "-n",
                "demo",
                "-l",
                "app=web",
                "-o",
                "jsonpath={.items[0].status.podIP}",
            ],
        )
        .await
        .ok();
    assert!(ip.stdout.starts_with("10."), "{ip:?}");
    let host = env
        .kubectl(
            "c1",
            &[
                "get",
                "pods",
                "-n",
                "demo",
                "-o",
                "jsonpath={.items[0].status.hostIP}",
            ],
        )
        .await
        .ok();
    assert!(host.stdout.starts_with("127.168."), "{host:?}");
    let mut lb = String::new();
    for _ in 0..50 {
        lb = env
            .kubectl(
                "c1",
                &[
                    "get",
                    "svc",
                    "web",
                    "-n",
                    "demo",
                    "-o",
                    "jsonpath={.status.loadBalancer.ingress[0].ip}",
                ],
            )
            .await
            .ok()
            .stdout;
        if !lb.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(lb.starts_with("127.18."), "{lb}");
    let np = env
        .kubectl(
            "c1",
            &[
                "get",
                "svc",
                "web",
                "-n",
                "demo",
                "-o",
                r#"jsonpath={.spec.ports[?(@.name=="tls")].nodePort}"#,
            ],
        )
        .await
        .ok();
    let port: u32 = np.stdout.parse().expect("a node port");
    assert!((30000..32768).contains(&port));
    let eps = env
        .kubectl(
            "c1",
            &[
                "get",
                "endpoints",
                "web",
                "-n",
                "demo",
                "-o",
                "jsonpath={.subsets[0].ports[?(@.name==\"http\")].port}",
            ],
        )
        .await
        .ok();
    assert_eq!(eps.stdout, "8080");
    // Re-applying unchanged is a no-op; a change is "configured".
    let same = env
        .kubectl("c1", &["apply", "-f", f.to_str().unwrap()])
        .await
        .ok();
    assert!(
        same.stdout.contains("deployment.apps/web unchanged"),
        "{same:?}"
    );
    let changed = env.write("web2.yaml", &DEPLOY.replace("web:1", "web:2"));
    let out = env
        .kubectl("c1", &["apply", "-f", changed.to_str().unwrap()])
        .await
        .ok();
    assert!(
        out.stdout.contains("deployment.apps/web configured"),
        "{out:?}"
    );
    let image = env
        .kubectl(
            "c1",
            &[
                "get",
                "deploy",
                "web",
                "-n",
                "demo",
                "-o",
                "jsonpath={.spec.template.spec.containers[0].image}",
            ],
        )
        .await
        .ok();
    assert_eq!(image.stdout, "example.invalid/web:2");
    env.kubectl(
        "c1",
        &[
            "rollout",
            "status",
            "deploy/web",
            "-n",
            "demo",
            "--timeout=30s",
        ],
    )
    .await
    .ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn get_prints_server_side_columns() {
    let env = Env::start(&["c1"]).await;
    env.kubectl("c1", &["create", "namespace", "demo"])
        .await
        .ok();
    let f = env.write("web.yaml", DEPLOY);
    env.kubectl("c1", &["apply", "-f", f.to_str().unwrap()])
        .await
        .ok();
    env.kubectl(
        "c1",
        &[
            "wait",
            "--for=condition=Available",
            "deploy/web",
            "-n",
            "demo",
            "--timeout=30s",
        ],
    )
    .await
    .ok();
    let deploy = env
        .kubectl("c1", &["get", "deploy", "-n", "demo"])
        .await
        .ok();
    let lines: Vec<&str> = deploy.stdout.lines().collect();
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    );
    assert_eq!(
        lines[1].split_whitespace().take(4).collect::<Vec<_>>(),
        ["web", "2/2", "2", "2"]
    );
    let pods = env
        .kubectl("c1", &["get", "pods", "-n", "demo", "-o", "wide"])
        .await
        .ok();
    assert!(pods.stdout.starts_with("NAME"), "{pods:?}");
    assert!(
        pods.stdout.contains("Running")
            && pods.stdout.contains("1/1")
            && pods.stdout.contains("c1-node-1"),
        "{pods:?}"
    );
    let svc = env
        .kubectl("c1", &["get", "svc", "web", "-n", "demo"])
        .await
        .ok();
    assert!(
        svc.stdout.contains("LoadBalancer") && svc.stdout.contains("/TCP"),
        "{svc:?}"
    );
    let one = env
        .kubectl("c1", &["get", "ns", "demo", "--no-headers"])
        .await
        .ok();
    assert_eq!(
        one.stdout.split_whitespace().take(2).collect::<Vec<_>>(),
        ["demo", "Active"]
    );
}
