//! `meshbook run`: create a run and drive it.

use std::path::PathBuf;

use clap::Args;
use indexmap::IndexMap;
use meshbook_engine::state::journal::now_ms;
use meshbook_engine::state::store::{RunKind, RunMeta, new_run_id, runbook_digest};

use crate::args::DriveArgs;
use crate::failure::{CmdResult, Failure};
use crate::prepare::{RunbookArgs, prepare};
use crate::session::{self, Session};
use crate::source::{Origin, RunbookSource};

/// `meshbook run`.
#[derive(Debug, Clone, Args)]
pub(crate) struct RunArgs {
    /// The runbook and its params.
    #[command(flatten)]
    runbook: RunbookArgs,
    /// Where the run is kept and how it is carried out.
    #[command(flatten)]
    drive: DriveArgs,
    /// The directory steps run in (default: the current directory).
    #[arg(long, value_name = "DIR")]
    workdir: Option<PathBuf>,
    /// The kubeconfig whose contexts the runbook names (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "FILE", conflicts_with = "sandbox")]
    kubeconfig: Option<PathBuf>,
    /// Rehearse on simulated clusters, one per context the runbook names, honouring its stand-ins.
    #[arg(long)]
    sandbox: bool,
}

/// Runs `meshbook run`.
pub(crate) fn run(args: &RunArgs, verbose: u8) -> CmdResult {
    let prepared = prepare(&args.runbook, true)?;
    let workdir = workdir(args.workdir.clone())?;
    let sealer = session::sealer()?;
    let runbook = &prepared.validated.runbook;
    let id = new_run_id();
    let sandbox = args
        .sandbox
        .then(|| args.drive.state.dir().run_dir(&id).sandbox());
    let meta = RunMeta {
        kind: RunKind::Steps,
        runbook: runbook_ref(&args.runbook.runbook, &prepared.source),
        name: runbook.metadata.name.clone(),
        workdir,
        params: prepared.params.store(&sealer),
        inputs: IndexMap::new(),
        created_at: now_ms(),
        runbook_digest: Some(runbook_digest(&prepared.source.text)),
        kubeconfig: args.kubeconfig.as_deref().map(absolute),
        sandbox,
        id,
    };
    Session::create(
        &args.drive,
        verbose > 0,
        meta,
        prepared.validated,
        prepared.params,
        sealer,
    )?
    .drive()
}

fn absolute(path: &std::path::Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The directory steps run in; a missing one is created, as a rehearsal's usually is, and a
/// file in its place is a mistake.
fn workdir(given: Option<PathBuf>) -> Result<PathBuf, Failure> {
    let workdir = match given {
        Some(w) => w,
        None => std::env::current_dir()?,
    };
    if !workdir.exists() {
        std::fs::create_dir_all(&workdir).map_err(|e| {
            Failure::Invalid(format!(
                "cannot create --workdir {}: {e}",
                workdir.display()
            ))
        })?;
    }
    if !workdir.is_dir() {
        return Err(Failure::Invalid(format!(
            "--workdir {} is not a directory",
            workdir.display()
        )));
    }
    Ok(absolute(&workdir))
}

/// How a run's `run.json` names its runbook so that `resume` can read it again.
fn runbook_ref(arg: &str, source: &RunbookSource) -> PathBuf {
    match &source.origin {
        Origin::Disk(_) => absolute(std::path::Path::new(&source.display)),
        Origin::Builtin(_) => PathBuf::from(arg),
    }
}
