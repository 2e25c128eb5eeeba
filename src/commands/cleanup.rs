//! `meshbook cleanup`: run the runbook's `finally` steps for an earlier run, with that run's
//! params and outputs. A cleanup is a run of its own: recorded, and resumable like any other.

use clap::Args;
use indexmap::IndexMap;
use meshbook_engine::events::Stored;
use meshbook_engine::state::journal::now_ms;
use meshbook_engine::state::replay::{RunRecord, StepState};
use meshbook_engine::state::store::{RunKind, RunMeta, Store, new_run_id};

use crate::commands::resume::{load_runbook, open_values};
use crate::commands::run::{Drive, ExecArgs, StateArgs, Wiring, drive, sealer, units};
use crate::failure::{CmdResult, Failure};
use crate::report::Reporter;

/// `meshbook cleanup`.
#[derive(Debug, Clone, Args)]
pub struct CleanupArgs {
    /// The run to clean up after (default: the latest run of steps).
    pub run_id: Option<String>,
    /// Where run state lives.
    #[command(flatten)]
    pub state: StateArgs,
    /// How steps are carried out and reported.
    #[command(flatten)]
    pub exec: ExecArgs,
}

/// Runs `meshbook cleanup`.
pub fn cleanup(args: &CleanupArgs, verbose: u8) -> CmdResult {
    let store = Store::new(&args.state.state_dir);
    let parent_id = match &args.run_id {
        Some(id) => id.clone(),
        None => latest_steps_run(&store)?,
    };
    let parent = store
        .read_meta(&parent_id)
        .map_err(|e| Failure::Invalid(format!("error: {e}")))?;
    if parent.kind != RunKind::Steps {
        return Err(Failure::Invalid(format!(
            "error: run {parent_id} is itself a cleanup run"
        )));
    }
    let history = store
        .history(&parent_id)
        .map_err(|e| Failure::Other(e.into()))?;
    let record = RunRecord::replay(&history);
    let mut inputs: IndexMap<String, Stored> = IndexMap::new();
    for step in record
        .steps
        .values()
        .filter(|s| s.state == StepState::Succeeded)
    {
        inputs.extend(step.outputs.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let validated = load_runbook(&parent)?;
    let runbook = &validated.runbook;
    if runbook.finally.is_empty() {
        outln!(
            "runbook `{}` has no finally steps: nothing to clean up",
            runbook.metadata.name
        );
        return Ok(());
    }
    let sealer = sealer()?;
    let mut values = open_values(&parent.params, &sealer)?;
    values.extend(open_values(&inputs, &sealer)?);
    let meta = RunMeta {
        id: new_run_id(),
        kind: RunKind::Cleanup {
            of: parent_id.clone(),
        },
        runbook: parent.runbook.clone(),
        name: parent.name.clone(),
        workdir: parent.workdir.clone(),
        params: parent.params.clone(),
        inputs,
        created_at: now_ms(),
        kubeconfig: parent.kubeconfig.clone(),
        sandbox: parent.sandbox.clone(),
    };
    let open = store.create(meta).map_err(|e| Failure::Other(e.into()))?;
    let units = units(&runbook.finally, &validated.finally_graph);
    let reporter = Reporter::new(args.exec.log_format, units.len(), verbose > 0);
    reporter.line(&format!(
        "cleanup of run {parent_id}: {} finally steps",
        units.len()
    ));
    let wiring = Wiring::new(&open.meta, &open.dir, runbook, &values)?;
    let result = drive(Drive {
        open,
        units,
        values,
        defaults: runbook.defaults.clone(),
        exec: &args.exec,
        state_dir: &args.state.state_dir,
        reporter,
        sealer,
        executor: wiring.executor.clone(),
    });
    wiring.finish(runbook, result)
}

fn latest_steps_run(store: &Store) -> Result<String, Failure> {
    let ids = store.list().map_err(|e| Failure::Other(e.into()))?;
    ids.iter()
        .rev()
        .find(|id| store.read_meta(id).is_ok_and(|m| m.kind == RunKind::Steps))
        .cloned()
        .ok_or_else(|| Failure::Invalid(format!("error: no run in {}", store.runs_dir().display())))
}
