//! Runs recorded in a state dir, read back: the runbook a run was made from (read and checked
//! again, as it may have changed), which of its lists it drives, and which run a command means
//! when none is named.

use meshbook_engine::state::RunDir;
use meshbook_engine::state::replay::{RunRecord, StepRecord};
use meshbook_engine::state::store::{RunKind, RunMeta};
use meshbook_engine::validate::{List, Validated};

use crate::failure::Failure;
use crate::prepare::validate_source;
use crate::source::{self, Origin, RunbookSource};
use crate::store::View;

/// The runbook of a recorded run, read and checked again: its file (which may have been fixed
/// since), or, where this machine lacks the file, the copy a cluster kept with the run.
pub(crate) fn runbook_of(meta: &RunMeta, dir: &RunDir) -> Result<Validated, Failure> {
    let gone = |e: anyhow::Error| {
        Failure::Invalid(format!("the runbook of run {} is gone: {e:#}", meta.id))
    };
    let source = match source::resolve(&meta.runbook.to_string_lossy()) {
        Ok(source) => source,
        Err(e) => match std::fs::read_to_string(dir.runbook()) {
            Ok(text) => RunbookSource {
                display: format!("{} (kept with the run)", meta.runbook.display()),
                origin: Origin::Disk(
                    meta.runbook
                        .parent()
                        .map(std::path::Path::to_path_buf)
                        .unwrap_or_default(),
                ),
                text,
            },
            Err(_) => return Err(gone(e)),
        },
    };
    validate_source(&source)
}

/// The list of steps a run drives: the runbook's steps, or its `finally` steps for a cleanup.
pub(crate) fn list(meta: &RunMeta) -> List {
    match meta.kind {
        RunKind::Steps => List::Steps,
        RunKind::Cleanup { .. } => List::Finally,
    }
}

/// The latest run that has not finished successfully; refused when a process drives it (an
/// older one is not picked instead: that would not be the run the user means).
pub(crate) fn latest_unfinished(state: &View) -> Result<String, Failure> {
    for id in state.list()?.iter().rev() {
        if let Some(locked) = state.locked(id) {
            return Err(locked.into());
        }
        let history = match state.history(id) {
            Ok(history) => history,
            // A damaged run is said, not passed over for an older one.
            Err(e) if e.is_damage() => return Err(e.into()),
            Err(_) => continue,
        };
        if !RunRecord::replay(&history).is_complete() {
            return Ok(id.clone());
        }
    }
    Err(Failure::Invalid(format!(
        "no unfinished run in {}",
        state.place()
    )))
}

/// The latest run of a runbook's steps (not a cleanup).
pub(crate) fn latest_of_steps(state: &View) -> Result<String, Failure> {
    state
        .list()?
        .iter()
        .rev()
        .find(|id| state.read_meta(id).is_ok_and(|m| m.kind == RunKind::Steps))
        .cloned()
        .ok_or_else(|| Failure::Invalid(format!("no run in {}", state.place())))
}

/// What the journal says of each step of a run: the steps `ids` names (in that order; those it
/// never mentions are pending), then any it mentions that are not among them (the runbook
/// changed or cannot be read).
pub(crate) fn step_records(mut ids: Vec<String>, record: &RunRecord) -> Vec<(String, StepRecord)> {
    for known in record.steps.keys() {
        if !ids.contains(known) {
            ids.push(known.clone());
        }
    }
    ids.into_iter()
        .map(|id| {
            let step = record.step(&id);
            (id, step)
        })
        .collect()
}

/// The latest run of any kind.
pub(crate) fn latest(state: &View) -> Result<String, Failure> {
    state
        .list()?
        .pop()
        .ok_or_else(|| Failure::Invalid(format!("no runs in {}", state.place())))
}
