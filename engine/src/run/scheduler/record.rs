//! How the dispatcher records a run: events to every sink (masked with the values the step saw),
//! syncs of the durable ones, and the summary at the end.

use tokio::time::Instant;

use super::slot::State;
use super::{Dispatcher, Failed, SchedulerError, Summary};
use crate::events::{Outcome, Rehearsed, RunEvent};

impl Dispatcher<'_, '_, '_> {
    pub(super) fn finish(&mut self, started: Instant) -> Result<Summary, SchedulerError> {
        let count = |s: State| self.slots.iter().filter(|x| x.state == s).count();
        let failed: Vec<Failed> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, slot)| {
                let (error, permanence) = slot.error.clone()?;
                (slot.state == State::Failed).then(|| Failed {
                    step: self.id(i),
                    error,
                    permanence,
                })
            })
            .collect();
        let outcome = if self.stopping {
            Outcome::Interrupted
        } else if failed.is_empty() {
            Outcome::Succeeded
        } else {
            Outcome::Failed
        };
        let summary = Summary {
            outcome,
            succeeded: count(State::Succeeded),
            failed,
            blocked: count(State::Blocked),
            interrupted: count(State::Interrupted),
            not_started: count(State::Waiting) + count(State::Ready),
        };
        self.emit(
            None,
            RunEvent::RunFinished {
                outcome,
                succeeded: summary.succeeded,
                failed: summary.failed.len(),
                blocked: summary.blocked,
                interrupted: summary.interrupted,
                duration_ms: started.elapsed().as_millis() as u64,
            },
        );
        self.unsynced();
        self.sync();
        match self.fatal.take() {
            Some(e) => Err(SchedulerError(e)),
            None => Ok(summary),
        }
    }

    /// Sends an event to every sink; texts of step `i`'s events are masked with the secret
    /// values the step could see (error and wait texts can quote a field or a server's answer,
    /// a rehearsal's stand-in a rendered context).
    pub(super) fn emit(&mut self, i: Option<usize>, mut event: RunEvent) {
        if let Some(i) = i {
            let values = &self.slots[i].values;
            match &mut event {
                RunEvent::WaitPending { reason: text, .. }
                | RunEvent::AttemptFailed { error: text, .. }
                | RunEvent::StepFailed { error: text, .. }
                | RunEvent::StepSucceeded {
                    rehearsed:
                        Some(
                            Rehearsed::StandIn { context: text, .. }
                            | Rehearsed::Skipped { reason: text },
                        ),
                    ..
                } => *text = values.mask(text),
                _ => {}
            }
        }
        let mut failure = None;
        for sink in self.sinks.iter_mut() {
            if let Err(e) = sink.event(&event) {
                failure.get_or_insert(e);
            }
        }
        if let Some(e) = failure {
            self.fail_fatally(e);
        }
    }

    /// Notes that events that must be durable were sent and wait for a sync.
    pub(super) fn unsynced(&mut self) {
        self.unsynced_since.get_or_insert_with(Instant::now);
    }

    /// Syncs the durable sinks; the steps the synced successes made ready may then start.
    pub(super) fn sync(&mut self) {
        if self.unsynced_since.take().is_none() {
            return;
        }
        for i in 0..self.sinks.len() {
            if let Err(e) = self.sinks[i].sync() {
                self.fail_fatally(e);
            }
        }
        let synced = std::mem::take(&mut self.unsynced_ready);
        self.ready.extend(synced);
    }

    pub(super) fn fail_fatally(&mut self, e: std::io::Error) {
        if self.fatal.is_none() {
            self.fatal = Some(e);
        }
        if !self.stopping {
            self.controls.stop.cancel();
        }
    }

    pub(super) fn begin_stop(&mut self) {
        self.stopping = true;
        for i in 0..self.slots.len() {
            if self.slots[i].state == State::Delayed {
                self.slots[i].state = State::Interrupted;
                self.delayed -= 1;
                let (step, attempt) = (self.id(i), self.slots[i].attempts);
                self.emit(Some(i), RunEvent::StepInterrupted { step, attempt });
            }
        }
        self.unsynced();
        self.sync();
    }
}
