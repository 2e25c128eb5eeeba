//! Istio's sidecar injection: pods of a labelled namespace get `istio-proxy` only when the cluster
//! has Istio's injector webhook selecting that namespace, as a real cluster does.

use std::time::{Duration, Instant};

use k8s_openapi::api::admissionregistration::v1::MutatingWebhookConfiguration;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::Api;
use kube::api::PostParams;
use meshbook_sandbox::testing::{TestEnv, config, within};
use serde_json::{Value, json};

fn from<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).unwrap()
}

async fn namespace(client: &kube::Client, name: &str, labels: Value) {
    let ns: Namespace = from(json!({"metadata": {"name": name, "labels": labels}}));
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
}

/// Istio's injector configuration: `istio-sidecar-injector[-REV]` selecting namespaces.
async fn injector(client: &kube::Client, name: &str, namespace_selector: Value) {
    let hook: MutatingWebhookConfiguration = from(json!({
        "metadata": {"name": name},
        "webhooks": [{"name": "sidecar-injector.istio.io", "admissionReviewVersions": ["v1"],
            "sideEffects": "None",
            "clientConfig": {"service": {"name": "istiod", "namespace": "istio-system", "path": "/inject"}},
            "namespaceSelector": namespace_selector,
            "rules": [{"operations": ["CREATE"], "apiGroups": [""], "apiVersions": ["v1"], "resources": ["pods"]}]}]}));
    Api::<MutatingWebhookConfiguration>::all(client.clone())
        .create(&PostParams::default(), &hook)
        .await
        .unwrap();
}

/// Creates a pod and returns its containers' names as stored.
async fn pod(client: &kube::Client, ns: &str, name: &str, annotations: Value) -> Vec<String> {
    let pod: Pod = from(
        json!({"metadata": {"name": name, "annotations": annotations},
        "spec": {"containers": [{"name": "app", "image": "busybox:1.36"}]}}),
    );
    let made = Api::<Pod>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &pod)
        .await
        .unwrap();
    made.spec
        .unwrap()
        .containers
        .into_iter()
        .map(|c| c.name)
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn pods_get_the_proxy_only_where_istios_injector_selects_their_namespace() {
    within(Duration::from_secs(60), async {
        let env = TestEnv::with_config(config(&["k1"])).await;
        let client = env.client("k1").await;
        namespace(&client, "labelled", json!({"istio-injection": "enabled"})).await;
        namespace(&client, "rev-a", json!({"istio.io/rev": "asm-a"})).await;
        namespace(&client, "rev-b", json!({"istio.io/rev": "asm-b"})).await;

        // No control plane yet: the label alone injects nothing.
        assert_eq!(pod(&client, "labelled", "before", json!({})).await, ["app"]);

        injector(
            &client,
            "istio-sidecar-injector",
            json!({"matchLabels": {"istio-injection": "enabled"}}),
        )
        .await;
        injector(
            &client,
            "istio-sidecar-injector-asm-a",
            json!({"matchExpressions": [{"key": "istio.io/rev", "operator": "In", "values": ["asm-a"]},
                                        {"key": "istio-injection", "operator": "DoesNotExist"}]}),
        )
        .await;
        // Another product's webhook selecting everything injects no Istio proxy.
        injector(&client, "other-webhook", json!({})).await;

        assert_eq!(
            pod(&client, "labelled", "after", json!({})).await,
            ["app", "istio-proxy"]
        );
        assert_eq!(
            pod(&client, "rev-a", "a", json!({})).await,
            ["app", "istio-proxy"]
        );
        // A revision whose control plane is not installed here: nothing injects.
        assert_eq!(pod(&client, "rev-b", "b", json!({})).await, ["app"]);
        assert_eq!(pod(&client, "default", "plain", json!({})).await, ["app"]);
        let opted_out = json!({"sidecar.istio.io/inject": "false"});
        assert_eq!(pod(&client, "labelled", "out", opted_out).await, ["app"]);

        // The injected pod turns ready with both containers: READY 2/2.
        let pods = Api::<Pod>::namespaced(client.clone(), "labelled");
        let deadline = Instant::now() + Duration::from_secs(20);
        let ready = loop {
            let p = pods.get("after").await.unwrap();
            let statuses = p
                .status
                .and_then(|s| s.container_statuses)
                .unwrap_or_default();
            if statuses.len() == 2 || Instant::now() > deadline {
                break statuses;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        };
        let names: Vec<(&str, bool)> = ready.iter().map(|c| (c.name.as_str(), c.ready)).collect();
        assert_eq!(names, [("app", true), ("istio-proxy", true)]);
        let p = pods.get("after").await.unwrap();
        let init: Vec<String> = p
            .spec
            .unwrap()
            .init_containers
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.name)
            .collect();
        assert_eq!(init, ["istio-init"]);
        assert!(
            p.metadata
                .annotations
                .unwrap_or_default()
                .contains_key("sidecar.istio.io/status")
        );
        env.shutdown().await;
    })
    .await;
}
