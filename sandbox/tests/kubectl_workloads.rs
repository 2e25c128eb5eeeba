//! The real kubectl against a sandbox: StatefulSets, DaemonSets, Jobs, finalizers, orphans.

mod common;

use common::Env;

const WORKLOADS: &str = r#"
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db, namespace: work}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: example.invalid/db:1}]
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: work}
spec:
  selector: {matchLabels: {app: agent}}
  template:
    metadata: {labels: {app: agent}}
    spec:
      containers: [{name: agent, image: example.invalid/agent:1}]
---
apiVersion: batch/v1
kind: Job
metadata: {name: migrate, namespace: work}
spec:
  template:
    spec:
      restartPolicy: Never
      containers: [{name: migrate, image: example.invalid/migrate:1}]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn statefulsets_daemonsets_and_jobs_progress() {
    let env = Env::start(&["c1"]).await;
    env.kubectl("c1", &["create", "namespace", "work"])
        .await
        .ok();
    let f = env.write("work.yaml", WORKLOADS);
    env.kubectl("c1", &["apply", "-f", f.to_str().unwrap()])
        .await
        .ok();
    env.kubectl(
        "c1",
        &[
            "wait",
            "--for=condition=Complete",
            "job/migrate",
            "-n",
            "work",
            "--timeout=30s",
        ],
    )
    .await
    .ok();
    env.kubectl(
        "c1",
        &[
            "rollout",
            "status",
            "statefulset/db",
            "-n",
            "work",
            "--timeout=30s",
        ],
    )
    .await
    .ok();
    env.kubectl(
        "c1",
        &[
            "rollout",
            "status",
            "daemonset/agent",
            "-n",
            "work",
            "--timeout=30s",
        ],
    )
    .await
    .ok();
    let pods = env
        .kubectl(
            "c1",
            &[
                "get",
                "pods",
                "-n",
                "work",
                "-l",
                "app=db",
                "-o",
                "jsonpath={.items[*].metadata.name}",
            ],
        )
        .await
        .ok();
    assert_eq!(pods.stdout, "db-0 db-1");
    let job_pod = env
        .kubectl(
            "c1",
            &[
                "get",
                "pods",
                "-n",
                "work",
                "-l",
                "job-name=migrate",
                "-o",
                "jsonpath={.items[0].status.phase}",
            ],
        )
        .await
        .ok();
    assert_eq!(job_pod.stdout, "Succeeded");
    env.kubectl(
        "c1",
        &["scale", "statefulset", "db", "-n", "work", "--replicas=1"],
    )
    .await
    .ok();
    env.kubectl(
        "c1",
        &[
            "wait",
            "--for=delete",
            "pod/db-1",
            "-n",
            "work",
            "--timeout=30s",
        ],
    )
    .await
    .ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn finalizers_hold_deletion_and_orphans_keep_dependents() {
    let env = Env::start(&["c1"]).await;
    env.kubectl("c1", &["create", "namespace", "work"])
        .await
        .ok();
    let cm = env.write(
        "cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: held\n  namespace: work\n  finalizers: [example.com/hold]\ndata: {a: b}\n",
    );
    env.kubectl("c1", &["apply", "-f", cm.to_str().unwrap()])
        .await
        .ok();
    env.kubectl(
        "c1",
        &["delete", "cm", "held", "-n", "work", "--wait=false"],
    )
    .await
    .ok();
    let ts = env
        .kubectl(
            "c1",
            &[
                "get",
                "cm",
                "held",
                "-n",
                "work",
                "-o",
                "jsonpath={.metadata.deletionTimestamp}",
            ],
        )
        .await
        .ok();
    assert!(!ts.stdout.is_empty(), "terminating, not gone");
    env.kubectl(
        "c1",
        &[
            "patch",
            "cm",
            "held",
            "-n",
            "work",
            "--type",
            "merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ],
    )
    .await
    .ok();
    let gone = env
        .kubectl("c1", &["get", "cm", "held", "-n", "work"])
        .await;
    assert!(gone.stderr.contains("NotFound"), "{gone:?}");

    let f = env.write("work.yaml", WORKLOADS);
    env.kubectl("c1", &["apply", "-f", f.to_str().unwrap()])
        .await
        .ok();
    env.kubectl(
        "c1",
        &[
            "rollout",
            "status",
            "statefulset/db",
            "-n",
            "work",
            "--timeout=30s",
        ],
    )
    .await
    .ok();
    env.kubectl(
        "c1",
        &[
            "delete",
            "statefulset",
            "db",
            "-n",
            "work",
            "--cascade=orphan",
        ],
    )
    .await
    .ok();
    let owners = env
        .kubectl(
            "c1",
            &[
                "get",
                "pod",
                "db-0",
                "-n",
                "work",
                "-o",
                "jsonpath={.metadata.ownerReferences}",
            ],
        )
        .await
        .ok();
    assert_eq!(owners.stdout, "");
    let pod = env
        .kubectl("c1", &["get", "pod", "db-0", "-n", "work", "-o", "name"])
        .await
        .ok();
    assert_eq!(pod.stdout.trim(), "pod/db-0");
}

#[tokio::test(flavor = "multi_thread")]
async fn create_generators_for_deployments_services_and_jobs() {
    let env = Env::start(&["c1"]).await;
    env.kubectl("c1", &["create", "namespace", "gen"])
        .await
        .ok();
    let out = env
        .kubectl(
            "c1",
            &[
                "create",
                "deployment",
                "web",
                "-n",
                "gen",
                "--image=example.invalid/web:1",
                "--port=8080",
                "--replicas=2",
            ],
        )
        .await
        .ok();
    assert_eq!(out.stdout.trim(), "deployment.apps/web created");
    env.kubectl(
        "c1",
        &[
            "wait",
            "--for=condition=Available",
            "deploy/web",
            "-n",
            "gen",
            "--timeout=30s",
        ],
    )
    .await
    .ok();
    let d = env
        .kubectl(
            "c1",
            &["get", "deploy", "web", "-n", "gen", "-o", "jsonpath={.spec.replicas}/{.spec.selector.matchLabels.app}/{.spec.template.spec.containers[0].image}/{.spec.template.spec.containers[0].ports[0].containerPort}/{.status.readyReplicas}"],
        )
        .await
        .ok();
    assert_eq!(d.stdout, "2/web/example.invalid/web:1/8080/2");
    let out = env
        .kubectl(
            "c1",
            &[
                "create",
                "service",
                "nodeport",
                "web",
                "-n",
                "gen",
                "--tcp=80:8080",
            ],
        )
        .await
        .ok();
    assert_eq!(out.stdout.trim(), "service/web created");
    let s = env
        .kubectl("c1", &["get", "svc", "web", "-n", "gen", "-o", "jsonpath={.spec.type}/{.spec.ports[0].port}/{.spec.ports[0].targetPort}/{.spec.selector.app}"])
        .await
        .ok();
    assert_eq!(s.stdout, "NodePort/80/8080/web");
    let out = env
        .kubectl(
            "c1",
            &[
                "create",
                "job",
                "once",
                "-n",
                "gen",
                "--image=example.invalid/job:1",
                "--",
                "echo",
                "hi",
            ],
        )
        .await
        .ok();
    assert_eq!(out.stdout.trim(), "job.batch/once created");
    env.kubectl(
        "c1",
        &[
            "wait",
            "--for=condition=Complete",
            "job/once",
            "-n",
            "gen",
            "--timeout=30s",
        ],
    )
    .await
    .ok();
    let j = env
        .kubectl("c1", &["get", "job", "once", "-n", "gen", "-o", "jsonpath={.spec.template.spec.restartPolicy}/{.spec.template.spec.containers[0].command[*]}"])
        .await
        .ok();
    assert_eq!(j.stdout, "Never/echo hi");
}

#[tokio::test(flavor = "multi_thread")]
async fn deleting_a_namespace_removes_running_workloads() {
    let env = Env::start(&["c1"]).await;
    env.kubectl("c1", &["create", "namespace", "work"])
        .await
        .ok();
    let f = env.write("work.yaml", WORKLOADS);
    env.kubectl("c1", &["apply", "-f", f.to_str().unwrap()])
        .await
        .ok();
    env.kubectl(
        "c1",
        &[
            "rollout",
            "status",
            "statefulset/db",
            "-n",
            "work",
            "--timeout=30s",
        ],
    )
    .await
    .ok();
    let out = env
        .kubectl("c1", &["delete", "namespace", "work", "--timeout=30s"])
        .await
        .ok();
    assert_eq!(out.stdout.trim(), r#"namespace "work" deleted"#);
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let pods = env
        .kubectl("c1", &["get", "pods", "-A", "-o", "name"])
        .await
        .ok();
    assert_eq!(pods.stdout.trim(), "");
    let again = env
        .kubectl("c1", &["create", "namespace", "work"])
        .await
        .ok();
    assert_eq!(again.stdout.trim(), "namespace/work created");
}
