//! Requests a cluster of an older or newer minor answers differently before routing: group
//! versions it does not serve, `/openapi/v3` before 1.24, and aggregated discovery.

use http::{Response, StatusCode, header};

use super::{KubeVersion, aggregated};
use crate::cluster::Cluster;
use crate::http::{Body, full, json_typed};

/// What kube-apiserver answers for any path nothing serves: its delegation chain ends in Go's
/// `http.NotFound` (apiserver `pkg/util/notfoundhandler`), a plain-text 404, not a `Status`.
pub fn page_not_found() -> Response<Body> {
    let mut r = Response::new(full("404 page not found\n"));
    *r.status_mut() = StatusCode::NOT_FOUND;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    r
}

/// `GET /openapi/v2` until it has schemas: a document without definitions (title and version
/// only), which kubectl reads as "nothing to validate against" rather than failing validation as
/// it does on a 404. kubectl asks for it when `/openapi/v3` is missing (before 1.24) and, as
/// kubectl 1.27 and 1.28 (run for those minors by the gcloud dispatcher), always.
pub fn openapi_v2(v: KubeVersion, accept: &str) -> Response<Body> {
    let version = super::git_version(v);
    if accept.contains("protobuf") {
        // gnostic openapi_v2.Document {swagger = 1; info = 2 {title = 1; version = 2}}.
        let field = |n: u8, bytes: &[u8]| {
            let mut out = vec![(n << 3) | 2, bytes.len() as u8];
            out.extend_from_slice(bytes);
            out
        };
        let info = [field(1, b"Kubernetes"), field(2, version.as_bytes())].concat();
        let doc = [field(1, b"2.0"), field(2, &info)].concat();
        let mut r = Response::new(full(doc));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static(
                "application/com.github.proto-openapi.spec.v2.v1.0+protobuf",
            ),
        );
        return r;
    }
    let doc = serde_json::json!({"swagger": "2.0", "info": {"title": "Kubernetes", "version": version},
                                 "paths": {}, "definitions": {}});
    json_typed(200, &doc, "application/json")
}

/// The answer for a request whose path the cluster's minor decides, or `None` to route it as
/// usual. `segments` are the decoded path segments; `accept` is the `Accept` header.
pub fn answer(
    cluster: &Cluster,
    segments: &[&str],
    get: bool,
    accept: &str,
) -> Option<Response<Body>> {
    let v = cluster.version;
    match segments {
        ["openapi", "v3", ..] if !super::serves_openapi_v3(v) => Some(page_not_found()),
        [root @ ("api" | "apis")] if get => {
            let version = aggregated::negotiate(accept, v)?;
            let doc = aggregated::document(&cluster.types(), *root == "api", version);
            Some(json_typed(200, &doc, &aggregated::content_type(version)))
        }
        ["api", version, ..] if *version != "v1" => Some(page_not_found()),
        ["apis", group, rest @ ..] => {
            let types = cluster.types();
            let served = types.iter().any(|t| {
                t.group == *group && rest.first().is_none_or(|version| t.version == *version)
            });
            (!served).then(page_not_found)
        }
        _ => None,
    }
}
