//! `meshbook state copy`: copy runs between a state dir and a cluster, either way.

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::failure::{CmdResult, Failure};
use crate::location::Location;
use crate::store::Store;

/// `meshbook state`.
#[derive(Debug, Subcommand)]
pub(crate) enum StateCommand {
    /// Copy runs between state locations (a directory, kube://CONTEXT/NAMESPACE), either way:
    /// description, journal, logs and key, checked first; the source is left as it was.
    Copy(CopyArgs),
}

/// `meshbook state copy`.
#[derive(Debug, Clone, Args)]
pub(crate) struct CopyArgs {
    /// Where the runs are: a directory, or kube://CONTEXT/NAMESPACE.
    from: Location,
    /// Where they go.
    to: Location,
    /// The runs to copy (default: every run there).
    #[arg(value_name = "RUN")]
    runs: Vec<String>,
    /// The kubeconfig of kube:// locations (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
}

/// Runs `meshbook state`.
pub(crate) fn state(command: &StateCommand) -> CmdResult {
    match command {
        StateCommand::Copy(args) => copy(args),
    }
}

fn copy(args: &CopyArgs) -> CmdResult {
    if args.from == args.to {
        return Err(Failure::Invalid(format!(
            "copying {} onto itself",
            args.from
        )));
    }
    let from = Store::at(&args.from, args.kubeconfig.as_deref())?;
    let to = Store::at(&args.to, args.kubeconfig.as_deref())?;
    let ids = match args.runs.is_empty() {
        true => from.view(None)?.list()?,
        false => args.runs.clone(),
    };
    if ids.is_empty() {
        outln!("no runs in {}", from.place());
        return Ok(());
    }
    for id in &ids {
        // Nobody drives the run while it is copied, so the copy is of one moment.
        let _held = from.hold(id)?;
        let view = from.view(Some(id))?;
        let meta = view.read_meta(id)?;
        view.history(id)?;
        if meta.is_rehearsal() {
            return Err(Failure::Invalid(format!(
                "run {id} is a rehearsal: its simulated clusters live in its folder on this machine and are not copied"
            )));
        }
        let key = from.key_of(id)?;
        to.import(id, &view.run_dir(id), &key)?;
        outln!("copied run {id} ({}) to {}", meta.name, to.place());
    }
    Ok(())
}
