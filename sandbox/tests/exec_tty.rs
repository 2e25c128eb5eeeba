//! `exec` with a TTY: the command gets a pseudo-terminal (so `tty` names a device and
//! `test -t 0` holds), its stderr merged into stdout, and the client's resize messages set
//! the terminal's size. Driven by kube-rs (WebSocket) and by kubectl itself under `script`
//! (which gives kubectl the terminal it needs before it asks for one).

mod common;

use std::time::Duration;

use common::Env;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, PostParams, TerminalSize};
use meshbook_sandbox::testing::{kubectl_of, run};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

async fn running_pod(env: &Env) -> Api<Pod> {
    let pods: Api<Pod> = Api::namespaced(env.client("c1").await, "default");
    let pod = serde_json::from_value(serde_json::json!({"metadata": {"name": "box"},
        "spec": {"containers": [{"name": "c", "image": "example.invalid/box:1"}]}}))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let running = kube::runtime::wait::await_condition(
        pods.clone(),
        "box",
        kube::runtime::conditions::is_pod_running(),
    );
    tokio::time::timeout(Duration::from_secs(20), running)
        .await
        .unwrap()
        .unwrap();
    pods
}

#[tokio::test(flavor = "multi_thread")]
async fn tty_exec_gets_a_terminal_merged_output_and_resizes() {
    let env = Env::start(&["c1"]).await;
    let pods = running_pod(&env).await;

    // Without a TTY: pipes, stderr apart.
    let mut plain = pods
        .exec(
            "box",
            ["sh", "-c", "test -t 0 || echo no-terminal; echo err >&2"],
            &AttachParams::default().stderr(true),
        )
        .await
        .unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    plain
        .stdout()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    plain
        .stderr()
        .unwrap()
        .read_to_string(&mut err)
        .await
        .unwrap();
    assert_eq!((out.as_str(), err.as_str()), ("no-terminal\n", "err\n"));
    plain.join().await.unwrap();

    // With one: a device, a terminal on stdin, stderr merged (with the terminal's CR LF).
    let mut tty = pods
        .exec(
            "box",
            [
                "sh",
                "-c",
                "tty; test -t 0 && test -t 1 && echo is-a-terminal; echo err >&2; \
                 sleep 300 & echo bg=$!; echo interfaces=$(grep -c : /proc/net/dev); \
                 read size; stty size",
            ],
            &AttachParams::interactive_tty(),
        )
        .await
        .unwrap();
    let mut sizes = tty.terminal_size().unwrap();
    let mut stdin = tty.stdin().unwrap();
    let mut stdout = tty.stdout().unwrap();
    let status = tty.take_status().unwrap();
    sizes
        .try_send(TerminalSize {
            width: 100,
            height: 40,
        })
        .unwrap();
    // The size is applied before the command reads its line.
    tokio::time::sleep(Duration::from_millis(300)).await;
    stdin.write_all(b"go\n").await.unwrap();
    let mut out = Vec::new();
    let read = async {
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&out).contains("40 100") {
            match stdout.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .unwrap();
    let out = String::from_utf8_lossy(&out).to_string();
    assert!(out.starts_with("/dev/pts/"), "{out:?}");
    assert!(out.contains("is-a-terminal\r\nerr\r\n"), "{out:?}");
    // The terminal echoes what was typed, then `stty size` prints rows and columns.
    assert!(out.contains("go\r\n40 100\r\n"), "{out:?}");
    let status = tokio::time::timeout(Duration::from_secs(20), status)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.status.as_deref(), Some("Success"), "{status:?}");
    // Isolated as any exec: loopback only, and what it left running ends with it.
    assert!(out.contains("interfaces=1\r\n"), "{out:?}");
    let bg: i32 = out
        .split("bg=")
        .nth(1)
        .and_then(|r| r.split('\r').next())
        .and_then(|p| p.parse().ok())
        .expect("a pid");
    let gone = async {
        while std::path::Path::new(&format!("/proc/{bg}")).exists() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), gone)
        .await
        .expect("the background process ends with the exec");
    env.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn kubectl_exec_it_runs_on_a_terminal() {
    let env = Env::start(&["c1"]).await;
    running_pod(&env).await;
    // The dispatcher's kubectl 1.32 speaks WebSocket; kubectl 1.29 speaks SPDY.
    for kubectl in ["kubectl".to_string(), kubectl_of(29)] {
        let cache = env.path(&format!("cache-{}", kubectl.len()));
        // `script` runs kubectl on a pseudo-terminal of its own, so `-t` is honoured;
        // kubectl then sends that terminal's size, set to 30 rows of 90 columns first.
        let inner = format!(
            "stty rows 30 cols 90; {kubectl} --kubeconfig {} --context c1 --cache-dir {} exec -it box -- sh -c 'tty; stty size; echo done'",
            env.kubeconfig.display(),
            cache.display()
        );
        let mut cmd = tokio::process::Command::new("script");
        cmd.args(["-qec", &inner, "/dev/null"]);
        let out = run(cmd, None, Duration::from_secs(60)).await;
        assert_eq!(out.code, 0, "{kubectl}: {out:?}");
        assert!(out.stdout.contains("/dev/pts/"), "{kubectl}: {out:?}");
        assert!(out.stdout.contains("30 90\r\ndone"), "{kubectl}: {out:?}");
    }
    env.shutdown().await;
}
