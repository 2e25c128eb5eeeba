//! Request routing: authentication, faults, discovery paths and resource paths.

use std::convert::Infallible;
use std::sync::Arc;

use http::{Method, Request, Response, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;

use crate::api::{self, Req};
use crate::cluster::Cluster;
use crate::discovery;
use crate::http::{Body, Query, error, json};
use crate::status::ApiError;

/// Handles one HTTP request for a cluster.
pub async fn handle(
    cluster: Arc<Cluster>,
    req: Request<Incoming>,
) -> Result<Response<Body>, Infallible> {
    if !cluster.faults.latency.is_zero() {
        tokio::time::sleep(cluster.faults.latency).await;
    }
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default()
        .trim()
        .to_string();
    if !cluster.token_valid(&token) {
        return Ok(error(&ApiError::unauthorized()));
    }
    Ok(route(cluster, req).await.unwrap_or_else(|e| error(&e)))
}

fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(crate::http::percent_decode)
        .collect()
}

async fn route(cluster: Arc<Cluster>, req: Request<Incoming>) -> Result<Response<Body>, ApiError> {
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
            let mut r = Response::new(crate::http::full("ok"));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                header::HeaderValue::from_static("text/plain"),
            );
            return Ok(r);
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
        ["openapi", "v2"] if get => {
            return Ok(crate::version::gate::openapi_v2(cluster.version, accept));
        }
        ["openapi", "v3"] if get => {
            return Ok(json(200, &discovery::openapi_root(&cluster.types())));
        }
        ["openapi", "v3", "api", v] if get => {
            return discovery::openapi_gv(&cluster.types(), "", v)
                .map(|d| json(200, &d))
                .ok_or_else(ApiError::no_route);
        }
        ["openapi", "v3", "apis", g, v] if get => {
            return discovery::openapi_gv(&cluster.types(), g, v)
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
    inject_fault(&cluster, verb)?;
    if rt.kind == "Pod" && matches!(sub.as_deref(), Some("exec" | "attach")) {
        let name = name.unwrap_or_default();
        return crate::exec::exec(cluster, ns.unwrap_or_default(), name, query, req);
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
        };
        api::get(&r)?;
        let mut resp = Response::new(crate::http::full(""));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/plain"),
        );
        return Ok(resp);
    }
    let accept = accept.to_string();
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let body = req
        .into_body()
        .collect()
        .await
        .map_err(|_| ApiError::bad_request("failed to read the request body"))?
        .to_bytes();
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
    };
    let result = match verb {
        "get" => api::get(&r),
        "list" => api::list(&r),
        "watch" => return crate::watch::watch(r),
        "create" => api::create(&r),
        "update" => api::update(&r),
        "patch" => api::patch(&r),
        "delete" => api::delete(&r),
        "deletecollection" => api::delete_collection(&r),
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
            let t = crate::table::table(&r.rt.kind, &items, rv, full, true);
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
    if f.throttle_rate > 0.0 && rand::random::<f64>() < f.throttle_rate {
        return Err(ApiError::too_many_requests(f.retry_after.as_secs().max(1)));
    }
    if let Some(rate) = f.error_rate.get(verb).or_else(|| f.error_rate.get("*"))
        && *rate > 0.0
        && rand::random::<f64>() < *rate
    {
        return Err(ApiError::injected(f.error_status));
    }
    Ok(())
}
