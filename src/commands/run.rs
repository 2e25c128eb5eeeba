//! `meshbook run`: create a run and drive it.

use std::path::PathBuf;

use clap::Args;
use indexmap::IndexMap;
use meshbook_engine::state::journal::now_ms;
use meshbook_engine::state::store::{RunKind, RunMeta, new_run_id, runbook_digest};

use crate::args::DriveArgs;
use crate::failure::{CmdResult, Failure};
use crate::prepare::{RunbookArgs, prepare};
use crate::session::{NewRun, Session};
use crate::source::{Origin, RunbookSource};
use crate::store::Store;

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
    /// Rehearse on simulated clusters, one per context the runbook names, honouring its stand-ins.
    #[arg(long)]
    sandbox: bool,
    /// The Kubernetes minor a rehearsal simulates (default: the newest the runbook's
    /// `requires.kubernetes` allows), to see where the runbook breaks at another version.
    #[arg(long, value_name = "1.MINOR", requires = "sandbox", value_parser = crate::args::parse_kube_version)]
    kube_version: Option<meshbook_sandbox::KubeVersion>,
    /// Start even when the machine does not meet the runbook's `requires:` (the run records
    /// which requirements it ignored).
    #[arg(long)]
    ignore_requirements: bool,
}

/// Runs `meshbook run`.
pub(crate) fn run(args: &RunArgs, verbose: u8) -> CmdResult {
    if args.sandbox && args.drive.state.kubeconfig.is_some() {
        return Err(Failure::Invalid(
            "--kubeconfig names real clusters; a rehearsal (--sandbox) makes its own".into(),
        ));
    }
    let prepared = prepare(&args.runbook, true)?;
    let workdir = workdir(args.workdir.clone())?;
    let store = args.drive.state.store()?;
    let key = store.new_key(args.sandbox)?;
    let runbook = &prepared.validated.runbook;
    let id = new_run_id();
    let sandbox = match (&store, args.sandbox) {
        (Store::Local(dir), true) => Some(dir.run_dir(&id).sandbox()),
        (Store::Kube(k), true) => {
            return Err(Failure::Invalid(format!(
                "a rehearsal keeps its simulated clusters on this machine: its state cannot live in {}; use --state-dir",
                k.location()
            )));
        }
        (_, false) => None,
    };
    let kube_version = match args.sandbox {
        true => {
            let (version, why) = crate::rehearsal::version_for(runbook, args.kube_version)
                .map_err(|e| Failure::Invalid(e.to_string()))?;
            let gcloud = match crate::gcp::plan(runbook).starts_clusters() {
                true => "",
                false => "; clusters made with gcloud have the version it asks for",
            };
            outln!("rehearsing at Kubernetes {version} ({why}){gcloud}");
            args.kube_version.map(|v| v.to_string())
        }
        false => None,
    };
    let ignored_requirements = match args.sandbox {
        // A rehearsal's clusters and tools are simulated; its version was said above.
        true => Vec::new(),
        false => preflight(args, &prepared, &workdir)?,
    };
    let meta = RunMeta {
        kind: RunKind::Steps,
        runbook: runbook_ref(&args.runbook.runbook, &prepared.source),
        name: runbook.metadata.name.clone(),
        workdir,
        params: prepared.params.store(&key.sealer),
        inputs: IndexMap::new(),
        created_at: now_ms(),
        runbook_digest: Some(runbook_digest(&prepared.source.text)),
        kubeconfig: args.drive.state.kubeconfig.as_deref().map(absolute),
        sandbox,
        kube_version,
        ignored_requirements,
        own_key: key.own(),
        id,
    };
    let kept = matches!(prepared.source.origin, Origin::Disk(_)).then_some(&*prepared.source.text);
    let new = NewRun {
        meta,
        runbook: kept,
        validated: prepared.validated,
        values: prepared.params,
        key,
    };
    Session::create(&args.drive, &store, verbose > 0, new)?.drive()
}

/// Checks the machine against the runbook's `requires:`, and the manifests known before the run
/// against the Kubernetes minor each context answered with; what fails stops the run (exit 2)
/// unless `--ignore-requirements`, which returns it to be recorded.
fn preflight(
    args: &RunArgs,
    prepared: &crate::prepare::Prepared,
    workdir: &std::path::Path,
) -> Result<Vec<String>, Failure> {
    let runbook = &prepared.validated.runbook;
    // Clusters that gcloud creates during the run have no context yet.
    let contexts = crate::gcp::plan(runbook)
        .starts_clusters()
        .then(|| crate::rehearsal::contexts(runbook, &prepared.params));
    let checked = crate::preflight::check(
        runbook,
        &prepared.source,
        args.drive.state.kubeconfig.as_deref(),
        contexts.as_deref(),
    );
    let mut problems = checked.problems;
    if !checked.clusters.is_empty() {
        let plan = meshbook_engine::plan::plan(&prepared.validated, &prepared.params);
        let refused = crate::lint::at_clusters(&plan, &prepared.source, workdir, &checked.clusters);
        problems.extend(
            refused
                .into_iter()
                .map(|(r, context, v)| crate::preflight::Problem {
                    what: format!("step {} ({})", r.step, r.at),
                    has: r.message,
                    needs: format!("objects that context {context} (Kubernetes {v}) serves"),
                    line: None,
                }),
        );
    }
    if problems.is_empty() {
        return Ok(Vec::new());
    }
    let report = crate::preflight::report(&problems, &prepared.source.display);
    if !args.ignore_requirements {
        return Err(Failure::Invalid(report));
    }
    // Said on stderr as the run starts; the run records each ignored requirement.
    eprintln!("warning: {report}");
    Ok(report
        .lines()
        .skip(1)
        .filter(|l| l.starts_with("  "))
        .map(|l| l.trim().to_string())
        .collect())
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
