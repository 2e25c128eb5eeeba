//! Request routing: authentication, faults, discovery paths and resource paths.

use std::convert::Infallible;
use std::sync::Arc;

use http::{Method, Request, Response, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::api::{self, Req};
use crate::cluster::{Cluster, User};
use crate::discovery;
use crate::http::{Body, Query, error, json};
use crate::status::ApiError;

/// A write carried out whose answer is dropped (the `lost_answer_rate` fault): the server closes
/// the connection instead of answering.
#[derive(Debug)]
pub struct LostAnswer;

impl std::fmt::Display for LostAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the answer to a write was dropped (injected fault)")
    }
}

impl std::error::Error for LostAnswer {}

/// Handles one HTTP request for a cluster.
pub async fn handle(
    cluster: Arc<Cluster>,
    req: Request<Incoming>,
) -> Result<Response<Body>, LostAnswer> {
    if !cluster.faults.latency.is_zero() {
        tokio::time::sleep(cluster.faults.latency).await;
    }
    let token = bearer(&req).unwrap_or_default();
    let Some(caller) = cluster.authenticate(&token) else {
        return Ok(error(&ApiError::unauthorized()));
    };
    let policy = crate::rbac::StorePolicy(&cluster.store);
    let user =
        match crate::impersonation::acting_user(&policy, caller, req.headers(), req.uri().path()) {
            Ok(user) => user,
            Err(crate::impersonation::Refusal::Api(e)) => return Ok(error(&e)),
            Err(crate::impersonation::Refusal::Internal(text)) => {
                let body = crate::http::full(text);
                return Ok(crate::http::typed(500, body, "text/plain; charset=utf-8"));
            }
        };
    // The superuser group is allowed before any policy object is read, as on a real server.
    if !crate::rbac::is_superuser(&user) {
        let query = Query::parse(req.uri().query());
        let attrs =
            crate::request_info::attributes(req.method().as_str(), req.uri().path(), &query);
        let decision = crate::rbac::authorize(&policy, &user, &attrs);
        if !decision.allowed {
            return Ok(error(&crate::rbac::forbidden(
                &user,
                &attrs,
                &decision.reason,
            )));
        }
    }
    let write = match *req.method() {
        Method::POST => Some("create"),
        Method::PUT => Some("update"),
        Method::PATCH => Some("patch"),
        Method::DELETE => Some("delete"),
        _ => None,
    };
    let answer = route(Arc::clone(&cluster), user, req)
        .await
        .unwrap_or_else(|e| error(&e));
    let lost = write.and_then(|verb| {
        let rates = &cluster.faults.lost_answer_rate;
        rates.get(verb).or_else(|| rates.get("*"))
    });
    if let Some(rate) = lost
        && *rate > 0.0
        && answer.status().is_success()
        && rand::random::<f64>() < *rate
    {
        use std::sync::atomic::Ordering::Relaxed;
        cluster.injected.lost_answers.fetch_add(1, Relaxed);
        return Err(LostAnswer);
    }
    Ok(answer)
}

/// The bearer token of a request; the scheme is case-insensitive, as the API server reads it.
fn bearer<B>(req: &Request<B>) -> Option<String> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_string())
}

fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(crate::http::percent_decode)
        .collect()
}

async fn route(
    cluster: Arc<Cluster>,
    user: User,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let path = req.uri().path().to_string();
    let segs = segments(&path);
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let get = req.method() == Method::GET;
    let accept = req
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if let Some(answer) = crate::version::gate::answer(&cluster, &s, get, accept) {
        return Ok(answer);
    }
    match s.as_slice() {
        ["version"] if get => return Ok(json(200, &crate::version::version_info(cluster.version))),
        ["healthz" | "readyz" | "livez"] if get => {
            return Ok(crate::http::typed(
                200,
                crate::http::full("ok"),
                "text/plain",
            ));
        }
        ["api"] if get => return Ok(json(200, &discovery::core_versions())),
        ["apis"] if get => return Ok(json(200, &discovery::group_list(&cluster.types()))),
        ["apis", g] if get => {
            return discovery::group(&cluster.types(), g)
                .map(|d| json(200, &d))
                .ok_or_else(ApiError::no_route);
        }
        ["api", v] if get => {
            return discovery::resource_list(&cluster.types(), "", v)
                .map(|d| json(200, &d))
                .ok_or_else(ApiError::no_route);
        }
        ["apis", g, v] if get => {
            return discovery::resource_list(&cluster.types(), g, v)
                .map(|d| json(200, &d))
                .ok_or_else(ApiError::no_route);
        }
        ["openapi", "v2"] | ["swagger-2.0.0.pb-v1"] if get => {
            let types = cluster.types();
            let served = crate::openapi_v3::served(&cluster, &types);
            let wants_pb = req
                .headers()
                .get(header::ACCEPT)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|a| a.contains("protobuf"))
                || s.as_slice() == ["swagger-2.0.0.pb-v1"];
            if wants_pb {
                let body = crate::openapi_v2::protobuf(&types, &served);
                let mut r = Response::new(crate::http::full(body));
                r.headers_mut().insert(
                    header::CONTENT_TYPE,
                    header::HeaderValue::from_static(crate::openapi_v2::PROTOBUF),
                );
                return Ok(r);
            }
            return Ok(json(200, &crate::openapi_v2::json(&types, &served)));
        }
        ["openapi", "v3"] if get => {
            let types = cluster.types();
            let served = crate::openapi_v3::served(&cluster, &types);
            return Ok(json(200, &crate::openapi_v3::root(&served, &types)));
        }
        ["openapi", "v3", "api", v] if get => {
            let types = cluster.types();
            let served = crate::openapi_v3::served(&cluster, &types);
            return crate::openapi_v3::document(&served, &types, "", v)
                .map(|d| json(200, &d))
                .ok_or_else(ApiError::no_route);
        }
        ["openapi", "v3", "apis", g, v] if get => {
            let types = cluster.types();
            let served = crate::openapi_v3::served(&cluster, &types);
            return crate::openapi_v3::document(&served, &types, g, v)
                .map(|d| json(200, &d))
                .ok_or_else(ApiError::no_route);
        }
        _ => {}
    }
    let (group, version, rest) = match s.as_slice() {
        ["api", v, rest @ ..] if !rest.is_empty() => ("", *v, rest),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest),
        _ => return Err(ApiError::no_route()),
    };
    let (ns, rest) = match rest {
        ["namespaces", ns, r @ ..]
            if !(r.is_empty() || (r.len() == 1 && matches!(r[0], "status" | "finalize"))) =>
        {
            (Some(ns.to_string()), r)
        }
        _ => (None, rest),
    };
    let (plural, name, sub) = match rest {
        [p] => (*p, None, None),
        [p, n] => (*p, Some(n.to_string()), None),
        [p, n, sub] => (*p, Some(n.to_string()), Some(sub.to_string())),
        _ => return Err(ApiError::no_route()),
    };
    let rt = cluster
        .resolve(group, version, plural)
        .ok_or_else(ApiError::no_route)?;
    if rt.namespaced != ns.is_some()
        && !(rt.namespaced && name.is_none() && req.method() == Method::GET)
    {
        return Err(ApiError::no_route());
    }
    let query = Query::parse(req.uri().query());
    let verb = verb_of(req.method(), name.is_some(), query.flag("watch"));
    if !rt.serves(verb) && sub.is_none() {
        return Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        ));
    }
    inject_fault(&cluster, verb)?;
    if rt.kind == "Pod" && matches!(sub.as_deref(), Some("exec" | "attach")) {
        let name = name.unwrap_or_default();
        let attach = sub.as_deref() == Some("attach");
        return crate::exec::exec(cluster, ns.unwrap_or_default(), name, attach, query, req);
    }
    if rt.kind == "Pod" && sub.as_deref() == Some("portforward") {
        let name = name.unwrap_or_default();
        return crate::portforward::portforward(cluster, ns.unwrap_or_default(), name, req);
    }
    if rt.kind == "Pod" && sub.as_deref() == Some("log") && verb == "get" {
        let r = Req {
            cluster,
            rt,
            ns,
            name,
            sub: None,
            query,
            content_type: String::new(),
            body: Default::default(),
            accept: String::new(),
            user: user.clone(),
            agent: String::new(),
            warnings: Default::default(),
        };
        let pod = api::get(&r)?.1;
        let body = if r.query.flag("follow") {
            follow(Arc::clone(&r.cluster), pod)
        } else {
            crate::http::full("")
        };
        return Ok(crate::http::typed(200, body, "text/plain"));
    }
    let accept = accept.to_string();
    let agent = req
        .headers()
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let limits = &cluster.limits;
    let body = read_body(req.into_body(), limits.max_body_bytes).await?;
    if !content_type.starts_with("application/vnd.kubernetes.protobuf")
        && crate::limits::depth_exceeds(&body, limits.max_depth)
    {
        return Err(ApiError::bad_request(format!(
            "the request body is nested more than {} levels deep",
            limits.max_depth
        )));
    }
    let r = Req {
        cluster,
        rt,
        ns,
        name,
        sub,
        query,
        content_type,
        body,
        accept,
        user,
        agent,
        warnings: Default::default(),
    };
    if verb == "watch" {
        return crate::watch::watch(r);
    }
    // Handlers decode, patch and store synchronously: they run off the async workers, so one
    // costly request never stalls the others.
    tokio::task::spawn_blocking(move || {
        let mut resp = answer(verb, &r)?;
        for w in r.warnings.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            // The API server's form: `299 - "text"`, quotes in the text escaped.
            let text = format!("299 - \"{}\"", w.replace('\\', "\\\\").replace('"', "\\\""));
            if let Ok(v) = header::HeaderValue::from_str(&text) {
                resp.headers_mut().append(header::WARNING, v);
            }
        }
        Ok(resp)
    })
    .await
    .map_err(|_| ApiError::internal("the request handler failed"))?
}

/// The body of `logs -f`: the simulated containers write nothing, so it stays open, empty,
/// until the pod ends (deleted, or Succeeded/Failed), the client goes away or the sandbox
/// stops, as a real follow ends with its container.
fn follow(cluster: Arc<Cluster>, pod: serde_json::Value) -> Body {
    use http_body_util::BodyExt;
    let uid = crate::util::uid_of(&pod).to_string();
    let ns = crate::util::namespace_of(&pod).to_string();
    let name = crate::util::name_of(&pod).to_string();
    let ended = async move {
        let mut changes = cluster.store.subscribe();
        loop {
            let running = cluster.store.get("pods", &ns, &name).is_some_and(|p| {
                crate::util::uid_of(&p) == uid
                    && !p["metadata"]["deletionTimestamp"].is_string()
                    && !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed"))
            });
            if !running || changes.changed().await.is_err() {
                return Ok::<_, Infallible>(hyper::body::Frame::data(bytes::Bytes::new()));
            }
        }
    };
    http_body_util::StreamBody::new(futures::stream::once(ended)).boxed()
}

/// Reads a request body of at most `max` bytes. A larger one gets 413 once the rest was read
/// and dropped (up to a bound), so the client, still writing, sees the answer rather than a
/// broken connection.
async fn read_body(mut body: Incoming, max: usize) -> Result<bytes::Bytes, ApiError> {
    use hyper::body::Body as _;
    if body.size_hint().lower() > 16 * max as u64 {
        return Err(ApiError::too_large(max));
    }
    let mut buf = bytes::BytesMut::new();
    let mut seen = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| ApiError::bad_request("failed to read the request body"))?;
        if let Ok(data) = frame.into_data() {
            seen += data.len();
            if seen <= max {
                buf.extend_from_slice(&data);
            } else if seen > 16 * max {
                break;
            }
        }
    }
    if seen > max {
        return Err(ApiError::too_large(max));
    }
    Ok(buf.freeze())
}

/// Runs a resource verb and renders its result as the client asked (object, Table, metadata).
fn answer(verb: &str, r: &Req) -> Result<Response<Body>, ApiError> {
    for v in r.query.all("dryRun") {
        if v != "All" {
            return Err(ApiError::bad_request(format!(
                "dryRun: Unsupported value: \"{v}\": supported values: \"All\""
            )));
        }
    }
    let result = match verb {
        "get" => api::get(r),
        "list" => api::list(r),
        "create" => api::create(r),
        "update" => api::update(r),
        "patch" => api::patch(r),
        "delete" => api::delete(r),
        "deletecollection" => api::delete_collection(r),
        _ => Err(ApiError::method_not_allowed(
            "the server does not allow this method on the requested resource",
        )),
    };
    let (code, v) = result?;
    let v = crate::version::convert::to_served(&r.rt, v);
    match (r.table(), verb) {
        (Some(full), "list") => {
            let items = v["items"].as_array().cloned().unwrap_or_default();
            let rv = v["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default();
            let mut t = crate::table::table(&r.rt.kind, &items, rv, full, true);
            for k in ["continue", "remainingItemCount"] {
                if let Some(x) = v["metadata"].get(k) {
                    t["metadata"][k] = x.clone();
                }
            }
            Ok(crate::http::json_typed(
                code,
                &t,
                crate::table::CONTENT_TYPE,
            ))
        }
        (Some(full), "get") if r.sub.is_none() => {
            let rv = v["metadata"]["resourceVersion"]
                .as_str()
                .unwrap_or_default();
            let t = crate::table::table(&r.rt.kind, std::slice::from_ref(&v), rv, full, true);
            Ok(crate::http::json_typed(
                code,
                &t,
                crate::table::CONTENT_TYPE,
            ))
        }
        _ if crate::table::metadata_wanted(&r.accept) && r.sub.is_none() => {
            let meta = match verb {
                "list" | "deletecollection" => {
                    let items: Vec<serde_json::Value> = v["items"]
                        .as_array()
                        .map(|a| a.iter().map(crate::table::partial).collect())
                        .unwrap_or_default();
                    serde_json::json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1",
                                       "metadata": v["metadata"], "items": items})
                }
                _ if v["kind"] == "Status" => v,
                _ => crate::table::partial(&v),
            };
            Ok(json(code, &meta))
        }
        _ => Ok(json(code, &v)),
    }
}

fn verb_of(m: &Method, named: bool, watch: bool) -> &'static str {
    match (m.as_str(), named) {
        ("GET", true) => "get",
        ("GET", false) if watch => "watch",
        ("GET", false) => "list",
        ("POST", _) => "create",
        ("PUT", _) => "update",
        ("PATCH", _) => "patch",
        ("DELETE", true) => "delete",
        ("DELETE", false) => "deletecollection",
        _ => "unknown",
    }
}

fn inject_fault(cluster: &Cluster, verb: &str) -> Result<(), ApiError> {
    let f = &cluster.faults;
    use std::sync::atomic::Ordering::Relaxed;
    if f.throttle_rate > 0.0 && rand::random::<f64>() < f.throttle_rate {
        cluster.injected.throttled.fetch_add(1, Relaxed);
        return Err(ApiError::too_many_requests(f.retry_after.as_secs().max(1)));
    }
    if let Some(rate) = f.error_rate.get(verb).or_else(|| f.error_rate.get("*"))
        && *rate > 0.0
        && rand::random::<f64>() < *rate
    {
        cluster.injected.errors.fetch_add(1, Relaxed);
        return Err(ApiError::injected(f.error_status));
    }
    Ok(())
}
