//! Authentication and exec isolation: only minted tokens authenticate, exec'd processes end
//! with their exec or pod and see no network but loopback, handed-out addresses are loopback.

mod common;

use base64::Engine;
use common::Env;

const POD: &str = r#"
apiVersion: v1
kind: Pod
metadata: {name: box, namespace: default}
spec:
  containers: [{name: main, image: example.invalid/box:1}]
"#;

async fn running_pod(env: &Env) {
    let f = env.write("pod.yaml", POD);
    env.kubectl("c1", &["apply", "-f", f.to_str().unwrap()])
        .await
        .ok();
    env.kubectl(
        "c1",
        &["wait", "--for=condition=Ready", "pod/box", "--timeout=30s"],
    )
    .await
    .ok();
}

fn alive(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.contains(") Z ") && !s.contains(") X "))
}

/// Whether `pid` ends within a few seconds (a killed process takes a moment to be reaped).
async fn ends(pid: i32) -> bool {
    for _ in 0..50 {
        if !alive(pid) {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

/// The status of `GET /api/v1/namespaces` with `Authorization: SCHEME TOKEN`, through curl.
async fn status_with_token(env: &Env, token: &str, scheme: &str) -> u16 {
    let ca = env.write("ca.pem", env.sandbox.ca_pem());
    let mut cmd = tokio::process::Command::new("curl");
    cmd.args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--cacert"])
        .arg(&ca)
        .args(["-H", &format!("Authorization: {scheme} {token}")])
        .arg(format!("{}/api/v1/namespaces", env.cluster("c1").server));
    let out = meshbook_sandbox::testing::run(cmd, None, std::time::Duration::from_secs(20)).await;
    out.stdout.trim().parse().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn only_minted_tokens_authenticate() {
    let env = Env::start(&["c1"]).await;
    let admin = env.cluster("c1").token;
    assert_eq!(status_with_token(&env, &admin, "Bearer").await, 200);
    // The scheme is case-insensitive, as the API server reads it.
    assert_eq!(status_with_token(&env, &admin, "bearer").await, 200);
    assert_eq!(status_with_token(&env, "nope", "Bearer").await, 401);

    // A service-account token Secret with a token of the client's choosing never authenticates.
    let forged = base64::engine::general_purpose::STANDARD.encode("a");
    let secret = format!(
        r#"{{"apiVersion":"v1","kind":"Secret","type":"kubernetes.io/service-account-token",
            "metadata":{{"name":"forged","namespace":"default",
                         "annotations":{{"kubernetes.io/service-account.name":"default"}}}},
            "data":{{"token":"{forged}"}}}}"#
    );
    let f = env.write("forged.json", &secret);
    env.kubectl("c1", &["apply", "-f", f.to_str().unwrap()])
        .await
        .ok();
    assert_eq!(status_with_token(&env, "a", "Bearer").await, 401);

    // A minted legacy token works while its Secret exists.
    env.kubectl("c1", &["create", "serviceaccount", "robot"])
        .await
        .ok();
    let legacy = r#"{"apiVersion":"v1","kind":"Secret","type":"kubernetes.io/service-account-token",
        "metadata":{"name":"robot-token","namespace":"default",
                    "annotations":{"kubernetes.io/service-account.name":"robot"}}}"#;
    let f = env.write("legacy.json", legacy);
    env.kubectl("c1", &["apply", "-f", f.to_str().unwrap()])
        .await
        .ok();
    let encoded = env
        .kubectl(
            "c1",
            &[
                "get",
                "secret",
                "robot-token",
                "-o",
                "jsonpath={.data.token}",
            ],
        )
        .await
        .ok()
        .stdout;
    let token = String::from_utf8(
        base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .unwrap(),
    )
    .unwrap();
    // Authenticated (403, not 401): no binding lets the account list namespaces.
    assert_eq!(status_with_token(&env, &token, "Bearer").await, 403);
    env.kubectl("c1", &["delete", "secret", "robot-token"])
        .await
        .ok();
    assert_eq!(status_with_token(&env, &token, "Bearer").await, 401);

    // An extra token accepted through the API authenticates on that cluster only.
    assert!(
        env.sandbox
            .set_extra_token("c1", Some("cloud-access-token"))
    );
    assert!(!env.sandbox.set_extra_token("nope", Some("x")));
    assert_eq!(
        status_with_token(&env, "cloud-access-token", "Bearer").await,
        200
    );
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_processes_end_with_the_exec_and_the_pod() {
    let env = Env::start(&["c1"]).await;
    running_pod(&env).await;
    // A background process outlives its shell but not the exec.
    let out = env
        .kubectl(
            "c1",
            &["exec", "box", "--", "sh", "-c", "sleep 300 & echo $!"],
        )
        .await
        .ok();
    // The pid printed is the one inside the namespace only when pid namespaces are used;
    // here the exec shares the host's pid namespace, so it can be checked from outside.
    let pid: i32 = out.stdout.trim().parse().expect("a pid");
    assert!(ends(pid).await, "sleep {pid} outlived its exec");

    // A process still running when the pod is deleted ends with the pod.
    let kc = env.kubeconfig.clone();
    let cache = env.path("exec-cache");
    let pidfile = env.path("pid");
    let script = format!("echo $$ > {}; exec sleep 300", pidfile.display());
    let exec = tokio::spawn(async move {
        let mut cmd = tokio::process::Command::new("kubectl");
        cmd.arg("--kubeconfig")
            .arg(&kc)
            .arg("--cache-dir")
            .arg(&cache)
            .args(["exec", "box", "--", "sh", "-c", &script]);
        meshbook_sandbox::testing::run(cmd, None, std::time::Duration::from_secs(60)).await
    });
    let pid = common::within(std::time::Duration::from_secs(30), async {
        loop {
            if let Ok(t) = std::fs::read_to_string(&pidfile)
                && let Ok(p) = t.trim().parse::<i32>()
            {
                return p;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    })
    .await;
    assert!(alive(pid));
    env.kubectl("c1", &["delete", "pod", "box", "--wait=false"])
        .await
        .ok();
    let ended = common::within(std::time::Duration::from_secs(30), exec)
        .await
        .unwrap();
    assert_ne!(ended.code, 0, "{ended:?}");
    assert!(ends(pid).await, "exec'd process {pid} outlived its pod");
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_sees_only_loopback() {
    let env = Env::start(&["c1"]).await;
    running_pod(&env).await;
    let out = env
        .kubectl("c1", &["exec", "box", "--", "cat", "/proc/net/dev"])
        .await
        .ok();
    let interfaces: Vec<&str> = out
        .stdout
        .lines()
        .skip(2)
        .filter_map(|l| l.split(':').next())
        .map(str::trim)
        .collect();
    assert_eq!(interfaces, vec!["lo"], "{}", out.stdout);
    // Node and LoadBalancer addresses a host tool could dial are loopback.
    let host = env
        .kubectl(
            "c1",
            &["get", "pod", "box", "-o", "jsonpath={.status.hostIP}"],
        )
        .await
        .ok();
    assert!(host.stdout.starts_with("127."), "{host:?}");
    env.shutdown().await;
}
