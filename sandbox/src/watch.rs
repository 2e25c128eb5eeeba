//! Streaming watches: initial ADDED events, replay after a resourceVersion, live events.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Response, header};
use http_body_util::{BodyExt, StreamBody};
use hyper::body::Frame;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::api::{Req, select};
use crate::http::Body;
use crate::selector::{FieldSelector, LabelSelector};
use crate::status::ApiError;
use crate::store::EventType;

/// Renders events as plain objects or, when asked, as one-row Tables.
struct Printer {
    /// The addressed type, whose version events are shown in.
    rt: crate::resources::ResourceType,
    table: Option<(String, bool)>,
    metadata_only: bool,
    first: bool,
}

impl Printer {
    fn line(&mut self, kind: &str, obj: &Value) -> Bytes {
        let served = crate::version::convert::to_served(&self.rt, obj.clone());
        let obj = &served;
        match &self.table {
            Some((k, full)) if kind != "ERROR" => {
                let rv = obj["metadata"]["resourceVersion"]
                    .as_str()
                    .unwrap_or_default();
                let t = crate::table::table(k, std::slice::from_ref(obj), rv, *full, self.first);
                self.first = false;
                line(kind, &t)
            }
            _ if self.metadata_only && kind != "ERROR" => line(kind, &crate::table::partial(obj)),
            _ => line(kind, obj),
        }
    }
}

/// An event line around an object already encoded: the object's bytes are shared, not copied.
fn shared_line(kind: &str, encoded: Bytes) -> [Bytes; 3] {
    [
        Bytes::from(format!("{{\"type\":\"{kind}\",\"object\":")),
        encoded,
        Bytes::from_static(b"}\n"),
    ]
}

fn line(kind: &str, obj: &Value) -> Bytes {
    let mut s = json!({"type": kind, "object": obj}).to_string();
    s.push('\n');
    Bytes::from(s)
}

/// Starts a watch for a collection request and returns the streaming response.
pub fn watch(r: Req) -> Result<Response<Body>, ApiError> {
    let labels = LabelSelector::parse(r.query.get("labelSelector").unwrap_or_default())?;
    let fields =
        FieldSelector::parse_for(&r.rt.kind, r.query.get("fieldSelector").unwrap_or_default())?;
    let from = match r.query.get("resourceVersion") {
        None | Some("" | "0") => None,
        Some(v) => Some(
            v.parse::<u64>()
                .map_err(|_| ApiError::bad_request(format!("invalid resource version {v:?}")))?,
        ),
    };
    let timeout = r
        .query
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map(Duration::from_secs);
    let drop_after = r.cluster.faults.watch_drop_after;
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let initial = if from.is_none() {
        Some(select(&r)?)
    } else {
        None
    };
    let cluster = Arc::clone(&r.cluster);
    let key = r.rt.key();
    let ns = r.ns.clone();
    // Streaming lists: the initial events end with a marked BOOKMARK.
    let initial_end = r.query.flag("sendInitialEvents").then(|| {
        json!({"kind": r.rt.kind, "apiVersion": r.rt.api_version(),
               "metadata": {"annotations": {"k8s.io/initial-events-end": "true"}}})
    });
    let table = r.table().map(|full| (r.rt.kind.clone(), full));
    let content_type = if table.is_some() {
        crate::table::CONTENT_TYPE
    } else {
        "application/json"
    };
    let metadata_only = crate::table::metadata_wanted(&r.accept);
    let mut printer = Printer {
        rt: r.rt.clone(),
        table,
        metadata_only,
        first: true,
    };
    tokio::spawn(async move {
        let mut changes = cluster.store.subscribe();
        let mut sent = 0usize;
        let limit = drop_after.unwrap_or(usize::MAX);
        let mut cursor = match (from, initial) {
            (Some(rv), _) => rv,
            (None, Some((items, rv))) => {
                for o in &items {
                    if sent >= limit || tx.send(printer.line("ADDED", o)).await.is_err() {
                        return;
                    }
                    sent += 1;
                }
                if let Some(bookmark) = &initial_end {
                    let mut b = bookmark.clone();
                    b["metadata"]["resourceVersion"] = json!(rv.to_string());
                    if tx.send(line("BOOKMARK", &b)).await.is_err() {
                        return;
                    }
                }
                rv
            }
            (None, None) => cluster.store.current_rv(),
        };
        let deadline = timeout.and_then(|t| tokio::time::Instant::now().checked_add(t));
        loop {
            changes.borrow_and_update();
            let Some(events) = cluster.store.events_since(cursor) else {
                let gone = ApiError::gone(format!("too old resource version: {cursor}"));
                let _ = tx.send(line("ERROR", &gone.to_status())).await;
                return;
            };
            for e in events {
                cursor = e.rv;
                let matches = |o: &Value| {
                    ns.as_deref()
                        .is_none_or(|n| crate::util::namespace_of(o) == n)
                        && labels.matches(o)
                        && fields.matches(o)
                };
                if e.key != key {
                    continue;
                }
                // A modification that moves an object into or out of the selection is
                // reported as ADDED or DELETED, as the API server's watch cache does.
                let kind = match (e.kind, matches(&e.obj), e.prev.as_ref().map(matches)) {
                    (EventType::Modified, true, Some(false)) => EventType::Added,
                    (EventType::Modified, false, Some(true)) => EventType::Deleted,
                    (_, true, _) => e.kind,
                    _ => continue,
                };
                if sent >= limit {
                    return;
                }
                let frames = if printer.table.is_none() && !printer.metadata_only {
                    shared_line(kind.as_str(), e.encoded()).to_vec()
                } else {
                    vec![printer.line(kind.as_str(), &e.obj)]
                };
                for f in frames {
                    if tx.send(f).await.is_err() {
                        return;
                    }
                }
                sent += 1;
            }
            let until_deadline = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { return },
                _ = tx.closed() => return,
                _ = until_deadline => return,
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|b| (Ok::<_, Infallible>(Frame::data(b)), rx))
    });
    let mut resp = Response::new(StreamBody::new(stream).boxed());
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    Ok(resp)
}
