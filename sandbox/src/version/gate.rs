//! Requests a cluster of an older or newer minor answers differently before routing: group
//! versions it does not serve, `/openapi/v3` before 1.24, and aggregated discovery.

use http::{Response, StatusCode, header};

use super::aggregated;
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
