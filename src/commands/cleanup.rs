//! `meshbook cleanup`: run the runbook's `finally` steps for an earlier run, with that run's
//! params and outputs. A cleanup is a run of its own: recorded, and resumable like any other.

use clap::Args;
use indexmap::IndexMap;
use meshbook_engine::events::Stored;
use meshbook_engine::state::journal::now_ms;
use meshbook_engine::state::replay::{RunRecord, StepState};
use meshbook_engine::state::store::{RunKind, RunMeta, new_run_id};

use crate::args::DriveArgs;
use crate::failure::{CmdResult, Failure};
use crate::recorded;
use crate::session::{self, NewRun, Session};

/// `meshbook cleanup`.
#[derive(Debug, Clone, Args)]
pub(crate) struct CleanupArgs {
    /// The run to clean up after (default: the latest run of steps).
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::complete::run_ids))]
    run_id: Option<String>,
    /// Where the run is kept and how it is carried out.
    #[command(flatten)]
    drive: DriveArgs,
}

/// Runs `meshbook cleanup`.
pub(crate) fn cleanup(args: &CleanupArgs, verbose: u8) -> CmdResult {
    let store = args.drive.state.store()?;
    let parent_id = match args.run_id.clone() {
        Some(id) => id,
        None => recorded::latest_of_steps(&store.view(None)?)?,
    };
    // Held until the cleanup ends: `finally` steps must not tear down what a process driving
    // the run is building.
    let _driving = store.hold(&parent_id)?;
    let state = store.view(Some(&parent_id))?;
    let parent = state.read_meta(&parent_id)?;
    if parent.kind != RunKind::Steps {
        return Err(Failure::Invalid(format!(
            "run {parent_id} is itself a cleanup run"
        )));
    }
    let record = RunRecord::replay(&state.history(&parent_id)?);
    let mut inputs: IndexMap<String, Stored> = IndexMap::new();
    for step in record
        .steps
        .values()
        .filter(|s| s.state == StepState::Succeeded)
    {
        inputs.extend(step.outputs.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    let validated = recorded::runbook_of(&parent, &state.run_dir(&parent_id))?;
    let finally = validated.runbook.finally.len();
    if finally == 0 {
        outln!(
            "runbook `{}` has no finally steps: nothing to clean up",
            validated.runbook.metadata.name
        );
        return Ok(());
    }
    // The cleanup seals with the key of the run it cleans up: it holds that run's values.
    let key = store.key_of(&parent_id)?;
    let mut values = session::open_values(&parent.params, &key.sealer)?;
    values.extend(session::open_values(&inputs, &key.sealer)?);
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
        runbook_digest: parent.runbook_digest.clone(),
        kubeconfig: parent.kubeconfig.clone(),
        sandbox: parent.sandbox.clone(),
        kube_version: parent.kube_version.clone(),
        ignored_requirements: Vec::new(),
        own_key: key.own(),
    };
    let kept = std::fs::read_to_string(state.run_dir(&parent_id).runbook()).ok();
    let new = NewRun {
        meta,
        runbook: kept.as_deref(),
        validated,
        values,
        key,
    };
    let session = Session::create(&args.drive, &store, verbose > 0, new)?;
    session.say(&format!(
        "cleanup of run {parent_id}: {finally} finally steps"
    ));
    session.drive()
}
