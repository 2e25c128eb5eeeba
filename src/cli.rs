//! The command line: subcommands and their flags.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use meshbook_engine::state::store::StateDir;

use crate::commands::{cleanup, inspect, resume, run, runs, sandbox};
use crate::prepare::RunbookArgs;
use crate::report::LogFormat;

/// Run Istio multicluster tutorials as typed, resumable runbooks.
#[derive(Debug, Parser)]
#[command(name = "meshbook", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// Show step output and debug detail.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// The command.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Every subcommand.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List the runbooks: built-in, ./runbooks and $MESHBOOK_PATH.
    List,
    /// Show a runbook's params, steps and outputs.
    Show(RunbookArgs),
    /// Check a runbook (and its params, when given); exit 2 with every problem located.
    Validate(RunbookArgs),
    /// Print the dry-run plan: layers of steps with every known value rendered.
    Plan {
        #[command(flatten)]
        runbook: RunbookArgs,
        /// `text` for people, `json` for machines.
        #[arg(long, short = 'o', value_enum, default_value_t)]
        output: OutputFormat,
        /// Also ask each cluster to validate the kube steps whose inputs are known (dryRun=All).
        #[command(flatten)]
        server: ServerDryRun,
    },
    /// Print the dependency graph.
    Graph {
        #[command(flatten)]
        runbook: RunbookArgs,
        /// Graph language.
        #[arg(long, value_enum, default_value = "mermaid")]
        format: GraphFormatArg,
    },
    /// Print the JSON Schema of the runbook format.
    Schema,
    /// Run a runbook: steps start as their dependencies succeed; state is kept for `resume`.
    Run(run::RunArgs),
    /// Continue a failed or interrupted run (default: the latest unfinished one).
    Resume(resume::ResumeArgs),
    /// List the runs in the state directory.
    Runs(runs::RunsArgs),
    /// Show a run's steps: state, attempts, time and outputs (secrets masked).
    Status(runs::StatusArgs),
    /// Run the runbook's `finally` steps for an earlier run, with its params and outputs.
    Cleanup(cleanup::CleanupArgs),
    /// Ask of an object file what kube steps ask: a kubectl JSONPath, or kstatus readiness.
    #[command(subcommand)]
    Inspect(inspect::InspectCommand),
    /// Simulated clusters that speak the Kubernetes API, for kubectl and experiments.
    #[command(subcommand)]
    Sandbox(sandbox::SandboxCommand),
}

/// Where run state lives.
#[derive(Debug, Clone, Args)]
pub(crate) struct StateArgs {
    /// The state directory: runs, journals and logs.
    #[arg(
        long,
        value_name = "DIR",
        env = "MESHBOOK_STATE_DIR",
        default_value = ".meshbook"
    )]
    pub(crate) state_dir: PathBuf,
}

impl StateArgs {
    /// The state dir these arguments name.
    pub(crate) fn dir(&self) -> StateDir {
        StateDir::new(&self.state_dir)
    }
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

/// `plan --server-dry-run` and where it finds clusters and files.
#[derive(Debug, Clone, Args)]
pub(crate) struct ServerDryRun {
    /// Ask each cluster to validate the writing kube steps whose inputs are known; nothing changes.
    #[arg(long)]
    pub(crate) server_dry_run: bool,
    /// The kubeconfig for `--server-dry-run` (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "FILE", requires = "server_dry_run")]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// Where relative manifest paths start, for `--server-dry-run` (default: the current directory).
    #[arg(long, value_name = "DIR", requires = "server_dry_run")]
    pub(crate) workdir: Option<PathBuf>,
}
