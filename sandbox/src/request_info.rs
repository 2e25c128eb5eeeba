//! What a request asks to do, derived from its method, path and query as the API server's
//! `RequestInfoFactory` derives it (`staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go`):
//! the attributes RBAC decides on.

use crate::http::Query;
use crate::rbac::{Attributes, Target};

/// The attributes of a request. Paths under `/api/VERSION/` and `/apis/GROUP/VERSION/` with a
/// resource are resource requests; everything else (`/api`, `/apis/GROUP/VERSION`, `/version`,
/// `/openapi/v3`, ...) is a non-resource path whose verb is the lower-case method.
pub fn attributes(method: &str, path: &str, query: &Query) -> Attributes {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let non_resource = || Attributes {
        verb: method.to_ascii_lowercase(),
        target: Target::NonResource {
            path: path.to_string(),
        },
    };
    let (group, version, rest) = match parts.as_slice() {
        ["api", v, rest @ ..] if !rest.is_empty() => ("", *v, rest),
        ["apis", g, v, rest @ ..] if !rest.is_empty() => (*g, *v, rest),
        _ => return non_resource(),
    };
    let mut verb = match method {
        "POST" => "create",
        "GET" | "HEAD" => "get",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => "delete",
        _ => "",
    }
    .to_string();
    let mut namespace = "";
    let mut rest = rest;
    if rest[0] == "namespaces" && rest.len() > 1 {
        namespace = rest[1];
        // `namespaces/NAME/status` and `/finalize` are the Namespace's own subresources.
        if rest.len() > 2 && !matches!(rest[2], "status" | "finalize") {
            rest = &rest[2..];
        }
    }
    let at = |i: usize| {
        rest.get(i)
            .map(|s| crate::http::percent_decode(s))
            .unwrap_or_default()
    };
    let (resource, mut name, subresource) = (at(0), at(1), at(2));
    if name.is_empty() && verb == "get" {
        verb = if query.flag("watch") { "watch" } else { "list" }.into();
        if let Some(n) = query.get("fieldSelector").and_then(exact_name) {
            name = n;
        }
    }
    if name.is_empty() && verb == "delete" {
        verb = "deletecollection".into();
    }
    Attributes {
        verb,
        target: Target::Resource {
            group: group.to_string(),
            version: version.to_string(),
            resource,
            subresource,
            name,
            namespace: crate::http::percent_decode(namespace),
        },
    }
}

/// The name a field selector requires exactly (`metadata.name=x` or `==x`), which a list or
/// watch is authorized by, as for `kubectl get pod x --watch`.
fn exact_name(selector: &str) -> Option<String> {
    selector.split(',').find_map(|term| {
        let (field, value) = term.split_once('=')?;
        let value = value.strip_prefix('=').unwrap_or(value);
        let ok = field.trim() == "metadata.name"
            && !value.is_empty()
            && !matches!(value, "." | "..")
            && !value.contains(['/', '%']);
        ok.then(|| value.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(method: &str, url: &str) -> Attributes {
        let (path, q) = url.split_once('?').unwrap_or((url, ""));
        attributes(method, path, &Query::parse(Some(q)))
    }

    fn resource(verb: &str, group: &str, res: &str, sub: &str, name: &str, ns: &str) -> Attributes {
        Attributes {
            verb: verb.into(),
            target: Target::Resource {
                group: group.into(),
                version: "v1".into(),
                resource: res.into(),
                subresource: sub.into(),
                name: name.into(),
                namespace: ns.into(),
            },
        }
    }

    #[test]
    fn verbs_names_and_scopes_as_the_api_server_derives_them() {
        assert_eq!(
            attrs("GET", "/api/v1/pods"),
            resource("list", "", "pods", "", "", "")
        );
        assert_eq!(
            attrs("GET", "/api/v1/namespaces/a/pods?watch=true"),
            resource("watch", "", "pods", "", "", "a")
        );
        assert_eq!(
            attrs(
                "GET",
                "/api/v1/namespaces/a/pods?fieldSelector=metadata.name%3Dp&watch=1"
            ),
            resource("watch", "", "pods", "", "p", "a")
        );
        assert_eq!(
            attrs("GET", "/api/v1/namespaces/a/pods/p/log"),
            resource("get", "", "pods", "log", "p", "a")
        );
        assert_eq!(
            attrs("PUT", "/apis/apps/v1/namespaces/a/deployments/d/scale"),
            resource("update", "apps", "deployments", "scale", "d", "a")
        );
        assert_eq!(
            attrs("DELETE", "/apis/apps/v1/namespaces/a/deployments"),
            resource("deletecollection", "apps", "deployments", "", "", "a")
        );
        assert_eq!(
            attrs("POST", "/api/v1/namespaces"),
            resource("create", "", "namespaces", "", "", "")
        );
        // A namespace is named in its own namespace; status is its subresource.
        assert_eq!(
            attrs("GET", "/api/v1/namespaces/a"),
            resource("get", "", "namespaces", "", "a", "a")
        );
        assert_eq!(
            attrs("PUT", "/api/v1/namespaces/a/finalize"),
            resource("update", "", "namespaces", "finalize", "a", "a")
        );
        for p in [
            "/api",
            "/api/v1",
            "/apis",
            "/apis/apps",
            "/apis/apps/v1",
            "/version",
            "/openapi/v3",
        ] {
            assert_eq!(
                attrs("GET", p),
                Attributes {
                    verb: "get".into(),
                    target: Target::NonResource { path: p.into() }
                }
            );
        }
    }
}
