//! The resource types a simulated cluster serves: the built-in table plus types defined by CRDs.

use serde_json::Value;

use crate::util::str_at;

/// One served resource type (group, version, plural) and how it behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceType {
    /// API group, empty for core.
    pub group: String,
    /// API version within the group.
    pub version: String,
    /// Plural resource name used in paths.
    pub plural: String,
    /// Singular resource name.
    pub singular: String,
    /// Object kind.
    pub kind: String,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Short names for kubectl.
    pub short_names: Vec<String>,
    /// Categories such as `all`.
    pub categories: Vec<String>,
    /// Whether `/status` is a separate subresource.
    pub status_sub: bool,
    /// Whether `/scale` is served.
    pub scale_sub: bool,
}

impl ResourceType {
    /// `apps/v1` or `v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.clone()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// Store key prefix, `deployments.apps` or `pods`; every version of a kind shares it
    /// (`extensions/v1beta1` Deployments are `deployments.apps`).
    pub fn key(&self) -> String {
        let group = crate::version::registry::storage_group(&self.group, &self.kind);
        crate::status::qualified(group, &self.plural)
    }
}

struct Builtin {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    all: bool,
    status: bool,
    scale: bool,
}

// One row of the built-in table; positional arguments keep the table readable.
#[allow(clippy::too_many_arguments)]
const fn b(
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    all: bool,
    status: bool,
    scale: bool,
) -> Builtin {
    Builtin {
        group,
        version,
        plural,
        kind,
        namespaced,
        short,
        all,
        status,
        scale,
    }
}

#[rustfmt::skip]
const BUILTINS: &[Builtin] = &[
    b("", "v1", "namespaces", "Namespace", false, &["ns"], false, true, false),
    b("", "v1", "nodes", "Node", false, &["no"], false, true, false),
    b("", "v1", "pods", "Pod", true, &["po"], true, true, false),
    b("", "v1", "services", "Service", true, &["svc"], true, true, false),
    b("", "v1", "endpoints", "Endpoints", true, &["ep"], false, false, false),
    b("", "v1", "configmaps", "ConfigMap", true, &["cm"], false, false, false),
    b("", "v1", "secrets", "Secret", true, &[], false, false, false),
    b("", "v1", "serviceaccounts", "ServiceAccount", true, &["sa"], false, false, false),
    b("", "v1", "events", "Event", true, &["ev"], false, false, false),
    b("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", true, &["pvc"], false, true, false),
    b("apps", "v1", "deployments", "Deployment", true, &["deploy"], true, true, true),
    b("apps", "v1", "statefulsets", "StatefulSet", true, &["sts"], true, true, true),
    b("apps", "v1", "daemonsets", "DaemonSet", true, &["ds"], true, true, false),
    b("apps", "v1", "replicasets", "ReplicaSet", true, &["rs"], true, true, true),
    b("batch", "v1", "jobs", "Job", true, &[], true, true, false),
    b("rbac.authorization.k8s.io", "v1", "roles", "Role", true, &[], false, false, false),
    b("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", true, &[], false, false, false),
    b("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", false, &[], false, false, false),
    b("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", false, &[], false, false, false),
    b("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", false, &["crd", "crds"], false, true, false),
    b("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", true, &["netpol"], false, false, false),
    b("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", true, &["pdb"], false, true, false),
    b("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", false, &[], false, false, false),
    b("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration", false, &[], false, false, false),
    b("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", true, &["hpa"], true, true, false),
];

/// All built-in resource types.
pub fn builtins() -> Vec<ResourceType> {
    BUILTINS
        .iter()
        .map(|x| ResourceType {
            group: x.group.to_string(),
            version: x.version.to_string(),
            plural: x.plural.to_string(),
            singular: x.kind.to_lowercase(),
            kind: x.kind.to_string(),
            namespaced: x.namespaced,
            short_names: x.short.iter().map(|s| s.to_string()).collect(),
            categories: if x.all {
                vec!["all".to_string()]
            } else {
                vec![]
            },
            status_sub: x.status,
            scale_sub: x.scale,
        })
        .collect()
}

/// The resource types one CRD object defines (one per served version).
pub fn from_crd(crd: &Value) -> Vec<ResourceType> {
    let spec = &crd["spec"];
    let (Some(group), Some(plural), Some(kind)) = (
        str_at(spec, "group"),
        str_at(spec, "names.plural"),
        str_at(spec, "names.kind"),
    ) else {
        return vec![];
    };
    let singular = str_at(spec, "names.singular")
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_lowercase());
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    };
    let namespaced = str_at(spec, "scope") != Some("Cluster");
    spec["versions"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .filter(|v| v["served"].as_bool().unwrap_or(true))
                .filter_map(|v| {
                    Some(ResourceType {
                        group: group.to_string(),
                        version: v["name"].as_str()?.to_string(),
                        plural: plural.to_string(),
                        singular: singular.clone(),
                        kind: kind.to_string(),
                        namespaced,
                        short_names: strings(&spec["names"]["shortNames"]),
                        categories: strings(&spec["names"]["categories"]),
                        status_sub: v["subresources"]["status"].is_object(),
                        scale_sub: v["subresources"]["scale"].is_object(),
                    })
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Looks a type up by group, version and plural among `types`.
pub fn find<'a>(
    types: &'a [ResourceType],
    group: &str,
    version: &str,
    plural: &str,
) -> Option<&'a ResourceType> {
    types
        .iter()
        .find(|t| t.group == group && t.version == version && t.plural == plural)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn crd_yields_served_versions() {
        let crd = json!({"spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget", "shortNames": ["wg"]},
            "versions": [{"name": "v1", "served": true, "storage": true, "subresources": {"status": {}}},
                         {"name": "v0", "served": false}]}});
        let types = from_crd(&crd);
        assert_eq!(types.len(), 1);
        assert_eq!(types[0].api_version(), "example.com/v1");
        assert!(types[0].status_sub);
        assert_eq!(types[0].short_names, vec!["wg".to_string()]);
    }
}
