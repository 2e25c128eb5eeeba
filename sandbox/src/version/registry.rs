//! The resource types served at a minor: the built-in types plus every other version of their
//! kinds the served-API table knows, filtered by the table.
//!
//! Each kind is stored once, in the form of its storage version: the built-in type of that kind
//! when there is one, else the table's most stable version of it. Every other version of the
//! kind is an alias that reads and writes the same objects through [`super::convert`], as the API
//! server serves one object under several versions. Kinds the table knows but the sandbox has no
//! built-in type for (CronJob, Ingress, PodSecurityPolicy, ...) are served as plain stored objects.

use std::collections::HashMap;
use std::sync::OnceLock;

use meshbook_inspect::served_apis::{self, ServedApi, version_rank};

use super::KubeVersion;
use crate::resources::{self, ResourceType};

/// Discovery details of kinds without a built-in type: short names, the `all` category and a
/// `status` subresource, as kube-apiserver lists them.
const EXTRA: &[(&str, &[&str], bool, bool)] = &[
    ("CronJob", &["cj"], true, true),
    ("Ingress", &["ing"], false, true),
    ("PodSecurityPolicy", &["psp"], false, false),
    ("PriorityClass", &["pc"], false, false),
    ("StorageClass", &["sc"], false, false),
    ("CertificateSigningRequest", &["csr"], false, true),
    ("ReplicationController", &["rc"], true, true),
    ("PersistentVolume", &["pv"], false, true),
    ("ResourceQuota", &["quota"], false, true),
    ("LimitRange", &["limits"], false, false),
    ("APIService", &[], false, true),
    ("FlowSchema", &[], false, true),
    ("PriorityLevelConfiguration", &[], false, true),
    ("ControllerRevision", &[], false, false),
];

/// A type and, when the table knows it, its row.
struct Entry {
    rt: ResourceType,
    row: Option<&'static ServedApi>,
}

struct Registry {
    entries: Vec<Entry>,
    /// (group, kind) of every built-in or table type → the storage type of its kind.
    storage: HashMap<(String, String), ResourceType>,
}

fn from_row(row: &ServedApi, like: Option<&ResourceType>) -> ResourceType {
    let extra = EXTRA.iter().find(|e| e.0 == row.kind);
    ResourceType {
        group: row.group.to_string(),
        version: row.version.to_string(),
        plural: row.plural.to_string(),
        singular: row.kind.to_lowercase(),
        kind: row.kind.to_string(),
        namespaced: row.namespaced,
        short_names: like.map(|l| l.short_names.clone()).unwrap_or_else(|| {
            extra
                .map(|e| e.1.iter().map(|s| s.to_string()).collect())
                .unwrap_or_default()
        }),
        categories: like.map(|l| l.categories.clone()).unwrap_or_else(|| {
            if extra.is_some_and(|e| e.2) {
                vec!["all".to_string()]
            } else {
                vec![]
            }
        }),
        status_sub: like.map_or(extra.is_some_and(|e| e.3), |l| l.status_sub),
        scale: like.and_then(|l| l.scale.clone()),
        verbs: like.map_or(resources::ALL_VERBS, |l| l.verbs),
        generation: like.is_some_and(|l| l.generation),
        delete_returns_object: like.is_some_and(|l| l.delete_returns_object),
        builtin: true,
    }
}

fn build() -> Registry {
    let builtins = resources::builtins();
    let mut entries: Vec<Entry> = builtins
        .iter()
        .map(|b| Entry {
            rt: b.clone(),
            row: served_apis::lookup(&b.api_version(), &b.kind),
        })
        .collect();
    let mut storage: HashMap<(String, String), ResourceType> = HashMap::new();
    for b in &builtins {
        storage
            .entry((b.group.clone(), b.kind.clone()))
            .or_insert_with(|| b.clone());
    }
    for row in served_apis::table() {
        let builtin = builtins
            .iter()
            .find(|b| b.group == row.group && b.version == row.version && b.plural == row.plural);
        if builtin.is_some() {
            continue;
        }
        let family = builtins.iter().find(|b| b.kind == row.kind);
        if family.is_none() && !row.persisted {
            continue;
        }
        let store_as = match family {
            Some(b) => b.clone(),
            None => {
                let newest = served_apis::versions_of(row.kind)
                    .max_by_key(|a| (a.stability(), a.since().map_or(0, KubeVersion::minor)))
                    .unwrap_or(row);
                from_row(newest, None)
            }
        };
        let rt = from_row(row, family);
        storage
            .entry((rt.group.clone(), rt.kind.clone()))
            .or_insert(store_as);
        entries.push(Entry { rt, row: Some(row) });
    }
    // Discovery lists a group's versions in the order first seen, and the first is preferred:
    // most stable first, as kube-apiserver orders them.
    entries.sort_by_key(|e| std::cmp::Reverse(version_rank(&e.rt.version)));
    Registry { entries, storage }
}

fn registry() -> &'static Registry {
    static REGISTRY: OnceLock<Registry> = OnceLock::new();
    REGISTRY.get_or_init(build)
}

/// The built-in resource types a cluster of minor `v` serves (custom resources come on top).
pub fn served_types(v: KubeVersion) -> Vec<ResourceType> {
    registry()
        .entries
        .iter()
        .filter(|e| e.row.is_none_or(|r| r.served_in(v)))
        .map(|e| e.rt.clone())
        .collect()
}

/// The type objects of `kind` addressed through `group` are stored as (`extensions`
/// Deployments as `apps/v1` ones); `None` for custom resources.
pub fn storage_of(group: &str, kind: &str) -> Option<&'static ResourceType> {
    registry()
        .storage
        .get(&(group.to_string(), kind.to_string()))
}

/// The group a kind is stored under when addressed through `group`; `group` itself for storage
/// types and custom resources.
pub fn storage_group<'a>(group: &'a str, kind: &str) -> &'a str {
    match storage_of(group, kind) {
        Some(s) => s.group.as_str(),
        None => group,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(types: &[ResourceType], av: &str, plural: &str) -> bool {
        types
            .iter()
            .any(|t| t.api_version() == av && t.plural == plural)
    }

    #[test]
    fn old_and_new_minors_serve_different_versions() {
        let old = served_types(KubeVersion::new(13));
        assert!(has(&old, "extensions/v1beta1", "deployments"));
        assert!(has(&old, "apps/v1beta2", "statefulsets"));
        assert!(has(&old, "apps/v1", "deployments"));
        assert!(has(
            &old,
            "apiextensions.k8s.io/v1beta1",
            "customresourcedefinitions"
        ));
        assert!(!has(
            &old,
            "apiextensions.k8s.io/v1",
            "customresourcedefinitions"
        ));
        assert!(!has(&old, "autoscaling/v2", "horizontalpodautoscalers"));
        assert!(has(&old, "autoscaling/v2beta1", "horizontalpodautoscalers"));
        assert!(has(&old, "v1", "pods"));
        let new = served_types(KubeVersion::new(32));
        assert!(!has(&new, "extensions/v1beta1", "deployments"));
        assert!(!has(&new, "extensions/v1beta1", "ingresses"));
        assert!(has(&new, "networking.k8s.io/v1", "ingresses"));
        assert!(has(&new, "batch/v1", "cronjobs"));
        assert!(!has(
            &new,
            "flowcontrol.apiserver.k8s.io/v1beta3",
            "flowschemas"
        ));
        // Reviews are answered, not stored: without a built-in handler they are not served.
        assert!(!has(&new, "authentication.k8s.io/v1", "tokenreviews"));
    }

    #[test]
    fn aliases_share_their_kind_s_storage() {
        assert_eq!(storage_group("extensions", "Deployment"), "apps");
        assert_eq!(storage_group("extensions", "Ingress"), "networking.k8s.io");
        assert_eq!(
            storage_group("extensions", "NetworkPolicy"),
            "networking.k8s.io"
        );
        assert_eq!(storage_group("events.k8s.io", "Event"), "");
        assert_eq!(storage_group("apps", "Deployment"), "apps");
        assert_eq!(storage_group("example.com", "Deployment"), "example.com");
        let av = |g, k| storage_of(g, k).map(ResourceType::api_version);
        assert_eq!(av("apps", "Deployment").as_deref(), Some("apps/v1"));
        assert_eq!(av("extensions", "Deployment").as_deref(), Some("apps/v1"));
        assert_eq!(
            av("autoscaling", "HorizontalPodAutoscaler").as_deref(),
            Some("autoscaling/v2")
        );
        assert_eq!(
            av("extensions", "PodSecurityPolicy").as_deref(),
            Some("policy/v1beta1")
        );
        assert_eq!(av("batch", "CronJob").as_deref(), Some("batch/v1"));
        assert_eq!(av("example.com", "Widget"), None);
        let t = served_types(KubeVersion::new(13));
        let ext = t
            .iter()
            .find(|t| t.api_version() == "extensions/v1beta1" && t.kind == "Deployment")
            .unwrap();
        assert_eq!(ext.key(), "deployments.apps");
        assert!(ext.scale.is_some() && ext.status_sub);
        assert_eq!(ext.short_names, vec!["deploy".to_string()]);
    }

    #[test]
    fn preferred_versions_come_first() {
        let t = served_types(KubeVersion::new(20));
        let first = |group: &str| {
            t.iter()
                .find(|x| x.group == group)
                .map(|x| x.version.clone())
        };
        assert_eq!(first("events.k8s.io").as_deref(), Some("v1"));
        assert_eq!(first("autoscaling").as_deref(), Some("v1"));
        assert_eq!(first("apps").as_deref(), Some("v1"));
        assert_eq!(first("networking.k8s.io").as_deref(), Some("v1"));
    }
}
