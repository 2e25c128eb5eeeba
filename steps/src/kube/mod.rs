//! Kube-native steps through kube-rs: each step kind is an async function taking the cluster
//! clients, the step's rendered spec and its declared outputs, and returning the outputs it
//! produced or a typed error naming the context and the objects involved.
//!
//! Objects are handled as JSON (`serde_json::Value`) so that any kind, custom resources
//! included, goes through one path, and so that kubectl JSONPath and kstatus readiness from
//! `meshbook-inspect` apply directly.

pub mod apply;
pub mod client;
pub mod delete;
pub mod exec;
pub mod executor;
pub mod get;
pub mod kubeconfig;
pub mod meta;
pub mod objects;
pub mod patch;
pub mod request;
pub mod resolve;
pub mod secret;
pub mod wait;

use std::path::PathBuf;
use std::sync::Arc;

pub use client::{Clients, Cluster};
pub use executor::KubeExecutor;

/// The values a step produced, by output name.
pub type Outputs = indexmap::IndexMap<String, String>;

/// What every kube step gets besides its spec: where relative paths start and where progress goes.
#[derive(Debug, Clone)]
pub struct StepEnv {
    /// The run's working directory (relative `file`/`files` paths start here).
    pub workdir: PathBuf,
    /// Progress lines.
    pub progress: Progress,
    /// Send writes with `dryRun=All`: the server validates them and changes nothing.
    pub dry_run: bool,
}

impl StepEnv {
    /// An environment rooted at `workdir`, reporting nowhere, writing for real.
    pub fn new(workdir: impl Into<PathBuf>) -> StepEnv {
        StepEnv {
            workdir: workdir.into(),
            progress: Progress::none(),
            dry_run: false,
        }
    }
}

/// Receives progress lines (objects applied, statuses observed while waiting). Lines never
/// hold secret values.
#[derive(Clone)]
pub struct Progress(Option<Arc<LineSink>>);

/// Where progress lines go.
type LineSink = dyn Fn(&str) + Send + Sync;

impl Progress {
    /// Progress that goes nowhere.
    pub fn none() -> Progress {
        Progress(None)
    }

    /// Progress handed to `f`, one line at a time.
    pub fn to(f: impl Fn(&str) + Send + Sync + 'static) -> Progress {
        Progress(Some(Arc::new(f)))
    }

    /// Reports one line.
    pub fn line(&self, text: &str) {
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

/// An error and its causes on one line, `outer: inner: innermost`.
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = e.source();
    }
    text
}
