//! The `meshbook` command: wires the engine, the executors and the reporters, and maps outcomes
//! to exit codes (0 ok, 1 a step failed, 2 invalid input, 130 interrupted).

#![warn(unreachable_pub, missing_docs)]

/// `println!` that ignores a closed stdout (`meshbook plan | head`): output is for a reader who
/// may have left, and a run must not die of it.
macro_rules! outln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout().lock(), $($arg)*);
    }};
}

/// `print!` that ignores a closed stdout.
macro_rules! out {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = write!(std::io::stdout().lock(), $($arg)*);
    }};
}

mod args;
mod cli;
mod color;
mod commands;
mod complete;
mod coverage;
mod dry_run;
mod failure;
mod gcp;
mod identities;
mod kstate;
mod lint;
mod location;
mod man;
mod output;
mod preflight;
mod prepare;
mod recorded;
mod rehearsal;
mod report;
mod session;
mod source;
mod store;
mod wiring;

use std::io::Write as _;
use std::process::ExitCode;

use clap::{CommandFactory as _, FromArgMatches as _};

use crate::cli::{Cli, Command};
use crate::commands::{
    catalog, cleanup, inspect, logs, offline, resume, run, runs, sandbox, state,
};
use crate::failure::CmdResult;

// Loading a large runbook is allocation-heavy; mimalloc cuts planning time noticeably.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Called by a tool's name (a rehearsal's link to this binary): play that tool's double.
    let argv: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let called = argv
        .first()
        .and_then(|a| std::path::Path::new(a).file_name())
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Called as `gcloud` (a rehearsal's link): run the call in the warm gcloud.
    if called == "gcloud" {
        let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
        return meshbook_cloud::warm_gcloud::client(&args);
    }
    if meshbook_doubles::is_tool(&called) {
        return double_exit(meshbook_doubles::main(&called, &argv[1..]));
    }
    // Installed or linked as a kubectl plugin: `kubectl meshbook run ...` runs
    // `kubectl-meshbook run ...`, and kubectl asks `kubectl_complete-meshbook` for completions.
    let plugin = called.trim_end_matches(".exe") == KUBECTL_PLUGIN;
    if called.trim_end_matches(".exe") == KUBECTL_COMPLETER {
        return complete::for_kubectl(&argv[1..]);
    }
    complete::answer_if_asked();
    let mut command = Cli::command().color(color::for_clap(&argv));
    if plugin {
        command = command.bin_name("kubectl meshbook");
    }
    let matches = command.get_matches_from(&argv);
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    color::init(cli.color);
    if let Command::Double { tool, args } = &cli.command {
        return double_exit(meshbook_doubles::main(tool, args));
    }
    init_diagnostics(cli.verbose);
    let bin = if plugin { KUBECTL_PLUGIN } else { "meshbook" };
    match dispatch(cli, bin) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let message = color::message(&failure.message());
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "{message}");
            if !message.ends_with('\n') {
                let _ = writeln!(stderr);
            }
            failure.exit_code()
        }
    }
}

/// A double's exit status as the process's (`os.Exit(-1)` of a Go tool is 255).
fn double_exit(code: i32) -> ExitCode {
    ExitCode::from((code & 0xff) as u8)
}

/// Internal diagnostics on stderr: the Kubernetes API requests kube steps make (method and path,
/// never bodies or headers), retries and watch restarts. `-vv` turns them on; `MESHBOOK_LOG`
/// takes a filter such as `kube=debug,meshbook_steps=trace`.
fn init_diagnostics(verbose: u8) {
    let filter = match std::env::var("MESHBOOK_LOG") {
        Ok(f) => f,
        Err(_) if verbose >= 2 => {
            "meshbook=debug,meshbook_steps=debug,kube_client=debug,kube_runtime=debug".into()
        }
        Err(_) => return,
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .with_ansi(color::on(color::Stream::Stderr))
        .with_target(true)
        .try_init();
}

/// The name kubectl finds a plugin by (`kubectl meshbook` runs it).
const KUBECTL_PLUGIN: &str = "kubectl-meshbook";
/// The name kubectl asks for a plugin's completions.
const KUBECTL_COMPLETER: &str = "kubectl_complete-meshbook";

/// Runs the command; `bin` is the name the binary was called by, for scripts that call it back.
fn dispatch(cli: Cli, bin: &str) -> CmdResult {
    let verbose = cli.verbose;
    match cli.command {
        Command::List { output } => catalog::list(output),
        Command::Show { runbook, output } => catalog::show(&runbook, output),
        Command::Validate { runbook, output } => offline::validate(&runbook, output),
        Command::Plan {
            runbook,
            output,
            server,
        } => offline::plan(&runbook, output, &server),
        Command::Graph {
            runbook,
            format,
            output,
        } => offline::graph(&runbook, format, output),
        Command::Schema => offline::schema(),
        Command::Man { dir } => man::man(dir.as_deref()),
        Command::Completions { shell } => complete::script(shell, bin),
        Command::Sandbox(command) => sandbox::run(command),
        Command::Inspect(command) => inspect::run(command),
        Command::Run(args) => run::run(&args, verbose),
        Command::Resume(args) => resume::resume(&args, verbose),
        Command::Runs(args) => runs::runs(&args),
        Command::Status(args) => runs::status(&args),
        Command::Cleanup(args) => cleanup::cleanup(&args, verbose),
        Command::State(command) => state::state(&command),
        Command::Logs(args) => logs::logs(&args),
        Command::Double { .. } => Ok(()),
    }
}
