//! The real manifests (`../shared/real-manifests`) apply with plain `kubectl apply -f`, as
//! against a real cluster without the Gateway API CRDs; `auth can-i`/`whoami`, EndpointSlices
//! in `describe` and `--chunk-size` work.

mod common;

use std::path::PathBuf;

use common::Env;

/// A file of the shared real manifests, which sit in `shared/` beside the repository.
fn manifest(name: &str) -> String {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = here
        .ancestors()
        .map(|a| a.join("shared/real-manifests"))
        .find(|d| d.is_dir())
        .expect("shared/real-manifests beside the repository");
    dir.join(name).to_str().expect("utf-8 path").to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn real_manifests_apply_as_against_a_real_cluster() {
    let env = Env::start(&["c1"]).await;
    for f in [
        "istio-crd-all.gen.yaml",
        "istio-samples-bookinfo.yaml",
        "istio-samples-sleep.yaml",
        "microservices-demo-kubernetes-manifests.yaml",
        "istio-samples-bookinfo-gateway.yaml",
    ] {
        env.kubectl("c1", &["apply", "-f", &manifest(f)]).await.ok();
    }
    // Gateway API kinds are not installed: those two objects fail, the rest applies.
    let mixed = env
        .kubectl(
            "c1",
            &[
                "apply",
                "-f",
                &manifest("microservices-demo-istio-manifests.yaml"),
            ],
        )
        .await;
    assert_eq!(mixed.code, 1, "{mixed:?}");
    assert_eq!(
        mixed
            .stderr
            .matches("ensure CRDs are installed first")
            .count(),
        2,
        "{mixed:?}"
    );
    assert!(mixed.stderr.contains(
        r#"no matches for kind "HTTPRoute" in version "gateway.networking.k8s.io/v1beta1""#
    ));
    assert_eq!(mixed.stdout.matches(" created").count(), 3, "{mixed:?}");

    let can = env
        .kubectl("c1", &["auth", "can-i", "create", "pods"])
        .await
        .ok();
    assert_eq!(can.stdout.trim(), "yes");
    let who = env
        .kubectl(
            "c1",
            &[
                "auth",
                "whoami",
                "-o",
                "jsonpath={.status.userInfo.username}",
            ],
        )
        .await
        .ok();
    assert_eq!(who.stdout, "kubernetes-admin");
    env.kubectl(
        "c1",
        &[
            "wait",
            "--for=condition=Available",
            "deploy/sleep",
            "--timeout=30s",
        ],
    )
    .await
    .ok();
    let described = env
        .kubectl("c1", &["describe", "service", "sleep"])
        .await
        .ok();
    let line = described
        .stdout
        .lines()
        .find(|l| l.starts_with("Endpoints:"))
        .unwrap_or_default()
        .to_string();
    assert!(line.contains(":80"), "{line}");
    let chunked = env
        .kubectl("c1", &["get", "crd", "--chunk-size=2", "--no-headers"])
        .await
        .ok();
    assert_eq!(chunked.stdout.lines().count(), 15, "{chunked:?}");
    env.shutdown().await;
}
