//! Flags that several commands share.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

use crate::failure::Failure;
use crate::location::Location;
use crate::report::LogFormat;
use crate::store::Store;

/// Where run state lives.
#[derive(Debug, Clone, Args)]
pub(crate) struct StateArgs {
    /// The state directory: runs, journals and logs, on this machine [env: MESHBOOK_STATE_DIR]
    /// [default: .meshbook].
    #[arg(long, value_name = "DIR", conflicts_with = "state")]
    pub(crate) state_dir: Option<PathBuf>,
    /// Where runs are kept: a directory, or kube://CONTEXT/NAMESPACE to keep them on a cluster,
    /// where any machine with the kubeconfig can list, show and resume them (docs/run-state.md)
    /// [env: MESHBOOK_STATE]. A flag wins over the environment, and MESHBOOK_STATE over
    /// MESHBOOK_STATE_DIR.
    #[arg(long, value_name = "LOCATION")]
    pub(crate) state: Option<Location>,
    /// The kubeconfig: its contexts are the ones the runbook names, and a kube:// state's
    /// (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub(crate) kubeconfig: Option<PathBuf>,
}

impl StateArgs {
    /// Where these arguments keep runs: `--state`, `--state-dir`, `$MESHBOOK_STATE`,
    /// `$MESHBOOK_STATE_DIR`, `.meshbook`, the first that is given.
    pub(crate) fn location(&self) -> Result<Location, Failure> {
        if let Some(location) = &self.state {
            return Ok(location.clone());
        }
        if let Some(dir) = &self.state_dir {
            return Ok(Location::Dir(dir.clone()));
        }
        let var = |name| std::env::var(name).ok().filter(|v| !v.is_empty());
        if let Some(text) = var("MESHBOOK_STATE") {
            return text
                .parse()
                .map_err(|e| Failure::Invalid(format!("MESHBOOK_STATE: {e}")));
        }
        Ok(Location::Dir(
            var("MESHBOOK_STATE_DIR").map_or_else(|| PathBuf::from(".meshbook"), PathBuf::from),
        ))
    }

    /// The store these arguments name, reached.
    pub(crate) fn store(&self) -> Result<Store, Failure> {
        Store::at(&self.location()?, self.kubeconfig.as_deref())
    }
}

/// Where a run is kept and how it is carried out: what `run`, `resume` and `cleanup` share.
#[derive(Debug, Clone, Args)]
pub(crate) struct DriveArgs {
    /// Where run state lives.
    #[command(flatten)]
    pub(crate) state: StateArgs,
    /// How steps are carried out and reported.
    #[command(flatten)]
    pub(crate) exec: ExecArgs,
}

/// How steps are carried out and reported.
#[derive(Debug, Clone, Args)]
pub(crate) struct ExecArgs {
    /// Most steps running at once.
    #[arg(long, short = 'j', default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) concurrency: u16,
    /// Progress output: a live view on a terminal (auto), plain lines, or JSON lines.
    #[arg(long, value_enum, default_value_t)]
    pub(crate) log_format: LogFormat,
    /// How long stopped steps get to exit before they are killed.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub(crate) grace: Duration,
}

/// A duration as runbooks write them (`500ms`, `10s`, `5m`).
pub(crate) fn parse_duration(text: &str) -> Result<Duration, String> {
    meshbook_engine::model::Duration::parse(text)
        .map(|d| d.get())
        .map_err(|e| e.to_string())
}

/// Output formats for commands that speak to people or machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum OutputFormat {
    /// Text for people.
    #[default]
    Text,
    /// JSON for machines.
    Json,
}

/// Graph formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum GraphFormatArg {
    /// Graphviz dot.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

/// `plan --server-dry-run`, `plan --kube-version`, and where they find clusters and files.
#[derive(Debug, Clone, Args)]
pub(crate) struct ServerDryRun {
    /// Ask each cluster to validate the writing kube steps whose inputs are known; nothing changes.
    #[arg(long)]
    pub(crate) server_dry_run: bool,
    /// The kubeconfig for `--server-dry-run` (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "FILE", requires = "server_dry_run")]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// Where relative manifest paths start (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub(crate) workdir: Option<PathBuf>,
    /// Check every manifest known before the run for apiVersions Kubernetes 1.MINOR does not
    /// serve: step, file:line of the object, and the apiVersion to use instead.
    #[arg(long, value_name = "1.MINOR", value_parser = parse_kube_version)]
    pub(crate) kube_version: Option<meshbook_sandbox::KubeVersion>,
}

/// A Kubernetes minor the sandbox simulates (`1.13`), for `--kube-version`.
pub(crate) fn parse_kube_version(text: &str) -> Result<meshbook_sandbox::KubeVersion, String> {
    let v = meshbook_sandbox::KubeVersion::parse(text).map_err(|e| e.to_string())?;
    if meshbook_sandbox::supported_versions().any(|s| s == v) {
        Ok(v)
    } else {
        Err(format!(
            "Kubernetes {v} is not simulated: choose 1.9 to {}",
            meshbook_sandbox::default_version()
        ))
    }
}
