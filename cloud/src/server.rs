//! The HTTP side: one plain-HTTP listener on 127.0.0.1 serving every API under its own path
//! prefix (the endpoint overrides gcloud is given), checking the access token first.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use crate::batch;
use crate::error::ApiError;
use crate::service::{Call, Service};

/// Largest request body accepted.
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Serves `svc` on `listener` until `shutdown` turns true.
pub fn spawn(
    svc: Arc<Service>,
    listener: TcpListener,
    mut shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut conns = JoinSet::new();
        loop {
            while conns.try_join_next().is_some() {}
            tokio::select! {
                accepted = listener.accept() => {
                    let Ok((tcp, _)) = accepted else { continue };
                    let svc = Arc::clone(&svc);
                    conns.spawn(async move {
                        let handler = service_fn(move |req| handle(Arc::clone(&svc), req));
                        let _ = http1::Builder::new().serve_connection(TokioIo::new(tcp), handler).await;
                    });
                }
                _ = shutdown.changed() => break,
            }
        }
        conns.abort_all();
        while conns.join_next().await.is_some() {}
    })
}

fn respond(code: u16, content_type: &str, body: String) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body)));
    *r.status_mut() = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = header::HeaderValue::from_str(content_type) {
        r.headers_mut().insert(header::CONTENT_TYPE, v);
    }
    r
}

fn bearer_ok(svc: &Service, req: &Request<Incoming>) -> bool {
    let expected = svc.lock().token.clone();
    let given = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    !expected.is_empty()
        && given.len() == expected.len()
        && given
            .bytes()
            .zip(expected.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
}

async fn handle(
    svc: Arc<Service>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    const JSON: &str = "application/json; charset=UTF-8";
    if !bearer_ok(&svc, &req) {
        return Ok(respond(
            401,
            JSON,
            ApiError::unauthenticated().body().to_string(),
        ));
    }
    let method = req.method().as_str().to_string();
    let target = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "/".into());
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            let e = ApiError::invalid("The request body is too large or could not be read.");
            return Ok(respond(400, JSON, e.body().to_string()));
        }
    };
    let text = String::from_utf8_lossy(&body).into_owned();
    if method == "POST" && target.split('?').next() == Some("/batch/compute/v1") {
        let Some(boundary) = batch::boundary(&content_type) else {
            let e =
                ApiError::invalid("A batch request needs a multipart/mixed body with a boundary.");
            return Ok(respond(400, JSON, e.body().to_string()));
        };
        let mut answers = Vec::new();
        for part in batch::parse(&text, &boundary) {
            let (code, value) = dispatch(&svc, &part.method, &part.target, &part.body).await;
            answers.push((part.content_id, code, value));
        }
        let reply = format!("batch_{}", crate::util::random_hex(16));
        return Ok(respond(
            200,
            &format!("multipart/mixed; boundary={reply}"),
            batch::render(&answers, &reply),
        ));
    }
    let (code, value) = dispatch(&svc, &method, &target, &text).await;
    Ok(respond(code, JSON, value.to_string()))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => match u8::from_str_radix(&s[i + 1..i + 3], 16) {
                Ok(v) => {
                    out.push(v);
                    i += 3;
                    continue;
                }
                Err(_) => out.push(b'%'),
            },
            b'+' => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Parses a path (below an API's version) and query into a [`Call`].
fn call(method: &str, path: &str, query: &str, body: Value) -> Call {
    let mut segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_decode(&s.replace('+', "%2B")))
        .collect();
    let mut verb = None;
    if let Some(last) = segments.last_mut()
        && let Some((name, v)) = last.clone().split_once(':')
    {
        *last = name.to_string();
        verb = Some(v.to_string());
    }
    let query: BTreeMap<String, String> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect();
    Call {
        method: method.to_string(),
        segments,
        verb,
        query,
        body,
        path: path.to_string(),
    }
}

/// Answers one API request: `(status, JSON body)`.
pub async fn dispatch(svc: &Service, method: &str, target: &str, body: &str) -> (u16, Value) {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let body = if body.trim().is_empty() {
        Value::Null
    } else {
        match serde_json::from_str(body) {
            Ok(v) => v,
            Err(e) => {
                let err = ApiError::invalid(format!("Invalid JSON payload received. {e}"));
                return (400, err.body());
            }
        }
    };
    let result = match path.trim_start_matches('/').split_once('/') {
        Some(("container", rest)) => match rest.split_once('/') {
            Some(("v1", rest)) => {
                crate::container::route(svc, call(method, rest, query, body)).await
            }
            _ => Err(ApiError::unsupported(method, path)),
        },
        Some(("compute", rest)) => match rest.split_once('/') {
            Some(("v1", rest)) => crate::compute::route(svc, &call(method, rest, query, body)),
            _ => Err(ApiError::unsupported(method, path)),
        },
        Some(("resourcemanager", rest)) => match rest.split_once('/') {
            Some((v @ ("v1" | "v3"), rest)) => {
                crate::projects::resource_manager(svc, v, &call(method, rest, query, body))
            }
            _ => Err(ApiError::unsupported(method, path)),
        },
        Some(("serviceusage", rest)) => match rest.split_once('/') {
            Some(("v1", rest)) => {
                crate::projects::service_usage(svc, &call(method, rest, query, body))
            }
            _ => Err(ApiError::unsupported(method, path)),
        },
        _ => Err(ApiError::unsupported(method, path)),
    };
    match result {
        Ok(v) => (200, v),
        Err(e) => (e.code, e.body()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_and_queries_are_split_off() {
        let c = call(
            "POST",
            "projects/p/locations/z/clusters/c/nodePools/default-pool:setSize",
            "alt=json&filter=state%3AENABLED",
            Value::Null,
        );
        assert_eq!(c.segments.last().map(String::as_str), Some("default-pool"));
        assert_eq!(c.verb.as_deref(), Some("setSize"));
        assert_eq!(c.query["filter"], "state:ENABLED");
    }

    #[test]
    fn percent_escapes_decode() {
        assert_eq!(percent_decode("a%20b%3Ac"), "a b:c");
        assert_eq!(percent_decode("100%"), "100%");
    }
}
