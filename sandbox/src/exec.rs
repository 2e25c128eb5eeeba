//! `pods/exec` over WebSocket (`v5.channel.k8s.io`, `v4.channel.k8s.io`): the command runs on
//! the host, in a scratch directory of the pod, with channel-prefixed binary frames.

use std::process::Stdio;
use std::sync::Arc;

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};
use tokio_tungstenite::tungstenite::{Message, handshake::derive_accept_key};

use crate::cluster::Cluster;
use crate::http::{Body, Query, full};
use crate::status::ApiError;
use crate::util::str_at;

const PROTOCOLS: &[&str] = &["v5.channel.k8s.io", "v4.channel.k8s.io"];

/// Validates an exec request and upgrades the connection.
pub fn exec(
    cluster: Arc<Cluster>,
    ns: String,
    name: String,
    query: Query,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let pod = cluster
        .store
        .get("pods", &ns, &name)
        .ok_or_else(|| ApiError::not_found("", "pods", &name))?;
    let containers: Vec<String> = pod["spec"]["containers"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["name"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    if let Some(c) = query.get("container")
        && !containers.iter().any(|x| x == c)
    {
        return Err(ApiError::bad_request(format!(
            "container {c} is not valid for pod {name}"
        )));
    }
    if str_at(&pod, "status.phase") != Some("Running") {
        return Err(ApiError::bad_request(format!(
            "unable to upgrade connection: pod {name} is not running"
        )));
    }
    let argv = query.all("command");
    if argv.is_empty() {
        return Err(ApiError::bad_request(
            "you must specify at least one command for the container",
        ));
    }
    let headers = req.headers();
    let is_ws = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    let offered: Vec<String> = headers
        .get_all(header::SEC_WEBSOCKET_PROTOCOL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| {
            v.split(',')
                .map(|p| p.trim().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    let proto = PROTOCOLS.iter().find(|p| offered.iter().any(|o| o == *p));
    let (Some(proto), true, Some(key)) = (proto, is_ws, headers.get(header::SEC_WEBSOCKET_KEY))
    else {
        return Err(ApiError::bad_request(
            "the sandbox serves exec only over WebSocket with v5.channel.k8s.io or v4.channel.k8s.io",
        ));
    };
    let accept = derive_accept_key(key.as_bytes());
    let dir = cluster.pod_dir(&ns, &pod);
    let stdin = query.flag("stdin");
    // Literal `env` values of the container come first; the pod identity variables win.
    let container = query
        .get("container")
        .map(str::to_string)
        .or_else(|| containers.first().cloned())
        .unwrap_or_default();
    let mut env: Vec<(String, String)> = pod["spec"]["containers"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == container.as_str()))
        .and_then(|c| c["env"].as_array())
        .map(|vars| {
            vars.iter()
                .filter_map(|v| {
                    Some((
                        v["name"].as_str()?.to_string(),
                        v["value"].as_str()?.to_string(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    env.extend([
        ("HOSTNAME".to_string(), name.clone()),
        ("POD_NAME".to_string(), name.clone()),
        ("POD_NAMESPACE".to_string(), ns.clone()),
        (
            "POD_IP".to_string(),
            str_at(&pod, "status.podIP").unwrap_or_default().to_string(),
        ),
    ]);
    tokio::spawn(async move {
        let Ok(upgraded) = hyper::upgrade::on(req).await else {
            return;
        };
        let ws = WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        let uid = crate::util::uid_of(&pod).to_string();
        let gone = pod_gone(Arc::clone(&cluster), ns, name, uid);
        session(ws, argv, dir, env, stdin, gone).await;
    });
    let mut resp = Response::new(full(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(
        header::UPGRADE,
        header::HeaderValue::from_static("websocket"),
    );
    h.insert(
        header::CONNECTION,
        header::HeaderValue::from_static("Upgrade"),
    );
    if let Ok(v) = header::HeaderValue::from_str(&accept) {
        h.insert(header::SEC_WEBSOCKET_ACCEPT, v);
    }
    h.insert(
        header::SEC_WEBSOCKET_PROTOCOL,
        header::HeaderValue::from_static(proto),
    );
    Ok(resp)
}

/// Completes when the pod (this uid) no longer exists or is being deleted.
async fn pod_gone(cluster: Arc<Cluster>, ns: String, name: String, uid: String) {
    let mut changes = cluster.store.subscribe();
    loop {
        let alive = cluster.store.get("pods", &ns, &name).is_some_and(|p| {
            crate::util::uid_of(&p) == uid && !p["metadata"]["deletionTimestamp"].is_string()
        });
        if !alive || changes.changed().await.is_err() {
            return;
        }
    }
}

fn frame(channel: u8, data: &[u8]) -> Message {
    let mut v = Vec::with_capacity(data.len() + 1);
    v.push(channel);
    v.extend_from_slice(data);
    Message::Binary(v.into())
}

fn exit_status(code: Option<i32>, message: &str) -> Value {
    match code {
        Some(0) => json!({"metadata": {}, "status": "Success"}),
        other => {
            let c = other.unwrap_or(137);
            json!({"metadata": {}, "status": "Failure", "reason": "NonZeroExitCode",
                   "message": format!("command terminated with non-zero exit code: {message}exit status {c}"),
                   "details": {"causes": [{"reason": "ExitCode", "message": c.to_string()}]}})
        }
    }
}

async fn pump(mut r: impl tokio::io::AsyncRead + Unpin, channel: u8, tx: mpsc::Sender<Message>) {
    let mut buf = vec![0u8; 32 * 1024];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 || tx.send(frame(channel, &buf[..n])).await.is_err() {
            break;
        }
    }
}

async fn session<S>(
    ws: WebSocketStream<S>,
    argv: Vec<String>,
    dir: std::path::PathBuf,
    env: Vec<(String, String)>,
    stdin: bool,
    pod_gone: impl std::future::Future<Output = ()>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::channel::<Message>(64);
    let writer = tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            let closing = matches!(m, Message::Close(_));
            if sink.send(m).await.is_err() || closing {
                break;
            }
        }
        let _ = sink.close().await;
    });
    let _ = tokio::fs::create_dir_all(&dir).await;
    let mut cmd = crate::isolation::command(&argv);
    // A container sees its own env, not the host's (which may hold credentials).
    cmd.current_dir(&dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &dir)
        .envs(env)
        .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Its own process group, so everything it starts is ended with it.
        .process_group(0)
        .kill_on_drop(true);
    let status = match cmd.spawn() {
        Err(e) => {
            let msg = format!("exec: \"{}\": {e}\n", argv[0]);
            let _ = tx.send(frame(2, msg.as_bytes())).await;
            exit_status(Some(127), "")
        }
        Ok(mut child) => {
            let group = child.id().and_then(|id| i32::try_from(id).ok());
            let out = child
                .stdout
                .take()
                .map(|o| tokio::spawn(pump(o, 1, tx.clone())));
            let err = child
                .stderr
                .take()
                .map(|e| tokio::spawn(pump(e, 2, tx.clone())));
            let mut child_in = child.stdin.take();
            let mut input = tokio::spawn(async move {
                while let Some(Ok(msg)) = stream.next().await {
                    // Clients send channel-prefixed frames as binary or (the Python client)
                    // as text messages.
                    let data: Vec<u8> = match msg {
                        Message::Binary(b) => b.to_vec(),
                        Message::Text(t) => t.as_bytes().to_vec(),
                        Message::Close(_) => break,
                        _ => continue,
                    };
                    match data.split_first() {
                        Some((0, rest)) => {
                            if let Some(w) = child_in.as_mut()
                                && w.write_all(rest).await.is_err()
                            {
                                child_in = None;
                            }
                        }
                        // v5: a CLOSE signal for the stdin channel.
                        Some((255, [0])) => child_in = None,
                        _ => {}
                    }
                }
            });
            // A client that goes away, or a pod that is deleted, takes the command with it.
            let code = tokio::select! {
                status = child.wait() => status.ok().and_then(|s| s.code()),
                _ = &mut input => None,
                _ = pod_gone => None,
            };
            // Whatever the command left running in its group ends with the exec.
            if let Some(pgid) = group {
                let _ = nix::sys::signal::killpg(
                    nix::unistd::Pid::from_raw(pgid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            let _ = child.kill().await;
            for t in [out, err].into_iter().flatten() {
                let _ = t.await;
            }
            input.abort();
            exit_status(code, "")
        }
    };
    let _ = tx.send(frame(3, status.to_string().as_bytes())).await;
    let _ = tx
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        })))
        .await;
    drop(tx);
    let _ = writer.await;
}
