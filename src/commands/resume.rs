//! `meshbook resume`: continue a failed or interrupted run. Prints the resume plan first: which
//! steps are done (skipped, outputs restored), which run, and which run again and why.

use clap::Args;
use indexmap::IndexMap;
use meshbook_engine::events::Stored;
use meshbook_engine::graph::Graph;
use meshbook_engine::model::Step;
use meshbook_engine::run::resume::{self, Decision, open_all};
use meshbook_engine::run::scheduler::Unit;
use meshbook_engine::state::replay::RunRecord;
use meshbook_engine::state::secrets::Sealer;
use meshbook_engine::state::store::{RunKind, RunMeta, Store};
use meshbook_engine::validate::Validated;

use crate::commands::run::{Drive, ExecArgs, StateArgs, Wiring, drive, sealer};
use crate::failure::{CmdResult, Failure};
use crate::prepare::validate_source;
use crate::report::Reporter;
use crate::source;

/// `meshbook resume`.
#[derive(Debug, Clone, Args)]
pub struct ResumeArgs {
    /// The run to continue (default: the latest unfinished one).
    pub run_id: Option<String>,
    /// Run this step and everything downstream of it again, even if done.
    #[arg(long, value_name = "STEP")]
    pub from: Option<String>,
    /// Where run state lives.
    #[command(flatten)]
    pub state: StateArgs,
    /// How steps are carried out and reported.
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// The runbook of a recorded run, read and checked again (it may have changed since).
pub fn load_runbook(meta: &RunMeta) -> Result<Validated, Failure> {
    let arg = meta.runbook.to_string_lossy();
    let source = source::resolve(&arg).map_err(|e| {
        Failure::Invalid(format!(
            "error: the runbook of run {} is gone: {e:#}",
            meta.id
        ))
    })?;
    validate_source(&source)
}

/// The steps a run drives: the runbook's steps, or its `finally` steps for a cleanup run.
pub fn run_steps<'v>(meta: &RunMeta, v: &'v Validated) -> (&'v [Step], &'v Graph) {
    match meta.kind {
        RunKind::Steps => (&v.runbook.steps, &v.graph),
        RunKind::Cleanup { .. } => (&v.runbook.finally, &v.finally_graph),
    }
}

/// Opens stored values (params, cleanup inputs) with the key.
pub fn open_values(
    stored: &IndexMap<String, Stored>,
    sealer: &Sealer,
) -> Result<IndexMap<String, String>, Failure> {
    open_all(stored, sealer).ok_or_else(|| {
        Failure::Invalid(
            "error: the run's secret params cannot be opened with the current secrets key \
             (MESHBOOK_KEY_FILE, $XDG_CONFIG_HOME/meshbook/key or ~/.config/meshbook/key)"
                .into(),
        )
    })
}

/// The latest run that has not finished successfully and that no process is driving.
pub fn latest_unfinished(store: &Store) -> Result<String, Failure> {
    let ids = store.list().map_err(|e| Failure::Other(e.into()))?;
    for id in ids.iter().rev() {
        let Ok(history) = store.history(id) else {
            continue;
        };
        if !RunRecord::replay(&history).is_complete() && !store.is_active(id) {
            return Ok(id.clone());
        }
    }
    Err(Failure::Invalid(format!(
        "error: no unfinished run in {}",
        store.runs_dir().display()
    )))
}

/// Runs `meshbook resume`.
pub fn resume(args: &ResumeArgs, verbose: u8) -> CmdResult {
    let store = Store::new(&args.state.state_dir);
    let id = match &args.run_id {
        Some(id) => id.clone(),
        None => latest_unfinished(&store)?,
    };
    let open = store
        .open(&id)
        .map_err(|e| Failure::Invalid(format!("error: {e}")))?;
    let history = store.history(&id).map_err(|e| Failure::Other(e.into()))?;
    let record = RunRecord::replay(&history);
    let validated = load_runbook(&open.meta)?;
    let sealer = sealer()?;
    let mut values = open_values(&open.meta.params, &sealer)?;
    values.extend(open_values(&open.meta.inputs, &sealer)?);
    let (steps, graph) = run_steps(&open.meta, &validated);
    let forced: Vec<usize> = match &args.from {
        None => Vec::new(),
        Some(name) => match steps.iter().position(|s| &s.id == name) {
            Some(i) => vec![i],
            None => {
                let help =
                    meshbook_engine::suggest::help(name, steps.iter().map(|s| s.id.as_str()))
                        .map(|h| format!(" ({h})"))
                        .unwrap_or_default();
                return Err(Failure::Invalid(format!(
                    "error: --from: no step `{name}` in run {id}{help}"
                )));
            }
        },
    };
    let deps: Vec<Vec<usize>> = (0..steps.len()).map(|i| graph.deps(i).to_vec()).collect();
    let plan = resume::plan(
        steps,
        &deps,
        graph.order(),
        &record,
        &values,
        &sealer,
        &forced,
    );
    let reporter = Reporter::new(args.exec.log_format, steps.len(), verbose > 0);
    reporter.line(&format!(
        "resume plan for run {id} ({}): {} done, {} to run",
        open.meta.name,
        steps.len() - plan.to_run(),
        plan.to_run()
    ));
    for (step, decision) in steps.iter().zip(&plan.decisions) {
        let word = match decision {
            Decision::Done => "done",
            Decision::Run => "run",
            Decision::Rerun(_) => "re-run",
        };
        let why = match decision {
            Decision::Rerun(_) => format!("  ({decision})"),
            _ => String::new(),
        };
        reporter.line(&format!("  {word:<7} {}{why}", step.id));
    }
    let units: Vec<Unit> = steps
        .iter()
        .enumerate()
        .map(|(i, s)| Unit {
            step: s.clone(),
            deps: deps[i].clone(),
            restored: plan.restored[i].clone(),
        })
        .collect();
    let wiring = Wiring::new(&open.meta, &open.dir, &validated.runbook, &values)?;
    let result = drive(Drive {
        open,
        units,
        values,
        defaults: validated.runbook.defaults.clone(),
        exec: &args.exec,
        state_dir: &args.state.state_dir,
        reporter,
        sealer,
        executor: wiring.executor.clone(),
    });
    wiring.finish(&validated.runbook, result)
}
