//! The scheduler: one dispatcher loop owns every step's slot; each attempt runs as its own task
//! and reports back on a channel. Steps start as soon as their dependencies succeeded, at most
//! `concurrency` at once, each seeing only the values it uses. A failure blocks its dependants
//! while other branches go on. What an attempt produced is judged by the output policy. Events
//! go to sinks; the durable ones are synced before any dependant of a finished step starts.
//!
//! A sync waits until a dependant needs it: while a slot can take work that is ready already,
//! the records of finished steps gather and share one sync (on a slow disk a sync costs more
//! than a trivial step). They are synced within [`SYNC_WITHIN`] regardless, and when the run ends.

mod attempt;
mod record;
mod settle;
mod slot;
#[cfg(test)]
mod tests;

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::events::{EventSink, Outcome, RunEvent, SkipReason};
use crate::model::Defaults;
use crate::run::executor::{Controls, Executor, Permanence, Site};
use crate::run::fingerprint;
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
    /// Requirements the run was told to ignore, said when it starts.
    pub ignored_requirements: Vec<String>,
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

/// How long the record of a finished step may wait for a sync when no dependant needs it.
pub const SYNC_WITHIN: Duration = Duration::from_millis(100);

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
    /// Since when events that must be durable wait for a sync.
    unsynced_since: Option<Instant>,
    running: usize,
    delayed: usize,
    stopping: bool,
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
            unsynced_since: None,
            running: 0,
            delayed: 0,
            stopping: false,
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
                ignored_requirements: self.settings.ignored_requirements.clone(),
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
            // Steps that were ready already start first; the journal is synced only when that
            // leaves a slot free and a dependant of a finished step could take it.
            self.launch_ready();
            let needed = !self.unsynced_ready.is_empty()
                && self.ready.is_empty()
                && self.running < self.settings.concurrency.max(1);
            let overdue = self
                .unsynced_since
                .is_some_and(|t| t.elapsed() >= SYNC_WITHIN);
            if needed || overdue {
                self.sync();
                self.launch_ready();
            }
            if self.running == 0 && (self.delayed == 0 || self.stopping) {
                break;
            }
            let stop = self.controls.stop.clone();
            let due = self.unsynced_since.map(|t| t + SYNC_WITHIN);
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
                _ = tokio::time::sleep_until(due.unwrap_or_else(Instant::now)), if due.is_some() => {
                    self.sync();
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

    /// Starts the next attempt of step `i` with the values it uses.
    fn launch(&mut self, i: usize) {
        let step = &self.list.steps[i];
        let values = self.known.only(&self.list.uses[i]);
        let fingerprint = fingerprint::fingerprint(&self.fingerprint_key, step, &values);
        let slot = &mut self.slots[i];
        slot.attempts += 1;
        let waited = slot.first_start.get_or_insert_with(Instant::now).elapsed();
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
        let timeout = step.timeout.or(self.settings.defaults.timeout);
        let prepared = attempt::prepare(
            &self.settings.site,
            step,
            attempt,
            values,
            &self.controls,
            waited,
            timeout,
        );
        match prepared {
            Ok((request, until)) => {
                self.slots[i].until = until;
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
}
