//! The scheduler: one dispatcher loop owns every step's slot; each attempt runs as its own task
//! and reports back on a channel. Steps start as soon as their dependencies succeeded, at most
//! `concurrency` at once, each seeing only the values it uses. A failure blocks its dependants
//! while other branches go on. What an attempt produced is judged by the output policy. Events
//! go to sinks; the durable ones are synced before any dependant of a finished step starts.

mod attempt;
mod slot;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;

use indexmap::IndexMap;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::events::{EventSink, Outcome, RunEvent, SkipReason, Stored};
use crate::model::Defaults;
use crate::run::executor::{Controls, Executor, Permanence, Site, StepFailure};
use crate::run::policy::{self, Verdict};
use crate::run::{fingerprint, retry};
use crate::state::secrets::Sealer;
use crate::validate::StepList;
use crate::values::Values;

use attempt::Report;
use slot::{Slot, State};

/// What a run drives: a list of steps, and the outputs of those an earlier invocation finished.
#[derive(Debug, Clone)]
pub struct Job<'a> {
    /// The steps, their graph and what each uses.
    pub list: StepList<'a>,
    /// Per step: the outputs restored from an earlier success (the step does not run again).
    pub restored: Vec<Option<Values>>,
}

/// How a run is carried out.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where steps run and where their logs go.
    pub site: Site,
    /// Most attempts running at once.
    pub concurrency: usize,
    /// The runbook's defaults.
    pub defaults: Defaults,
    /// Values every step may use: params (and, for cleanup, the outputs of the run cleaned up).
    pub values: Values,
    /// Seals secret outputs in events and keys fingerprints.
    pub sealer: Sealer,
}

/// A step that failed for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    /// The step.
    pub step: String,
    /// Why its last attempt failed.
    pub error: String,
    /// Whether trying again could have helped.
    pub permanence: Permanence,
}

/// How a run went.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The outcome.
    pub outcome: Outcome,
    /// Steps that succeeded or were restored.
    pub succeeded: usize,
    /// Steps that failed, with the last error.
    pub failed: Vec<Failed>,
    /// Steps not run because a dependency failed.
    pub blocked: usize,
    /// Steps stopped by a signal.
    pub interrupted: usize,
    /// Steps never started (the run was stopped first).
    pub not_started: usize,
}

/// Why the scheduler gave up: an event sink (the journal) failed, so progress could not be recorded.
#[derive(Debug, thiserror::Error)]
#[error("cannot record the run's progress: {0}")]
pub struct SchedulerError(#[source] pub std::io::Error);

/// Runs `job` to the end (success, failure or signal), sending every event to `sinks`.
pub async fn run(
    job: Job<'_>,
    settings: Settings,
    executor: Arc<dyn Executor>,
    sinks: &mut [&mut dyn EventSink],
    controls: Controls,
) -> Result<Summary, SchedulerError> {
    Dispatcher::new(job, settings, executor, sinks, controls)
        .run()
        .await
}

struct Dispatcher<'j, 'a, 's> {
    list: StepList<'j>,
    slots: Vec<Slot>,
    settings: Settings,
    fingerprint_key: [u8; 32],
    /// Params and every output produced (or restored) so far: what steps take their values from.
    known: Values,
    executor: Arc<dyn Executor>,
    sinks: &'a mut [&'s mut dyn EventSink],
    controls: Controls,
    ready: VecDeque<usize>,
    /// Steps made ready by successes not yet synced to the durable sinks.
    unsynced_ready: Vec<usize>,
    running: usize,
    delayed: usize,
    stopping: bool,
    dirty: bool,
    fatal: Option<std::io::Error>,
    tasks: JoinSet<()>,
    tx: mpsc::UnboundedSender<Report>,
    rx: mpsc::UnboundedReceiver<Report>,
}

impl<'j, 'a, 's> Dispatcher<'j, 'a, 's> {
    fn new(
        job: Job<'j>,
        settings: Settings,
        executor: Arc<dyn Executor>,
        sinks: &'a mut [&'s mut dyn EventSink],
        controls: Controls,
    ) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut known = settings.values.clone();
        let slots = job
            .restored
            .into_iter()
            .chain(std::iter::repeat(None))
            .take(job.list.steps.len())
            .map(|restored| {
                if let Some(outputs) = &restored {
                    known.extend(outputs.clone());
                }
                Slot::new(restored)
            })
            .collect();
        Dispatcher {
            list: job.list,
            slots,
            fingerprint_key: settings.sealer.fingerprint_key(),
            settings,
            known,
            executor,
            sinks,
            controls,
            ready: VecDeque::new(),
            unsynced_ready: Vec::new(),
            running: 0,
            delayed: 0,
            stopping: false,
            dirty: false,
            fatal: None,
            tasks: JoinSet::new(),
            tx,
            rx,
        }
    }

    async fn run(&mut self) -> Result<Summary, SchedulerError> {
        let started = Instant::now();
        let n = self.slots.len();
        let to_run = self
            .slots
            .iter()
            .filter(|s| s.state != State::Succeeded)
            .count();
        self.emit(
            None,
            RunEvent::RunStarted {
                run_id: self.settings.site.run_id.clone(),
                steps: n,
                to_run,
            },
        );
        for i in 0..n {
            if self.slots[i].state == State::Succeeded {
                let step = self.id(i);
                self.emit(
                    None,
                    RunEvent::StepSkipped {
                        step,
                        reason: SkipReason::Restored,
                    },
                );
                continue;
            }
            let waiting_on = self
                .list
                .graph
                .deps(i)
                .iter()
                .filter(|&&d| self.slots[d].state != State::Succeeded)
                .count();
            self.slots[i].waiting_on = waiting_on;
            if waiting_on == 0 {
                self.slots[i].state = State::Ready;
                self.ready.push_back(i);
            }
        }
        self.sync();

        loop {
            // Steps that were ready before the last reports start at once; then the journal is
            // synced (while they run); only then do the dependants of the steps that just
            // finished start. So a sync never leaves a slot idle that independent work could use.
            self.launch_ready();
            self.sync();
            if !self.unsynced_ready.is_empty() {
                let newly = std::mem::take(&mut self.unsynced_ready);
                self.ready.extend(newly);
                self.launch_ready();
            }
            if self.running == 0 && (self.delayed == 0 || self.stopping) {
                break;
            }
            let stop = self.controls.stop.clone();
            tokio::select! {
                biased;
                _ = stop.cancelled(), if !self.stopping => self.begin_stop(),
                report = self.rx.recv() => {
                    // The dispatcher holds a sender, so the channel never closes.
                    let Some(report) = report else { break };
                    self.handle(report);
                    // Take every report already waiting: one sync serves all of them.
                    while let Ok(report) = self.rx.try_recv() {
                        self.handle(report);
                    }
                }
            }
        }
        self.tasks.abort_all();
        self.finish(started)
    }

    fn id(&self, i: usize) -> String {
        self.list.steps[i].id.clone()
    }

    fn launch_ready(&mut self) {
        while !self.stopping && self.running < self.settings.concurrency.max(1) {
            let Some(i) = self.ready.pop_front() else {
                break;
            };
            self.launch(i);
        }
    }

    fn finish(&mut self, started: Instant) -> Result<Summary, SchedulerError> {
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
        self.dirty = true;
        self.sync();
        match self.fatal.take() {
            Some(e) => Err(SchedulerError(e)),
            None => Ok(summary),
        }
    }

    /// Sends an event to every sink; texts of step `i`'s events are masked with the secret
    /// values the step could see (error and wait texts can quote a field or a server's answer).
    fn emit(&mut self, i: Option<usize>, mut event: RunEvent) {
        if let Some(i) = i {
            let values = &self.slots[i].values;
            match &mut event {
                RunEvent::WaitPending { reason: text, .. }
                | RunEvent::AttemptFailed { error: text, .. }
                | RunEvent::StepFailed { error: text, .. } => *text = values.mask(text),
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

    fn sync(&mut self) {
        if !std::mem::take(&mut self.dirty) {
            return;
        }
        for i in 0..self.sinks.len() {
            if let Err(e) = self.sinks[i].sync() {
                self.fail_fatally(e);
            }
        }
    }

    fn fail_fatally(&mut self, e: std::io::Error) {
        if self.fatal.is_none() {
            self.fatal = Some(e);
        }
        if !self.stopping {
            self.controls.stop.cancel();
        }
    }

    fn begin_stop(&mut self) {
        self.stopping = true;
        for i in 0..self.slots.len() {
            if self.slots[i].state == State::Delayed {
                self.slots[i].state = State::Interrupted;
                self.delayed -= 1;
                let (step, attempt) = (self.id(i), self.slots[i].attempts);
                self.emit(Some(i), RunEvent::StepInterrupted { step, attempt });
            }
        }
        self.dirty = true;
        self.sync();
    }

    /// Starts the next attempt of step `i` with the values it uses.
    fn launch(&mut self, i: usize) {
        let step = &self.list.steps[i];
        let values = self.known.only(&self.list.uses[i]);
        let fingerprint = fingerprint::fingerprint(&self.fingerprint_key, step, &values);
        let slot = &mut self.slots[i];
        slot.attempts += 1;
        slot.first_start.get_or_insert_with(Instant::now);
        slot.fingerprint = fingerprint.clone();
        slot.values = values.clone();
        slot.state = State::Running;
        let attempt = slot.attempts;
        self.running += 1;
        self.emit(
            Some(i),
            RunEvent::StepStarted {
                step: step.id.clone(),
                attempt,
                fingerprint,
            },
        );
        let prepared = attempt::prepare(&self.settings.site, step, attempt, values, &self.controls);
        match prepared {
            Ok((request, until)) => {
                self.slots[i].until = until;
                let timeout = step.timeout.or(self.settings.defaults.timeout);
                attempt::spawn(
                    &mut self.tasks,
                    self.executor.clone(),
                    request,
                    timeout,
                    i,
                    self.tx.clone(),
                );
            }
            Err(failure) => {
                let _ = self.tx.send(Report::Finished {
                    index: i,
                    result: Err(failure),
                });
            }
        }
    }

    fn handle(&mut self, report: Report) {
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
                let verdict = match result {
                    Ok(produced) => policy::judge(
                        &self.list.steps[index],
                        slot.until.as_ref(),
                        produced,
                        waited,
                        &self.settings.sealer,
                    ),
                    Err(failure) => Verdict::Fail(failure),
                };
                match verdict {
                    Verdict::Accept { outputs, stored } => self.succeed(index, outputs, stored),
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

    fn delay(&mut self, i: usize, after: std::time::Duration) {
        self.slots[i].state = State::Delayed;
        self.delayed += 1;
        attempt::wake(&mut self.tasks, i, after, self.tx.clone());
    }

    fn succeed(&mut self, i: usize, outputs: Values, stored: IndexMap<String, Stored>) {
        let event = RunEvent::StepSucceeded {
            step: self.id(i),
            attempt: self.slots[i].attempts,
            outputs: stored,
            duration_ms: self.slots[i].elapsed_ms(),
            fingerprint: self.slots[i].fingerprint.clone(),
        };
        self.emit(Some(i), event);
        self.dirty = true;
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

    fn interrupt(&mut self, i: usize) {
        self.slots[i].state = State::Interrupted;
        let (step, attempt) = (self.id(i), self.slots[i].attempts);
        self.emit(Some(i), RunEvent::StepInterrupted { step, attempt });
        self.dirty = true;
    }

    fn fail(&mut self, i: usize, failure: StepFailure) {
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
        self.dirty = true;
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
