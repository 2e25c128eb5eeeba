//! A simulated Google Cloud that the unmodified `gcloud` drives: Kubernetes Engine, Compute
//! Engine, Cloud Resource Manager and Service Usage, as REST+JSON on 127.0.0.1 with Google's
//! error format and operations gcloud polls.
//!
//! A GKE cluster it creates is a simulated Kubernetes cluster from a [`ClusterHost`] (the
//! sandbox), which accepts the cloud's access token, so the kubeconfig entry `gcloud container
//! clusters get-credentials` writes works with kubectl and kube-rs through
//! `gke-gcloud-auth-plugin`. Its state lives in one folder (`CLOUD_DIR`), rewritten atomically on
//! every change, with a filesystem stand-in per VM for the ssh/scp doubles. See
//! `docs/sandbox.md` for the endpoints served and the rules modelled.

mod batch;
mod catalog;
mod compute;
mod container;
mod env;
mod error;
mod filter;
mod host;
mod projects;
mod rules;
mod server;
mod service;
mod state;
mod util;
pub mod warm_gcloud;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use crate::env::{ACCOUNT, export_line};
pub use crate::host::{BoxFuture, ClusterHost, Endpoint};
pub use crate::state::StateError;

/// The variable that carries `CLOUD_DIR` to tools (the ssh/scp doubles read `instances.json`).
pub const GCP_DIR_VAR: &str = "MESHBOOK_GCP_DIR";

/// How to start the simulated cloud.
#[derive(Debug, Clone)]
pub struct CloudConfig {
    /// `CLOUD_DIR`: state, gcloud's configuration and the instances' folders.
    pub dir: PathBuf,
    /// The project gcloud's configuration starts with.
    pub project: String,
    /// A Kubernetes minor the run is pinned to (a rehearsal's `--kube-version`): a create asking
    /// for another is refused instead of one silently winning.
    pub pinned_version: Option<String>,
    /// The access token to accept, given anew at every start and never written to `dir` (a
    /// rehearsal derives it from the run's key, so its folder holds no credential); `None`
    /// mints one and keeps it in the state, for a cloud restarted by `sandbox up --gcp`.
    pub token: Option<String>,
}

/// Errors starting the simulated cloud.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The state folder could not be read or written.
    #[error(transparent)]
    State(#[from] StateError),
    /// The listener could not be opened.
    #[error("failed to listen on 127.0.0.1 for the simulated cloud")]
    Bind(#[source] std::io::Error),
    /// The project is not a valid project ID.
    #[error(
        "invalid project ID {0:?}: use 6 to 30 lowercase letters, digits and '-', starting with a letter"
    )]
    Project(String),
    /// A cluster of the saved state could not be started again.
    #[error("failed to restore a simulated GKE cluster: {0}")]
    Restore(String),
}

/// A running simulated cloud.
pub struct Cloud {
    svc: Arc<service::Service>,
    project: String,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl std::fmt::Debug for Cloud {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cloud")
            .field("origin", &self.svc.origin)
            .field("dir", &self.svc.dir)
            .finish_non_exhaustive()
    }
}

impl Cloud {
    /// Starts the cloud from `config.dir` (a fresh one, or the state saved there), restoring
    /// the simulated clusters of its running GKE clusters through `host`.
    pub async fn start(config: CloudConfig, host: Arc<dyn ClusterHost>) -> Result<Cloud, Error> {
        if !util::valid_project_id(&config.project) {
            return Err(Error::Project(config.project));
        }
        util::create_private_dir(&config.dir).map_err(|source| StateError::Io {
            path: config.dir.clone(),
            source,
        })?;
        let mut state = state::State::load(&config.dir)?;
        match &config.token {
            Some(token) => {
                state.token = token.clone();
                state.token_given = true;
            }
            None if state.token.is_empty() => {
                state.token = format!("ya29.sandbox-{}", util::random_hex(40));
            }
            None => {}
        }
        let listener = bind(state.port).await?;
        let port = listener.local_addr().map_err(Error::Bind)?.port();
        state.port = port;
        service::project(&mut state, &config.project).map_err(|e| Error::Project(e.message))?;
        state.save(&config.dir)?;
        env::write_config(&config.dir.join("gcloud"), &config.project)?;
        let svc = Arc::new(service::Service::new(
            state,
            config.dir.clone(),
            format!("http://127.0.0.1:{port}"),
            host,
            config.pinned_version.clone(),
            ACCOUNT.to_string(),
        ));
        container::restore(&svc).await.map_err(Error::Restore)?;
        let (shutdown, rx) = tokio::sync::watch::channel(false);
        let task = server::spawn(Arc::clone(&svc), listener, rx);
        Ok(Cloud {
            svc,
            project: config.project,
            shutdown,
            task,
        })
    }

    /// `http://127.0.0.1:PORT`.
    pub fn origin(&self) -> &str {
        &self.svc.origin
    }

    /// `CLOUD_DIR`.
    pub fn dir(&self) -> &Path {
        &self.svc.dir
    }

    /// The project gcloud's configuration started with.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// gcloud's configuration folder (`CLOUDSDK_CONFIG`).
    pub fn config_dir(&self) -> PathBuf {
        self.svc.dir.join("gcloud")
    }

    /// The access token gcloud must send (a credential: keep it out of logs).
    pub fn token(&self) -> String {
        self.svc.lock().token.clone()
    }

    /// Everything gcloud and gke-gcloud-auth-plugin need, plus `MESHBOOK_GCP_DIR`. The project
    /// is in gcloud's configuration, not here, so `gcloud config set project` works as usual.
    pub fn environment(&self) -> Vec<(String, String)> {
        let mut vars = env::variables(self.origin(), &self.token(), &self.config_dir());
        vars.push((GCP_DIR_VAR.to_string(), self.dir().display().to_string()));
        vars
    }

    /// Stops serving; the state is already on disk.
    pub async fn shutdown(self) {
        self.shutdown.send_replace(true);
        let _ = self.task.await;
    }
}

async fn bind(port: u16) -> Result<TcpListener, Error> {
    if port != 0
        && let Ok(l) = TcpListener::bind(("127.0.0.1", port)).await
    {
        return Ok(l);
    }
    TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(Error::Bind)
}
