//! Aggregated discovery (`apidiscovery.k8s.io`): every group, version and resource in one
//! answer to `GET /api` or `GET /apis`, for clients that ask for it in `Accept`, in the minors
//! that serve it ([`super::aggregated_discovery`]). It is built from the legacy discovery
//! documents, so both always agree.

use serde_json::{Value, json};

use super::KubeVersion;
use crate::discovery;
use crate::resources::ResourceType;

/// The `apidiscovery.k8s.io` version to answer with: the first media range of `accept` that is
/// an aggregated discovery list of a version the minor serves, unless a plain JSON range comes
/// first.
pub fn negotiate(accept: &str, at: KubeVersion) -> Option<&'static str> {
    let served = super::aggregated_discovery(at);
    for range in accept.split(',') {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next().unwrap_or_default();
        if !matches!(media, "application/json" | "application/*" | "*/*") {
            continue;
        }
        let (mut g, mut v, mut as_) = (None, None, None);
        for p in parts {
            match p.split_once('=') {
                Some(("g", x)) => g = Some(x),
                Some(("v", x)) => v = Some(x),
                Some(("as", x)) => as_ = Some(x),
                _ => {}
            }
        }
        match (g, v, as_) {
            (None, None, None) => return None,
            (Some("apidiscovery.k8s.io"), Some(v), Some("APIGroupDiscoveryList")) => {
                if let Some(found) = served.iter().find(|s| **s == v) {
                    return Some(found);
                }
            }
            _ => {}
        }
    }
    None
}

/// The `Content-Type` of an aggregated answer.
pub fn content_type(version: &str) -> String {
    format!("application/json;g=apidiscovery.k8s.io;v={version};as=APIGroupDiscoveryList")
}

/// The resources of one legacy `APIResourceList` in aggregated form.
fn resources(list: &Value, group: &str, version: &str) -> Vec<Value> {
    let all = list["resources"].as_array().cloned().unwrap_or_default();
    let kind_of = |r: &Value| {
        json!({"group": r["group"].as_str().unwrap_or(group),
               "version": r["version"].as_str().unwrap_or(version),
               "kind": r["kind"]})
    };
    all.iter()
        .filter_map(|r| {
            let name = r["name"].as_str()?;
            if name.contains('/') {
                return None;
            }
            let prefix = format!("{name}/");
            let subresources: Vec<Value> = all
                .iter()
                .filter_map(|s| {
                    let sub = s["name"].as_str()?.strip_prefix(&prefix)?;
                    Some(json!({"subresource": sub, "responseKind": kind_of(s), "verbs": s["verbs"]}))
                })
                .collect();
            let scope = if r["namespaced"] == true {
                "Namespaced"
            } else {
                "Cluster"
            };
            let mut out = json!({"resource": name, "responseKind": kind_of(r), "scope": scope,
                                 "singularResource": r["singularName"], "verbs": r["verbs"]});
            for key in ["shortNames", "categories"] {
                if r.get(key).is_some() {
                    out[key] = r[key].clone();
                }
            }
            if !subresources.is_empty() {
                out["subresources"] = Value::Array(subresources);
            }
            Some(out)
        })
        .collect()
}

/// The aggregated answer for `/api` (`core`) or `/apis`.
pub fn document(types: &[ResourceType], core: bool, version: &str) -> Value {
    let groups: Vec<(String, Vec<String>)> = if core {
        vec![(String::new(), vec!["v1".to_string()])]
    } else {
        discovery::group_list(types)["groups"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|g| {
                let versions = g["versions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|v| v["version"].as_str().map(str::to_string))
                    .collect();
                (g["name"].as_str().unwrap_or_default().to_string(), versions)
            })
            .collect()
    };
    let items: Vec<Value> = groups
        .iter()
        .map(|(group, versions)| {
            let versions: Vec<Value> = versions
                .iter()
                .filter_map(|v| {
                    let list = discovery::resource_list(types, group, v)?;
                    Some(
                        json!({"version": v, "resources": resources(&list, group, v),
                                "freshness": "Current"}),
                    )
                })
                .collect();
            let mut metadata = json!({"creationTimestamp": null});
            if !core {
                metadata["name"] = json!(group);
            }
            json!({"metadata": metadata, "versions": versions})
        })
        .collect();
    json!({"kind": "APIGroupDiscoveryList", "apiVersion": format!("apidiscovery.k8s.io/{version}"),
           "metadata": {}, "items": items})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::registry::served_types;

    const KUBECTL: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList,application/json";

    #[test]
    fn served_only_where_the_minor_had_it() {
        assert_eq!(negotiate(KUBECTL, KubeVersion::new(26)), None);
        assert_eq!(negotiate(KUBECTL, KubeVersion::new(27)), Some("v2beta1"));
        assert_eq!(negotiate(KUBECTL, KubeVersion::new(33)), Some("v2"));
        assert_eq!(negotiate("application/json", KubeVersion::new(33)), None);
        assert_eq!(negotiate("", KubeVersion::new(33)), None);
        let legacy_first = "application/json, application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
        assert_eq!(negotiate(legacy_first, KubeVersion::new(33)), None);
    }

    #[test]
    fn documents_list_resources_with_subresources() {
        let types = served_types(KubeVersion::new(33));
        let apis = document(&types, false, "v2");
        let apps = apis["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["metadata"]["name"] == "apps")
            .unwrap();
        let deploy = apps["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "deployments")
            .unwrap();
        assert_eq!(deploy["scope"], "Namespaced");
        assert_eq!(deploy["shortNames"], json!(["deploy"]));
        let subs: Vec<&str> = deploy["subresources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["subresource"].as_str().unwrap())
            .collect();
        assert_eq!(subs, vec!["status", "scale"]);
        assert_eq!(
            deploy["subresources"][1]["responseKind"]["group"],
            "autoscaling"
        );
        let core = document(&types, true, "v2");
        assert!(core["items"][0]["metadata"].get("name").is_none());
        let pods = core["items"][0]["versions"][0]["resources"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["resource"] == "pods")
            .unwrap();
        assert!(
            pods["subresources"]
                .as_array()
                .unwrap()
                .iter()
                .any(|s| s["subresource"] == "exec")
        );
    }
}
