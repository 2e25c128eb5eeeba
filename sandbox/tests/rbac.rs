//! RBAC as clients see it: a service account's token is refused what no binding grants, with
//! the API server's Forbidden Status, and `kubectl auth can-i` answers from the bindings, for
//! the oldest kubectl the dispatcher runs (JSON reviews) and the newest (protobuf reviews).

mod common;

use std::collections::BTreeMap;

use common::{Env, config};
use meshbook_sandbox::{KubeVersion, SandboxConfig};

/// A kubeconfig with one context per cluster in `tokens`, named after the cluster, that
/// authenticates with the given token.
fn token_kubeconfig(env: &Env, file: &str, tokens: &[(&str, &str)]) -> String {
    let ca = env.write("ca.pem", env.sandbox.ca_pem());
    let mut text = String::from("apiVersion: v1\nkind: Config\nclusters:\n");
    for (ctx, _) in tokens {
        let server = env.cluster(ctx).server;
        text += &format!(
            "- name: {ctx}\n  cluster: {{server: \"{server}\", certificate-authority: \"{}\"}}\n",
            ca.display()
        );
    }
    text += "users:\n";
    for (ctx, token) in tokens {
        text += &format!("- name: {ctx}\n  user: {{token: \"{token}\"}}\n");
    }
    text += "contexts:\n";
    for (ctx, _) in tokens {
        text += &format!("- name: {ctx}\n  context: {{cluster: {ctx}, user: {ctx}}}\n");
    }
    env.write(file, &text).to_string_lossy().into_owned()
}

/// A new service account `default/robot` in `ctx` and a token of it.
async fn robot_token(env: &Env, ctx: &str) -> String {
    env.kubectl(ctx, &["create", "serviceaccount", "robot"])
        .await
        .ok();
    let out = env.kubectl(ctx, &["create", "token", "robot"]).await.ok();
    out.stdout.trim().to_string()
}

/// The status and body of `GET path` with a bearer token, through curl.
async fn get(env: &Env, ctx: &str, token: &str, path: &str) -> (u16, String) {
    request(env, ctx, token, path, None).await
}

/// The status and body of a request with a bearer token (a POST of `json` if given), through curl.
async fn request(
    env: &Env,
    ctx: &str,
    token: &str,
    path: &str,
    json: Option<&str>,
) -> (u16, String) {
    let ca = env.write("ca.pem", env.sandbox.ca_pem());
    let mut cmd = tokio::process::Command::new("curl");
    cmd.args(["-s", "-w", "\n%{http_code}", "--cacert"])
        .arg(&ca)
        .args(["-H", &format!("Authorization: Bearer {token}")])
        .arg(format!("{}{path}", env.cluster(ctx).server));
    if let Some(body) = json {
        cmd.args([
            "-H",
            "Content-Type: application/json",
            "--data-binary",
            body,
        ]);
    }
    let out = meshbook_sandbox::testing::run(cmd, None, std::time::Duration::from_secs(20)).await;
    let (body, code) = out.stdout.rsplit_once('\n').unwrap_or_default();
    (code.parse().unwrap_or(0), body.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn service_account_tokens_get_what_bindings_grant() {
    let env = Env::start(&["c1"]).await;
    let token = robot_token(&env, "c1").await;
    let (code, body) = get(&env, "c1", &token, "/api/v1/pods").await;
    assert_eq!(code, 403);
    assert_eq!(
        body,
        r#"{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"pods is forbidden: User \"system:serviceaccount:default:robot\" cannot list resource \"pods\" in API group \"\" at the cluster scope","reason":"Forbidden","details":{"kind":"pods"},"code":403}"#
    );
    // Discovery and version are every authenticated client's.
    for path in ["/version", "/api", "/apis/apps/v1", "/openapi/v3"] {
        assert_eq!(get(&env, "c1", &token, path).await.0, 200, "{path}");
    }
    let (code, body) = get(&env, "c1", &token, "/metrics").await;
    assert_eq!(code, 403);
    assert!(body.contains(r#"forbidden: User \"system:serviceaccount:default:robot\" cannot get path \"/metrics\""#), "{body}");

    // A RoleBinding to `view` grants reads in its namespace only, not Secrets, not writes.
    env.kubectl(
        "c1",
        &[
            "create",
            "rolebinding",
            "robot-view",
            "--clusterrole=view",
            "--serviceaccount=default:robot",
        ],
    )
    .await
    .ok();
    assert_eq!(
        get(&env, "c1", &token, "/api/v1/namespaces/default/pods")
            .await
            .0,
        200
    );
    assert_eq!(
        get(
            &env,
            "c1",
            &token,
            "/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=1"
        )
        .await
        .0,
        200
    );
    assert_eq!(
        get(&env, "c1", &token, "/api/v1/namespaces/kube-system/pods")
            .await
            .0,
        403
    );
    assert_eq!(
        get(&env, "c1", &token, "/api/v1/namespaces/default/secrets")
            .await
            .0,
        403
    );
    assert_eq!(
        get(&env, "c1", &token, "/api/v1/pods?watch=true").await.0,
        403
    );
    // A review says which binding allowed, and nothing when none does.
    let review = |verb: &str, ns: &str| {
        format!(
            r#"{{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{{"resourceAttributes":{{"verb":"{verb}","resource":"pods","namespace":"{ns}"}}}}}}"#
        )
    };
    let ssar = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    let (code, body) = request(&env, "c1", &token, ssar, Some(&review("list", "default"))).await;
    assert_eq!(code, 201, "{body}");
    let status = &serde_json::from_str::<serde_json::Value>(&body).unwrap()["status"];
    assert_eq!(
        status,
        &serde_json::json!({"allowed": true, "reason": "RBAC: allowed by RoleBinding \"robot-view/default\" of ClusterRole \"view\" to ServiceAccount \"robot/default\""})
    );
    let (_, body) = request(&env, "c1", &token, ssar, Some(&review("delete", "default"))).await;
    let status = &serde_json::from_str::<serde_json::Value>(&body).unwrap()["status"];
    assert_eq!(status, &serde_json::json!({"allowed": false}));
    let (code, body) = request(&env, "c1", &token, ssar, Some(r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SelfSubjectAccessReview","spec":{}}"#)).await;
    assert_eq!(code, 422, "{body}");
    // Reviewing someone else takes a grant the account does not have.
    let sar = r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"x","resourceAttributes":{"verb":"get","resource":"pods"}}}"#;
    let (code, _) = request(
        &env,
        "c1",
        &token,
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        Some(sar),
    )
    .await;
    assert_eq!(code, 403);
    let admin = env.cluster("c1").token;
    let sar = r#"{"apiVersion":"authorization.k8s.io/v1","kind":"SubjectAccessReview","spec":{"user":"system:serviceaccount:default:robot","resourceAttributes":{"verb":"get","resource":"pods","namespace":"default"}}}"#;
    let (code, body) = request(
        &env,
        "c1",
        &admin,
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        Some(sar),
    )
    .await;
    assert_eq!(code, 201, "{body}");
    // Only the user was named, without its groups: the binding to the account still applies.
    assert!(body.contains(r#""allowed":true"#), "{body}");

    // The aggregated role's rules are filled in, as a real cluster shows them.
    let view = env
        .kubectl(
            "c1",
            &[
                "get",
                "clusterrole",
                "view",
                "-o",
                "jsonpath={.rules[*].resources}",
            ],
        )
        .await
        .ok();
    assert!(view.stdout.contains("pods/log"), "{view:?}");
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_auth_can_i_answers_from_bindings() {
    // The oldest kubectl the dispatcher runs sends reviews as JSON, the newest as protobuf.
    let minors = [27, 33];
    let names: Vec<String> = minors.iter().map(|m| format!("k{m}")).collect();
    let env = Env::with_config(SandboxConfig {
        clusters: names.clone(),
        cluster_versions: names
            .iter()
            .zip(minors)
            .map(|(n, m)| (n.clone(), KubeVersion::new(m)))
            .collect::<BTreeMap<_, _>>(),
        ..config(&[])
    })
    .await;
    let mut tokens = Vec::new();
    for n in &names {
        tokens.push((n.as_str(), robot_token(&env, n).await));
    }
    let pairs: Vec<(&str, &str)> = tokens.iter().map(|(n, t)| (*n, t.as_str())).collect();
    let robot = token_kubeconfig(&env, "robot.kubeconfig", &pairs);
    let can_i = |ctx: &str| {
        let (env, ctx, robot) = (&env, ctx.to_string(), robot.clone());
        async move {
            env.kubectl(
                &ctx,
                &[
                    "--kubeconfig",
                    &robot,
                    "auth",
                    "can-i",
                    "list",
                    "pods",
                    "--all-namespaces",
                ],
            )
            .await
        }
    };
    for n in &names {
        let no = can_i(n).await;
        assert_eq!((no.code, no.stdout.trim()), (1, "no"), "{n}: {no:?}");
        // The administrator acting as the account (impersonation) gets the account's answer.
        let as_robot = [
            "auth",
            "can-i",
            "list",
            "pods",
            "-A",
            "--as=system:serviceaccount:default:robot",
        ];
        let no = env.kubectl(n, &as_robot).await;
        assert_eq!((no.code, no.stdout.trim()), (1, "no"), "{n}: {no:?}");
        let denied = env
            .kubectl(
                n,
                &["--kubeconfig", &robot, "get", "pods", "-n", "kube-system"],
            )
            .await;
        assert!(
            denied.stderr.contains(r#"Error from server (Forbidden): pods is forbidden: User "system:serviceaccount:default:robot" cannot list resource "pods" in API group "" in the namespace "kube-system""#),
            "{n}: {denied:?}"
        );
        env.kubectl(
            n,
            &[
                "create",
                "clusterrolebinding",
                "robot-view",
                "--clusterrole=view",
                "--serviceaccount=default:robot",
            ],
        )
        .await
        .ok();
        let yes = can_i(n).await;
        assert_eq!((yes.code, yes.stdout.trim()), (0, "yes"), "{n}: {yes:?}");
        let yes = env.kubectl(n, &as_robot).await;
        assert_eq!((yes.code, yes.stdout.trim()), (0, "yes"), "{n}: {yes:?}");
        // The account itself may not act as anyone.
        let whoami = env
            .kubectl(
                n,
                &[
                    "--kubeconfig",
                    &robot,
                    "get",
                    "--raw",
                    "/api/v1/namespaces/default/pods",
                    "--as=jo",
                ],
            )
            .await;
        assert!(
            whoami.stderr.contains(r#"users "jo" is forbidden: User "system:serviceaccount:default:robot" cannot impersonate resource "users" in API group "" at the cluster scope"#),
            "{n}: {whoami:?}"
        );
        let list = env
            .kubectl(
                n,
                &[
                    "--kubeconfig",
                    &robot,
                    "auth",
                    "can-i",
                    "--list",
                    "-n",
                    "default",
                ],
            )
            .await
            .ok();
        assert!(
            list.stdout
                .lines()
                .any(|l| l.starts_with("pods ") && l.contains("[get list watch]")),
            "{n}: {list:?}"
        );
        assert!(
            !list.stdout.lines().any(|l| l.starts_with("secrets ")),
            "{n}: {list:?}"
        );
        let secrets = env
            .kubectl(
                n,
                &["--kubeconfig", &robot, "auth", "can-i", "get", "secrets"],
            )
            .await;
        assert_eq!(
            (secrets.code, secrets.stdout.trim()),
            (1, "no"),
            "{n}: {secrets:?}"
        );
        // The administrator is allowed everything, as system:masters is.
        let admin = env.kubectl(n, &["auth", "can-i", "*", "*"]).await;
        assert_eq!(
            (admin.code, admin.stdout.trim()),
            (0, "yes"),
            "{n}: {admin:?}"
        );
    }
    env.shutdown().await;
}
