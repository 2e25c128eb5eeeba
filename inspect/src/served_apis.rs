//! Which group/version of which built-in kind a Kubernetes API server serves, minor by minor.
//!
//! Sources: removals and their replacements are those of the Kubernetes "Deprecated API
//! Migration Guide" (kubernetes/website `content/en/docs/reference/using-api/deprecation-guide.md`,
//! sections v1.16, v1.22, v1.25, v1.26, v1.27, v1.29, v1.32); introductions are from the release
//! notes of each minor (the guide's "available since v1.X" where it gives one). Only API versions
//! that a default API server serves are listed: alpha versions and betas that were off by default
//! are not. Versions introduced before 1.9 are recorded as "served before 1.9" and answered as
//! served in every older minor too; the table describes [`KubeVersion::OLDEST`] to
//! [`KubeVersion::NEWEST`], and newer minors are answered as the newest.
//!
//! The table is data: the sandbox serves from it, and manifest linting ([`crate::manifest_lint`])
//! checks apiVersions against it.

use crate::version::KubeVersion;

/// One kind served under one group/version, for a range of minors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServedApi {
    /// API group, empty for the core group.
    pub group: &'static str,
    /// Version within the group.
    pub version: &'static str,
    /// Object kind.
    pub kind: &'static str,
    /// Resource name in URL paths.
    pub plural: &'static str,
    /// Whether objects live in a namespace.
    pub namespaced: bool,
    /// Whether objects are stored (false for create-only reviews such as TokenReview).
    pub persisted: bool,
    since: Option<u32>,
    removed: Option<u32>,
    /// The apiVersion the migration guide names as the replacement of a removed version.
    pub replacement: Option<&'static str>,
}

impl ServedApi {
    /// `apps/v1`, or `v1` for the core group.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// The first minor that serves it; `None` when it was served before 1.9 already.
    pub fn since(&self) -> Option<KubeVersion> {
        self.since.map(KubeVersion::new)
    }

    /// The first minor that no longer serves it; `None` while it is served.
    pub fn removed(&self) -> Option<KubeVersion> {
        self.removed.map(KubeVersion::new)
    }

    /// Whether a cluster of minor `at` serves it.
    pub fn served_in(&self, at: KubeVersion) -> bool {
        let m = at.minor();
        self.since.is_none_or(|s| m >= s) && self.removed.is_none_or(|r| m < r)
    }

    /// How stable the version is, for choosing among versions served at once: GA above beta
    /// above alpha, then the higher number (`v2` > `v1`, `v1beta2` > `v1beta1`).
    pub fn stability(&self) -> (u8, u32, u32) {
        version_rank(self.version)
    }
}

/// Ranks a Kubernetes API version string as kube-apiserver orders versions in discovery.
pub fn version_rank(version: &str) -> (u8, u32, u32) {
    let Some(rest) = version.strip_prefix('v') else {
        return (0, 0, 0);
    };
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    let major = digits.parse().unwrap_or(0);
    let tail = &rest[digits.len()..];
    let (level, n) = if tail.is_empty() {
        (3, 0)
    } else if let Some(n) = tail.strip_prefix("beta") {
        (2, n.parse().unwrap_or(0))
    } else if let Some(n) = tail.strip_prefix("alpha") {
        (1, n.parse().unwrap_or(0))
    } else {
        (0, 0)
    };
    (level, major, n)
}

struct Row(
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    bool,
    Option<u32>,
    Option<u32>,
    Option<&'static str>,
);

const CORE: &[(&str, &str, bool)] = &[
    ("Binding", "bindings", true),
    ("ComponentStatus", "componentstatuses", false),
    ("ConfigMap", "configmaps", true),
    ("Endpoints", "endpoints", true),
    ("Event", "events", true),
    ("LimitRange", "limitranges", true),
    ("Namespace", "namespaces", false),
    ("Node", "nodes", false),
    ("PersistentVolume", "persistentvolumes", false),
    ("PersistentVolumeClaim", "persistentvolumeclaims", true),
    ("Pod", "pods", true),
    ("PodTemplate", "podtemplates", true),
    ("ReplicationController", "replicationcontrollers", true),
    ("ResourceQuota", "resourcequotas", true),
    ("Secret", "secrets", true),
    ("Service", "services", true),
    ("ServiceAccount", "serviceaccounts", true),
];

const N: Option<u32> = None;
const fn s(m: u32) -> Option<u32> {
    Some(m)
}
const fn r(m: u32) -> Option<u32> {
    Some(m)
}

const EXT: &str = "extensions";
const APPS: &str = "apps";
const NET: &str = "networking.k8s.io";
const RBAC: &str = "rbac.authorization.k8s.io";
const STORAGE: &str = "storage.k8s.io";
const FLOW: &str = "flowcontrol.apiserver.k8s.io";
const ADM: &str = "admissionregistration.k8s.io";
const AUTHN: &str = "authentication.k8s.io";
const AUTHZ: &str = "authorization.k8s.io";

/// Kinds that are created and answered but never stored.
const REVIEWS: &[&str] = &[
    "Binding",
    "TokenReview",
    "SelfSubjectReview",
    "SubjectAccessReview",
    "SelfSubjectAccessReview",
    "LocalSubjectAccessReview",
    "SelfSubjectRulesReview",
];

// group, version, kind, plural, namespaced, since, removed, replacement (from the guide)
#[rustfmt::skip]
const ROWS: &[Row] = &[
    // apps: removed in 1.16 in favour of apps/v1 (available since 1.9)
    Row(EXT, "v1beta1", "Deployment", "deployments", true, N, r(16), Some("apps/v1")),
    Row(EXT, "v1beta1", "DaemonSet", "daemonsets", true, N, r(16), Some("apps/v1")),
    Row(EXT, "v1beta1", "ReplicaSet", "replicasets", true, N, r(16), Some("apps/v1")),
    Row(EXT, "v1beta1", "NetworkPolicy", "networkpolicies", true, N, r(16), Some("networking.k8s.io/v1")),
    Row(EXT, "v1beta1", "PodSecurityPolicy", "podsecuritypolicies", false, N, r(16), Some("policy/v1beta1")),
    Row(EXT, "v1beta1", "Ingress", "ingresses", true, N, r(22), Some("networking.k8s.io/v1")),
    Row(APPS, "v1beta1", "Deployment", "deployments", true, N, r(16), Some("apps/v1")),
    Row(APPS, "v1beta1", "StatefulSet", "statefulsets", true, N, r(16), Some("apps/v1")),
    Row(APPS, "v1beta1", "ControllerRevision", "controllerrevisions", true, N, r(16), Some("apps/v1")),
    Row(APPS, "v1beta2", "Deployment", "deployments", true, N, r(16), Some("apps/v1")),
    Row(APPS, "v1beta2", "DaemonSet", "daemonsets", true, N, r(16), Some("apps/v1")),
    Row(APPS, "v1beta2", "ReplicaSet", "replicasets", true, N, r(16), Some("apps/v1")),
    Row(APPS, "v1beta2", "StatefulSet", "statefulsets", true, N, r(16), Some("apps/v1")),
    Row(APPS, "v1beta2", "ControllerRevision", "controllerrevisions", true, N, r(16), Some("apps/v1")),
    Row(APPS, "v1", "Deployment", "deployments", true, s(9), N, None),
    Row(APPS, "v1", "DaemonSet", "daemonsets", true, s(9), N, None),
    Row(APPS, "v1", "ReplicaSet", "replicasets", true, s(9), N, None),
    Row(APPS, "v1", "StatefulSet", "statefulsets", true, s(9), N, None),
    Row(APPS, "v1", "ControllerRevision", "controllerrevisions", true, s(9), N, None),
    // batch
    Row("batch", "v1", "Job", "jobs", true, N, N, None),
    Row("batch", "v1beta1", "CronJob", "cronjobs", true, N, r(25), Some("batch/v1")),
    Row("batch", "v1", "CronJob", "cronjobs", true, s(21), N, None),
    // autoscaling
    Row("autoscaling", "v1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, N, N, None),
    Row("autoscaling", "v2beta1", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, N, r(25), Some("autoscaling/v2")),
    Row("autoscaling", "v2beta2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, s(12), r(26), Some("autoscaling/v2")),
    Row("autoscaling", "v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers", true, s(23), N, None),
    // policy
    Row("policy", "v1beta1", "PodDisruptionBudget", "poddisruptionbudgets", true, N, r(25), Some("policy/v1")),
    Row("policy", "v1beta1", "PodSecurityPolicy", "podsecuritypolicies", false, s(10), r(25), None),
    Row("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true, s(21), N, None),
    // networking
    Row(NET, "v1", "NetworkPolicy", "networkpolicies", true, N, N, None),
    Row(NET, "v1beta1", "Ingress", "ingresses", true, s(14), r(22), Some("networking.k8s.io/v1")),
    Row(NET, "v1beta1", "IngressClass", "ingressclasses", false, s(18), r(22), Some("networking.k8s.io/v1")),
    Row(NET, "v1", "Ingress", "ingresses", true, s(19), N, None),
    Row(NET, "v1", "IngressClass", "ingressclasses", false, s(19), N, None),
    Row(NET, "v1", "IPAddress", "ipaddresses", false, s(33), N, None),
    Row(NET, "v1", "ServiceCIDR", "servicecidrs", false, s(33), N, None),
    // rbac: v1beta1 removed in 1.22, v1 available since 1.8
    Row(RBAC, "v1beta1", "Role", "roles", true, N, r(22), Some("rbac.authorization.k8s.io/v1")),
    Row(RBAC, "v1beta1", "RoleBinding", "rolebindings", true, N, r(22), Some("rbac.authorization.k8s.io/v1")),
    Row(RBAC, "v1beta1", "ClusterRole", "clusterroles", false, N, r(22), Some("rbac.authorization.k8s.io/v1")),
    Row(RBAC, "v1beta1", "ClusterRoleBinding", "clusterrolebindings", false, N, r(22), Some("rbac.authorization.k8s.io/v1")),
    Row(RBAC, "v1", "Role", "roles", true, N, N, None),
    Row(RBAC, "v1", "RoleBinding", "rolebindings", true, N, N, None),
    Row(RBAC, "v1", "ClusterRole", "clusterroles", false, N, N, None),
    Row(RBAC, "v1", "ClusterRoleBinding", "clusterrolebindings", false, N, N, None),
    // apiextensions
    Row("apiextensions.k8s.io", "v1beta1", "CustomResourceDefinition", "customresourcedefinitions", false, N, r(22), Some("apiextensions.k8s.io/v1")),
    Row("apiextensions.k8s.io", "v1", "CustomResourceDefinition", "customresourcedefinitions", false, s(16), N, None),
    // admissionregistration
    Row(ADM, "v1beta1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", false, s(9), r(22), Some("admissionregistration.k8s.io/v1")),
    Row(ADM, "v1beta1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", false, s(9), r(22), Some("admissionregistration.k8s.io/v1")),
    Row(ADM, "v1", "MutatingWebhookConfiguration", "mutatingwebhookconfigurations", false, s(16), N, None),
    Row(ADM, "v1", "ValidatingWebhookConfiguration", "validatingwebhookconfigurations", false, s(16), N, None),
    Row(ADM, "v1", "ValidatingAdmissionPolicy", "validatingadmissionpolicies", false, s(30), N, None),
    Row(ADM, "v1", "ValidatingAdmissionPolicyBinding", "validatingadmissionpolicybindings", false, s(30), N, None),
    // apiregistration
    Row("apiregistration.k8s.io", "v1beta1", "APIService", "apiservices", false, N, r(22), Some("apiregistration.k8s.io/v1")),
    Row("apiregistration.k8s.io", "v1", "APIService", "apiservices", false, s(10), N, None),
    // authentication and authorization reviews
    Row(AUTHN, "v1beta1", "TokenReview", "tokenreviews", false, N, r(22), Some("authentication.k8s.io/v1")),
    Row(AUTHN, "v1", "TokenReview", "tokenreviews", false, N, N, None),
    Row(AUTHN, "v1beta1", "SelfSubjectReview", "selfsubjectreviews", false, s(27), N, None),
    Row(AUTHN, "v1", "SelfSubjectReview", "selfsubjectreviews", false, s(28), N, None),
    Row(AUTHZ, "v1beta1", "SubjectAccessReview", "subjectaccessreviews", false, N, r(22), Some("authorization.k8s.io/v1")),
    Row(AUTHZ, "v1beta1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", false, N, r(22), Some("authorization.k8s.io/v1")),
    Row(AUTHZ, "v1beta1", "LocalSubjectAccessReview", "localsubjectaccessreviews", true, N, r(22), Some("authorization.k8s.io/v1")),
    Row(AUTHZ, "v1beta1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", false, N, r(22), Some("authorization.k8s.io/v1")),
    Row(AUTHZ, "v1", "SubjectAccessReview", "subjectaccessreviews", false, N, N, None),
    Row(AUTHZ, "v1", "SelfSubjectAccessReview", "selfsubjectaccessreviews", false, N, N, None),
    Row(AUTHZ, "v1", "LocalSubjectAccessReview", "localsubjectaccessreviews", true, N, N, None),
    Row(AUTHZ, "v1", "SelfSubjectRulesReview", "selfsubjectrulesreviews", false, N, N, None),
    // certificates
    Row("certificates.k8s.io", "v1beta1", "CertificateSigningRequest", "certificatesigningrequests", false, N, r(22), Some("certificates.k8s.io/v1")),
    Row("certificates.k8s.io", "v1", "CertificateSigningRequest", "certificatesigningrequests", false, s(19), N, None),
    // coordination
    Row("coordination.k8s.io", "v1beta1", "Lease", "leases", true, s(12), r(22), Some("coordination.k8s.io/v1")),
    Row("coordination.k8s.io", "v1", "Lease", "leases", true, s(14), N, None),
    // discovery
    Row("discovery.k8s.io", "v1beta1", "EndpointSlice", "endpointslices", true, s(17), r(25), Some("discovery.k8s.io/v1")),
    Row("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", true, s(21), N, None),
    // events
    Row("events.k8s.io", "v1beta1", "Event", "events", true, N, r(25), Some("events.k8s.io/v1")),
    Row("events.k8s.io", "v1", "Event", "events", true, s(19), N, None),
    // scheduling
    Row("scheduling.k8s.io", "v1beta1", "PriorityClass", "priorityclasses", false, s(11), r(22), Some("scheduling.k8s.io/v1")),
    Row("scheduling.k8s.io", "v1", "PriorityClass", "priorityclasses", false, s(14), N, None),
    // node
    Row("node.k8s.io", "v1beta1", "RuntimeClass", "runtimeclasses", false, s(14), r(25), Some("node.k8s.io/v1")),
    Row("node.k8s.io", "v1", "RuntimeClass", "runtimeclasses", false, s(20), N, None),
    // storage
    Row(STORAGE, "v1beta1", "StorageClass", "storageclasses", false, N, r(22), Some("storage.k8s.io/v1")),
    Row(STORAGE, "v1beta1", "VolumeAttachment", "volumeattachments", false, s(10), r(22), Some("storage.k8s.io/v1")),
    Row(STORAGE, "v1beta1", "CSIDriver", "csidrivers", false, s(14), r(22), Some("storage.k8s.io/v1")),
    Row(STORAGE, "v1beta1", "CSINode", "csinodes", false, s(14), r(22), Some("storage.k8s.io/v1")),
    Row(STORAGE, "v1beta1", "CSIStorageCapacity", "csistoragecapacities", true, s(21), r(27), Some("storage.k8s.io/v1")),
    Row(STORAGE, "v1", "StorageClass", "storageclasses", false, N, N, None),
    Row(STORAGE, "v1", "VolumeAttachment", "volumeattachments", false, s(13), N, None),
    Row(STORAGE, "v1", "CSINode", "csinodes", false, s(17), N, None),
    Row(STORAGE, "v1", "CSIDriver", "csidrivers", false, s(19), N, None),
    Row(STORAGE, "v1", "CSIStorageCapacity", "csistoragecapacities", true, s(24), N, None),
    // flow control (API Priority and Fairness)
    Row(FLOW, "v1beta1", "FlowSchema", "flowschemas", false, s(20), r(26), Some("flowcontrol.apiserver.k8s.io/v1beta2")),
    Row(FLOW, "v1beta1", "PriorityLevelConfiguration", "prioritylevelconfigurations", false, s(20), r(26), Some("flowcontrol.apiserver.k8s.io/v1beta2")),
    Row(FLOW, "v1beta2", "FlowSchema", "flowschemas", false, s(23), r(29), Some("flowcontrol.apiserver.k8s.io/v1")),
    Row(FLOW, "v1beta2", "PriorityLevelConfiguration", "prioritylevelconfigurations", false, s(23), r(29), Some("flowcontrol.apiserver.k8s.io/v1")),
    Row(FLOW, "v1beta3", "FlowSchema", "flowschemas", false, s(26), r(32), Some("flowcontrol.apiserver.k8s.io/v1")),
    Row(FLOW, "v1beta3", "PriorityLevelConfiguration", "prioritylevelconfigurations", false, s(26), r(32), Some("flowcontrol.apiserver.k8s.io/v1")),
    Row(FLOW, "v1", "FlowSchema", "flowschemas", false, s(29), N, None),
    Row(FLOW, "v1", "PriorityLevelConfiguration", "prioritylevelconfigurations", false, s(29), N, None),
];

fn build() -> Vec<ServedApi> {
    let core = CORE.iter().map(|(kind, plural, namespaced)| ServedApi {
        group: "",
        version: "v1",
        kind,
        plural,
        namespaced: *namespaced,
        persisted: !REVIEWS.contains(kind),
        since: None,
        removed: None,
        replacement: None,
    });
    let rest = ROWS.iter().map(|row| ServedApi {
        group: row.0,
        version: row.1,
        kind: row.2,
        plural: row.3,
        namespaced: row.4,
        persisted: !REVIEWS.contains(&row.2),
        since: row.5,
        removed: row.6,
        replacement: row.7,
    });
    core.chain(rest).collect()
}

/// Every row of the table.
pub fn table() -> &'static [ServedApi] {
    static TABLE: std::sync::OnceLock<Vec<ServedApi>> = std::sync::OnceLock::new();
    TABLE.get_or_init(build)
}

fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.rsplit_once('/').unwrap_or(("", api_version))
}

/// The row of `kind` under `api_version` (`apps/v1`, `v1`), if the table knows it.
pub fn lookup(api_version: &str, kind: &str) -> Option<&'static ServedApi> {
    let (group, version) = split_api_version(api_version);
    table()
        .iter()
        .find(|a| a.group == group && a.version == version && a.kind == kind)
}

/// Every row of `kind` (in any group), in table order.
pub fn versions_of(kind: &str) -> impl Iterator<Item = &'static ServedApi> + '_ {
    table().iter().filter(move |a| a.kind == kind)
}

/// The rows a cluster of minor `at` serves.
pub fn served_at(at: KubeVersion) -> impl Iterator<Item = &'static ServedApi> {
    table().iter().filter(move |a| a.served_in(at))
}

/// Whether a cluster of minor `at` serves the group/version at all (`""`/`"v1"` for core).
pub fn group_version_served(group: &str, version: &str, at: KubeVersion) -> bool {
    served_at(at).any(|a| a.group == group && a.version == version)
}

/// Whether the table knows the group/version in any minor (an unknown one, such as a CRD's,
/// is not the table's to judge).
pub fn group_version_known(group: &str, version: &str) -> bool {
    table()
        .iter()
        .any(|a| a.group == group && a.version == version)
}

/// The apiVersion a manifest of `kind` should use on a cluster of minor `at`: the most stable
/// version served there, the most recently introduced among equals (so `networking.k8s.io`
/// before `extensions` for Ingress in 1.14–1.18).
pub fn preferred(kind: &str, at: KubeVersion) -> Option<&'static ServedApi> {
    versions_of(kind)
        .filter(|a| a.served_in(at))
        .max_by_key(|a| (a.stability(), a.since.unwrap_or(0)))
}

/// Whether `api_version` of `kind` is served at minor `at`, and if not, why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Serving {
    /// Served.
    Served,
    /// Removed in this minor.
    Removed(KubeVersion),
    /// Introduced in this later minor.
    NotYet(KubeVersion),
    /// Not in the table (custom resources, unknown kinds).
    Unknown,
}

/// Looks `kind` under `api_version` up for a cluster of minor `at`.
pub fn serving(api_version: &str, kind: &str, at: KubeVersion) -> Serving {
    let Some(row) = lookup(api_version, kind) else {
        return Serving::Unknown;
    };
    if row.served_in(at) {
        return Serving::Served;
    }
    match (row.removed(), row.since()) {
        (Some(removed), _) if at >= removed => Serving::Removed(removed),
        (_, Some(since)) => Serving::NotYet(since),
        _ => Serving::Served,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(m: u32) -> KubeVersion {
        KubeVersion::new(m)
    }

    #[test]
    fn removals_follow_the_migration_guide() {
        for (av, kind, removed) in [
            ("extensions/v1beta1", "Deployment", 16),
            ("apps/v1beta1", "StatefulSet", 16),
            ("apps/v1beta2", "DaemonSet", 16),
            ("extensions/v1beta1", "Ingress", 22),
            (
                "apiextensions.k8s.io/v1beta1",
                "CustomResourceDefinition",
                22,
            ),
            (
                "admissionregistration.k8s.io/v1beta1",
                "MutatingWebhookConfiguration",
                22,
            ),
            ("rbac.authorization.k8s.io/v1beta1", "ClusterRole", 22),
            (
                "certificates.k8s.io/v1beta1",
                "CertificateSigningRequest",
                22,
            ),
            ("coordination.k8s.io/v1beta1", "Lease", 22),
            ("scheduling.k8s.io/v1beta1", "PriorityClass", 22),
            ("storage.k8s.io/v1beta1", "CSIDriver", 22),
            ("batch/v1beta1", "CronJob", 25),
            ("discovery.k8s.io/v1beta1", "EndpointSlice", 25),
            ("events.k8s.io/v1beta1", "Event", 25),
            ("policy/v1beta1", "PodDisruptionBudget", 25),
            ("policy/v1beta1", "PodSecurityPolicy", 25),
            ("autoscaling/v2beta1", "HorizontalPodAutoscaler", 25),
            ("autoscaling/v2beta2", "HorizontalPodAutoscaler", 26),
            ("flowcontrol.apiserver.k8s.io/v1beta1", "FlowSchema", 26),
            ("storage.k8s.io/v1beta1", "CSIStorageCapacity", 27),
            ("flowcontrol.apiserver.k8s.io/v1beta2", "FlowSchema", 29),
            (
                "flowcontrol.apiserver.k8s.io/v1beta3",
                "PriorityLevelConfiguration",
                32,
            ),
        ] {
            assert_eq!(
                serving(av, kind, k(removed - 1)),
                Serving::Served,
                "{av} {kind}"
            );
            assert_eq!(
                serving(av, kind, k(removed)),
                Serving::Removed(k(removed)),
                "{av} {kind}"
            );
        }
    }

    #[test]
    fn introductions() {
        for (av, kind, since) in [
            ("apps/v1", "Deployment", 9),
            ("apiextensions.k8s.io/v1", "CustomResourceDefinition", 16),
            ("networking.k8s.io/v1", "Ingress", 19),
            ("policy/v1", "PodDisruptionBudget", 21),
            ("batch/v1", "CronJob", 21),
            ("discovery.k8s.io/v1", "EndpointSlice", 21),
            ("autoscaling/v2", "HorizontalPodAutoscaler", 23),
            ("flowcontrol.apiserver.k8s.io/v1beta2", "FlowSchema", 23),
            ("flowcontrol.apiserver.k8s.io/v1beta3", "FlowSchema", 26),
            ("flowcontrol.apiserver.k8s.io/v1", "FlowSchema", 29),
        ] {
            assert_eq!(
                serving(av, kind, k(since - 1)),
                Serving::NotYet(k(since)),
                "{av} {kind}"
            );
            assert_eq!(serving(av, kind, k(since)), Serving::Served, "{av} {kind}");
        }
        assert_eq!(serving("v1", "Pod", k(9)), Serving::Served);
        assert_eq!(serving("example.com/v1", "Widget", k(20)), Serving::Unknown);
        // Minors outside the table are answered as its ends.
        assert_eq!(serving("v1", "Pod", k(5)), Serving::Served);
        assert_eq!(
            serving("extensions/v1beta1", "Ingress", k(40)),
            Serving::Removed(k(22))
        );
    }

    #[test]
    fn a_kind_once_served_stays_served_except_pod_security_policy() {
        for row in table() {
            let served: Vec<bool> = KubeVersion::described()
                .map(|at| preferred(row.kind, at).is_some())
                .collect();
            let first = served.iter().position(|s| *s).expect(row.kind);
            let gaps = served[first..].iter().filter(|s| !**s).count();
            if row.kind == "PodSecurityPolicy" {
                assert_eq!(gaps, (33 - 25) + 1);
            } else {
                assert_eq!(gaps, 0, "{} disappears", row.kind);
            }
        }
    }

    #[test]
    fn replacements_are_served_when_the_old_version_goes() {
        for row in table() {
            if let (Some(removed), Some(replacement)) = (row.removed(), row.replacement) {
                let successor = lookup(replacement, row.kind).unwrap_or_else(|| {
                    panic!("{} {} -> {replacement}", row.api_version(), row.kind)
                });
                assert!(
                    successor.served_in(removed),
                    "{} {}",
                    row.api_version(),
                    row.kind
                );
            }
            if row.removed().is_some() && row.replacement.is_none() {
                assert_eq!(row.kind, "PodSecurityPolicy");
            }
        }
    }

    #[test]
    fn rows_are_unique_and_consistent_per_kind() {
        let t = table();
        for (i, a) in t.iter().enumerate() {
            for b in &t[i + 1..] {
                assert!(
                    !(a.group == b.group && a.version == b.version && a.kind == b.kind),
                    "duplicate {} {}",
                    a.api_version(),
                    a.kind
                );
                if a.kind == b.kind {
                    assert_eq!(a.plural, b.plural, "{}", a.kind);
                    assert_eq!(a.namespaced, b.namespaced, "{}", a.kind);
                }
            }
        }
    }

    #[test]
    fn preferred_versions() {
        let p = |kind, m| preferred(kind, k(m)).map(ServedApi::api_version);
        assert_eq!(p("Deployment", 13).as_deref(), Some("apps/v1"));
        assert_eq!(p("Ingress", 13).as_deref(), Some("extensions/v1beta1"));
        assert_eq!(
            p("Ingress", 15).as_deref(),
            Some("networking.k8s.io/v1beta1")
        );
        assert_eq!(p("Ingress", 19).as_deref(), Some("networking.k8s.io/v1"));
        assert_eq!(
            p("HorizontalPodAutoscaler", 20).as_deref(),
            Some("autoscaling/v1")
        );
        assert_eq!(p("CronJob", 20).as_deref(), Some("batch/v1beta1"));
        assert_eq!(
            p("FlowSchema", 27).as_deref(),
            Some("flowcontrol.apiserver.k8s.io/v1beta3")
        );
        assert_eq!(p("PodSecurityPolicy", 25), None);
        assert!(version_rank("v2beta2") > version_rank("v2beta1"));
        assert!(version_rank("v1") > version_rank("v2beta2"));
        assert!(version_rank("v1beta1") > version_rank("v1alpha3"));
    }

    #[test]
    fn group_versions() {
        assert!(group_version_served("extensions", "v1beta1", k(21)));
        assert!(!group_version_served("extensions", "v1beta1", k(22)));
        assert!(group_version_served("", "v1", k(22)));
        assert!(!group_version_served("apps", "v1beta2", k(16)));
        assert!(group_version_known("apps", "v1beta2"));
        assert!(!group_version_known("networking.istio.io", "v1alpha3"));
    }
}
