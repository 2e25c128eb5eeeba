//! kube-rs against clusters of old and new Kubernetes minors: what is served, how one object
//! reads under several versions, and the behaviours that changed between minors.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::discovery::Discovery;
use kube::{Client, Config};
use meshbook_sandbox::{KubeVersion, Sandbox, SandboxConfig};
use serde_json::json;

async fn start() -> Sandbox {
    Sandbox::start(SandboxConfig {
        clusters: vec!["old".to_string(), "new".to_string()],
        cluster_versions: BTreeMap::from([
            ("old".to_string(), KubeVersion::new(13)),
            ("new".to_string(), KubeVersion::new(32)),
        ]),
        pod_ready_delay: Duration::from_millis(100),
        ..SandboxConfig::default()
    })
    .await
    .unwrap()
}

async fn client(sandbox: &Sandbox, ctx: &str) -> Client {
    let kc = Kubeconfig::from_yaml(&sandbox.kubeconfig_yaml()).unwrap();
    let opts = KubeConfigOptions {
        context: Some(ctx.to_string()),
        ..Default::default()
    };
    Client::try_from(Config::from_custom_kubeconfig(kc, &opts).await.unwrap()).unwrap()
}

fn api(
    client: &Client,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let ar =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
    Api::namespaced_with(client.clone(), "default", &ar)
}

fn deployment(api_version: &str) -> DynamicObject {
    serde_json::from_value(json!({"apiVersion": api_version, "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": {"template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}}))
    .unwrap()
}

async fn raw(client: &Client, path: &str) -> (u16, String) {
    let req = http::Request::get(path).body(Vec::new()).unwrap();
    match client.request_text(req).await {
        Ok(text) => (200, text),
        Err(kube::Error::Api(e)) => (e.code, e.message),
        Err(e) => panic!("{path}: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn old_minor_serves_legacy_versions_and_converts_between_them() {
    let sandbox = start().await;
    let old = client(&sandbox, "old").await;
    let info = old.apiserver_version().await.unwrap();
    assert_eq!((info.major.as_str(), info.minor.as_str()), ("1", "13"));
    assert_eq!(info.git_version, "v1.13.12");

    // A Deployment written as extensions/v1beta1 gets that version's defaults ...
    let ext = api(&old, "extensions", "v1beta1", "Deployment", "deployments");
    let created = ext
        .create(&PostParams::default(), &deployment("extensions/v1beta1"))
        .await
        .unwrap();
    assert_eq!(created.types.unwrap().api_version, "extensions/v1beta1");
    assert_eq!(
        created.data["spec"]["selector"]["matchLabels"]["app"],
        "web"
    );
    assert_eq!(created.data["spec"]["revisionHistoryLimit"], 2_147_483_647);
    // ... and is the same object under apps/v1 and apps/v1beta2.
    for version in ["v1", "v1beta2"] {
        let apps = api(&old, "apps", version, "Deployment", "deployments");
        let same = apps.get("web").await.unwrap();
        assert_eq!(same.types.unwrap().api_version, format!("apps/{version}"));
        assert_eq!(same.metadata.uid, created.metadata.uid);
    }
    // Server-side apply arrived in 1.16.
    let apply = PatchParams::apply("meshbook-test");
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "ssa"}});
    let cms: Api<ConfigMap> = Api::namespaced(old.clone(), "default");
    let err = cms
        .patch("ssa", &apply, &Patch::Apply(&cm))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref e) if e.code == 415),
        "{err:?}"
    );
    // CRDs are served as apiextensions.k8s.io/v1beta1 only in 1.13.
    let crd_v1 = Api::<DynamicObject>::all_with(
        old.clone(),
        &ApiResource::from_gvk_with_plural(
            &GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition"),
            "customresourcedefinitions",
        ),
    );
    let err = crd_v1.list(&Default::default()).await.unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref e) if e.code == 404),
        "{err:?}"
    );
    // Discovery lists the legacy group; aggregated discovery does not exist yet, so a client
    // asking for it gets the legacy documents, where it finds no aggregated groups.
    let discovery = Discovery::new(old.clone()).run().await.unwrap();
    assert!(discovery.has_group("extensions"));
    let aggregated = Discovery::new(old.clone()).run_aggregated().await.unwrap();
    assert_eq!(aggregated.groups().count(), 0);
    assert_eq!(raw(&old, "/openapi/v3").await.0, 404);

    // Token Secrets for every ServiceAccount, no root CA ConfigMap.
    let sas: Api<ServiceAccount> = Api::namespaced(old.clone(), "default");
    let mut named = None;
    for _ in 0..100 {
        if let Ok(sa) = sas.get("default").await
            && let Some(s) = sa.secrets.and_then(|s| s.into_iter().next())
        {
            named = s.name;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let secret: Api<Secret> = Api::namespaced(old.clone(), "default");
    let token = secret.get(&named.expect("a token Secret")).await.unwrap();
    assert_eq!(
        token.type_.as_deref(),
        Some("kubernetes.io/service-account-token")
    );
    assert!(cms.get_opt("kube-root-ca.crt").await.unwrap().is_none());
    sandbox.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn new_minor_refuses_removed_versions_like_a_real_server() {
    let sandbox = start().await;
    let new = client(&sandbox, "new").await;
    let ext = api(&new, "extensions", "v1beta1", "Deployment", "deployments");
    let err = ext
        .create(&PostParams::default(), &deployment("extensions/v1beta1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, kube::Error::Api(ref e) if e.code == 404),
        "{err:?}"
    );
    // kube-apiserver's answer for a path nothing serves is Go's plain-text 404.
    assert_eq!(
        raw(&new, "/apis/extensions/v1beta1").await,
        (404, "404 page not found".to_string())
    );
    assert_eq!(raw(&new, "/apis/apps/v1beta2/deployments").await.0, 404);
    assert_eq!(raw(&new, "/openapi/v3").await.0, 200);
    let discovery = Discovery::new(new.clone()).run_aggregated().await.unwrap();
    assert!(!discovery.has_group("extensions"));
    assert!(
        discovery
            .resolve_gvk(&GroupVersionKind::gvk("batch", "v1", "CronJob"))
            .is_some()
    );

    // No token Secret is created for a new ServiceAccount, while every namespace, old and
    // new, has the root CA ConfigMap.
    let sas: Api<ServiceAccount> = Api::namespaced(new.clone(), "default");
    let sa: ServiceAccount =
        serde_json::from_value(json!({"metadata": {"name": "reader"}})).unwrap();
    sas.create(&PostParams::default(), &sa).await.unwrap();
    let namespaces: Api<k8s_openapi::api::core::v1::Namespace> = Api::all(new.clone());
    let ns = serde_json::from_value(json!({"metadata": {"name": "fresh"}})).unwrap();
    namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    for ns in ["default", "kube-system", "fresh"] {
        let cms: Api<ConfigMap> = Api::namespaced(new.clone(), ns);
        let mut found = None;
        for _ in 0..100 {
            found = cms.get_opt("kube-root-ca.crt").await.unwrap();
            if found.is_some() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let data = found.expect("kube-root-ca.crt").data.unwrap();
        assert_eq!(data["ca.crt"], sandbox.ca_pem(), "{ns}");
    }
    // The controllers have seen the namespace and the account by now (the ConfigMap of the
    // newer namespace is there): no legacy token Secret was made.
    let secrets: Api<Secret> = Api::namespaced(new.clone(), "default");
    assert!(
        secrets
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    );
    assert!(sas.get("reader").await.unwrap().secrets.is_none());
    sandbox.shutdown().await.unwrap();
}
