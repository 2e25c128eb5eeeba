//! Kubernetes Engine's own rules for a cluster create: which versions exist, what a version
//! forbids, and what a name may be. Each error text is the service's, as gcloud shows it.

use serde_json::Value;

use crate::catalog::{DEFAULT_GKE_VERSION, GKE_VERSIONS};
use crate::error::{ApiError, ApiResult};

/// The minor of a version (`1.14.10-gke.50` → 14, `1.14` → 14).
pub fn minor(version: &str) -> Option<u32> {
    let mut parts = version.split(['.', '-']);
    (parts.next()? == "1").then_some(())?;
    parts.next()?.parse().ok()
}

/// The version a create gets for `--cluster-version` (GKE's `initialClusterVersion`): the
/// default when absent, `latest`, a minor (`1.14`, its newest version), a patch (`1.14.10`) or a
/// full version the server config lists.
pub fn resolve_version(requested: Option<&str>) -> ApiResult<&'static str> {
    let requested = requested.map(str::trim).unwrap_or_default();
    let found = match requested {
        "" | "-" => Some(DEFAULT_GKE_VERSION),
        "latest" => GKE_VERSIONS.first().copied(),
        v => GKE_VERSIONS.iter().copied().find(|known| {
            *known == v
                || known
                    .strip_prefix(v)
                    .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('-'))
        }),
    };
    found
        .ok_or_else(|| ApiError::invalid(format!("Master version \"{requested}\" is unsupported.")))
}

/// The name rule of clusters, with the service's message.
pub fn check_cluster_name(name: &str) -> ApiResult<()> {
    if crate::util::valid_name(name, 40) {
        return Ok(());
    }
    Err(ApiError::invalid(format!(
        "Invalid value for field \"cluster.name\": \"{name}\". Must be a match of regex \
         '(?:[a-z](?:[-a-z0-9]{{0,38}}[a-z0-9])?)' (only lowercase alphanumerics and '-' allowed, \
         must start with a letter and end with an alphanumeric, and must be no longer than 40 \
         characters)."
    )))
}

const BASIC_AUTH: &str = "Basic authentication was removed for GKE cluster versions >= 1.19. The \
    cluster cannot be created with basic authentication enabled. Instructions for choosing an \
    alternative authentication method can be found at: \
    https://cloud.google.com/kubernetes-engine/docs/how-to/api-server-authentication.";

const DOCKER_1_23: &str = "Creation of node pools using node images based on Docker container \
    runtimes is not supported in GKE v1.23. This is to prepare for the removal of Dockershim in \
    Kubernetes v1.24. We recommend that you migrate to image types based on Containerd (examples). \
    For more information, contact Cloud Support";

const DOCKER_1_24: &str = "Creation of node pools using node images based on Docker container \
    runtimes is not supported in GKE v1.24+ clusters as Dockershim has been removed in Kubernetes \
    v1.24.";

/// Whether a node image type runs Docker (GKE's `COS` and `UBUNTU`, not their `_CONTAINERD`).
fn docker_image(image_type: &str) -> bool {
    matches!(image_type.to_ascii_uppercase().as_str(), "COS" | "UBUNTU")
}

/// The rules that depend on the version a cluster gets, checked in the order GKE reports them.
pub fn check_version_rules(cluster: &Value, version: &str) -> ApiResult<()> {
    let minor = minor(version).unwrap_or(u32::MAX);
    let basic_auth = cluster["masterAuth"]["username"]
        .as_str()
        .is_some_and(|u| !u.is_empty());
    if basic_auth && minor >= 19 {
        return Err(ApiError::invalid(BASIC_AUTH));
    }
    if cluster["monitoringService"] == "monitoring.googleapis.com" && minor >= 15 {
        return Err(ApiError::invalid(
            "Legacy monitoring is not supported in clusters running Kubernetes 1.15 or above.",
        ));
    }
    if cluster["loggingService"] == "logging.googleapis.com" && minor >= 15 {
        return Err(ApiError::invalid(
            "Legacy logging is not supported in clusters running Kubernetes 1.15 or above.",
        ));
    }
    let pools = cluster["nodePools"].as_array().cloned().unwrap_or_default();
    let docker = pools
        .iter()
        .map(|p| &p["config"]["imageType"])
        .chain(std::iter::once(&cluster["nodeConfig"]["imageType"]))
        .filter_map(Value::as_str)
        .any(docker_image);
    if docker && minor >= 24 {
        return Err(ApiError::invalid(DOCKER_1_24));
    }
    if docker && minor == 23 {
        return Err(ApiError::invalid(DOCKER_1_23));
    }
    Ok(())
}

/// A rehearsal pinned to one Kubernetes minor refuses a create that asks for another, rather
/// than silently overriding either.
pub fn check_pinned(
    pinned: Option<&str>,
    requested: Option<&str>,
    resolved: &str,
) -> ApiResult<()> {
    let Some(pinned) = pinned else { return Ok(()) };
    if minor(pinned) == minor(resolved) {
        return Ok(());
    }
    Err(ApiError::invalid(format!(
        "Master version \"{}\" conflicts with the rehearsal's --kube-version {pinned}: the simulated \
         cloud does not choose between them. Ask gcloud for --cluster-version {pinned}, or rehearse \
         with --kube-version 1.{}.",
        requested.filter(|r| !r.is_empty()).unwrap_or(resolved),
        minor(resolved).unwrap_or_default()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn versions_resolve_like_gke() {
        assert_eq!(resolve_version(None).unwrap(), DEFAULT_GKE_VERSION);
        assert_eq!(resolve_version(Some("latest")).unwrap(), GKE_VERSIONS[0]);
        assert_eq!(resolve_version(Some("1.14")).unwrap(), "1.14.10-gke.50");
        assert_eq!(resolve_version(Some("1.14.10")).unwrap(), "1.14.10-gke.50");
        assert_eq!(resolve_version(Some("1.9.6-gke.1")).unwrap(), "1.9.6-gke.1");
        assert_eq!(resolve_version(Some("1.9")).unwrap(), "1.9.7-gke.11");
        // A prefix that is not a whole component does not match 1.14.
        assert!(resolve_version(Some("1.1")).is_err());
        let e = resolve_version(Some("1.8.1")).unwrap_err();
        assert_eq!(e.message, "Master version \"1.8.1\" is unsupported.");
        assert_eq!(e.code, 400);
    }

    #[test]
    fn basic_auth_is_refused_from_1_19() {
        let c = json!({"masterAuth": {"username": "admin"}});
        assert!(check_version_rules(&c, "1.18.20-gke.6101").is_ok());
        let e = check_version_rules(&c, "1.19.16-gke.15700").unwrap_err();
        assert!(
            e.message.starts_with("Basic authentication was removed"),
            "{e:?}"
        );
        let no_user = json!({"masterAuth": {"username": ""}});
        assert!(check_version_rules(&no_user, "1.32.6-gke.1060000").is_ok());
    }

    #[test]
    fn legacy_stackdriver_and_docker_images_follow_the_version() {
        let legacy = json!({"loggingService": "logging.googleapis.com",
                            "monitoringService": "monitoring.googleapis.com"});
        assert!(check_version_rules(&legacy, "1.14.10-gke.50").is_ok());
        let e = check_version_rules(&legacy, "1.15.12-gke.6002").unwrap_err();
        assert!(e.message.starts_with("Legacy monitoring"), "{e:?}");
        let cos = json!({"nodePools": [{"config": {"imageType": "COS"}}]});
        assert!(check_version_rules(&cos, "1.22.17-gke.14100").is_ok());
        assert_eq!(
            check_version_rules(&cos, "1.23.17-gke.10000")
                .unwrap_err()
                .message,
            DOCKER_1_23
        );
        assert_eq!(
            check_version_rules(&cos, "1.30.14-gke.1079000")
                .unwrap_err()
                .message,
            DOCKER_1_24
        );
        let containerd = json!({"nodePools": [{"config": {"imageType": "COS_CONTAINERD"}}]});
        assert!(check_version_rules(&containerd, "1.30.14-gke.1079000").is_ok());
    }

    #[test]
    fn names_are_checked_with_the_service_text() {
        assert!(check_cluster_name("cluster-1").is_ok());
        let e = check_cluster_name("my_cluster").unwrap_err();
        assert!(e.message.contains("\"my_cluster\""), "{e:?}");
        assert!(e.message.contains("no longer than 40 characters"));
    }

    #[test]
    fn a_pinned_minor_and_a_different_request_conflict() {
        assert!(check_pinned(None, Some("1.14"), "1.14.10-gke.50").is_ok());
        assert!(check_pinned(Some("1.14"), Some("1.14"), "1.14.10-gke.50").is_ok());
        let e = check_pinned(Some("1.32"), Some("1.14"), "1.14.10-gke.50").unwrap_err();
        assert!(e.message.contains("--kube-version 1.32"), "{e:?}");
        assert!(e.message.contains("--kube-version 1.14"), "{e:?}");
    }
}
