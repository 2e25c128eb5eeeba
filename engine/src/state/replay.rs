//! Replaying a journal into what is known of each step: its last state, attempts, duration,
//! outputs and fingerprint. `status` shows this; `resume` plans from it.

use indexmap::IndexMap;
use serde::Serialize;

use crate::events::{Outcome, RunEvent, SkipReason, Stored};
use crate::state::journal::Entry;

/// The last known state of a step.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum StepState {
    /// Never started.
    Pending,
    /// Started and not finished: running now, or its process died.
    Running,
    /// Waiting for a retry or for its `wait` condition.
    Retrying,
    /// Finished with outputs.
    Succeeded,
    /// Failed for good.
    Failed,
    /// Not run because a dependency failed.
    Blocked,
    /// Stopped by a signal.
    Interrupted,
}

impl StepState {
    /// The state's name as shown to users.
    pub fn name(self) -> &'static str {
        match self {
            StepState::Pending => "pending",
            StepState::Running => "running",
            StepState::Retrying => "retrying",
            StepState::Succeeded => "done",
            StepState::Failed => "failed",
            StepState::Blocked => "blocked",
            StepState::Interrupted => "interrupted",
        }
    }
}

/// What the journal says about one step.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct StepRecord {
    /// The last state.
    pub state: StepState,
    /// Attempts made in the latest try of the step.
    pub attempts: u32,
    /// Time from the first attempt to success or failure, in milliseconds.
    pub duration_ms: Option<u64>,
    /// Outputs of the last success (secret ones sealed).
    pub outputs: IndexMap<String, Stored>,
    /// Fingerprint of the last success.
    pub fingerprint: Option<String>,
    /// The last error.
    pub error: Option<String>,
    /// In a rehearsal, how its last success was carried out (`null` otherwise).
    pub rehearsed: Option<crate::events::Rehearsed>,
}

impl Default for StepRecord {
    fn default() -> Self {
        StepRecord {
            state: StepState::Pending,
            attempts: 0,
            duration_ms: None,
            outputs: IndexMap::new(),
            fingerprint: None,
            error: None,
            rehearsed: None,
        }
    }
}

/// What the journal says about a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct RunRecord {
    /// Steps with any event, in the order they first appear.
    pub steps: IndexMap<String, StepRecord>,
    /// How the latest invocation ended; `None` if it has not (running, or its process died).
    pub outcome: Option<Outcome>,
    /// When the first invocation started (ms since the epoch).
    pub started_at: Option<u64>,
    /// When the latest invocation ended.
    pub finished_at: Option<u64>,
}

impl RunRecord {
    /// Replays journal entries in order.
    pub fn replay(entries: &[Entry]) -> RunRecord {
        let mut run = RunRecord::default();
        for entry in entries {
            run.apply(entry);
        }
        run
    }

    fn apply(&mut self, entry: &Entry) {
        let event = &entry.event;
        match event {
            RunEvent::RunStarted { .. } => {
                self.started_at.get_or_insert(entry.at);
                self.outcome = None;
                self.finished_at = None;
                return;
            }
            RunEvent::RunFinished { outcome, .. } => {
                self.outcome = Some(*outcome);
                self.finished_at = Some(entry.at);
                return;
            }
            _ => {}
        }
        let Some(id) = event.step() else { return };
        let step = self.steps.entry(id.to_string()).or_default();
        match event {
            RunEvent::StepStarted { attempt, .. } => {
                step.state = StepState::Running;
                step.attempts = *attempt;
                // Running again: how an earlier success was rehearsed no longer describes it.
                step.rehearsed = None;
                if *attempt == 1 {
                    step.duration_ms = None;
                    step.error = None;
                }
            }
            RunEvent::WaitPending { reason, .. } => {
                step.state = StepState::Retrying;
                step.error = Some(reason.clone());
            }
            RunEvent::AttemptFailed { error, .. } => {
                step.state = StepState::Retrying;
                step.error = Some(error.clone());
            }
            RunEvent::StepSucceeded {
                attempt,
                outputs,
                duration_ms,
                fingerprint,
                rehearsed,
                ..
            } => {
                step.state = StepState::Succeeded;
                step.rehearsed = rehearsed.clone();
                step.attempts = *attempt;
                step.outputs = outputs.clone();
                step.duration_ms = Some(*duration_ms);
                step.fingerprint = Some(fingerprint.clone());
                step.error = None;
            }
            RunEvent::StepFailed {
                attempt,
                error,
                duration_ms,
                ..
            } => {
                step.state = StepState::Failed;
                step.attempts = *attempt;
                step.duration_ms = Some(*duration_ms);
                step.error = Some(error.clone());
            }
            RunEvent::StepInterrupted { attempt, .. } => {
                step.state = StepState::Interrupted;
                step.attempts = *attempt;
            }
            RunEvent::StepSkipped {
                reason: SkipReason::Blocked { dependency },
                ..
            } => {
                step.state = StepState::Blocked;
                step.error = Some(format!("`{dependency}` did not succeed"));
            }
            RunEvent::StepSkipped {
                reason: SkipReason::Restored,
                ..
            } => {}
            RunEvent::RunStarted { .. } | RunEvent::RunFinished { .. } => {}
        }
    }

    /// The record of step `id` (pending when the journal never mentions it).
    pub fn step(&self, id: &str) -> StepRecord {
        self.steps.get(id).cloned().unwrap_or_default()
    }

    /// True when the run has nothing left to do.
    pub fn is_complete(&self) -> bool {
        self.outcome == Some(Outcome::Succeeded)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::Rehearsed;

    fn e(event: RunEvent) -> Entry {
        Entry { at: 5, event }
    }

    #[test]
    fn last_event_wins_and_a_crash_leaves_running() {
        let mut outputs = IndexMap::new();
        outputs.insert("A".to_string(), Stored::Plain("1".into()));
        let entries = vec![
            e(RunEvent::RunStarted {
                run_id: "r".into(),
                ignored_requirements: Vec::new(),
                steps: 3,
                to_run: 3,
            }),
            e(RunEvent::StepStarted {
                step: "a".into(),
                attempt: 1,
                fingerprint: "fa".into(),
            }),
            e(RunEvent::AttemptFailed {
                step: "a".into(),
                attempt: 1,
                error: "exit 1".into(),
                retry_in_ms: 10,
            }),
            e(RunEvent::StepStarted {
                step: "a".into(),
                attempt: 2,
                fingerprint: "fa".into(),
            }),
            e(RunEvent::StepSucceeded {
                step: "a".into(),
                attempt: 2,
                outputs,
                duration_ms: 20,
                fingerprint: "fa".into(),
                rehearsed: Some(Rehearsed::Skipped {
                    reason: "needs traffic".into(),
                }),
                left_running: 0,
            }),
            e(RunEvent::StepStarted {
                step: "b".into(),
                attempt: 1,
                fingerprint: "fb".into(),
            }),
        ];
        let run = RunRecord::replay(&entries);
        let a = run.step("a");
        assert_eq!(
            (a.state, a.attempts, a.duration_ms),
            (StepState::Succeeded, 2, Some(20))
        );
        assert_eq!(a.outputs["A"], Stored::Plain("1".into()));
        assert_eq!(
            a.rehearsed,
            Some(Rehearsed::Skipped {
                reason: "needs traffic".into()
            })
        );
        assert_eq!(run.step("b").state, StepState::Running);
        assert_eq!(run.step("c").state, StepState::Pending);
        assert_eq!(run.outcome, None);
        assert!(!run.is_complete());
    }
}
