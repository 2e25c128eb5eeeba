//! The real kubectl against a sandbox: tokens, several clusters, persistence.

mod common;

use std::time::Duration;

use base64::Engine;
use common::{Env, config};
use meshbook_sandbox::{KubeVersion, SandboxConfig};

async fn sa_token(env: &Env, ctx: &str, ns: &str, sa: &str) -> String {
    let mut secret = String::new();
    for _ in 0..50 {
        secret = env
            .kubectl(
                ctx,
                &[
                    "get",
                    "sa",
                    sa,
                    "-n",
                    ns,
                    "-o",
                    "jsonpath={.secrets[0].name}",
                ],
            )
            .await
            .ok()
            .stdout;
        if !secret.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        !secret.is_empty(),
        "service account {sa} got no token secret"
    );
    let b64 = env
        .kubectl(
            ctx,
            &[
                "get",
                "secret",
                &secret,
                "-n",
                ns,
                "-o",
                "jsonpath={.data.token}",
            ],
        )
        .await
        .ok()
        .stdout;
    String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap(),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn service_account_token_authenticates_and_bogus_token_is_refused() {
    // Token Secrets for every ServiceAccount are a Kubernetes 1.23-and-older behaviour.
    let env = Env::with_config(SandboxConfig {
        kube_version: KubeVersion::new(23),
        ..config(&["c1"])
    })
    .await;
    env.kubectl("c1", &["create", "namespace", "istio-system"])
        .await
        .ok();
    let out = env
        .kubectl(
            "c1",
            &["create", "serviceaccount", "reader", "-n", "istio-system"],
        )
        .await
        .ok();
    assert_eq!(out.stdout.trim(), "serviceaccount/reader created");
    let token = sa_token(&env, "c1", "istio-system", "reader").await;
    let arg = format!("--token={token}");
    // Authenticated, but no binding lets the account read its namespace yet.
    let refused = env
        .kubectl("c1", &[&arg, "get", "ns", "istio-system", "-o", "name"])
        .await;
    assert!(
        refused.stderr.contains(r#"namespaces "istio-system" is forbidden: User "system:serviceaccount:istio-system:reader" cannot get resource "namespaces" in API group "" in the namespace "istio-system""#),
        "{refused:?}"
    );
    env.kubectl(
        "c1",
        &[
            "create",
            "rolebinding",
            "reader-view",
            "-n",
            "istio-system",
            "--clusterrole=view",
            "--serviceaccount=istio-system:reader",
        ],
    )
    .await
    .ok();
    let ns = env
        .kubectl("c1", &[&arg, "get", "ns", "istio-system", "-o", "name"])
        .await
        .ok();
    assert_eq!(ns.stdout.trim(), "namespace/istio-system");
    let ca = env
        .kubectl(
            "c1",
            &[
                "get",
                "secret",
                "-n",
                "istio-system",
                "-o",
                r"jsonpath={.items[0].data.ca\.crt}",
            ],
        )
        .await
        .ok();
    let ca = base64::engine::general_purpose::STANDARD
        .decode(ca.stdout)
        .unwrap();
    assert_eq!(String::from_utf8(ca).unwrap(), env.sandbox.ca_pem());
    let bound = env
        .kubectl(
            "c1",
            &[
                "create",
                "token",
                "reader",
                "-n",
                "istio-system",
                "--duration=1h",
            ],
        )
        .await
        .ok();
    let arg = format!("--token={}", bound.stdout.trim());
    env.kubectl("c1", &[&arg, "get", "ns", "istio-system"])
        .await
        .ok();
    let tampered = format!("--token={}0", bound.stdout.trim());
    assert_eq!(env.kubectl("c1", &[&tampered, "get", "ns"]).await.code, 1);
    let bogus = env.kubectl("c1", &["--token=bogus", "get", "ns"]).await;
    assert_eq!(bogus.code, 1);
    assert!(
        bogus.stderr.contains("You must be logged in to the server"),
        "{bogus:?}"
    );
    // A token Secret created by hand for an existing account is filled in too.
    let manual = env.write(
        "secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: manual\n  namespace: istio-system\n  annotations:\n    kubernetes.io/service-account.name: reader\ntype: kubernetes.io/service-account-token\n",
    );
    env.kubectl("c1", &["apply", "-f", manual.to_str().unwrap()])
        .await
        .ok();
    let t = env
        .kubectl(
            "c1",
            &[
                "get",
                "secret",
                "manual",
                "-n",
                "istio-system",
                "-o",
                "jsonpath={.data.token}",
            ],
        )
        .await
        .ok();
    assert!(!t.stdout.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn clusters_are_isolated() {
    let env = Env::start(&["east", "west"]).await;
    let east = env.sandbox.cluster("east").unwrap();
    let west = env.sandbox.cluster("west").unwrap();
    assert_ne!(east.server, west.server);
    assert_ne!(east.token, west.token);
    env.kubectl("east", &["create", "namespace", "only-east"])
        .await
        .ok();
    let missing = env
        .kubectl("west", &["get", "namespace", "only-east"])
        .await;
    assert!(
        missing
            .stderr
            .contains(r#"namespaces "only-east" not found"#),
        "{missing:?}"
    );
    // One cluster's token is refused by the other.
    let cross = env
        .kubectl("west", &[&format!("--token={}", east.token), "get", "ns"])
        .await;
    assert_eq!(cross.code, 1);
    let uid_e = env
        .kubectl(
            "east",
            &["get", "ns", "kube-system", "-o", "jsonpath={.metadata.uid}"],
        )
        .await
        .ok();
    let uid_w = env
        .kubectl(
            "west",
            &["get", "ns", "kube-system", "-o", "jsonpath={.metadata.uid}"],
        )
        .await
        .ok();
    assert_ne!(uid_e.stdout, uid_w.stdout);
    let ctxs = env
        .kubectl("east", &["config", "get-contexts", "-o", "name"])
        .await
        .ok();
    assert_eq!(ctxs.stdout, "east\nwest\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn state_survives_restart() {
    let state = tempfile::tempdir().unwrap();
    let cfg = SandboxConfig {
        state_dir: Some(state.path().to_path_buf()),
        ..config(&["keep"])
    };
    let env = Env::with_config(cfg.clone()).await;
    env.kubectl("keep", &["create", "namespace", "demo"])
        .await
        .ok();
    env.kubectl(
        "keep",
        &[
            "create",
            "configmap",
            "cfg",
            "-n",
            "demo",
            "--from-literal=k=v",
        ],
    )
    .await
    .ok();
    let uid = env
        .kubectl(
            "keep",
            &["get", "ns", "kube-system", "-o", "jsonpath={.metadata.uid}"],
        )
        .await
        .ok()
        .stdout;
    let before = env.cluster("keep");
    let env = env.restart().await;
    let after = env.cluster("keep");
    assert_eq!(before, after, "same port and token after a restart");
    assert_eq!(
        meshbook_sandbox::kubeconfig_from_state(state.path()).unwrap(),
        env.sandbox.kubeconfig_yaml()
    );
    // The kubeconfig written before the restart still works.
    let v = env
        .kubectl(
            "keep",
            &["get", "cm", "cfg", "-n", "demo", "-o", "jsonpath={.data.k}"],
        )
        .await
        .ok();
    assert_eq!(v.stdout, "v");
    let uid2 = env
        .kubectl(
            "keep",
            &["get", "ns", "kube-system", "-o", "jsonpath={.metadata.uid}"],
        )
        .await
        .ok();
    assert_eq!(uid, uid2.stdout);
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kubeconfig_file_is_private_and_minifies() {
    let env = Env::start(&["c1"]).await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&env.kubeconfig)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let out = env
        .kubectl(
            "c1",
            &[
                "config",
                "view",
                "--minify",
                "-o",
                "jsonpath={.clusters[0].cluster.server}",
            ],
        )
        .await
        .ok();
    assert_eq!(out.stdout, env.sandbox.cluster("c1").unwrap().server);
}

#[tokio::test(flavor = "multi_thread")]
async fn create_clusterrolebinding_generator() {
    let env = Env::start(&["c1"]).await;
    let out = env
        .kubectl(
            "c1",
            &[
                "create",
                "clusterrolebinding",
                "admin-binding",
                "--clusterrole=cluster-admin",
                "--user=me@example.com",
            ],
        )
        .await
        .ok();
    assert_eq!(
        out.stdout.trim(),
        "clusterrolebinding.rbac.authorization.k8s.io/admin-binding created"
    );
    let v = env
        .kubectl(
            "c1",
            &[
                "get",
                "clusterrolebinding",
                "admin-binding",
                "-o",
                "jsonpath={.roleRef.kind}/{.roleRef.name}/{.subjects[0].kind}/{.subjects[0].name}",
            ],
        )
        .await
        .ok();
    assert_eq!(v.stdout, "ClusterRole/cluster-admin/User/me@example.com");
}

#[tokio::test(flavor = "multi_thread")]
async fn clusters_can_be_added_while_running() {
    let env = Env::start(&["first"]).await;
    let added = env.sandbox.add_cluster("second").await.unwrap();
    assert_eq!(env.sandbox.cluster("second"), Some(added));
    assert!(env.sandbox.add_cluster("second").await.is_err());
    env.sandbox.write_kubeconfig(&env.kubeconfig).unwrap();
    env.kubectl("second", &["create", "namespace", "late"])
        .await
        .ok();
    let missing = env.kubectl("first", &["get", "ns", "late"]).await;
    assert_eq!(missing.code, 1);
    let ip = env
        .kubectl(
            "second",
            &[
                "get",
                "svc",
                "kubernetes",
                "-o",
                "jsonpath={.spec.clusterIP}",
            ],
        )
        .await
        .ok();
    assert_eq!(ip.stdout, "10.101.0.1");
}
