//! Clusters of a chosen Kubernetes minor: what `/version` reports, which group/versions are
//! served (the table in `meshbook_inspect::served_apis`), how objects convert between the versions
//! of a kind, and the behaviours that changed between minors.
//!
//! The rest of the sandbox consults this module at a few points only: the resource registry
//! ([`registry::served_types`]), the storage key of a type ([`registry::storage_group`]), the
//! request gate in front of routing ([`gate::answer`]), the conversion of request and response
//! bodies ([`convert`]), and the controllers' version checks below.

pub mod aggregated;
pub mod convert;
pub mod gate;
pub mod registry;

use serde_json::{Value, json};

pub use meshbook_inspect::version::KubeVersion;

/// The patch release each supported minor reports, with the Go version it was built with and
/// its release date (the last patch release of each line at the time of writing; clients read
/// only `major`, `minor` and `gitVersion`).
const RELEASES: &[(u32, u32, &str, &str)] = &[
    (9, 11, "go1.9.3", "2018-10-01"),
    (10, 13, "go1.9.3", "2019-03-25"),
    (11, 10, "go1.10.8", "2019-05-08"),
    (12, 10, "go1.10.8", "2019-07-08"),
    (13, 12, "go1.11.13", "2019-10-15"),
    (14, 10, "go1.12.12", "2019-12-11"),
    (15, 12, "go1.12.17", "2020-05-06"),
    (16, 15, "go1.13.15", "2020-09-02"),
    (17, 17, "go1.13.15", "2021-01-13"),
    (18, 20, "go1.13.15", "2021-06-16"),
    (19, 16, "go1.15.15", "2021-10-27"),
    (20, 15, "go1.15.15", "2022-01-19"),
    (21, 14, "go1.16.15", "2022-06-15"),
    (22, 17, "go1.16.15", "2022-12-08"),
    (23, 17, "go1.19.6", "2023-02-22"),
    (24, 17, "go1.20.7", "2023-08-23"),
    (25, 16, "go1.20.10", "2023-11-14"),
    (26, 15, "go1.21.8", "2024-03-14"),
    (27, 16, "go1.22.5", "2024-07-17"),
    (28, 15, "go1.22.8", "2024-10-22"),
    (29, 15, "go1.23.6", "2025-02-12"),
    (30, 14, "go1.23.10", "2025-06-17"),
    (31, 10, "go1.23.10", "2025-06-17"),
    (32, 6, "go1.23.10", "2025-06-17"),
    (33, 2, "go1.24.4", "2025-06-17"),
];

/// The minors a simulated cluster can have, oldest first.
pub fn supported() -> impl DoubleEndedIterator<Item = KubeVersion> {
    RELEASES.iter().map(|r| KubeVersion::new(r.0))
}

/// Whether a simulated cluster can have this minor.
pub fn is_supported(v: KubeVersion) -> bool {
    RELEASES.iter().any(|r| r.0 == v.minor())
}

/// The newest supported minor, which clusters have unless told otherwise.
pub fn newest() -> KubeVersion {
    supported().next_back().unwrap_or(KubeVersion::NEWEST)
}

fn release(v: KubeVersion) -> (u32, &'static str, &'static str) {
    RELEASES
        .iter()
        .find(|r| r.0 == v.minor())
        .map(|r| (r.1, r.2, r.3))
        .unwrap_or((0, "go1.24.4", "2025-06-17"))
}

/// `v1.13.12`.
pub fn git_version(v: KubeVersion) -> String {
    format!("v1.{}.{}", v.minor(), release(v).0)
}

/// The body of `GET /version`.
pub fn version_info(v: KubeVersion) -> Value {
    let (_, go, date) = release(v);
    json!({"major": "1", "minor": v.minor().to_string(), "gitVersion": git_version(v),
           "gitCommit": "0000000000000000000000000000000000000000", "gitTreeState": "clean",
           "buildDate": format!("{date}T00:00:00Z"), "goVersion": go, "compiler": "gc",
           "platform": "linux/amd64"})
}

/// `/openapi/v3` is served from 1.24 (beta and on by default; alpha behind a gate in 1.23).
pub fn serves_openapi_v3(v: KubeVersion) -> bool {
    v.minor() >= 24
}

/// The `apidiscovery.k8s.io` versions of aggregated discovery served, most preferred first:
/// none before 1.27 (alpha and off by default in 1.26), `v2beta1` from 1.27, `v2` from 1.30.
pub fn aggregated_discovery(v: KubeVersion) -> &'static [&'static str] {
    match v.minor() {
        0..=26 => &[],
        27..=29 => &["v2beta1"],
        _ => &["v2", "v2beta1"],
    }
}

/// The token controller creates a token Secret for every ServiceAccount only before 1.24
/// (LegacyServiceAccountTokenNoAutoGeneration); TokenRequest works in every minor.
pub fn auto_creates_token_secrets(v: KubeVersion) -> bool {
    v.minor() < 24
}

/// Every namespace has the `kube-root-ca.crt` ConfigMap from 1.20 (RootCAConfigMap on by default).
pub fn publishes_root_ca(v: KubeVersion) -> bool {
    v.minor() >= 20
}

/// Server-side apply (`application/apply-patch+yaml`) is served from 1.16 (beta, on by default);
/// before, the patch handler knows only the three other patch types.
pub fn check_server_side_apply(v: KubeVersion) -> Result<(), crate::status::ApiError> {
    if v.minor() >= 16 {
        return Ok(());
    }
    Err(crate::status::ApiError::unsupported_media(
        "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/strategic-merge-patch+json",
    ))
}

/// Namespaces carry the `kubernetes.io/metadata.name` label from 1.21 (NamespaceDefaultLabelName).
pub fn labels_namespace_names(v: KubeVersion) -> bool {
    v.minor() >= 21
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn supported_minors_are_the_table_s() {
        let s: Vec<u32> = supported().map(KubeVersion::minor).collect();
        let t: Vec<u32> = KubeVersion::described().map(KubeVersion::minor).collect();
        assert_eq!(s, t);
        assert_eq!(newest(), KubeVersion::new(33));
        assert!(!is_supported(KubeVersion::new(8)));
    }

    #[test]
    fn version_info_reports_the_minor() {
        let info = version_info(KubeVersion::new(13));
        assert_eq!(info["major"], "1");
        assert_eq!(info["minor"], "13");
        assert_eq!(info["gitVersion"], "v1.13.12");
        assert_eq!(info["platform"], "linux/amd64");
        assert!(info["buildDate"].as_str().unwrap().starts_with("2019-"));
    }
}
