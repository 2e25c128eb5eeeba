//! The `meshbook` command: wires the engine, the executors and the reporters, and maps outcomes
//! to exit codes (0 ok, 1 a step failed, 2 invalid input, 130 interrupted).

mod cli;
mod commands;
mod failure;
mod identities;
mod prepare;
mod rehearsal;
mod report;
mod source;

use std::io::Write as _;
use std::process::ExitCode;

use clap::Parser;

use crate::cli::{Cli, Command};
use crate::commands::{catalog, check};
use crate::failure::CmdResult;

// Loading a large runbook is allocation-heavy; mimalloc cuts planning time noticeably.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match dispatch(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            let message = failure.message();
            let mut stderr = std::io::stderr().lock();
            let _ = write!(stderr, "{message}");
            if !message.ends_with('\n') {
                let _ = writeln!(stderr);
            }
            failure.exit_code()
        }
    }
}

fn dispatch(cli: Cli) -> CmdResult {
    let verbose = cli.verbose;
    match cli.command {
        Command::List => catalog::list(),
        Command::Show(args) => catalog::show(&args),
        Command::Validate(args) => check::validate(&args),
        Command::Plan {
            runbook,
            output,
            server,
        } => check::plan(&runbook, output, &server),
        Command::Graph { runbook, format } => check::graph(&runbook, format),
        Command::Schema => check::schema(),
        Command::Sandbox(command) => commands::sandbox::run(command),
        Command::Inspect(command) => commands::inspect::run(command),
        Command::Run(args) => commands::run::run(&args, verbose),
        Command::Resume(args) => commands::resume::resume(&args, verbose),
        Command::Runs(args) => commands::runs::runs(&args),
        Command::Status(args) => commands::runs::status(&args),
        Command::Cleanup(args) => commands::cleanup::cleanup(&args, verbose),
    }
}
