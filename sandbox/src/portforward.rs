//! `pods/portforward` over SPDY/3.1 (`portforward.k8s.io`), directly or tunnelled in a
//! WebSocket (`SPDY/3.1+portforward.k8s.io`, kubectl 1.31+). For each local connection the
//! client opens an error stream and a data stream with the same `requestID` and `port`.
//!
//! There are no containers behind a simulated pod, so nothing real listens: a port one of the
//! pod's containers declares is answered by a small responder inside the sandbox (an HTTP
//! request gets a `200` naming the pod and port, any other bytes are echoed back); any other
//! port fails as a real kubelet fails a port nothing listens on. Nothing is ever dialled, so a
//! forwarded port can never reach beyond the sandbox.

use std::collections::BTreeMap;
use std::sync::Arc;

use http::{Request, Response};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::Role;

use crate::cluster::Cluster;
use crate::http::Body;
use crate::spdy::{self, Event, Sender};
use crate::status::ApiError;
use crate::upgrade::{self, Kind};
use crate::util::str_at;

/// Validates a port-forward request and upgrades the connection.
pub fn portforward(
    cluster: Arc<Cluster>,
    ns: String,
    name: String,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let pod = cluster
        .store
        .get("pods", &ns, &name)
        .ok_or_else(|| ApiError::not_found("", "pods", &name))?;
    if str_at(&pod, "status.phase") != Some("Running") {
        return Err(ApiError::bad_request(format!(
            "unable to upgrade connection: pod {name} is not running"
        )));
    }
    let kind = upgrade::requested(
        &req,
        &["SPDY/3.1+portforward.k8s.io"],
        &["portforward.k8s.io"],
    )?;
    let response = match &kind {
        Kind::WebSocket(p, accept) => upgrade::websocket_response(accept, p),
        Kind::Spdy(p) => upgrade::spdy_response(p),
    };
    tokio::spawn(async move {
        let Ok(upgraded) = hyper::upgrade::on(req).await else {
            return;
        };
        let (input, output) = match kind {
            Kind::WebSocket(..) => {
                let ws =
                    WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None)
                        .await;
                upgrade::pipe_websocket(ws)
            }
            Kind::Spdy(_) => upgrade::pipe(TokioIo::new(upgraded)),
        };
        session(input, output, pod).await;
    });
    Ok(response)
}

/// The ports the pod's containers declare.
fn declared_ports(pod: &Value) -> Vec<u64> {
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
        .filter_map(|p| p["containerPort"].as_u64())
        .collect()
}

async fn session(input: mpsc::Receiver<Vec<u8>>, output: mpsc::Sender<Vec<u8>>, pod: Value) {
    let (mut events, sender) = spdy::serve(input, output);
    let ports = declared_ports(&pod);
    let pod_name = str_at(&pod, "metadata.name")
        .unwrap_or_default()
        .to_string();
    let uid = crate::util::uid_of(&pod).to_string();
    // requestID -> error stream id, waiting for its data stream.
    let mut errors: BTreeMap<String, u32> = BTreeMap::new();
    // data stream id -> its connection's input.
    let mut conns: BTreeMap<u32, mpsc::Sender<Vec<u8>>> = BTreeMap::new();
    while let Some(ev) = events.recv().await {
        match ev {
            Event::Stream { id, headers, .. } => {
                let request = spdy::header(&headers, "requestid")
                    .unwrap_or_default()
                    .to_string();
                let port: u64 = spdy::header(&headers, "port")
                    .and_then(|p| p.parse().ok())
                    .unwrap_or(0);
                match spdy::header(&headers, "streamtype") {
                    Some("error") => {
                        errors.insert(request, id);
                    }
                    Some("data") => {
                        let error = errors.remove(&request);
                        if !ports.contains(&port) {
                            let msg = format!(
                                "error forwarding port {port} to pod {pod_name}, uid {uid}: failed to connect to localhost:{port} inside the pod: connection refused"
                            );
                            if let Some(e) = error {
                                sender.data(e, msg.as_bytes(), true).await;
                            }
                            sender.data(id, &[], true).await;
                            continue;
                        }
                        let (tx, rx) = mpsc::channel(16);
                        conns.insert(id, tx);
                        let label = format!("pod {} port {port}", pod_name);
                        tokio::spawn(respond(sender.clone(), id, error, rx, label));
                    }
                    _ => sender.reset(id).await,
                }
            }
            Event::Data { id, data, fin } => {
                if let Some(tx) = conns.get(&id)
                    && !data.is_empty()
                    && tx.send(data).await.is_err()
                {
                    conns.remove(&id);
                }
                if fin {
                    conns.remove(&id);
                }
            }
            Event::Reset(id) => {
                conns.remove(&id);
            }
        }
    }
}

const METHODS: &[&str] = &[
    "GET ", "HEAD ", "POST ", "PUT ", "DELETE ", "PATCH ", "OPTIONS ",
];

/// The responder behind a declared port: one HTTP answer for an HTTP request, an echo of
/// anything else. Closes both streams when done.
async fn respond(
    sender: Sender,
    id: u32,
    error: Option<u32>,
    mut input: mpsc::Receiver<Vec<u8>>,
    label: String,
) {
    let mut seen: Vec<u8> = Vec::new();
    let mut http = None;
    while let Some(chunk) = input.recv().await {
        seen.extend(&chunk);
        let is_http = *http.get_or_insert_with(|| {
            METHODS
                .iter()
                .any(|m| seen.starts_with(m.as_bytes()) || m.as_bytes().starts_with(&seen))
        });
        if !is_http {
            if !sender.data(id, &chunk, false).await {
                return;
            }
            seen.clear();
            continue;
        }
        if seen.windows(4).any(|w| w == b"\r\n\r\n") || seen.len() > 64 * 1024 {
            let head = seen.starts_with(b"HEAD ");
            let body = format!("{label}: answered by the sandbox (no container runs here)\n");
            let mut resp = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            if !head {
                resp.push_str(&body);
            }
            sender.data(id, resp.as_bytes(), true).await;
            break;
        }
    }
    if http != Some(true) {
        sender.data(id, &[], true).await;
    }
    if let Some(e) = error {
        sender.data(e, &[], true).await;
    }
}
