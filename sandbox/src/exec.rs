//! `pods/exec` and `pods/attach` over WebSocket (`v5.channel.k8s.io`, `v4.channel.k8s.io`) or
//! SPDY/3.1 (`v4.channel.k8s.io`): the command runs on the host, in a scratch directory of the
//! pod and a network namespace of its own, its stdio carried on the protocol's channels.

use std::process::Stdio;
use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::protocol::{CloseFrame, Role};

use crate::cluster::Cluster;
use crate::http::{Body, Query};
use crate::status::ApiError;
use crate::util::str_at;

/// WebSocket subprotocols served for exec and attach, preferred first.
const WS_PROTOCOLS: &[&str] = &["v5.channel.k8s.io", "v4.channel.k8s.io"];
/// SPDY stream protocols served for exec and attach (kubectl 1.27–1.29, and later ones when
/// WebSockets are refused), preferred first.
const SPDY_PROTOCOLS: &[&str] = &["v4.channel.k8s.io"];

/// What an exec runs: the command (none for attach, which joins the container's silent main
/// process), where and with which environment.
struct Command {
    argv: Vec<String>,
    dir: std::path::PathBuf,
    env: Vec<(String, String)>,
    stdin: bool,
    /// Run on a pseudo-terminal (`tty=true`).
    tty: bool,
}

/// Validates an exec or attach request and upgrades the connection (WebSocket or SPDY/3.1).
pub fn exec(
    cluster: Arc<Cluster>,
    ns: String,
    name: String,
    attach: bool,
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
    if argv.is_empty() && !attach {
        return Err(ApiError::bad_request(
            "you must specify at least one command for the container",
        ));
    }
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
    let cmd = Command {
        argv,
        dir: cluster.pod_dir(&ns, &pod),
        env,
        stdin: query.flag("stdin"),
        tty: query.flag("tty"),
    };
    let wants = Streams {
        stdin: cmd.stdin,
        stdout: query.flag("stdout"),
        stderr: query.flag("stderr") && !query.flag("tty"),
        resize: query.flag("tty"),
    };
    let uid = crate::util::uid_of(&pod).to_string();
    let gone = pod_gone(Arc::clone(&cluster), ns, name, uid);
    match crate::upgrade::requested(&req, WS_PROTOCOLS, SPDY_PROTOCOLS)? {
        crate::upgrade::Kind::WebSocket(proto, accept) => {
            tokio::spawn(async move {
                let Ok(upgraded) = hyper::upgrade::on(req).await else {
                    return;
                };
                let ws =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                websocket_session(ws, cmd, gone).await;
            });
            Ok(crate::upgrade::websocket_response(&accept, proto))
        }
        crate::upgrade::Kind::Spdy(proto) => {
            tokio::spawn(async move {
                let Ok(upgraded) = hyper::upgrade::on(req).await else {
                    return;
                };
                let (input, output) = crate::upgrade::pipe(TokioIo::new(upgraded));
                spdy_session(input, output, cmd, wants, gone).await;
            });
            Ok(crate::upgrade::spdy_response(proto))
        }
    }
}

/// The streams an exec's client opens over SPDY (one per requested channel, and always the
/// error stream).
#[derive(Debug, Clone, Copy)]
struct Streams {
    stdin: bool,
    stdout: bool,
    stderr: bool,
    resize: bool,
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

async fn pump(
    mut r: impl tokio::io::AsyncRead + Unpin,
    channel: u8,
    tx: mpsc::Sender<(u8, Vec<u8>)>,
) {
    let mut buf = vec![0u8; 32 * 1024];
    while let Ok(n) = r.read(&mut buf).await {
        if n == 0 || tx.send((channel, buf[..n].to_vec())).await.is_err() {
            break;
        }
    }
}

/// A pseudo-terminal for an exec with `tty`: its slave side is the command's stdin, stdout
/// and stderr (so output is merged and line-disciplined, as in a real TTY exec), and the
/// session reads, writes and resizes its master side.
struct Terminal {
    master: std::fs::File,
    slave: std::fs::File,
}

impl Terminal {
    fn open() -> std::io::Result<Terminal> {
        use rustix::pty::{OpenptFlags, grantpt, ioctl_tiocgptpeer, openpt, unlockpt};
        // NOCTTY: the sandbox itself never takes the terminal as its own.
        let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
        let master = openpt(flags)?;
        grantpt(&master)?;
        unlockpt(&master)?;
        let slave = ioctl_tiocgptpeer(&master, flags)?;
        Ok(Terminal {
            master: master.into(),
            slave: slave.into(),
        })
    }
}

/// Applies the client's terminal size (`{"Width": 80, "Height": 24}` on the resize channel;
/// several may come in one message) to `master`; the kernel tells the command (SIGWINCH).
fn resize(master: &std::fs::File, data: &[u8]) {
    for size in serde_json::Deserializer::from_slice(data).into_iter::<Value>() {
        let Ok(size) = size else { return };
        let dim = |k: &str| size[k].as_u64().and_then(|v| u16::try_from(v).ok());
        if let (Some(w), Some(h)) = (dim("Width"), dim("Height")) {
            let _ = rustix::termios::tcsetwinsize(
                master,
                rustix::termios::Winsize {
                    ws_row: h,
                    ws_col: w,
                    ws_xpixel: 0,
                    ws_ypixel: 0,
                },
            );
        }
    }
}

/// The input of a running exec: stdin bytes and terminal sizes, each closed when the client
/// stops sending them.
struct Input {
    stdin: mpsc::Receiver<Vec<u8>>,
    resize: mpsc::Receiver<Vec<u8>>,
}

/// The senders that feed an [`Input`].
struct InputTx {
    stdin: Option<mpsc::Sender<Vec<u8>>>,
    resize: Option<mpsc::Sender<Vec<u8>>>,
}

fn input_channels() -> (InputTx, Input) {
    let (stdin_tx, stdin) = mpsc::channel(16);
    let (resize_tx, resize) = mpsc::channel(4);
    (
        InputTx {
            stdin: Some(stdin_tx),
            resize: Some(resize_tx),
        },
        Input { stdin, resize },
    )
}

impl InputTx {
    /// Passes data of the stdin (0) or resize (4) channel on; a receiver gone closes it.
    async fn send(&mut self, channel: u8, data: Vec<u8>) {
        let slot = match channel {
            0 => &mut self.stdin,
            4 => &mut self.resize,
            _ => return,
        };
        if let Some(t) = slot
            && t.send(data).await.is_err()
        {
            *slot = None;
        }
    }
}

/// Runs an exec's command: `input` feeds its stdin (closed: end of input) and, with a TTY, its
/// terminal size; its output goes to `out` as (channel, bytes) with 1 for stdout and 2 for
/// stderr (a TTY has stdout only), and it is killed with everything it started when `stop`
/// completes (the client went away or the pod was deleted). Returns the exec's final `Status`.
async fn run(
    cmd: Command,
    input: Input,
    out: mpsc::Sender<(u8, Vec<u8>)>,
    stop: impl std::future::Future<Output = ()>,
) -> Value {
    let Input {
        stdin: mut input,
        resize: mut sizes,
    } = input;
    // Private whatever the umask: in a rehearsal this lies in the run's state directory.
    let _ = tokio::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&cmd.dir)
        .await;
    if cmd.argv.is_empty() {
        // Attach: the container's main process says nothing until the client leaves.
        stop.await;
        return exit_status(Some(0), "");
    }
    let terminal = match cmd.tty.then(Terminal::open).transpose() {
        Ok(t) => t,
        Err(e) => {
            let msg = format!("exec: cannot allocate a terminal: {e}\n");
            let _ = out.send((2, msg.into_bytes())).await;
            return exit_status(Some(126), "");
        }
    };
    let mut argv = cmd.argv.clone();
    if terminal.is_some() {
        // A session of its own whose controlling terminal is the pty (util-linux `setsid`,
        // which also makes it its own process group, ended with it as below).
        argv.splice(0..0, ["setsid".to_string(), "--ctty".to_string()]);
    }
    let mut child_cmd = crate::isolation::command(&argv);
    // A container sees its own env, not the host's (which may hold credentials).
    child_cmd
        .current_dir(&cmd.dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &cmd.dir)
        .envs(cmd.env)
        .kill_on_drop(true);
    match &terminal {
        Some(t) => {
            let end = || t.slave.try_clone().map(Stdio::from);
            match (end(), end(), end()) {
                (Ok(i), Ok(o), Ok(e)) => child_cmd.stdin(i).stdout(o).stderr(e),
                _ => return exit_status(Some(126), ""),
            };
            child_cmd.env("TERM", "xterm");
        }
        None => {
            child_cmd
                .stdin(if cmd.stdin {
                    Stdio::piped()
                } else {
                    Stdio::null()
                })
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                // Its own process group, so everything it starts is ended with it.
                .process_group(0);
        }
    }
    let spawned = child_cmd.spawn();
    // The command holds the terminal's slave side now; with ours closed, reading the master
    // ends once the command and what it started are gone.
    drop(child_cmd);
    let master = terminal.map(|t| t.master);
    let mut child = match spawned {
        Err(e) => {
            let msg = format!("exec: \"{}\": {e}\n", cmd.argv[0]);
            let _ = out.send((2, msg.into_bytes())).await;
            return exit_status(Some(127), "");
        }
        Ok(c) => c,
    };
    let group = child.id().and_then(|id| i32::try_from(id).ok());
    let async_end = |f: &std::fs::File| f.try_clone().ok().map(tokio::fs::File::from_std);
    let out_task = match &master {
        Some(m) => async_end(m).map(|o| tokio::spawn(pump(o, 1, out.clone()))),
        None => child
            .stdout
            .take()
            .map(|o| tokio::spawn(pump(o, 1, out.clone()))),
    };
    let err_task = child
        .stderr
        .take()
        .map(|e| tokio::spawn(pump(e, 2, out.clone())));
    let mut child_in: Option<Box<dyn tokio::io::AsyncWrite + Send + Unpin>> = match &master {
        Some(m) => async_end(m).map(|w| Box::new(w) as _),
        None => child.stdin.take().map(|w| Box::new(w) as _),
    };
    let feeder = tokio::spawn(async move {
        while let Some(chunk) = input.recv().await {
            if let Some(w) = child_in.as_mut()
                && (w.write_all(&chunk).await.is_err() || w.flush().await.is_err())
            {
                child_in = None;
            }
        }
    });
    let resizer = tokio::spawn(async move {
        while let Some(data) = sizes.recv().await {
            if let Some(m) = &master {
                resize(m, &data);
            }
        }
    });
    // A client that goes away, or a pod that is deleted, takes the command with it.
    let code = tokio::select! {
        status = child.wait() => status.ok().and_then(|s| s.code()),
        _ = stop => None,
    };
    // Whatever the command left running in its group ends with the exec.
    if let Some(pgid) = group {
        let _ = nix::sys::signal::killpg(
            nix::unistd::Pid::from_raw(pgid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    let _ = child.kill().await;
    for t in [out_task, err_task].into_iter().flatten() {
        let _ = t.await;
    }
    feeder.abort();
    resizer.abort();
    exit_status(code, "")
}

/// Exec over WebSocket: channel-prefixed frames, stdin as binary or (the Python client) text
/// messages, the status on channel 3, then a close.
async fn websocket_session<S>(
    ws: WebSocketStream<S>,
    cmd: Command,
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
    let (mut in_tx, in_rx) = input_channels();
    let (left_tx, left) = tokio::sync::oneshot::channel::<()>();
    let mut reader = tokio::spawn(async move {
        while let Some(Ok(msg)) = stream.next().await {
            let data: Vec<u8> = match msg {
                Message::Binary(b) => b.to_vec(),
                Message::Text(t) => t.as_bytes().to_vec(),
                Message::Close(_) => break,
                _ => continue,
            };
            match data.split_first() {
                // v5: a CLOSE signal for the stdin channel.
                Some((255, [0])) => in_tx.stdin = None,
                Some((ch, rest)) => in_tx.send(*ch, rest.to_vec()).await,
                None => {}
            }
        }
        let _ = left_tx.send(());
    });
    let (out_tx, mut out_rx) = mpsc::channel::<(u8, Vec<u8>)>(64);
    let frames = tx.clone();
    let forward = tokio::spawn(async move {
        while let Some((ch, data)) = out_rx.recv().await {
            if frames.send(frame(ch, &data)).await.is_err() {
                break;
            }
        }
    });
    let stop = async move {
        tokio::select! {
            _ = left => {}
            _ = pod_gone => {}
        }
    };
    let status = run(cmd, in_rx, out_tx, stop).await;
    let _ = forward.await;
    let _ = tx.send(frame(3, status.to_string().as_bytes())).await;
    let _ = tx
        .send(Message::Close(Some(CloseFrame {
            code: CloseCode::Normal,
            reason: "".into(),
        })))
        .await;
    drop(tx);
    let _ = writer.await;
    // Read on until the client's own close, for a bounded time: a connection closed with frames
    // of the client still unread (stdin's close signal, sent as the command ended) is reset,
    // and a reset can discard the status the client has not read yet.
    if tokio::time::timeout(LINGER, &mut reader).await.is_err() {
        reader.abort();
    }
}

/// How long an exec's WebSocket is read after the status and close were sent.
const LINGER: std::time::Duration = std::time::Duration::from_secs(2);

/// Exec over SPDY/3.1 (`v4.channel.k8s.io`): the client opens an error stream and one stream
/// per channel; the command starts once they are all open (within 30 s, as the kubelet
/// waits), stdout and stderr go out on their streams, and the status on the error stream.
async fn spdy_session(
    input: mpsc::Receiver<Vec<u8>>,
    output: mpsc::Sender<Vec<u8>>,
    cmd: Command,
    wants: Streams,
    pod_gone: impl std::future::Future<Output = ()>,
) {
    let (mut events, sender) = crate::spdy::serve(input, output);
    let mut ids: std::collections::BTreeMap<String, u32> = Default::default();
    let needed = 1 + [wants.stdin, wants.stdout, wants.stderr, wants.resize]
        .iter()
        .filter(|w| **w)
        .count();
    let deadline = tokio::time::sleep(std::time::Duration::from_secs(30));
    tokio::pin!(deadline);
    while ids.len() < needed {
        tokio::select! {
            ev = events.recv() => match ev {
                Some(crate::spdy::Event::Stream { id, headers, .. }) => {
                    let kind = crate::spdy::header(&headers, "streamtype").unwrap_or_default().to_string();
                    ids.insert(kind, id);
                }
                Some(_) => {}
                None => return,
            },
            _ = &mut deadline => {
                sender.go_away().await;
                return;
            }
        }
    }
    let stream = |k: &str| ids.get(k).copied();
    let (mut in_tx, in_rx) = input_channels();
    let (left_tx, left) = tokio::sync::oneshot::channel::<()>();
    let (stdin_id, resize_id) = (stream("stdin"), stream("resize"));
    let mut reader = tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if let crate::spdy::Event::Data { id, data, fin } = ev {
                let channel = match Some(id) {
                    i if i == stdin_id => 0,
                    i if i == resize_id => 4,
                    _ => continue,
                };
                if !data.is_empty() {
                    in_tx.send(channel, data).await;
                }
                if fin && channel == 0 {
                    in_tx.stdin = None;
                }
            }
        }
        let _ = left_tx.send(());
    });
    let (out_tx, mut out_rx) = mpsc::channel::<(u8, Vec<u8>)>(64);
    let writer = sender.clone();
    let (stdout_id, stderr_id) = (stream("stdout"), stream("stderr"));
    let forward = tokio::spawn(async move {
        while let Some((ch, data)) = out_rx.recv().await {
            let target = if ch == 1 { stdout_id } else { stderr_id };
            if let Some(id) = target
                && !writer.data(id, &data, false).await
            {
                break;
            }
        }
    });
    let stop = async move {
        tokio::select! {
            _ = left => {}
            _ = pod_gone => {}
        }
    };
    let status = run(cmd, in_rx, out_tx, stop).await;
    let _ = forward.await;
    for id in [stdout_id, stderr_id].into_iter().flatten() {
        sender.data(id, &[], true).await;
    }
    if let Some(id) = stream("error") {
        // v4 carries the whole Status, as the kubelet writes it.
        sender.data(id, status.to_string().as_bytes(), true).await;
    }
    sender.go_away().await;
    drop(sender);
    // As over WebSocket: read on until the client closes, for a bounded time, so that what it
    // still sends (its stdin's end, sent as the command ended) is not left unread when the
    // connection closes, which would reset it under the status.
    if tokio::time::timeout(LINGER, &mut reader).await.is_err() {
        reader.abort();
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::time::timeout;

    use super::*;
    use crate::spdy::TestClient;

    const GOAWAY: u16 = 7;

    #[tokio::test]
    async fn spdy_exec_reads_on_after_the_status_until_the_client_closes() {
        let within = Duration::from_secs(10);
        let (in_tx, in_rx) = mpsc::channel(16);
        let (out_tx, mut out_rx) = mpsc::channel(64);
        let cmd = Command {
            argv: vec!["echo".into(), "hi".into()],
            dir: std::env::temp_dir(),
            env: Vec::new(),
            stdin: true,
            tty: false,
        };
        let wants = Streams {
            stdin: true,
            stdout: true,
            stderr: false,
            resize: false,
        };
        let session = tokio::spawn(spdy_session(
            in_rx,
            out_tx,
            cmd,
            wants,
            std::future::pending(),
        ));
        let mut client = TestClient::new();
        for (id, kind) in [(1, "error"), (3, "stdin"), (5, "stdout")] {
            in_tx
                .send(client.open(id, &[("streamtype", kind)]))
                .await
                .unwrap();
        }
        let (mut status, mut stdout) = (Vec::<u8>::new(), Vec::<u8>::new());
        loop {
            let frame = timeout(within, out_rx.recv())
                .await
                .expect("the session answers")
                .expect("the session says goodbye before it closes");
            match (
                TestClient::control_kind(&frame),
                TestClient::data_of(&frame),
            ) {
                (Some(GOAWAY), _) => break,
                (_, Some((1, data))) => status.extend(data),
                (_, Some((5, data))) => stdout.extend(data),
                _ => {}
            }
        }
        assert_eq!(stdout, b"hi\n");
        assert!(String::from_utf8_lossy(&status).contains("Success"));
        // What the client sends after the status (its stdin's end, and more) is still read:
        // unread, the input would fill up and block these sends.
        for _ in 0..64 {
            timeout(within, in_tx.send(TestClient::data(3, false, b"late")))
                .await
                .expect("the session reads on after the status")
                .expect("the session is still there");
        }
        assert!(!session.is_finished());
        drop(in_tx);
        timeout(within, session)
            .await
            .expect("the session ends once the client closes")
            .unwrap();
    }
}
