//! What the dispatcher does when an attempt ends or a delay is over: the step succeeds (and its
//! dependants may go), tries again, is retried, fails (and blocks its dependants), or stops.

use indexmap::IndexMap;

use super::Dispatcher;
use super::attempt::{self, Report};
use super::slot::State;
use crate::events::{Rehearsed, RunEvent, SkipReason, Stored};
use crate::run::executor::{Permanence, StepFailure};
use crate::run::policy::{self, Verdict};
use crate::run::retry;
use crate::values::Values;

impl Dispatcher<'_, '_, '_> {
    pub(super) fn handle(&mut self, report: Report) {
        match report {
            Report::Due { index } => {
                if self.slots[index].state == State::Delayed {
                    self.delayed -= 1;
                    if self.stopping {
                        return;
                    }
                    self.slots[index].state = State::Ready;
                    // A retry goes ahead of steps that never ran: it already holds partial work.
                    self.ready.push_front(index);
                }
            }
            Report::Finished { index, result } => {
                self.running -= 1;
                let slot = &self.slots[index];
                let waited = slot
                    .first_start
                    .map_or_else(Default::default, |t| t.elapsed());
                let (verdict, rehearsed, left_running) = match result {
                    Ok(done) => (
                        policy::judge(
                            &self.list.steps[index],
                            slot.until.as_ref(),
                            done.outputs,
                            waited,
                            &self.settings.sealer,
                        ),
                        done.rehearsed,
                        done.left_running,
                    ),
                    Err(failure) => (Verdict::Fail(failure), None, 0),
                };
                match verdict {
                    Verdict::Accept { outputs, stored } => {
                        self.succeed(index, outputs, stored, rehearsed, left_running)
                    }
                    Verdict::Again { .. } | Verdict::Fail(_) if self.stopping => {
                        self.interrupt(index)
                    }
                    Verdict::Again { reason, after } => {
                        let (step, attempt) = (self.id(index), self.slots[index].attempts);
                        self.emit(
                            Some(index),
                            RunEvent::WaitPending {
                                step,
                                attempt,
                                reason,
                                next_in_ms: after.as_millis() as u64,
                            },
                        );
                        self.delay(index, after);
                    }
                    Verdict::Fail(failure) => self.fail(index, failure),
                }
            }
        }
    }

    pub(super) fn delay(&mut self, i: usize, after: std::time::Duration) {
        self.slots[i].state = State::Delayed;
        self.delayed += 1;
        attempt::wake(&mut self.tasks, i, after, self.tx.clone());
    }

    pub(super) fn succeed(
        &mut self,
        i: usize,
        outputs: Values,
        stored: IndexMap<String, Stored>,
        rehearsed: Option<Rehearsed>,
        left_running: usize,
    ) {
        let event = RunEvent::StepSucceeded {
            step: self.id(i),
            attempt: self.slots[i].attempts,
            outputs: stored,
            duration_ms: self.slots[i].elapsed_ms(),
            fingerprint: self.slots[i].fingerprint.clone(),
            rehearsed,
            left_running,
        };
        self.emit(Some(i), event);
        self.unsynced();
        self.slots[i].state = State::Succeeded;
        self.known.extend(outputs);
        for &j in self.list.graph.dependants(i) {
            let slot = &mut self.slots[j];
            slot.waiting_on -= 1;
            if slot.waiting_on == 0 && slot.state == State::Waiting {
                slot.state = State::Ready;
                self.unsynced_ready.push(j);
            }
        }
    }

    pub(super) fn interrupt(&mut self, i: usize) {
        self.slots[i].state = State::Interrupted;
        let (step, attempt) = (self.id(i), self.slots[i].attempts);
        self.emit(Some(i), RunEvent::StepInterrupted { step, attempt });
        self.unsynced();
    }

    pub(super) fn fail(&mut self, i: usize, failure: StepFailure) {
        let step = self.id(i);
        let attempt = self.slots[i].attempts;
        let permanence = failure.permanence();
        // A permanent failure is not retried: the same request would fail the same way.
        if permanence == Permanence::Transient {
            self.slots[i].failures += 1;
            let failures = self.slots[i].failures;
            if let Some(policy) = self.list.steps[i].retry_policy(&self.settings.defaults)
                && retry::may_retry(Some(policy), failures)
            {
                let after = retry::delay(policy, failures + 1, rand::random::<f64>());
                self.emit(
                    Some(i),
                    RunEvent::AttemptFailed {
                        step,
                        attempt,
                        error: failure.to_string(),
                        retry_in_ms: after.as_millis() as u64,
                    },
                );
                self.delay(i, after);
                return;
            }
        }
        let error = self.slots[i].values.mask(&failure.to_string());
        self.emit(
            Some(i),
            RunEvent::StepFailed {
                step: step.clone(),
                attempt,
                error: error.clone(),
                permanent: permanence == Permanence::Permanent,
                duration_ms: self.slots[i].elapsed_ms(),
            },
        );
        self.slots[i].error = Some((error, permanence));
        self.slots[i].state = State::Failed;
        self.unsynced();
        let mut stack = self.list.graph.dependants(i).to_vec();
        while let Some(j) = stack.pop() {
            if matches!(self.slots[j].state, State::Waiting | State::Ready) {
                self.slots[j].state = State::Blocked;
                self.ready.retain(|&r| r != j);
                self.unsynced_ready.retain(|&r| r != j);
                let blocked = self.id(j);
                self.emit(
                    Some(j),
                    RunEvent::StepSkipped {
                        step: blocked,
                        reason: SkipReason::Blocked {
                            dependency: step.clone(),
                        },
                    },
                );
                stack.extend_from_slice(self.list.graph.dependants(j));
            }
        }
    }
}
