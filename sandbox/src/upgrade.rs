//! Protocol upgrades of streaming requests (exec, attach, port-forward): which one the client
//! asked for, the `101 Switching Protocols` answers, and the upgraded connection as a pair of
//! byte channels.

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode, header};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::{Message, handshake::derive_accept_key};

use crate::http::{Body, full};
use crate::status::ApiError;

/// The upgrade a client asked for.
pub enum Kind {
    /// A WebSocket with this subprotocol and `Sec-WebSocket-Accept` value.
    WebSocket(&'static str, String),
    /// SPDY/3.1 with this stream protocol (`X-Stream-Protocol-Version`).
    Spdy(&'static str),
}

fn values<B>(req: &Request<B>, name: impl header::AsHeaderName) -> Vec<String> {
    req.headers()
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| {
            v.split(',')
                .map(|p| p.trim().to_string())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// Picks the upgrade: a WebSocket offering one of `ws` subprotocols, or SPDY/3.1 offering one
/// of the `spdy` stream protocols; anything else is a 400 naming what is served.
pub fn requested<B>(
    req: &Request<B>,
    ws: &[&'static str],
    spdy: &[&'static str],
) -> Result<Kind, ApiError> {
    let upgrade = values(req, header::UPGRADE);
    if upgrade.iter().any(|u| u.eq_ignore_ascii_case("websocket")) {
        let offered = values(req, header::SEC_WEBSOCKET_PROTOCOL);
        let key = req.headers().get(header::SEC_WEBSOCKET_KEY);
        if let (Some(p), Some(key)) = (ws.iter().find(|p| offered.iter().any(|o| o == *p)), key) {
            return Ok(Kind::WebSocket(p, derive_accept_key(key.as_bytes())));
        }
    } else if upgrade.iter().any(|u| u.eq_ignore_ascii_case("SPDY/3.1")) {
        let offered = values(req, "x-stream-protocol-version");
        if let Some(p) = spdy.iter().find(|p| offered.iter().any(|o| o == *p)) {
            return Ok(Kind::Spdy(p));
        }
    }
    Err(ApiError::bad_request(format!(
        "unable to upgrade connection: the sandbox serves this over WebSocket ({}) or SPDY/3.1 ({})",
        ws.join(", "),
        spdy.join(", ")
    )))
}

fn switching(pairs: &[(header::HeaderName, &str)]) -> Response<Body> {
    let mut resp = Response::new(full(Bytes::new()));
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    for (k, v) in pairs {
        if let Ok(v) = header::HeaderValue::from_str(v) {
            resp.headers_mut().insert(k.clone(), v);
        }
    }
    resp
}

/// The answer accepting a WebSocket.
pub fn websocket_response(accept: &str, protocol: &str) -> Response<Body> {
    switching(&[
        (header::UPGRADE, "websocket"),
        (header::CONNECTION, "Upgrade"),
        (header::SEC_WEBSOCKET_ACCEPT, accept),
        (header::SEC_WEBSOCKET_PROTOCOL, protocol),
    ])
}

/// The answer accepting SPDY/3.1.
pub fn spdy_response(protocol: &str) -> Response<Body> {
    switching(&[
        (header::UPGRADE, "SPDY/3.1"),
        (header::CONNECTION, "Upgrade"),
        (
            header::HeaderName::from_static("x-stream-protocol-version"),
            protocol,
        ),
    ])
}

/// An upgraded connection as byte channels: what the client sends, and what to send it
/// (dropping the sender closes the connection).
pub fn pipe<S>(io: S) -> (mpsc::Receiver<Vec<u8>>, mpsc::Sender<Vec<u8>>)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut r, mut w) = tokio::io::split(io);
    let (in_tx, in_rx) = mpsc::channel::<Vec<u8>>(16);
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(64);
    tokio::spawn(async move {
        let mut buf = vec![0u8; 32 * 1024];
        while let Ok(n) = r.read(&mut buf).await {
            if n == 0 || in_tx.send(buf[..n].to_vec()).await.is_err() {
                break;
            }
        }
    });
    tokio::spawn(async move {
        while let Some(b) = out_rx.recv().await {
            if w.write_all(&b).await.is_err() {
                return;
            }
        }
        let _ = w.shutdown().await;
    });
    (in_rx, out_tx)
}

/// A WebSocket that tunnels a byte stream in its binary messages (kubectl 1.31+ port-forward,
/// subprotocol `SPDY/3.1+portforward.k8s.io`) as byte channels.
pub fn pipe_websocket<S>(ws: WebSocketStream<S>) -> (mpsc::Receiver<Vec<u8>>, mpsc::Sender<Vec<u8>>)
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sink, mut stream) = ws.split();
    let (in_tx, in_rx) = mpsc::channel::<Vec<u8>>(16);
    let (out_tx, mut out_rx) = mpsc::channel::<Vec<u8>>(64);
    tokio::spawn(async move {
        while let Some(Ok(m)) = stream.next().await {
            match m {
                Message::Binary(b) if in_tx.send(b.to_vec()).await.is_err() => break,
                Message::Close(_) => break,
                _ => {}
            }
        }
    });
    tokio::spawn(async move {
        while let Some(b) = out_rx.recv().await {
            if sink.send(Message::Binary(b.into())).await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });
    (in_rx, out_tx)
}
