//! The real kubectl against a sandbox: apply modes, secrets, labels, patches, scale, watch,
//! CRDs, delete, exec and dry runs.

mod common;

use std::time::Duration;

use common::Env;

const DEPLOY: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: demo
spec:
  replicas: 1
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      containers:
      - name: main
        image: example.invalid/api:1
        env:
        - {name: GREETING, value: hello from the spec}
"#;

async fn with_demo(env: &Env) {
    env.kubectl("c1", &["create", "namespace", "demo"])
        .await
        .ok();
}

async fn running_deploy(env: &Env) -> String {
    with_demo(env).await;
    let f = env.write("api.yaml", DEPLOY);
    env.kubectl("c1", &["apply", "-f", f.to_str().unwrap()])
        .await
        .ok();
    env.kubectl(
        "c1",
        &[
            "wait",
            "--for=condition=Available",
            "deploy/api",
            "-n",
            "demo",
            "--timeout=30s",
        ],
    )
    .await
    .ok();
    env.kubectl(
        "c1",
        &[
            "get",
            "pods",
            "-n",
            "demo",
            "-l",
            "app=api",
            "-o",
            "jsonpath={.items[0].metadata.name}",
        ],
    )
    .await
    .ok()
    .stdout
}

#[tokio::test(flavor = "multi_thread")]
async fn server_side_apply_creates_then_updates() {
    let env = Env::start(&["c1"]).await;
    with_demo(&env).await;
    let f = env.write("api.yaml", DEPLOY);
    let out = env
        .kubectl("c1", &["apply", "--server-side", "-f", f.to_str().unwrap()])
        .await
        .ok();
    assert_eq!(out.stdout.trim(), "deployment.apps/api serverside-applied");
    let f2 = env.write("api2.yaml", &DEPLOY.replace("replicas: 1", "replicas: 2"));
    env.kubectl(
        "c1",
        &[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            f2.to_str().unwrap(),
        ],
    )
    .await
    .ok();
    let r = env
        .kubectl(
            "c1",
            &[
                "get",
                "deploy",
                "api",
                "-n",
                "demo",
                "-o",
                "jsonpath={.spec.replicas}/{.metadata.generation}",
            ],
        )
        .await
        .ok();
    assert_eq!(r.stdout, "2/2");
    env.kubectl(
        "c1",
        &[
            "wait",
            "--for=jsonpath={.status.readyReplicas}=2",
            "deploy/api",
            "-n",
            "demo",
            "--timeout=30s",
        ],
    )
    .await
    .ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn server_side_apply_tracks_field_owners() {
    let env = Env::start(&["c1"]).await;
    with_demo(&env).await;
    let labelled = DEPLOY.replace("  name: api\n", "  name: api\n  labels: {tier: backend}\n");
    let f = env.write("api.yaml", &labelled);
    env.kubectl("c1", &["apply", "--server-side", "-f", f.to_str().unwrap()])
        .await
        .ok();
    let other = env.write("other.yaml", &DEPLOY.replace("replicas: 1", "replicas: 3"));
    let clash = env
        .kubectl(
            "c1",
            &[
                "apply",
                "--server-side",
                "--field-manager=other",
                "-f",
                other.to_str().unwrap(),
            ],
        )
        .await;
    assert_eq!(clash.code, 1);
    assert!(
        clash.stderr.contains(
            r#"Apply failed with 1 conflict: conflict with "kubectl" using apps/v1: .spec.replicas"#
        ),
        "{clash:?}"
    );
    env.kubectl(
        "c1",
        &[
            "apply",
            "--server-side",
            "--field-manager=other",
            "--force-conflicts",
            "-f",
            other.to_str().unwrap(),
        ],
    )
    .await
    .ok();
    // The first manager drops its label: the label goes, replicas now belong to "other".
    let f = env.write(
        "api-unlabelled.yaml",
        &DEPLOY.replace("  replicas: 1\n", ""),
    );
    env.kubectl("c1", &["apply", "--server-side", "-f", f.to_str().unwrap()])
        .await
        .ok();
    let v = env
        .kubectl(
            "c1",
            &[
                "get",
                "deploy",
                "api",
                "-n",
                "demo",
                "-o",
                "jsonpath={.spec.replicas}/{.metadata.labels.tier}",
            ],
        )
        .await
        .ok();
    assert_eq!(v.stdout, "3/");
    let managers = env
        .kubectl(
            "c1",
            &[
                "get",
                "deploy",
                "api",
                "-n",
                "demo",
                "--show-managed-fields",
                "-o",
                "jsonpath={.metadata.managedFields[*].manager}",
            ],
        )
        .await
        .ok();
    assert_eq!(managers.stdout, "other kubectl");
}

#[tokio::test(flavor = "multi_thread")]
async fn secret_from_file_and_labels() {
    let env = Env::start(&["c1"]).await;
    with_demo(&env).await;
    let pem = env.write(
        "ca.pem",
        "-----BEGIN CERTIFICATE-----\nabc\n-----END CERTIFICATE-----\n",
    );
    let arg = format!("--from-file={}", pem.display());
    let out = env
        .kubectl(
            "c1",
            &["create", "secret", "generic", "cacerts", "-n", "demo", &arg],
        )
        .await
        .ok();
    assert_eq!(out.stdout.trim(), "secret/cacerts created");
    let data = env
        .kubectl(
            "c1",
            &[
                "get",
                "secret",
                "cacerts",
                "-n",
                "demo",
                "-o",
                r"jsonpath={.type} {.data.ca\.pem}",
            ],
        )
        .await
        .ok();
    use base64::Engine;
    let (ty, b64) = data.stdout.split_once(' ').unwrap();
    assert_eq!(ty, "Opaque");
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(b64)
        .unwrap();
    assert_eq!(decoded, std::fs::read(&pem).unwrap());

    let out = env
        .kubectl(
            "c1",
            &["label", "namespace", "demo", "istio-injection=enabled"],
        )
        .await
        .ok();
    assert_eq!(out.stdout.trim(), "namespace/demo labeled");
    let clash = env
        .kubectl(
            "c1",
            &["label", "namespace", "demo", "istio-injection=disabled"],
        )
        .await;
    assert_ne!(clash.code, 0);
    env.kubectl(
        "c1",
        &[
            "label",
            "--overwrite",
            "namespace",
            "demo",
            "istio-injection=disabled",
        ],
    )
    .await
    .ok();
    let v = env
        .kubectl(
            "c1",
            &[
                "get",
                "ns",
                "demo",
                "-o",
                "jsonpath={.metadata.labels.istio-injection}",
            ],
        )
        .await
        .ok();
    assert_eq!(v.stdout, "disabled");
    let out = env
        .kubectl("c1", &["label", "namespace", "demo", "istio-injection-"])
        .await
        .ok();
    assert_eq!(out.stdout.trim(), "namespace/demo unlabeled");
    let sel = env
        .kubectl("c1", &["get", "ns", "-l", "istio-injection", "-o", "name"])
        .await
        .ok();
    assert_eq!(sel.stdout.trim(), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn patches_merge_json_and_strategic() {
    let env = Env::start(&["c1"]).await;
    with_demo(&env).await;
    env.kubectl(
        "c1",
        &[
            "create",
            "configmap",
            "istio",
            "-n",
            "demo",
            "--from-literal=mesh=a: 1",
        ],
    )
    .await
    .ok();
    let out = env
        .kubectl(
            "c1",
            &[
                "patch",
                "configmap",
                "istio",
                "-n",
                "demo",
                "--type",
                "merge",
                "-p",
                r#"{"data":{"mesh":"a: 2"}}"#,
            ],
        )
        .await
        .ok();
    assert_eq!(out.stdout.trim(), "configmap/istio patched");
    let again = env
        .kubectl(
            "c1",
            &[
                "patch",
                "configmap",
                "istio",
                "-n",
                "demo",
                "--type",
                "merge",
                "-p",
                r#"{"data":{"mesh":"a: 2"}}"#,
            ],
        )
        .await
        .ok();
    assert_eq!(again.stdout.trim(), "configmap/istio patched (no change)");
    env.kubectl(
        "c1",
        &[
            "patch",
            "configmap",
            "istio",
            "-n",
            "demo",
            "--type",
            "json",
            "-p",
            r#"[{"op":"add","path":"/data/extra","value":"x"}]"#,
        ],
    )
    .await
    .ok();
    let f = env.write("api.yaml", DEPLOY);
    env.kubectl("c1", &["apply", "-f", f.to_str().unwrap()])
        .await
        .ok();
    env.kubectl(
        "c1",
        &["patch", "deploy", "api", "-n", "demo", "-p", r#"{"spec":{"template":{"spec":{"containers":[{"name":"main","image":"example.invalid/api:2"}]}}}}"#],
    )
    .await
    .ok();
    let v = env
        .kubectl(
            "c1",
            &[
                "get",
                "cm",
                "istio",
                "-n",
                "demo",
                "-o",
                "jsonpath={.data.mesh}/{.data.extra}",
            ],
        )
        .await
        .ok();
    assert_eq!(v.stdout, "a: 2/x");
    let img = env
        .kubectl(
            "c1",
            &[
                "get",
                "deploy",
                "api",
                "-n",
                "demo",
                "-o",
                "jsonpath={.spec.template.spec.containers[*].image}",
            ],
        )
        .await
        .ok();
    assert_eq!(img.stdout, "example.invalid/api:2");
    let missing = env
        .kubectl("c1", &["patch", "svc", "nosvc", "-n", "demo", "-p", "{}"])
        .await;
    assert!(
        missing.stderr.contains(r#"services "nosvc" not found"#),
        "{missing:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn scale_and_delete_cascade() {
    let env = Env::start(&["c1"]).await;
    running_deploy(&env).await;
    let out = env
        .kubectl(
            "c1",
            &["scale", "deploy", "api", "-n", "demo", "--replicas=3"],
        )
        .await
        .ok();
    assert_eq!(out.stdout.trim(), "deployment.apps/api scaled");
    env.kubectl(
        "c1",
        &[
            "wait",
            "--for=jsonpath={.status.availableReplicas}=3",
            "deploy/api",
            "-n",
            "demo",
            "--timeout=30s",
        ],
    )
    .await
    .ok();
    let pods = env
        .kubectl(
            "c1",
            &["get", "pods", "-n", "demo", "-l", "app=api", "-o", "name"],
        )
        .await
        .ok();
    assert_eq!(pods.stdout.lines().count(), 3);
    let out = env
        .kubectl(
            "c1",
            &["delete", "deploy", "api", "-n", "demo", "--timeout=30s"],
        )
        .await
        .ok();
    assert_eq!(out.stdout.trim(), r#"deployment.apps "api" deleted"#);
    let pods = env
        .kubectl("c1", &["get", "pods", "-n", "demo", "-o", "name"])
        .await
        .ok();
    assert_eq!(pods.stdout.trim(), "");
    let out = env
        .kubectl("c1", &["delete", "namespace", "demo", "--timeout=30s"])
        .await
        .ok();
    assert_eq!(out.stdout.trim(), r#"namespace "demo" deleted"#);
}

#[tokio::test(flavor = "multi_thread")]
async fn get_watch_prints_changes() {
    use tokio::io::AsyncBufReadExt;
    let env = Env::start(&["c1"]).await;
    with_demo(&env).await;
    env.kubectl(
        "c1",
        &[
            "create",
            "configmap",
            "w",
            "-n",
            "demo",
            "--from-literal=v=1",
        ],
    )
    .await
    .ok();
    let cache = env.path("watch-cache");
    let mut child = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .args(["--context", "c1", "--cache-dir"])
        .arg(&cache)
        .args([
            "get",
            "configmap",
            "w",
            "-n",
            "demo",
            "-w",
            "-o",
            "jsonpath={.data.v}{\"\\n\"}",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    macro_rules! next {
        () => {
            tokio::time::timeout(Duration::from_secs(30), lines.next_line())
                .await
                .expect("a watch line")
                .unwrap()
        };
    }
    assert_eq!(next!().as_deref(), Some("1"));
    for v in ["2", "3"] {
        env.kubectl(
            "c1",
            &[
                "patch",
                "cm",
                "w",
                "-n",
                "demo",
                "--type",
                "merge",
                "-p",
                &format!(r#"{{"data":{{"v":"{v}"}}}}"#),
            ],
        )
        .await
        .ok();
        assert_eq!(next!().as_deref(), Some(v));
    }
    child.kill().await.unwrap();
}

const CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wg]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
    subresources: {status: {}}
"#;

const CR: &str = r#"
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: demo}
spec: {size: 3}
"#;

#[tokio::test(flavor = "multi_thread")]
async fn crd_then_custom_resource() {
    let env = Env::start(&["c1"]).await;
    with_demo(&env).await;
    let crd = env.write("crd.yaml", CRD);
    env.kubectl("c1", &["apply", "-f", crd.to_str().unwrap()])
        .await
        .ok();
    env.kubectl(
        "c1",
        &[
            "wait",
            "--for=condition=Established",
            "crd/widgets.example.com",
            "--timeout=30s",
        ],
    )
    .await
    .ok();
    let cr = env.write("cr.yaml", CR);
    let out = env
        .kubectl("c1", &["apply", "-f", cr.to_str().unwrap()])
        .await
        .ok();
    assert_eq!(out.stdout.trim(), "widget.example.com/w1 created");
    let changed = env.write("cr2.yaml", &CR.replace("size: 3", "size: 4"));
    let out = env
        .kubectl("c1", &["apply", "-f", changed.to_str().unwrap()])
        .await
        .ok();
    assert_eq!(out.stdout.trim(), "widget.example.com/w1 configured");
    let v = env
        .kubectl(
            "c1",
            &[
                "get",
                "wg",
                "w1",
                "-n",
                "demo",
                "-o",
                "jsonpath={.spec.size}",
            ],
        )
        .await
        .ok();
    assert_eq!(v.stdout, "4");
    env.kubectl("c1", &["delete", "widget", "w1", "-n", "demo"])
        .await
        .ok();
    let gone = env
        .kubectl("c1", &["get", "widgets", "-n", "demo", "-o", "name"])
        .await
        .ok();
    assert_eq!(gone.stdout.trim(), "");
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_runs_commands_in_the_pod_directory() {
    let env = Env::start(&["c1"]).await;
    let pod = running_deploy(&env).await;
    let out = env
        .kubectl(
            "c1",
            &[
                "exec",
                &pod,
                "-n",
                "demo",
                "--",
                "sh",
                "-c",
                "echo hi; echo oops >&2; echo $HOSTNAME",
            ],
        )
        .await
        .ok();
    assert_eq!(out.stdout, format!("hi\n{pod}\n"));
    assert!(out.stderr.contains("oops"), "{out:?}");
    let failed = env
        .kubectl(
            "c1",
            &["exec", &pod, "-n", "demo", "--", "sh", "-c", "exit 3"],
        )
        .await;
    assert_eq!(failed.code, 3, "{failed:?}");
    let piped = env
        .kubectl_with(
            "c1",
            &["exec", "-i", &pod, "-n", "demo", "--", "cat"],
            Some("from stdin"),
            Duration::from_secs(60),
        )
        .await
        .ok();
    assert_eq!(piped.stdout, "from stdin");
    // Files written by one exec are seen by the next, in that pod only.
    env.kubectl(
        "c1",
        &[
            "exec",
            &pod,
            "-n",
            "demo",
            "--",
            "sh",
            "-c",
            "echo kept > f",
        ],
    )
    .await
    .ok();
    let f = env
        .kubectl("c1", &["exec", &pod, "-n", "demo", "--", "cat", "f"])
        .await
        .ok();
    assert_eq!(f.stdout, "kept\n");
    let env_out = env
        .kubectl(
            "c1",
            &[
                "exec",
                &pod,
                "-n",
                "demo",
                "--",
                "sh",
                "-c",
                "echo $GREETING",
            ],
        )
        .await
        .ok();
    assert_eq!(env_out.stdout, "hello from the spec\n");
    // A command outlives neither its client: kill kubectl, and the process goes too.
    let cache = env.path("exec-cache");
    let mut long = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .args(["--context", "c1", "--cache-dir"])
        .arg(&cache)
        .args([
            "exec",
            &pod,
            "-n",
            "demo",
            "--",
            "sh",
            "-c",
            "echo $$ > pid; echo started; exec sleep 30",
        ])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut first = [0u8; 8];
    let stdout = long.stdout.as_mut().unwrap();
    tokio::time::timeout(
        Duration::from_secs(30),
        tokio::io::AsyncReadExt::read_exact(stdout, &mut first),
    )
    .await
    .expect("the command started")
    .unwrap();
    long.kill().await.unwrap();
    let mut alive = true;
    for _ in 0..50 {
        let probe = env
            .kubectl(
                "c1",
                &[
                    "exec",
                    &pod,
                    "-n",
                    "demo",
                    "--",
                    "sh",
                    "-c",
                    "kill -0 $(cat pid)",
                ],
            )
            .await;
        if probe.code != 0 {
            alive = false;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!alive, "the exec'd process was left running");
}

#[tokio::test(flavor = "multi_thread")]
async fn server_dry_run_changes_nothing() {
    let env = Env::start(&["c1"]).await;
    with_demo(&env).await;
    let f = env.write("api.yaml", DEPLOY);
    let out = env
        .kubectl(
            "c1",
            &["apply", "--dry-run=server", "-f", f.to_str().unwrap()],
        )
        .await
        .ok();
    assert!(out.stdout.contains("(server dry run)"), "{out:?}");
    let get = env
        .kubectl("c1", &["get", "deploy", "api", "-n", "demo"])
        .await;
    assert!(get.stderr.contains("NotFound"), "{get:?}");
    let invalid = env.write("bad.yaml", &DEPLOY.replace("replicas: 1", "replicas: -1"));
    let bad = env
        .kubectl("c1", &["apply", "-f", invalid.to_str().unwrap()])
        .await;
    assert!(
        bad.stderr.contains("spec.replicas: Invalid value: -1"),
        "{bad:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn edit_replace_annotate_and_restart() {
    let env = Env::start(&["c1"]).await;
    running_deploy(&env).await;
    env.kubectl(
        "c1",
        &[
            "create",
            "configmap",
            "istio",
            "-n",
            "demo",
            "--from-literal=mesh=gateway: 0.0.0.0",
        ],
    )
    .await
    .ok();
    let editor = env.write(
        "editor.sh",
        "#!/bin/sh\nsed -i 's/0.0.0.0/127.18.1.10/' \"$1\"\n",
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&editor, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let cache = env.path("edit-cache");
    let out = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .args(["--context", "c1", "--cache-dir"])
        .arg(&cache)
        .args(["edit", "cm", "istio", "-n", "demo"])
        .env("KUBE_EDITOR", &editor)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(60), out)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "configmap/istio edited",
        "{out:?}"
    );
    let v = env
        .kubectl(
            "c1",
            &[
                "get",
                "cm",
                "istio",
                "-n",
                "demo",
                "-o",
                "jsonpath={.data.mesh}",
            ],
        )
        .await
        .ok();
    assert_eq!(v.stdout, "gateway: 127.18.1.10");

    let out = env
        .kubectl(
            "c1",
            &["annotate", "cm", "istio", "-n", "demo", "owner=platform"],
        )
        .await
        .ok();
    assert_eq!(out.stdout.trim(), "configmap/istio annotated");
    let f = env.write(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: istio, namespace: demo}\ndata: {mesh: replaced}\n",
    );
    let out = env
        .kubectl("c1", &["replace", "-f", f.to_str().unwrap()])
        .await
        .ok();
    assert_eq!(out.stdout.trim(), "configmap/istio replaced");
    let v = env
        .kubectl(
            "c1",
            &[
                "get",
                "cm",
                "istio",
                "-n",
                "demo",
                "-o",
                "jsonpath={.data.mesh}/{.metadata.annotations.owner}",
            ],
        )
        .await
        .ok();
    assert_eq!(v.stdout, "replaced/");

    let before = env
        .kubectl(
            "c1",
            &[
                "get",
                "pods",
                "-n",
                "demo",
                "-l",
                "app=api",
                "-o",
                "jsonpath={.items[*].metadata.name}",
            ],
        )
        .await
        .ok();
    env.kubectl("c1", &["rollout", "restart", "deploy/api", "-n", "demo"])
        .await
        .ok();
    env.kubectl(
        "c1",
        &[
            "rollout",
            "status",
            "deploy/api",
            "-n",
            "demo",
            "--timeout=30s",
        ],
    )
    .await
    .ok();
    let after = env
        .kubectl(
            "c1",
            &[
                "get",
                "pods",
                "-n",
                "demo",
                "-l",
                "app=api",
                "-o",
                "jsonpath={.items[*].metadata.name}",
            ],
        )
        .await
        .ok();
    assert_ne!(before.stdout, after.stdout);
    assert_eq!(after.stdout.split(' ').count(), 1);
}
