//! Where a created GKE cluster's Kubernetes API comes from: the sandbox's simulated clusters.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use meshbook_sandbox::{ClusterOptions, Sandbox};

/// A boxed future, for the object-safe trait below.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// How to reach a started cluster.
#[derive(Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `127.0.0.1:PORT`: what GKE reports as the cluster's `endpoint` (gcloud adds `https://`).
    pub address: String,
    /// PEM of the CA that signed the API server's certificate.
    pub ca_pem: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}

/// Runs the Kubernetes clusters behind GKE clusters.
pub trait ClusterHost: Send + Sync {
    /// Names of the clusters already running (the simulated cloud picks names besides them).
    fn names(&self) -> Vec<String>;
    /// Starts (or, after a restart, restores) cluster `name` at Kubernetes `version`, accepting
    /// `token` as a bearer token.
    fn start<'a>(
        &'a self,
        name: &'a str,
        version: &'a str,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Endpoint, String>>;
    /// Stops serving cluster `name` to the cloud's clients (a deleted cluster).
    fn stop(&self, name: &str);
}

impl ClusterHost for Sandbox {
    fn names(&self) -> Vec<String> {
        self.clusters().into_iter().map(|c| c.name).collect()
    }

    fn start<'a>(
        &'a self,
        name: &'a str,
        version: &'a str,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Endpoint, String>> {
        Box::pin(async move {
            let info = match self.cluster(name) {
                Some(info) => info,
                None => {
                    let kube_version = Some(simulated_minor(version));
                    let options = ClusterOptions {
                        extra_tokens: vec![token.to_string()],
                        kube_version,
                    };
                    self.add_cluster_with(name, options)
                        .await
                        .map_err(|e| e.to_string())?
                }
            };
            self.set_extra_token(name, Some(token));
            Ok(Endpoint {
                address: info
                    .server
                    .trim_start_matches("https://")
                    .trim_end_matches('/')
                    .to_string(),
                ca_pem: self.ca_pem().to_string(),
            })
        })
    }

    fn stop(&self, name: &str) {
        // The sandbox cannot remove a cluster yet: withdrawing the cloud's token makes the
        // deleted cluster refuse every client that reached it through gcloud.
        self.set_extra_token(name, None);
    }
}

/// The simulated minor for a GKE version (`1.27.3-gke.100` simulates 1.27): the nearest minor
/// the sandbox has, clamped to its oldest and newest; the newest when the text is no version. Older servers
/// have no server-side apply, which kube steps and doubles detect (their 415) and do without.
pub fn simulated_minor(version: &str) -> meshbook_sandbox::KubeVersion {
    let oldest = meshbook_sandbox::supported_versions()
        .next()
        .unwrap_or_else(meshbook_sandbox::default_version);
    let newest = meshbook_sandbox::default_version();
    match version.parse::<meshbook_sandbox::KubeVersion>() {
        Ok(v) => v.clamp(oldest, newest),
        Err(_) => newest,
    }
}

impl<T: ClusterHost + ?Sized> ClusterHost for Arc<T> {
    fn names(&self) -> Vec<String> {
        (**self).names()
    }
    fn start<'a>(
        &'a self,
        name: &'a str,
        version: &'a str,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Endpoint, String>> {
        (**self).start(name, version, token)
    }
    fn stop(&self, name: &str) {
        (**self).stop(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshbook_sandbox::KubeVersion;

    #[test]
    fn gke_versions_map_to_their_minor_within_what_the_sandbox_simulates() {
        assert_eq!(simulated_minor("1.9.6-gke.1"), KubeVersion::new(9));
        assert_eq!(simulated_minor("1.14.10-gke.50"), KubeVersion::new(14));
        assert_eq!(simulated_minor("1.8.1-gke.0"), KubeVersion::new(9));
        assert_eq!(simulated_minor("1.99.0"), KubeVersion::new(33));
    }
}
