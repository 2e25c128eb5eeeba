//! The command line: subcommands and their flags.

use clap::{Parser, Subcommand};

use crate::args::{GraphFormatArg, OutputFormat, ServerDryRun};
use crate::color::ColorWhen;
use crate::commands::{cleanup, inspect, logs, resume, run, runs, sandbox, state};
use crate::complete::Shell;
use crate::output::OutputArg;
use crate::prepare::RunbookArgs;

/// Run Istio multicluster tutorials as typed, resumable runbooks.
#[derive(Debug, Parser)]
#[command(name = "meshbook", version, about, propagate_version = true)]
pub(crate) struct Cli {
    /// Show step output and debug detail.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub(crate) verbose: u8,
    /// Colour: auto (on a terminal, unless NO_COLOR is set), always or never.
    #[arg(long, global = true, value_enum, value_name = "WHEN")]
    pub(crate) color: Option<ColorWhen>,
    /// The command.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// Every subcommand.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// List the runbooks: built-in, ./runbooks and $MESHBOOK_PATH.
    List {
        /// Output format.
        #[command(flatten)]
        output: OutputArg,
    },
    /// Show a runbook's params, steps and outputs.
    Show {
        /// The runbook and its params.
        #[command(flatten)]
        runbook: RunbookArgs,
        /// Output format.
        #[command(flatten)]
        output: OutputArg,
    },
    /// Check a runbook (and its params, when given); exit 2 with every problem located.
    Validate {
        /// The runbook and its params.
        #[command(flatten)]
        runbook: RunbookArgs,
        /// Output format.
        #[command(flatten)]
        output: OutputArg,
    },
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
        /// Graph language of the text output.
        #[arg(long, value_enum, default_value = "mermaid")]
        format: GraphFormatArg,
        /// `-o json`: nodes and edges instead of a graph language.
        #[command(flatten)]
        output: OutputArg,
    },
    /// Print the JSON Schema of the runbook format.
    Schema,
    /// Write the manual: one page per command into DIR, or the top page to stdout.
    Man {
        /// The folder for the pages (`meshbook.1`, `meshbook-run.1`, ...).
        #[arg(value_name = "DIR")]
        dir: Option<std::path::PathBuf>,
    },
    /// Print the shell script that completes meshbook's commands, flags, runbook names, run
    /// ids, step ids and contexts: `source <(meshbook completions bash)`.
    Completions {
        /// The shell.
        #[arg(value_enum)]
        shell: Shell,
    },
    /// Run a runbook: steps start as their dependencies succeed; state is kept for `resume`.
    Run(run::RunArgs),
    /// Continue a failed or interrupted run (default: the latest unfinished one).
    Resume(resume::ResumeArgs),
    /// List the runs in the state directory.
    Runs(runs::RunsArgs),
    /// Show a run's steps: state, attempts, time and outputs (secrets masked).
    Status(runs::StatusArgs),
    /// Print a run's step logs (one step's, or each step's): a section per attempt, secrets masked.
    Logs(logs::LogsArgs),
    /// Run the runbook's `finally` steps for an earlier run, with its params and outputs.
    Cleanup(cleanup::CleanupArgs),
    /// Move runs between state locations: a directory on this machine, or a cluster.
    #[command(subcommand)]
    State(state::StateCommand),
    /// Ask of an object file what kube steps ask: a kubectl JSONPath, or kstatus readiness.
    #[command(subcommand)]
    Inspect(inspect::InspectCommand),
    /// Simulated clusters that speak the Kubernetes API, for kubectl and experiments.
    #[command(subcommand)]
    Sandbox(sandbox::SandboxCommand),
    /// Play a rehearsal's double of a tool: `meshbook double helm@2.16.12 template …`
    /// (docs/doubles.md). A rehearsal calls them by the tool's name on `PATH`.
    Double {
        /// helm, istioctl, asmcli, generate_cert, ssh, scp, curl, wget or git, with an
        /// optional `@VERSION`.
        tool: String,
        /// The tool's own arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<String>,
    },
}
