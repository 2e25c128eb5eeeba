//! kube-rs against a sandbox: discovery, server-side apply, watchers and injected faults.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::discovery::Discovery;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, Config};
use meshbook_sandbox::testing::TestEnv;
use meshbook_sandbox::{Faults, Sandbox, SandboxConfig};
use serde_json::json;

fn cfg(faults: Faults) -> SandboxConfig {
    SandboxConfig {
        clusters: vec!["k1".to_string()],
        pod_ready_delay: Duration::from_millis(100),
        faults,
        ..SandboxConfig::default()
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn discovery_apply_and_watcher() {
    let sandbox = TestEnv::with_config(cfg(Faults::default())).await;
    let client = sandbox.client("k1").await;
    let discovery = Discovery::new(client.clone()).run().await.unwrap();
    let (ar, caps) = discovery
        .resolve_gvk(&GroupVersionKind::gvk("apps", "v1", "Deployment"))
        .expect("deployments discovered");
    assert_eq!(ar.plural, "deployments");
    assert_eq!(caps.scope, kube::discovery::Scope::Namespaced);

    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let watch = tokio::spawn({
        let cms = cms.clone();
        async move {
            let stream =
                watcher(cms, watcher::Config::default().labels("app=kube-test")).applied_objects();
            let mut stream = std::pin::pin!(stream);
            while let Some(cm) = stream.try_next().await.unwrap() {
                let v = cm.data.as_ref().and_then(|d| d.get("v")).cloned();
                if v.as_deref() == Some("2") {
                    return true;
                }
            }
            false
        }
    });
    let pp = PatchParams::apply("meshbook-test").force();
    for v in ["1", "2"] {
        let cm = json!({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": "from-kube", "labels": {"app": "kube-test"}},
                        "data": {"v": v}});
        let applied = cms
            .patch("from-kube", &pp, &Patch::Apply(&cm))
            .await
            .unwrap();
        assert_eq!(applied.data.unwrap().get("v").map(String::as_str), Some(v));
    }
    let seen = tokio::time::timeout(Duration::from_secs(20), watch)
        .await
        .expect("watcher saw the update");
    assert!(seen.unwrap());

    let exists = cms
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "from-kube"}})).unwrap(),
        )
        .await
        .unwrap_err();
    match exists {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 409);
            assert_eq!(s.reason, "AlreadyExists");
        }
        other => panic!("unexpected {other:?}"),
    }
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn injected_errors_latency_and_throttling() {
    let faults = Faults {
        error_rate: BTreeMap::from([("get".to_string(), 1.0)]),
        error_status: 503,
        latency: Duration::from_millis(150),
        ..Faults::default()
    };
    let sandbox = TestEnv::with_config(cfg(faults)).await;
    let client = sandbox.client("k1").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let started = Instant::now();
    let list = cms.list(&Default::default()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    // Only the root CA bundle every namespace has (from Kubernetes 1.20 on).
    let names: Vec<_> = list.items.iter().map(|c| c.metadata.name.clone()).collect();
    assert_eq!(names, vec![Some("kube-root-ca.crt".to_string())]);
    match cms.get("anything").await.unwrap_err() {
        kube::Error::Api(s) => assert_eq!(s.code, 503),
        other => panic!("unexpected {other:?}"),
    }
    sandbox.shutdown().await;

    let throttled = Faults {
        throttle_rate: 1.0,
        retry_after: Duration::from_secs(7),
        ..Faults::default()
    };
    let sandbox = TestEnv::with_config(cfg(throttled)).await;
    let cms: Api<ConfigMap> = Api::namespaced(sandbox.client("k1").await, "default");
    match cms.list(&Default::default()).await.unwrap_err() {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 429);
            assert_eq!(s.reason, "TooManyRequests");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(sandbox.sandbox.faults_injected("k1").unwrap().throttled, 1);
    sandbox.shutdown().await;

    // A fractional rate: every failure the client saw is one the sandbox counted.
    let half = Faults {
        error_rate: BTreeMap::from([("get".to_string(), 0.5)]),
        ..Faults::default()
    };
    let sandbox = TestEnv::with_config(cfg(half)).await;
    let cms: Api<ConfigMap> = Api::namespaced(sandbox.client("k1").await, "default");
    let mut failed = 0;
    for _ in 0..40 {
        match cms.get("kube-root-ca.crt").await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 500 => failed += 1,
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    let counted = sandbox.sandbox.faults_injected("k1").unwrap();
    assert_eq!(counted.errors, failed);
    // 40 draws at one half: all-or-nothing has a chance of 2 in 10^12.
    assert!(failed > 0 && failed < 40, "{failed} of 40 failed");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn watches_are_dropped_after_n_events() {
    let faults = Faults {
        watch_drop_after: Some(2),
        ..Faults::default()
    };
    let sandbox = TestEnv::with_config(cfg(faults)).await;
    let cms: Api<ConfigMap> = Api::namespaced(sandbox.client("k1").await, "default");
    for i in 0..4 {
        let cm = serde_json::from_value(json!({"metadata": {"name": format!("c{i}")}})).unwrap();
        cms.create(&PostParams::default(), &cm).await.unwrap();
    }
    let stream = cms.watch(&WatchParams::default(), "0").await.unwrap();
    let events: Vec<_> = tokio::time::timeout(Duration::from_secs(10), stream.collect::<Vec<_>>())
        .await
        .expect("the stream ends");
    assert_eq!(events.len(), 2);
    assert!(matches!(events[0], Ok(WatchEvent::Added(_))));
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_through_kube_rs() {
    use k8s_openapi::api::core::v1::Pod;
    use kube::api::AttachParams;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    let sandbox = TestEnv::with_config(cfg(Faults::default())).await;
    let pods: Api<Pod> = Api::namespaced(sandbox.client("k1").await, "default");
    let pod = serde_json::from_value(json!({"metadata": {"name": "p1"},
        "spec": {"containers": [{"name": "c", "image": "example.invalid/c:1"}]}}))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let running = kube::runtime::wait::await_condition(
        pods.clone(),
        "p1",
        kube::runtime::conditions::is_pod_running(),
    );
    tokio::time::timeout(Duration::from_secs(20), running)
        .await
        .unwrap()
        .unwrap();

    let mut proc = pods
        .exec(
            "p1",
            ["sh", "-c", "read x; echo got $x; exit 4"],
            &AttachParams::default().stdin(true).stderr(false),
        )
        .await
        .unwrap();
    let mut stdin = proc.stdin().unwrap();
    stdin.write_all(b"hello\n").await.unwrap();
    let mut stdout = proc.stdout().unwrap();
    let status = proc.take_status().unwrap();
    let mut out = String::new();
    stdout.read_to_string(&mut out).await.unwrap();
    assert_eq!(out, "got hello\n");
    let status = tokio::time::timeout(Duration::from_secs(20), status)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.status.as_deref(), Some("Failure"));
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    let code = status.details.unwrap().causes.unwrap()[0].message.clone();
    assert_eq!(code.as_deref(), Some("4"));
    proc.join().await.unwrap();
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn filtered_watches_see_objects_enter_and_leave() {
    let sandbox = TestEnv::with_config(cfg(Faults::default())).await;
    let cms: Api<ConfigMap> = Api::namespaced(sandbox.client("k1").await, "default");
    let cm = serde_json::from_value(json!({"metadata": {"name": "sel", "labels": {"app": "x"}}}))
        .unwrap();
    let created = cms.create(&PostParams::default(), &cm).await.unwrap();
    let rv = created.metadata.resource_version.unwrap();
    let stream = cms
        .watch(&WatchParams::default().labels("app=x"), &rv)
        .await
        .unwrap();
    let pp = PatchParams::default();
    for app in ["y", "x"] {
        cms.patch(
            "sel",
            &pp,
            &Patch::Merge(json!({"metadata": {"labels": {"app": app}}})),
        )
        .await
        .unwrap();
    }
    let events: Vec<_> =
        tokio::time::timeout(Duration::from_secs(10), stream.take(2).collect::<Vec<_>>())
            .await
            .expect("two events");
    assert!(
        matches!(events[0], Ok(WatchEvent::Deleted(_))),
        "{events:?}"
    );
    assert!(matches!(events[1], Ok(WatchEvent::Added(_))), "{events:?}");
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn streaming_list_watcher_sees_initial_objects() {
    let sandbox = TestEnv::with_config(cfg(Faults::default())).await;
    let cms: Api<ConfigMap> = Api::namespaced(sandbox.client("k1").await, "default");
    let cm = serde_json::from_value(json!({"metadata": {"name": "early"}})).unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let stream = watcher(cms, watcher::Config::default().streaming_lists()).applied_objects();
    let mut stream = std::pin::pin!(stream);
    let first = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .expect("an object")
        .unwrap()
        .unwrap();
    assert!(first.metadata.name.is_some());
    sandbox.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn metadata_only_lists_gets_and_watches() {
    let sandbox = TestEnv::with_config(cfg(Faults::default())).await;
    let cms: Api<ConfigMap> = Api::namespaced(sandbox.client("k1").await, "default");
    let cm = serde_json::from_value(
        json!({"metadata": {"name": "m1", "labels": {"k": "v"}}, "data": {"a": "b"}}),
    )
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let list = cms
        .list_metadata(&ListParams::default().labels("k=v"))
        .await
        .unwrap();
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].metadata.name.as_deref(), Some("m1"));
    let one = cms.get_metadata("m1").await.unwrap();
    assert_eq!(
        one.metadata.labels.unwrap().get("k").map(String::as_str),
        Some("v")
    );
    let metas: Api<kube::core::PartialObjectMeta<ConfigMap>> =
        Api::namespaced(sandbox.client("k1").await, "default");
    let stream = watcher(metas, watcher::Config::default()).applied_objects();
    let mut stream = std::pin::pin!(stream);
    let first = tokio::time::timeout(Duration::from_secs(10), stream.try_next())
        .await
        .expect("an object")
        .unwrap()
        .unwrap();
    assert!(first.metadata.name.is_some());
    sandbox.shutdown().await;
}

/// A client of cluster `ctx` that authenticates with `token` instead of the admin token.
async fn client_with_token(sandbox: &Sandbox, ctx: &str, token: &str) -> Client {
    let mut kc = Kubeconfig::from_yaml(&sandbox.kubeconfig_yaml()).unwrap();
    for user in &mut kc.auth_infos {
        if let Some(info) = user.auth_info.as_mut() {
            info.token = Some(token.to_string().into());
        }
    }
    let opts = KubeConfigOptions {
        context: Some(ctx.to_string()),
        ..Default::default()
    };
    let mut cfg = Config::from_custom_kubeconfig(kc, &opts).await.unwrap();
    cfg.default_retry = false;
    Client::try_from(cfg).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_extra_token_is_accepted_until_withdrawn_and_only_by_its_cluster() {
    let sandbox = Sandbox::start(SandboxConfig {
        clusters: vec!["k1".to_string(), "k2".to_string()],
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let ns = |c: Client| async move {
        Api::<k8s_openapi::api::core::v1::Namespace>::all(c)
            .list(&Default::default())
            .await
    };
    let token = "cloud-access-token-0123456789";
    assert!(
        ns(client_with_token(&sandbox, "k1", token).await)
            .await
            .is_err()
    );
    assert!(sandbox.set_extra_token("k1", Some(token)));
    assert!(
        ns(client_with_token(&sandbox, "k1", token).await)
            .await
            .is_ok()
    );
    assert!(
        ns(client_with_token(&sandbox, "k2", token).await)
            .await
            .is_err()
    );
    assert!(sandbox.set_extra_token("k1", None));
    assert!(
        ns(client_with_token(&sandbox, "k1", token).await)
            .await
            .is_err()
    );
    assert!(!sandbox.set_extra_token("nope", Some(token)));
    sandbox.shutdown().await.unwrap();
}
