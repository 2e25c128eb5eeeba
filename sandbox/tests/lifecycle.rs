//! Deletion and rollout lifecycles as a real API server runs them: terminating namespaces and
//! foreground deletions, rolling updates within maxSurge/maxUnavailable, status conditions of
//! other writers, and `kubectl logs -f` following until the pod ends.

mod common;

use std::time::Duration;

use common::{Env, within};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{Api, DeleteParams, Patch, PatchParams, PropagationPolicy};
use kube::runtime::watcher;
use serde_json::json;

const DEPLOY: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: roll, namespace: default}
spec:
  replicas: 4
  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 1, maxUnavailable: 1}}
  selector: {matchLabels: {app: roll}}
  template:
    metadata: {labels: {app: roll}}
    spec:
      containers: [{name: main, image: example.invalid/roll:1}]
"#;

#[tokio::test(flavor = "multi_thread")]
async fn namespaces_terminate_after_their_contents() {
    let env = Env::start(&["c1"]).await;
    let client = env.client("c1").await;
    env.kubectl("c1", &["create", "namespace", "doomed"])
        .await
        .ok();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    cms.create(
        &Default::default(),
        &serde_json::from_value(
            json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}}),
        )
        .unwrap(),
    )
    .await
    .unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let answer = namespaces
        .delete("doomed", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .expect("the namespace is returned, terminating");
    assert!(answer.metadata.deletion_timestamp.is_some());
    assert_eq!(answer.status.unwrap().phase.as_deref(), Some("Terminating"));
    // The held ConfigMap keeps the namespace terminating.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let ns = namespaces.get("doomed").await.unwrap();
    assert_eq!(ns.status.unwrap().phase.as_deref(), Some("Terminating"));
    let held = cms.get("held").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some());
    let create = env
        .kubectl("c1", &["create", "configmap", "late", "-n", "doomed"])
        .await;
    assert!(
        create.stderr.contains("because it is being terminated"),
        "{create:?}"
    );
    cms.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    env.kubectl(
        "c1",
        &["wait", "--for=delete", "namespace/doomed", "--timeout=30s"],
    )
    .await
    .ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn foreground_deletion_returns_the_terminating_owner() {
    let env = Env::start(&["c1"]).await;
    let client = env.client("c1").await;
    let file = env.write("d.yaml", DEPLOY);
    env.kubectl("c1", &["apply", "-f", file.to_str().unwrap()])
        .await
        .ok();
    env.kubectl("c1", &["rollout", "status", "deploy/roll", "--timeout=30s"])
        .await
        .ok();
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    let params = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Foreground),
        ..Default::default()
    };
    let marked = deploys
        .delete("roll", &params)
        .await
        .unwrap()
        .left()
        .expect("the owner is returned");
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert!(
        marked
            .metadata
            .finalizers
            .unwrap_or_default()
            .contains(&"foregroundDeletion".to_string())
    );
    env.kubectl(
        "c1",
        &["wait", "--for=delete", "deploy/roll", "--timeout=30s"],
    )
    .await
    .ok();
    let pods: Api<Pod> = Api::default_namespaced(client);
    let left = pods.list(&Default::default()).await.unwrap();
    assert!(
        left.items
            .iter()
            .all(|p| p.metadata.deletion_timestamp.is_some()),
        "{left:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rolling_updates_stay_within_max_surge_and_max_unavailable() {
    let env = Env::start(&["c1"]).await;
    let client = env.client("c1").await;
    let file = env.write("d.yaml", DEPLOY);
    env.kubectl("c1", &["apply", "-f", file.to_str().unwrap()])
        .await
        .ok();
    env.kubectl("c1", &["rollout", "status", "deploy/roll", "--timeout=30s"])
        .await
        .ok();
    // Another writer's condition on the Deployment's status.
    let deploys: Api<Deployment> = Api::default_namespaced(client.clone());
    deploys
        .patch_status(
            "roll",
            &PatchParams::default(),
            &Patch::Merge(json!({"status": {"conditions": [
                {"type": "Audited", "status": "True", "reason": "Checked", "message": "by a test"}]}})),
        )
        .await
        .unwrap();
    let pods: Api<Pod> = Api::default_namespaced(client);
    let mut events = watcher(pods, watcher::Config::default().labels("app=roll")).boxed();
    let mut live: std::collections::BTreeMap<String, bool> = Default::default();
    let (mut min_ready, mut max_pods, mut seen_new) = (usize::MAX, 0, false);
    // The starting state first: four ready pods.
    within(Duration::from_secs(30), async {
        while let Some(ev) = events.next().await {
            match ev.unwrap() {
                watcher::Event::InitApply(p) => {
                    live.insert(p.metadata.name.unwrap_or_default(), true);
                }
                watcher::Event::InitDone => break,
                _ => {}
            }
        }
    })
    .await;
    assert_eq!(live.len(), 4);
    env.kubectl(
        "c1",
        &["set", "image", "deploy/roll", "main=example.invalid/roll:2"],
    )
    .await
    .ok();
    within(Duration::from_secs(60), async {
        while let Some(ev) = events.next().await {
            let mut apply = |p: Pod, gone: bool| {
                let name = p.metadata.name.clone().unwrap_or_default();
                let deleting = p.metadata.deletion_timestamp.is_some();
                let ready = p
                    .status
                    .as_ref()
                    .and_then(|s| s.conditions.as_ref())
                    .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
                if p.spec.as_ref().is_some_and(|s| {
                    s.containers[0].image.as_deref() == Some("example.invalid/roll:2")
                }) {
                    seen_new = true;
                }
                if gone || deleting {
                    live.remove(&name);
                } else {
                    live.insert(name, ready);
                }
            };
            match ev.unwrap() {
                watcher::Event::Apply(p) | watcher::Event::InitApply(p) => apply(p, false),
                watcher::Event::Delete(p) => apply(p, true),
                _ => {}
            }
            min_ready = min_ready.min(live.values().filter(|r| **r).count());
            max_pods = max_pods.max(live.len());
            let all_new = seen_new && live.len() == 4 && live.values().all(|r| *r);
            if all_new && min_ready != usize::MAX {
                let out = env
                    .kubectl(
                        "c1",
                        &[
                            "get",
                            "rs",
                            "-l",
                            "app=roll",
                            "-o",
                            "jsonpath={.items[*].spec.replicas}",
                        ],
                    )
                    .await;
                if out.stdout.split(' ').filter(|r| *r == "0").count() == 1 {
                    break;
                }
            }
        }
    })
    .await;
    assert!(min_ready >= 3, "ready pods dropped to {min_ready}");
    // New pods start before old ones go (the surge); the exact pod count can pass
    // replicas + maxSurge for a moment while a ReplicaSet catches up with its spec.
    assert!(max_pods > 4, "no surge: {max_pods} pods at most");
    env.kubectl("c1", &["rollout", "status", "deploy/roll", "--timeout=30s"])
        .await
        .ok();
    let conds = env
        .kubectl(
            "c1",
            &[
                "get",
                "deploy",
                "roll",
                "-o",
                "jsonpath={.status.conditions[*].type}",
            ],
        )
        .await
        .ok();
    assert!(conds.stdout.contains("Audited"), "{conds:?}");
    assert!(conds.stdout.contains("Available"), "{conds:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_follow_until_the_pod_ends() {
    let env = Env::start(&["c1"]).await;
    env.kubectl("c1", &["run", "talker", "--image=example.invalid/t:1"])
        .await
        .ok();
    env.kubectl(
        "c1",
        &[
            "wait",
            "--for=condition=Ready",
            "pod/talker",
            "--timeout=30s",
        ],
    )
    .await
    .ok();
    let mut cmd = tokio::process::Command::new("kubectl");
    cmd.arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .args(["--context", "c1", "--cache-dir"])
        .arg(env.path("logs-cache"))
        .args(["logs", "-f", "talker"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        child.try_wait().unwrap().is_none(),
        "logs -f ended while the pod runs"
    );
    env.kubectl("c1", &["delete", "pod", "talker", "--wait=false"])
        .await
        .ok();
    let status = within(Duration::from_secs(30), child.wait()).await.unwrap();
    assert!(status.success(), "{status:?}");
}
