//! Streaming subresources with the real kubectl: exec over SPDY/3.1 (kubectl 1.28 speaks
//! nothing else), attach, and port-forward (SPDY tunnelled in a WebSocket for 1.31+, plain
//! SPDY for older kubectls) to the responder behind a pod's declared port.

mod common;

use std::time::Duration;

use common::{Env, within};
use meshbook_sandbox::testing::kubectl_of;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

async fn running_pod(env: &Env) {
    env.kubectl(
        "c1",
        &["run", "web", "--image=example.invalid/web:1", "--port=8080"],
    )
    .await
    .ok();
    env.kubectl(
        "c1",
        &["wait", "--for=condition=Ready", "pod/web", "--timeout=30s"],
    )
    .await
    .ok();
}

#[tokio::test(flavor = "multi_thread")]
async fn exec_over_spdy_with_kubectl_1_28() {
    let env = Env::start(&["c1"]).await;
    running_pod(&env).await;
    let k = kubectl_of(28);
    let limit = Duration::from_secs(60);
    let out = env
        .kubectl_bin(
            &k,
            "c1",
            &["exec", "web", "--", "sh", "-c", "echo out; echo err >&2"],
            None,
            limit,
        )
        .await
        .ok();
    assert_eq!(out.stdout, "out\n");
    assert_eq!(out.stderr, "err\n");
    let failed = env
        .kubectl_bin(
            &k,
            "c1",
            &["exec", "web", "--", "sh", "-c", "exit 3"],
            None,
            limit,
        )
        .await;
    assert_eq!(failed.code, 3, "{failed:?}");
    assert!(
        failed
            .stderr
            .contains("command terminated with exit code 3"),
        "{failed:?}"
    );
    let piped = env
        .kubectl_bin(
            &k,
            "c1",
            &["exec", "-i", "web", "--", "wc", "-c"],
            Some("hello spdy\n"),
            limit,
        )
        .await
        .ok();
    assert_eq!(piped.stdout.trim(), "11");
}

/// Starts `kubectl port-forward` and returns it with the local port it chose.
async fn forward(env: &Env, kubectl: &str, port: u16) -> (tokio::process::Child, u16) {
    let mut cmd = tokio::process::Command::new(kubectl);
    cmd.arg("--kubeconfig")
        .arg(&env.kubeconfig)
        .args(["--context", "c1", "--cache-dir"])
        .arg(env.path(&format!("pf-cache-{}", rand_suffix())))
        .args(["port-forward", "--address", "127.0.0.1", "pod/web"])
        .arg(format!(":{port}"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("kubectl starts");
    let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let line = within(Duration::from_secs(30), lines.next_line())
        .await
        .unwrap()
        .expect("kubectl says where it forwards");
    // "Forwarding from 127.0.0.1:PORT -> 8080"
    let port = line
        .split_once("127.0.0.1:")
        .and_then(|(_, rest)| rest.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("unexpected line {line:?}"));
    // kubectl reports each connection on stdout: keep reading, or it dies of a broken pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, port)
}

fn rand_suffix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
}

async fn http_get(port: u16) -> String {
    within(Duration::from_secs(30), async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .expect("forwarded port accepts");
        s.write_all(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n")
            .await
            .unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).await.expect("the response is read");
        String::from_utf8_lossy(&out).into_owned()
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn port_forward_reaches_the_pods_declared_port() {
    let env = Env::start(&["c1"]).await;
    running_pod(&env).await;
    // The dispatcher's kubectl 1.32 (WebSocket tunnel), then 1.28 (SPDY upgrade).
    for kubectl in ["kubectl".to_string(), kubectl_of(28)] {
        let (mut child, port) = forward(&env, &kubectl, 8080).await;
        let first = http_get(port).await;
        if !first.starts_with("HTTP/1.1 200 OK") {
            child.kill().await.unwrap();
            let out = child.wait_with_output().await.unwrap();
            panic!(
                "{kubectl}: {first:?} {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(first.contains("pod web port 8080"), "{kubectl}: {first:?}");
        // A second connection through the same forward.
        let second = http_get(port).await;
        assert!(
            second.contains("pod web port 8080"),
            "{kubectl}: {second:?}"
        );
        child.kill().await.unwrap();
    }
    // A port no container declares fails as a port nothing listens on.
    let (mut child, port) = forward(&env, "kubectl", 9999).await;
    let refused = within(Duration::from_secs(30), async {
        let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .unwrap();
        let _ = s.write_all(b"GET / HTTP/1.1\r\n\r\n").await;
        let mut out = Vec::new();
        let _ = s.read_to_end(&mut out).await;
        out
    })
    .await;
    assert!(refused.is_empty(), "{refused:?}");
    child.kill().await.unwrap();
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("connection refused"), "{stderr}");
}
