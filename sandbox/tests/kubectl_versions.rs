//! The real kubectl against one cluster of every supported Kubernetes minor.
//!
//! The gcloud dispatcher picks its kubectl by the server's minor (its own 1.27-1.31 and 1.33
//! binaries; its embedded 1.32 for every other minor, older ones included), so this drives every
//! kubectl it ships: the version is reported, a Deployment applies under the apiVersion that
//! minor serves, and an object under an apiVersion it does not serve is refused as a real server
//! of that minor refuses it, while the rest of the file still applies.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;

use common::{Env, config};
use meshbook_sandbox::{KubeVersion, SandboxConfig, supported_versions};

fn context(v: KubeVersion) -> String {
    format!("k{}", v.minor())
}

/// A Deployment the minor serves, and an object whose apiVersion it does not.
fn manifest(v: KubeVersion) -> (String, &'static str, &'static str) {
    let pod = "  template:\n    metadata:\n      labels: {app: web}\n    spec:\n      containers:\n      - {name: c, image: nginx}\n";
    if v.minor() < 16 {
        let text = format!(
            "apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n{pod}---\napiVersion: policy/v1\nkind: PodDisruptionBudget\nmetadata:\n  name: pdb\nspec:\n  minAvailable: 1\n  selector: {{matchLabels: {{app: web}}}}\n"
        );
        (
            text,
            "deployment.extensions/web created",
            // kubectl (1.32 here) validates against /openapi/v2 and, for a kind missing from it,
            // asks whether it is a CRD through apiextensions.k8s.io/v1 (kubectl's crdfinder),
            // which servers before 1.16 do not serve: that lookup fails as it does against a
            // real cluster of these minors.
            "failed to check CRD: failed to list CRDs: the server could not find the requested resource",
        )
    } else {
        let text = format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  selector: {{matchLabels: {{app: web}}}}\n{pod}---\napiVersion: extensions/v1beta1\nkind: Deployment\nmetadata:\n  name: legacy\nspec:\n{pod}"
        );
        (
            text,
            "deployment.apps/web created",
            "no matches for kind \"Deployment\" in version \"extensions/v1beta1\"",
        )
    }
}

async fn check(env: &Env, v: KubeVersion) -> Result<(), String> {
    let ctx = context(v);
    let version = env.kubectl(&ctx, &["version", "-o", "json"]).await;
    let info: serde_json::Value = serde_json::from_str(&version.stdout)
        .map_err(|e| format!("{v}: kubectl version: {e}: {version:?}"))?;
    let server = &info["serverVersion"];
    if server["minor"].as_str().and_then(|m| m.parse().ok()) != Some(v.minor())
        || !server["gitVersion"]
            .as_str()
            .is_some_and(|g| g.starts_with(&format!("v1.{}.", v.minor())))
    {
        return Err(format!("{v}: server version {server}"));
    }
    let (text, created, refused) = manifest(v);
    let file = env.write(&format!("web-{}.yaml", v.minor()), &text);
    let apply = env
        .kubectl(&ctx, &["apply", "-f", file.to_str().unwrap_or_default()])
        .await;
    if apply.code != 1 || !apply.stdout.contains(created) || !apply.stderr.contains(refused) {
        return Err(format!("{v}: apply: {apply:?}"));
    }
    let get = env
        .kubectl(
            &ctx,
            &[
                "get",
                "deploy",
                "web",
                "-o",
                "jsonpath={.spec.selector.matchLabels.app}",
            ],
        )
        .await;
    if get.code != 0 || get.stdout != "web" {
        return Err(format!("{v}: get: {get:?}"));
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_at_every_supported_minor() {
    let minors: Vec<KubeVersion> = supported_versions().collect();
    assert_eq!(minors.len(), 25);
    let env = Arc::new(
        Env::with_config(SandboxConfig {
            clusters: minors.iter().map(|v| context(*v)).collect(),
            cluster_versions: minors
                .iter()
                .map(|v| (context(*v), *v))
                .collect::<BTreeMap<_, _>>(),
            ..config(&[])
        })
        .await,
    );
    // Two kubectl processes per core at a time keep the run short without starving the server.
    let permits = Arc::new(tokio::sync::Semaphore::new(4));
    let mut runs = Vec::new();
    for v in minors {
        let (env, permits) = (Arc::clone(&env), Arc::clone(&permits));
        runs.push(tokio::spawn(async move {
            let _permit = permits.acquire().await.expect("semaphore open");
            check(&env, v).await
        }));
    }
    let mut failures = Vec::new();
    for run in runs {
        if let Err(e) = run.await.expect("check finishes") {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
