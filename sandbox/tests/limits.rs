//! Resource limits: request bodies, nesting, idle connections, watch history (issue 9 item 9).

mod common;

use std::time::Duration;

use common::{Env, config, within};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use meshbook_sandbox::{Limits, SandboxConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Sends one raw HTTPS request and returns the status code and body.
async fn raw_post(env: &Env, path: &str, body: Vec<u8>) -> (u16, String) {
    let ca = env.write("ca.pem", env.sandbox.ca_pem());
    let data = env.path("body");
    std::fs::write(&data, body).unwrap();
    let mut cmd = tokio::process::Command::new("curl");
    cmd.args(["-s", "-w", "\n%{http_code}", "--cacert"])
        .arg(&ca)
        .args([
            "-H",
            &format!("Authorization: Bearer {}", env.cluster("c1").token),
        ])
        .args(["-H", "Content-Type: application/json", "--data-binary"])
        .arg(format!("@{}", data.display()))
        .arg(format!("{}{path}", env.cluster("c1").server));
    let out = meshbook_sandbox::testing::run(cmd, None, Duration::from_secs(30)).await;
    let (body, code) = out.stdout.rsplit_once('\n').unwrap_or_default();
    (code.trim().parse().unwrap_or(0), body.to_string())
}

#[tokio::test(flavor = "multi_thread")]
async fn bodies_over_the_limit_get_413() {
    let env = Env::start(&["c1"]).await;
    let client = env.client("c1").await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "big"}, "data": {"k": "x".repeat(4 * 1024 * 1024)}}))
    .unwrap();
    let err = cms.create(&PostParams::default(), &cm).await.unwrap_err();
    match err {
        kube::Error::Api(s) => {
            assert_eq!(s.code, 413, "{s:?}");
            assert_eq!(s.reason, "RequestEntityTooLarge");
        }
        other => panic!("expected a 413 Status, got {other:?}"),
    }
    // Just under the limit is fine.
    cm.data = Some([("k".to_string(), "x".repeat(1024 * 1024))].into());
    cms.create(&PostParams::default(), &cm).await.unwrap();
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deep_nesting_is_refused_before_parsing() {
    let env = Env::start(&["c1"]).await;
    let mut body =
        br#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"data":"#.to_vec();
    body.extend(std::iter::repeat_n(b'[', 64_000));
    let (code, text) = within(
        Duration::from_secs(20),
        raw_post(&env, "/api/v1/namespaces/default/configmaps", body),
    )
    .await;
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("nested more than"), "{text}");
    // The same body as YAML (the other parser) is refused the same way.
    let yaml = format!("a:\n{}b: 1\n", " ".repeat(20_000)).into_bytes();
    let (code, _) = raw_post(&env, "/api/v1/namespaces/default/configmaps", yaml).await;
    assert_eq!(code, 400);
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn silent_connections_are_closed() {
    let cfg = SandboxConfig {
        limits: Limits {
            idle_timeout: Duration::from_millis(500),
            ..Limits::default()
        },
        ..config(&["c1"])
    };
    let env = Env::with_config(cfg).await;
    let addr = env
        .cluster("c1")
        .server
        .trim_start_matches("https://")
        .to_string();
    // A connection that never starts TLS.
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut buf = [0u8; 16];
    let n = within(Duration::from_secs(10), tcp.read(&mut buf))
        .await
        .unwrap_or(0);
    assert_eq!(n, 0, "the server closed the silent connection");
    // A connection that sends part of a handshake and stops.
    let mut tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    tcp.write_all(&[0x16, 0x03, 0x01]).await.unwrap();
    let closed = within(Duration::from_secs(10), async {
        loop {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => return true,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(closed);
    env.shutdown().await;
}
