//! Kube-native steps through kube-rs: each step kind is an async function taking the cluster
//! clients, the step's rendered spec and its declared outputs, and returning the outputs it
//! produced or a typed error naming the context and the objects involved.
//!
//! Objects are handled as JSON (`serde_json::Value`) so that any kind, custom resources
//! included, goes through one path, and so that kubectl JSONPath and kstatus readiness from
//! `meshbook-inspect` apply directly.

mod applier;
mod apply;
mod client;
mod delete;
mod dispatch;
mod error;
mod exec;
mod get;
mod kubeconfig;
mod meta;
mod objects;
mod patch;
mod request;
mod resolve;
mod secret;
mod wait;
mod watch;

use std::path::PathBuf;
use std::sync::Arc;

use meshbook_engine::run::executor::Waiting;

pub use apply::{ManifestPathError, manifest_files};
pub use client::Clients;
pub use dispatch::{KubeExecutor, server_dry_run};

/// The values a step produced, by output name.
pub(crate) type Outputs = indexmap::IndexMap<String, String>;

/// What every kube step gets besides its spec: where relative paths start and where progress goes.
#[derive(Debug, Clone)]
pub(crate) struct StepEnv {
    /// The run's working directory (relative `file`/`files` paths start here).
    pub(crate) workdir: PathBuf,
    /// Progress lines.
    pub(crate) progress: Progress,
    /// Send writes with `dryRun=All`: the server validates them and changes nothing.
    pub(crate) dry_run: bool,
    /// The step's `wait.until`: a read watches until its values meet it.
    pub(crate) wait: Option<Waiting>,
}

/// Receives progress lines (objects applied, statuses observed while waiting). Lines never
/// hold secret values.
#[derive(Clone)]
pub(crate) struct Progress(Option<Arc<LineSink>>);

/// Where progress lines go.
type LineSink = dyn Fn(&str) + Send + Sync;

impl Progress {
    /// Progress that goes nowhere.
    pub(crate) fn none() -> Progress {
        Progress(None)
    }

    /// Progress handed to `f`, one line at a time.
    pub(crate) fn to(f: impl Fn(&str) + Send + Sync + 'static) -> Progress {
        Progress(Some(Arc::new(f)))
    }

    /// Reports one line.
    pub(crate) fn line(&self, text: &str) {
        if let Some(f) = &self.0 {
            f(text);
        }
    }
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}
