//! The resource types a simulated cluster serves: the built-in table plus types defined by CRDs.

use serde_json::Value;

use crate::util::str_at;

/// Where a custom resource keeps what its `scale` subresource reports.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ScalePaths {
    /// `.spec.replicas` or another JSON path.
    pub spec_replicas: String,
    /// `.status.replicas` or another JSON path.
    pub status_replicas: String,
    /// The path of the label selector in query form (`.status.selector`), if any.
    pub label_selector: Option<String>,
}

/// One served resource type (group, version, plural) and how it behaves: the one registry that
/// routing, discovery and OpenAPI all read.
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
    /// Whether `/scale` is served, and (custom resources) where its values live.
    pub scale: Option<ScalePaths>,
    /// The verbs served.
    pub verbs: &'static [&'static str],
    /// Whether objects carry `metadata.generation`.
    pub generation: bool,
    /// Whether a DELETE answers with the deleted object rather than a `Status`.
    pub delete_returns_object: bool,
    /// Whether this is a built-in type (not defined by a CRD).
    pub builtin: bool,
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

    /// Whether `verb` is served.
    pub fn serves(&self, verb: &str) -> bool {
        self.verbs.contains(&verb)
    }
}

/// Every verb of a stored resource.
pub const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

/// Review resources are only created: the answer is computed, nothing is stored.
const CREATE_ONLY: &[&str] = &["create"];

/// Traits of a built-in row, as flags.
const NS: u8 = 1; // namespaced
const ALL: u8 = 2; // in the `all` category
const STATUS: u8 = 4; // has a status subresource
const SCALE: u8 = 8; // has a scale subresource
const GEN: u8 = 16; // carries metadata.generation
const RET: u8 = 32; // DELETE returns the object
const REVIEW: u8 = 64; // create-only review resource

struct Builtin(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    u8,
);

#[rustfmt::skip]
const BUILTINS: &[Builtin] = &[
    Builtin("", "v1", "namespaces", "Namespace", &["ns"], STATUS | RET),
    Builtin("", "v1", "nodes", "Node", &["no"], STATUS),
    Builtin("", "v1", "pods", "Pod", &["po"], NS | ALL | STATUS | RET),
    Builtin("", "v1", "services", "Service", &["svc"], NS | ALL | STATUS | RET),
    Builtin("", "v1", "endpoints", "Endpoints", &["ep"], NS),
    Builtin("", "v1", "configmaps", "ConfigMap", &["cm"], NS),
    Builtin("", "v1", "secrets", "Secret", &[], NS),
    Builtin("", "v1", "serviceaccounts", "ServiceAccount", &["sa"], NS | RET),
    Builtin("", "v1", "events", "Event", &["ev"], NS),
    Builtin("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", &["pvc"], NS | STATUS),
    Builtin("", "v1", "persistentvolumes", "PersistentVolume", &["pv"], STATUS),
    Builtin("", "v1", "replicationcontrollers", "ReplicationController", &["rc"], NS | ALL | STATUS | SCALE | GEN),
    Builtin("", "v1", "resourcequotas", "ResourceQuota", &["quota"], NS | STATUS),
    Builtin("", "v1", "limitranges", "LimitRange", &["limits"], NS),
    Builtin("", "v1", "podtemplates", "PodTemplate", &[], NS),
    Builtin("apps", "v1", "deployments", "Deployment", &["deploy"], NS | ALL | STATUS | SCALE | GEN),
    Builtin("apps", "v1", "statefulsets", "StatefulSet", &["sts"], NS | ALL | STATUS | SCALE | GEN),
    Builtin("apps", "v1", "daemonsets", "DaemonSet", &["ds"], NS | ALL | STATUS | GEN),
    Builtin("apps", "v1", "replicasets", "ReplicaSet", &["rs"], NS | ALL | STATUS | SCALE | GEN),
    Builtin("apps", "v1", "controllerrevisions", "ControllerRevision", &[], NS),
    Builtin("batch", "v1", "jobs", "Job", &[], NS | ALL | STATUS | GEN),
    Builtin("batch", "v1", "cronjobs", "CronJob", &["cj"], NS | ALL | STATUS | GEN),
    Builtin("rbac.authorization.k8s.io", "v1", "roles", "Role", &[], NS),
    Builtin("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", &[], NS),
    Builtin("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole", &[], 0),
    Builtin("rbac.authorization.k8s.io", "v1", "clusterrolebindings", "ClusterRoleBinding", &[], 0),
    Builtin("apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", &["crd", "crds"], STATUS | GEN),
    Builtin("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy", &["netpol"], NS | GEN),
    Builtin("networking.k8s.io", "v1", "ingresses", "Ingress", &["ing"], NS | STATUS | GEN),
    Builtin("networking.k8s.io", "v1", "ingressclasses", "IngressClass", &[], 0),
    Builtin("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget", &["pdb"], NS | STATUS | GEN),
    Builtin("admissionregistration.k8s.io", "v1", "mutatingwebhookconfigurations", "MutatingWebhookConfiguration", &[], GEN),
    Builtin("admissionregistration.k8s.io", "v1", "validatingwebhookconfigurations", "ValidatingWebhookConfiguration", &[], GEN),
    Builtin("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", &["hpa"], NS | ALL | STATUS),
    Builtin("autoscaling", "v1", "horizontalpodautoscalers", "HorizontalPodAutoscaler", &["hpa"], NS | ALL | STATUS),
    Builtin("coordination.k8s.io", "v1", "leases", "Lease", &[], NS),
    Builtin("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", &[], NS),
    Builtin("storage.k8s.io", "v1", "storageclasses", "StorageClass", &["sc"], 0),
    Builtin("scheduling.k8s.io", "v1", "priorityclasses", "PriorityClass", &["pc"], 0),
    Builtin("authorization.k8s.io", "v1", "selfsubjectaccessreviews", "SelfSubjectAccessReview", &[], REVIEW),
    Builtin("authorization.k8s.io", "v1", "selfsubjectrulesreviews", "SelfSubjectRulesReview", &[], REVIEW),
    Builtin("authorization.k8s.io", "v1", "subjectaccessreviews", "SubjectAccessReview", &[], REVIEW),
    Builtin("authorization.k8s.io", "v1", "localsubjectaccessreviews", "LocalSubjectAccessReview", &[], NS | REVIEW),
    Builtin("authentication.k8s.io", "v1", "selfsubjectreviews", "SelfSubjectReview", &[], REVIEW),
];

/// All built-in resource types.
pub fn builtins() -> Vec<ResourceType> {
    BUILTINS
        .iter()
        .map(|Builtin(group, version, plural, kind, short, flags)| {
            let has = |f: u8| flags & f != 0;
            ResourceType {
                group: group.to_string(),
                version: version.to_string(),
                plural: plural.to_string(),
                singular: kind.to_lowercase(),
                kind: kind.to_string(),
                namespaced: has(NS),
                short_names: short.iter().map(|s| s.to_string()).collect(),
                categories: if has(ALL) {
                    vec!["all".to_string()]
                } else {
                    vec![]
                },
                status_sub: has(STATUS),
                scale: has(SCALE).then(|| ScalePaths {
                    spec_replicas: ".spec.replicas".into(),
                    status_replicas: ".status.replicas".into(),
                    label_selector: None,
                }),
                verbs: if has(REVIEW) { CREATE_ONLY } else { ALL_VERBS },
                generation: has(GEN),
                delete_returns_object: has(RET),
                builtin: true,
            }
        })
        .collect()
}

/// Whether objects stored under `key` (`deployments.apps`, `widgets.example.com`) carry
/// `metadata.generation`: built-ins that have it, and every custom resource.
pub fn tracks_generation(key: &str) -> bool {
    match BUILTINS
        .iter()
        .find(|b| crate::status::qualified(b.0, b.2) == key)
    {
        Some(b) => b.5 & GEN != 0,
        None => key.contains('.') && !key.ends_with(".k8s.io"),
    }
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
                        scale: v["subresources"]["scale"].as_object().map(|sc| ScalePaths {
                            spec_replicas: sc
                                .get("specReplicasPath")
                                .and_then(Value::as_str)
                                .unwrap_or(".spec.replicas")
                                .to_string(),
                            status_replicas: sc
                                .get("statusReplicasPath")
                                .and_then(Value::as_str)
                                .unwrap_or(".status.replicas")
                                .to_string(),
                            label_selector: sc
                                .get("labelSelectorPath")
                                .and_then(Value::as_str)
                                .map(str::to_string),
                        }),
                        verbs: ALL_VERBS,
                        generation: true,
                        delete_returns_object: false,
                        builtin: false,
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
