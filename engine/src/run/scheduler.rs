//! The scheduler: one dispatcher loop owns every step's bookkeeping; each attempt runs as its own
//! task and reports back on a channel. Steps start as soon as their dependencies succeeded, at
//! most `concurrency` at once. A failure blocks its dependants while other branches go on. Events
//! go to sinks; the durable ones are synced before any dependant of a finished step starts.

use std::collections::BTreeSet;
use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::events::{EventSink, Outcome, RunEvent, SkipReason, Stored};
use crate::model::{Defaults, Step};
use crate::model::{Rendered, Until};
use crate::render::{self, Render};
use crate::run::executor::{self, Echo, Executor, LogSink, Produced, StepFailure, StepRequest};
use crate::run::{fingerprint, retry, wait};
use crate::state::secrets::Sealer;
use crate::template::Renderer;

/// One step as the scheduler sees it.
#[derive(Debug, Clone)]
pub struct Unit {
    /// The step's definition (templates not yet rendered).
    pub step: Step,
    /// Indexes of the steps it depends on.
    pub deps: Vec<usize>,
    /// Outputs restored from an earlier success: the step does not run again.
    pub restored: Option<IndexMap<String, String>>,
}

/// How a run is carried out.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The run's id.
    pub run_id: String,
    /// Most attempts running at once.
    pub concurrency: usize,
    /// The directory steps run in.
    pub workdir: PathBuf,
    /// Where per-step logs go.
    pub log_dir: PathBuf,
    /// Private scratch space for files that must not outlive an attempt.
    pub scratch: PathBuf,
    /// How long a stopped step may take to exit before it is killed.
    pub grace: Duration,
    /// The runbook's defaults.
    pub defaults: Defaults,
    /// Values every step sees: params (and, for cleanup, the outputs of the run cleaned up).
    pub values: IndexMap<String, String>,
    /// Seals secret outputs in events and keys fingerprints.
    pub sealer: Sealer,
    /// Names among `values` whose values are secret: masked wherever a step's output is logged.
    pub secret_values: BTreeSet<String>,
}

/// Signals from outside: `stop` ends a run gracefully, `kill` at once.
#[derive(Debug, Clone, Default)]
pub struct Controls {
    /// Stop starting steps; running ones get a grace period.
    pub stop: CancellationToken,
    /// Kill running steps now.
    pub kill: CancellationToken,
}

/// How a run went.
#[derive(Debug, Clone, PartialEq)]
pub struct Summary {
    /// The outcome.
    pub outcome: Outcome,
    /// Steps that succeeded or were restored.
    pub succeeded: usize,
    /// Steps that failed, with the last error.
    pub failed: Vec<(String, String)>,
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

/// Where each step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Ready,
    Running,
    Delayed,
    Succeeded,
    Failed,
    Blocked,
    Interrupted,
}

enum Msg {
    Finished {
        index: usize,
        result: Result<Produced, StepFailure>,
    },
    Due {
        index: usize,
    },
}

/// Runs `units` to the end (success, failure or signal), sending every event to `sinks`.
pub async fn run(
    units: Vec<Unit>,
    settings: Settings,
    executor: Arc<dyn Executor>,
    echo: Option<Echo>,
    sinks: &mut [&mut dyn EventSink],
    controls: Controls,
) -> Result<Summary, SchedulerError> {
    let mut d = Dispatcher::new(units, settings, executor, echo, sinks, controls);
    d.run().await
}

struct Dispatcher<'a, 's> {
    units: Vec<Unit>,
    /// Names of every secret value a step can see: secret params and secret outputs.
    secret_names: BTreeSet<String>,
    /// Per step, the secret values its last attempt could see: masked in every event's text.
    step_secrets: Vec<Vec<String>>,
    /// Step id to index, for masking events by step.
    index: std::collections::HashMap<String, usize>,
    dependants: Vec<Vec<usize>>,
    settings: Settings,
    fingerprint_key: [u8; 32],
    executor: Arc<dyn Executor>,
    echo: Option<Echo>,
    sinks: &'a mut [&'s mut dyn EventSink],
    controls: Controls,
    renderer: Renderer,
    state: Vec<State>,
    remaining: Vec<usize>,
    attempts: Vec<u32>,
    failures: Vec<u32>,
    first_start: Vec<Option<Instant>>,
    fingerprints: Vec<String>,
    outputs: Vec<Option<IndexMap<String, String>>>,
    errors: Vec<Option<String>>,
    ready: VecDeque<usize>,
    /// Steps made ready by successes not yet synced to the durable sinks.
    unsynced_ready: Vec<usize>,
    running: usize,
    delayed: usize,
    stopping: bool,
    dirty: bool,
    fatal: Option<std::io::Error>,
    tasks: JoinSet<()>,
    tx: mpsc::UnboundedSender<Msg>,
    rx: mpsc::UnboundedReceiver<Msg>,
}

impl<'a, 's> Dispatcher<'a, 's> {
    fn new(
        units: Vec<Unit>,
        settings: Settings,
        executor: Arc<dyn Executor>,
        echo: Option<Echo>,
        sinks: &'a mut [&'s mut dyn EventSink],
        controls: Controls,
    ) -> Self {
        let n = units.len();
        let mut dependants = vec![Vec::new(); n];
        for (i, u) in units.iter().enumerate() {
            for &dep in &u.deps {
                dependants[dep].push(i);
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let fingerprint_key = settings.sealer.fingerprint_key();
        let mut secret_names = settings.secret_values.clone();
        for u in &units {
            secret_names.extend(
                u.step
                    .outputs
                    .iter()
                    .filter(|(_, o)| o.secret)
                    .map(|(n, _)| n.clone()),
            );
        }
        Dispatcher {
            secret_names,
            step_secrets: vec![Vec::new(); n],
            index: units
                .iter()
                .enumerate()
                .map(|(i, u)| (u.step.id.clone(), i))
                .collect(),
            dependants,
            fingerprint_key,
            executor,
            echo,
            sinks,
            controls,
            renderer: Renderer::new(),
            state: vec![State::Waiting; n],
            remaining: vec![0; n],
            attempts: vec![0; n],
            failures: vec![0; n],
            first_start: vec![None; n],
            fingerprints: vec![String::new(); n],
            outputs: vec![None; n],
            errors: vec![None; n],
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
            units,
            settings,
        }
    }

    async fn run(&mut self) -> Result<Summary, SchedulerError> {
        let started = Instant::now();
        let n = self.units.len();
        for i in 0..n {
            if let Some(restored) = self.units[i].restored.take() {
                self.outputs[i] = Some(restored);
                self.state[i] = State::Succeeded;
            }
        }
        let to_run = self
            .state
            .iter()
            .filter(|s| **s != State::Succeeded)
            .count();
        self.emit(RunEvent::RunStarted {
            run_id: self.settings.run_id.clone(),
            steps: n,
            to_run,
        });
        for i in 0..n {
            if self.state[i] == State::Succeeded {
                let step = self.units[i].step.id.clone();
                self.emit(RunEvent::StepSkipped {
                    step,
                    reason: SkipReason::Restored,
                });
                continue;
            }
            self.remaining[i] = self.units[i]
                .deps
                .iter()
                .filter(|&&d| self.state[d] != State::Succeeded)
                .count();
            if self.remaining[i] == 0 {
                self.state[i] = State::Ready;
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
                msg = self.rx.recv() => {
                    // The dispatcher holds a sender, so the channel never closes.
                    let Some(msg) = msg else { break };
                    self.handle(msg);
                    // Take every report already waiting: one sync serves all of them.
                    while let Ok(msg) = self.rx.try_recv() {
                        self.handle(msg);
                    }
                }
            }
        }
        self.tasks.abort_all();
        self.finish(started)
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
        let count = |s: State| self.state.iter().filter(|x| **x == s).count();
        let failed: Vec<(String, String)> = (0..self.units.len())
            .filter(|&i| self.state[i] == State::Failed)
            .map(|i| {
                (
                    self.units[i].step.id.clone(),
                    self.errors[i].clone().unwrap_or_default(),
                )
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
        self.emit(RunEvent::RunFinished {
            outcome,
            succeeded: summary.succeeded,
            failed: summary.failed.len(),
            blocked: summary.blocked,
            interrupted: summary.interrupted,
            duration_ms: started.elapsed().as_millis() as u64,
        });
        self.dirty = true;
        self.sync();
        match self.fatal.take() {
            Some(e) => Err(SchedulerError(e)),
            None => Ok(summary),
        }
    }

    fn emit(&mut self, mut event: RunEvent) {
        // Error and wait texts can quote rendered fields or a cluster's answer: mask what is secret.
        let (step, text) = match &mut event {
            RunEvent::WaitPending { step, reason, .. } => (step.clone(), Some(reason)),
            RunEvent::AttemptFailed { step, error, .. }
            | RunEvent::StepFailed { step, error, .. } => (step.clone(), Some(error)),
            _ => (String::new(), None),
        };
        if let (Some(text), Some(&i)) = (text, self.index.get(&step))
            && !self.step_secrets[i].is_empty()
        {
            *text = executor::mask(text, &self.step_secrets[i]);
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
        for i in 0..self.units.len() {
            if self.state[i] == State::Delayed {
                self.state[i] = State::Interrupted;
                self.delayed -= 1;
                let step = self.units[i].step.id.clone();
                self.emit(RunEvent::StepInterrupted {
                    step,
                    attempt: self.attempts[i],
                });
            }
        }
        self.dirty = true;
        self.sync();
    }

    /// Params, then the outputs of every step upstream of `i`.
    fn inputs(&self, i: usize) -> IndexMap<String, String> {
        super::inputs(
            &self.settings.values,
            i,
            |d| &self.units[d].deps,
            |d| self.outputs[d].as_ref(),
        )
    }

    fn launch(&mut self, i: usize) {
        self.attempts[i] += 1;
        let attempt = self.attempts[i];
        if attempt == 1 {
            self.first_start[i] = Some(Instant::now());
        }
        let step = self.units[i].step.clone();
        let env = self.inputs(i);
        let data = render::data(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        let secrets: Vec<String> = env
            .iter()
            .filter(|(k, v)| self.secret_names.contains(*k) && !v.is_empty())
            .map(|(_, v)| v.clone())
            .collect();
        self.step_secrets[i] = secrets.clone();
        let fp = fingerprint::fingerprint(&self.fingerprint_key, &step, &env);
        self.fingerprints[i] = fp.clone();
        let id = step.id.clone();
        self.emit(RunEvent::StepStarted {
            step: id.clone(),
            attempt,
            fingerprint: fp,
        });
        let action = match Render::new(&self.renderer, &data).action(&step.action) {
            Ok(a) => a,
            Err(e) => {
                self.running += 1;
                self.state[i] = State::Running;
                let _ = self.tx.send(Msg::Finished {
                    index: i,
                    result: Err(StepFailure::Render(e.to_string())),
                });
                return;
            }
        };
        let timeout = step.timeout.or(self.settings.defaults.timeout);
        let request = StepRequest {
            run_id: self.settings.run_id.clone(),
            step: id.clone(),
            attempt,
            action,
            secrets: secrets.clone(),
            env,
            outputs: step.outputs.clone(),
            workdir: self.settings.workdir.clone(),
            scratch: self.settings.scratch.clone(),
            log: LogSink {
                path: self.settings.log_dir.join(log_name(&id)),
                echo: self.echo.clone(),
            },
            stop: self.controls.stop.child_token(),
            kill: self.controls.kill.child_token(),
            grace: self.settings.grace,
        };
        self.state[i] = State::Running;
        self.running += 1;
        let executor = self.executor.clone();
        let tx = self.tx.clone();
        self.tasks.spawn(async move {
            let kill = request.kill.clone();
            let fut = executor.execute(request);
            tokio::pin!(fut);
            let result = match timeout {
                None => fut.await,
                Some(limit) => {
                    tokio::select! {
                        r = &mut fut => r,
                        _ = tokio::time::sleep(limit.get()) => {
                            kill.cancel();
                            let _ = fut.await;
                            Err(StepFailure::Timeout(limit))
                        }
                    }
                }
            };
            let _ = tx.send(Msg::Finished { index: i, result });
        });
    }

    fn handle(&mut self, msg: Msg) {
        match msg {
            Msg::Due { index } => {
                if self.state[index] == State::Delayed {
                    self.delayed -= 1;
                    if self.stopping {
                        return;
                    }
                    self.state[index] = State::Ready;
                    // A retry goes ahead of steps that never ran: it already holds partial work.
                    self.ready.push_front(index);
                }
            }
            Msg::Finished { index, result } => {
                self.running -= 1;
                let result = result.and_then(|p| self.accept(index, p));
                match result {
                    Ok(Some(outputs)) => self.succeed(index, outputs),
                    Ok(None) => {}
                    Err(_) if self.stopping => self.interrupt(index),
                    Err(failure) => self.fail(index, failure),
                }
            }
        }
    }

    /// Applies the wait condition and type checks: `Ok(None)` when the step must try again.
    fn accept(
        &mut self,
        i: usize,
        produced: Produced,
    ) -> Result<Option<IndexMap<String, String>>, StepFailure> {
        let step = &self.units[i].step;
        let declared = &step.outputs;
        let outputs: IndexMap<String, String> = produced
            .into_iter()
            .filter(|(k, _)| declared.contains_key(k))
            .map(|(k, v)| {
                let v = executor::decode(&k, &declared[&k], v)?;
                Ok((k, v))
            })
            .collect::<Result<_, StepFailure>>()?;
        let until = match &step.wait {
            Some(policy) => Some(self.render_until(i, &policy.until)?),
            None => None,
        };
        if let (Some(policy), Some(until)) = (&step.wait, &until)
            && let Err(unmet) = wait::check(until, declared, &outputs)
        {
            let started = self.first_start[i].unwrap_or_else(Instant::now);
            let deadline = started + policy.timeout.get();
            let next = policy.interval.get();
            if self.stopping {
                return Err(StepFailure::Interrupted);
            }
            if Instant::now() + next > deadline {
                return Err(StepFailure::transient(format!(
                    "still waiting after {}: {unmet}",
                    policy.timeout
                )));
            }
            let id = step.id.clone();
            let attempt = self.attempts[i];
            self.emit(RunEvent::WaitPending {
                step: id,
                attempt,
                reason: unmet.to_string(),
                next_in_ms: next.as_millis() as u64,
            });
            self.delay(i, next);
            return Ok(None);
        }
        executor::check_outputs(declared, &outputs)?;
        Ok(Some(outputs))
    }

    /// The step's wait condition with its templates rendered, like every other field of the step.
    fn render_until(&self, i: usize, until: &Until) -> Result<Until<Rendered>, StepFailure> {
        let inputs = self.inputs(i);
        let data = render::data(inputs.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        Render::new(&self.renderer, &data)
            .until(until)
            .map_err(|e| StepFailure::Render(e.to_string()))
    }

    fn delay(&mut self, i: usize, after: Duration) {
        self.state[i] = State::Delayed;
        self.delayed += 1;
        let tx = self.tx.clone();
        self.tasks.spawn(async move {
            tokio::time::sleep(after).await;
            let _ = tx.send(Msg::Due { index: i });
        });
    }

    fn elapsed_ms(&self, i: usize) -> u64 {
        self.first_start[i].map_or(0, |t| t.elapsed().as_millis() as u64)
    }

    fn succeed(&mut self, i: usize, outputs: IndexMap<String, String>) {
        let step = &self.units[i].step;
        let stored = outputs
            .iter()
            .map(|(k, v)| {
                let secret = step.outputs.get(k).is_some_and(|s| s.secret);
                let s = if secret {
                    Stored::Sealed(self.settings.sealer.seal(k, v))
                } else {
                    Stored::Plain(v.clone())
                };
                (k.clone(), s)
            })
            .collect();
        let event = RunEvent::StepSucceeded {
            step: step.id.clone(),
            attempt: self.attempts[i],
            outputs: stored,
            duration_ms: self.elapsed_ms(i),
            fingerprint: self.fingerprints[i].clone(),
        };
        self.emit(event);
        self.dirty = true;
        self.state[i] = State::Succeeded;
        self.outputs[i] = Some(outputs);
        for k in 0..self.dependants[i].len() {
            let j = self.dependants[i][k];
            self.remaining[j] -= 1;
            if self.remaining[j] == 0 && self.state[j] == State::Waiting {
                self.state[j] = State::Ready;
                self.unsynced_ready.push(j);
            }
        }
    }

    fn interrupt(&mut self, i: usize) {
        self.state[i] = State::Interrupted;
        let step = self.units[i].step.id.clone();
        self.emit(RunEvent::StepInterrupted {
            step,
            attempt: self.attempts[i],
        });
        self.dirty = true;
    }

    fn fail(&mut self, i: usize, failure: StepFailure) {
        let step = self.units[i].step.id.clone();
        let attempt = self.attempts[i];
        let retryable = failure.permanence() == executor::Permanence::Transient;
        if retryable {
            self.failures[i] += 1;
            let policy = self.units[i]
                .step
                .retry_policy(&self.settings.defaults)
                .cloned();
            if retry::may_retry(policy.as_ref(), self.failures[i])
                && let Some(policy) = policy
            {
                let after = retry::delay(&policy, self.failures[i] + 1, rand::random::<f64>());
                self.emit(RunEvent::AttemptFailed {
                    step,
                    attempt,
                    error: failure.to_string(),
                    retry_in_ms: after.as_millis() as u64,
                });
                self.delay(i, after);
                return;
            }
        }
        let error = executor::mask(&failure.to_string(), &self.step_secrets[i]);
        self.emit(RunEvent::StepFailed {
            step: step.clone(),
            attempt,
            error: error.clone(),
            duration_ms: self.elapsed_ms(i),
        });
        self.errors[i] = Some(error);
        self.state[i] = State::Failed;
        self.dirty = true;
        let mut stack = self.dependants[i].clone();
        while let Some(j) = stack.pop() {
            if matches!(self.state[j], State::Waiting | State::Ready) {
                self.state[j] = State::Blocked;
                self.ready.retain(|&r| r != j);
                self.unsynced_ready.retain(|&r| r != j);
                let blocked = self.units[j].step.id.clone();
                self.emit(RunEvent::StepSkipped {
                    step: blocked,
                    reason: SkipReason::Blocked {
                        dependency: step.clone(),
                    },
                });
                stack.extend(self.dependants[j].iter().copied());
            }
        }
    }
}

/// The log file name of a step: its id, with anything unsafe in a file name replaced.
pub fn log_name(step: &str) -> String {
    let safe: String = step
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{safe}.log")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{
        Action, Backoff, Command, Duration as D, OutputSpec, RetryPolicy, ShellSpec, Until,
        ValueType, WaitPolicy,
    };
    use std::collections::{HashMap, VecDeque};
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Clone)]
    enum Act {
        Ok(Vec<(&'static str, &'static str)>),
        Fail,
        Hang,
    }

    /// Step id, attempt, env and rendered script of one call.
    type Call = (String, u32, IndexMap<String, String>, String);

    /// An executor that follows a script per step, taking `took` of (paused) time per attempt.
    #[derive(Default)]
    struct Fake {
        plans: Mutex<HashMap<String, VecDeque<Act>>>,
        calls: Mutex<Vec<Call>>,
        running: AtomicUsize,
        peak: AtomicUsize,
        took: Duration,
    }

    impl Fake {
        fn new(took_ms: u64) -> Fake {
            Fake {
                took: Duration::from_millis(took_ms),
                ..Fake::default()
            }
        }
        fn script(self, step: &str, acts: &[Act]) -> Fake {
            self.plans
                .lock()
                .unwrap()
                .insert(step.into(), acts.iter().cloned().collect());
            self
        }
        fn order(&self) -> Vec<String> {
            self.calls
                .lock()
                .unwrap()
                .iter()
                .map(|c| c.0.clone())
                .collect()
        }
    }

    impl Executor for Fake {
        fn execute(
            &self,
            req: StepRequest,
        ) -> executor::BoxFuture<'_, Result<Produced, StepFailure>> {
            Box::pin(async move {
                let script = match &req.action {
                    Action::Shell(ShellSpec {
                        command: Command::Script(s),
                        ..
                    }) => s.clone(),
                    _ => String::new(),
                };
                self.calls.lock().unwrap().push((
                    req.step.clone(),
                    req.attempt,
                    req.env.clone(),
                    script,
                ));
                let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
                self.peak.fetch_max(now, Ordering::SeqCst);
                let act = self
                    .plans
                    .lock()
                    .unwrap()
                    .get_mut(&req.step)
                    .and_then(|q| q.pop_front());
                let act = act.unwrap_or(Act::Ok(vec![]));
                let took = if matches!(act, Act::Hang) {
                    Duration::from_secs(86_400)
                } else {
                    self.took
                };
                let result = tokio::select! {
                    _ = tokio::time::sleep(took) => match act {
                        Act::Ok(values) => Ok(values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
                        Act::Fail => Err(StepFailure::Exit { code: 1 }),
                        Act::Hang => unreachable!("hangs a day"),
                    },
                    _ = req.stop.cancelled() => Err(StepFailure::Interrupted),
                    _ = req.kill.cancelled() => Err(StepFailure::Interrupted),
                };
                self.running.fetch_sub(1, Ordering::SeqCst);
                result
            })
        }
    }

    #[derive(Default)]
    struct Collect(Vec<RunEvent>, usize);

    impl EventSink for Collect {
        fn event(&mut self, event: &RunEvent) -> std::io::Result<()> {
            self.0.push(event.clone());
            Ok(())
        }
        fn sync(&mut self) -> std::io::Result<()> {
            self.1 += 1;
            Ok(())
        }
    }

    fn step(id: &str, script: &str) -> Step {
        Step {
            id: id.into(),
            title: None,
            needs: vec![],
            timeout: None,
            retry: None,
            wait: None,
            outputs: IndexMap::new(),
            sandbox: None,
            action: Action::Shell(ShellSpec::script(script)),
        }
    }

    fn output(mut s: Step, name: &str, ty: ValueType, secret: bool) -> Step {
        s.outputs.insert(
            name.into(),
            OutputSpec {
                ty,
                secret,
                ..Default::default()
            },
        );
        s
    }

    fn unit(step: Step, deps: &[usize]) -> Unit {
        Unit {
            step,
            deps: deps.to_vec(),
            restored: None,
        }
    }

    fn settings(concurrency: usize) -> Settings {
        Settings {
            run_id: "r1".into(),
            concurrency,
            workdir: ".".into(),
            log_dir: "logs".into(),
            scratch: "tmp".into(),
            grace: Duration::from_secs(1),
            defaults: Defaults::default(),
            values: [("P".to_string(), "p".to_string())].into_iter().collect(),
            sealer: Sealer::from_key([3; 32]),
            secret_values: BTreeSet::new(),
        }
    }

    async fn go(
        units: Vec<Unit>,
        s: Settings,
        fake: &Arc<Fake>,
        controls: Controls,
    ) -> (Summary, Vec<RunEvent>) {
        let mut sink = Collect::default();
        let exec: Arc<dyn Executor> = fake.clone();
        let summary = run(units, s, exec, None, &mut [&mut sink], controls)
            .await
            .unwrap();
        (summary, sink.0)
    }

    fn kinds(events: &[RunEvent], step: &str) -> Vec<String> {
        events
            .iter()
            .filter(|e| e.step() == Some(step))
            .map(|e| {
                serde_json::to_value(e).unwrap()["event"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect()
    }

    #[tokio::test(start_paused = true)]
    async fn passes_outputs_downstream_and_renders_templates() {
        let fake = Arc::new(Fake::new(10).script("a", &[Act::Ok(vec![("ADDR", "10.0.0.1")])]));
        let units = vec![
            unit(output(step("a", "get"), "ADDR", ValueType::Ip, false), &[]),
            unit(step("b", "use {{ADDR}} {{P}}"), &[0]),
            unit(step("c", "after b"), &[1]),
        ];
        let (summary, events) = go(units, settings(8), &fake, Controls::default()).await;
        assert_eq!(summary.outcome, Outcome::Succeeded);
        assert_eq!(summary.succeeded, 3);
        assert_eq!(fake.order(), ["a", "b", "c"]);
        let calls = fake.calls.lock().unwrap();
        assert_eq!(calls[1].3, "use 10.0.0.1 p");
        assert_eq!(
            calls[2].2["ADDR"], "10.0.0.1",
            "transitive upstream outputs reach the env"
        );
        assert_eq!(calls[2].2["P"], "p");
        assert!(!calls[0].2.contains_key("ADDR"));
        assert!(matches!(
            events.last(),
            Some(RunEvent::RunFinished {
                outcome: Outcome::Succeeded,
                ..
            })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn never_exceeds_concurrency_and_keeps_slots_busy() {
        let fake = Arc::new(Fake::new(1000));
        let units = (0..10)
            .map(|i| unit(step(&format!("s{i}"), "x"), &[]))
            .collect();
        let start = Instant::now();
        let (summary, _) = go(units, settings(3), &fake, Controls::default()).await;
        assert_eq!(summary.succeeded, 10);
        assert_eq!(fake.peak.load(Ordering::SeqCst), 3);
        // ceil(10 / 3) rounds of one second each: no slot idles while work is ready.
        assert_eq!(start.elapsed().as_secs(), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn failure_blocks_dependants_while_other_branches_finish() {
        let fake = Arc::new(Fake::new(10).script("bad", &[Act::Fail]));
        let units = vec![
            unit(step("bad", "x"), &[]),
            unit(step("child", "x"), &[0]),
            unit(step("grandchild", "x"), &[1]),
            unit(step("other", "x"), &[]),
            unit(step("other2", "x"), &[3]),
        ];
        let (summary, events) = go(units, settings(8), &fake, Controls::default()).await;
        assert_eq!(summary.outcome, Outcome::Failed);
        assert_eq!(
            summary.failed,
            vec![("bad".to_string(), "exited with status 1".to_string())]
        );
        assert_eq!(summary.blocked, 2);
        assert_eq!(summary.succeeded, 2);
        assert_eq!(kinds(&events, "grandchild"), ["step_skipped"]);
        assert!(!fake.order().contains(&"child".to_string()));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_with_backoff_and_records_every_attempt() {
        let fake =
            Arc::new(Fake::new(10).script("flaky", &[Act::Fail, Act::Fail, Act::Ok(vec![])]));
        let mut s = step("flaky", "x");
        s.retry = Some(RetryPolicy {
            attempts: 3,
            backoff: Backoff {
                initial: D(Duration::from_secs(2)),
                max: D(Duration::from_secs(3)),
            },
        });
        let start = Instant::now();
        let (summary, events) =
            go(vec![unit(s, &[])], settings(8), &fake, Controls::default()).await;
        assert_eq!(summary.outcome, Outcome::Succeeded);
        assert_eq!(
            kinds(&events, "flaky"),
            [
                "step_started",
                "attempt_failed",
                "step_started",
                "attempt_failed",
                "step_started",
                "step_succeeded"
            ]
        );
        let delays: Vec<u64> = events
            .iter()
            .filter_map(|e| match e {
                RunEvent::AttemptFailed {
                    retry_in_ms, error, ..
                } => {
                    assert_eq!(error, "exited with status 1");
                    Some(*retry_in_ms)
                }
                _ => None,
            })
            .collect();
        assert!((1000..=2000).contains(&delays[0]), "{delays:?}");
        assert!((1500..=3000).contains(&delays[1]), "{delays:?}");
        assert!(start.elapsed() >= Duration::from_millis(delays[0] + delays[1] + 30));
        assert!(matches!(
            events.iter().rev().nth(1),
            Some(RunEvent::StepSucceeded { attempt: 3, .. })
        ));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_run_out() {
        let fake = Arc::new(Fake::new(10).script("bad", &[Act::Fail, Act::Fail]));
        let mut s = step("bad", "x");
        s.retry = Some(RetryPolicy {
            attempts: 2,
            backoff: Backoff::default(),
        });
        let (summary, _) = go(vec![unit(s, &[])], settings(8), &fake, Controls::default()).await;
        assert_eq!(summary.outcome, Outcome::Failed);
        assert_eq!(fake.order().len(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn waits_until_the_value_exists() {
        let fake = Arc::new(Fake::new(10).script(
            "gw",
            &[
                Act::Ok(vec![("GW", "")]),
                Act::Ok(vec![("GW", "")]),
                Act::Ok(vec![("GW", "35.1.2.3")]),
            ],
        ));
        let mut s = output(step("gw", "x"), "GW", ValueType::Ip, false);
        s.wait = Some(WaitPolicy {
            until: Until::NonEmpty,
            timeout: D(Duration::from_secs(60)),
            interval: D(Duration::from_secs(5)),
        });
        let start = Instant::now();
        let (summary, events) =
            go(vec![unit(s, &[])], settings(8), &fake, Controls::default()).await;
        assert_eq!(summary.outcome, Outcome::Succeeded);
        let waits: Vec<&str> = events
            .iter()
            .filter_map(|e| match e {
                RunEvent::WaitPending { reason, .. } => Some(reason.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(waits, ["`GW` is empty", "`GW` is empty"]);
        assert_eq!(start.elapsed().as_secs(), 10);
    }

    #[tokio::test(start_paused = true)]
    async fn a_wait_gives_up_at_its_deadline() {
        let fake = Arc::new(Fake::new(10).script("gw", &vec![Act::Ok(vec![("GW", "")]); 10]));
        let mut s = output(step("gw", "x"), "GW", ValueType::String, false);
        s.wait = Some(WaitPolicy {
            until: Until::NonEmpty,
            timeout: D(Duration::from_secs(12)),
            interval: D(Duration::from_secs(5)),
        });
        let (summary, _) = go(vec![unit(s, &[])], settings(8), &fake, Controls::default()).await;
        assert_eq!(summary.outcome, Outcome::Failed);
        assert_eq!(
            summary.failed[0].1,
            "still waiting after 12s: `GW` is empty"
        );
        assert_eq!(fake.order().len(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_bad_typed_output_fails_naming_the_value_unless_secret() {
        let fake = Arc::new(
            Fake::new(10)
                .script("a", &[Act::Ok(vec![("ADDR", "pending")])])
                .script("t", &[Act::Ok(vec![("TOKEN", "hunter2")])]),
        );
        let units = vec![
            unit(output(step("a", "x"), "ADDR", ValueType::Ip, false), &[]),
            unit(output(step("t", "x"), "TOKEN", ValueType::Int, true), &[]),
        ];
        let (summary, events) = go(units, settings(8), &fake, Controls::default()).await;
        assert_eq!(
            summary.failed[0].1,
            r#"output `ADDR` = "pending" is not a valid ip: expected an IPv4 or IPv6 address"#
        );
        assert!(!summary.failed[1].1.contains("hunter2"));
        assert!(!serde_json::to_string(&events).unwrap().contains("hunter2"));
    }

    #[tokio::test(start_paused = true)]
    async fn secret_outputs_are_sealed_in_events_but_reach_dependants() {
        let fake = Arc::new(Fake::new(10).script("t", &[Act::Ok(vec![("TOKEN", "hunter2")])]));
        let units = vec![
            unit(
                output(step("t", "x"), "TOKEN", ValueType::String, true),
                &[],
            ),
            unit(step("u", "x"), &[0]),
        ];
        let (_, events) = go(units, settings(8), &fake, Controls::default()).await;
        assert!(!serde_json::to_string(&events).unwrap().contains("hunter2"));
        let sealed = events
            .iter()
            .find_map(|e| match e {
                RunEvent::StepSucceeded { outputs, .. } => outputs.get("TOKEN").cloned(),
                _ => None,
            })
            .unwrap();
        let Stored::Sealed(s) = sealed else {
            panic!("not sealed")
        };
        assert_eq!(
            Sealer::from_key([3; 32]).open("TOKEN", &s).unwrap(),
            "hunter2"
        );
        assert_eq!(fake.calls.lock().unwrap()[1].2["TOKEN"], "hunter2");
    }

    #[tokio::test(start_paused = true)]
    async fn a_timeout_kills_the_attempt() {
        let fake = Arc::new(Fake::new(10).script("slow", &[Act::Hang]));
        let mut s = step("slow", "x");
        s.timeout = Some(D(Duration::from_secs(3)));
        let start = Instant::now();
        let (summary, _) = go(vec![unit(s, &[])], settings(8), &fake, Controls::default()).await;
        assert_eq!(summary.failed[0].1, "timed out after 3s");
        assert_eq!(start.elapsed().as_secs(), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn stop_interrupts_running_steps_and_starts_nothing_new() {
        let fake = Arc::new(
            Fake::new(10)
                .script("long", &[Act::Hang])
                .script("r", &[Act::Fail]),
        );
        let mut retried = step("r", "x");
        retried.retry = Some(RetryPolicy {
            attempts: 5,
            backoff: Backoff::default(),
        });
        let units = vec![
            unit(step("long", "x"), &[]),
            unit(step("after", "x"), &[0]),
            unit(retried, &[]),
            unit(step("queued", "x"), &[]),
        ];
        let controls = Controls::default();
        let stop = controls.stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(500)).await;
            stop.cancel();
        });
        let (summary, events) = go(units, settings(2), &fake, controls).await;
        assert_eq!(summary.outcome, Outcome::Interrupted);
        assert_eq!(
            summary.interrupted, 2,
            "the running step and the one waiting to retry"
        );
        assert_eq!(
            summary.succeeded, 1,
            "`queued` took the freed slot before the stop"
        );
        assert_eq!(summary.not_started, 1);
        assert_eq!(kinds(&events, "long"), ["step_started", "step_interrupted"]);
        assert!(!fake.order().contains(&"after".to_string()));
    }

    #[tokio::test(start_paused = true)]
    async fn restored_steps_do_not_run_and_feed_their_outputs() {
        let fake = Arc::new(Fake::new(10));
        let mut done = unit(output(step("a", "x"), "A", ValueType::String, false), &[]);
        done.restored = Some([("A".to_string(), "old".to_string())].into_iter().collect());
        let units = vec![done, unit(step("b", "{{A}}"), &[0])];
        let (summary, events) = go(units, settings(8), &fake, Controls::default()).await;
        assert_eq!(summary.succeeded, 2);
        assert_eq!(fake.order(), ["b"]);
        assert_eq!(fake.calls.lock().unwrap()[0].3, "old");
        assert_eq!(kinds(&events, "a"), ["step_skipped"]);
    }

    #[tokio::test(start_paused = true)]
    async fn syncs_before_dependants_start() {
        struct Strict(Vec<&'static str>, Arc<Mutex<Vec<String>>>);
        impl EventSink for Strict {
            fn event(&mut self, e: &RunEvent) -> std::io::Result<()> {
                if let RunEvent::StepSucceeded { step, .. } = e {
                    self.1.lock().unwrap().push(format!("done {step}"));
                }
                if let RunEvent::StepStarted { step, .. } = e {
                    self.1.lock().unwrap().push(format!("start {step}"));
                }
                Ok(())
            }
            fn sync(&mut self) -> std::io::Result<()> {
                self.1.lock().unwrap().push("sync".into());
                self.0.push("sync");
                Ok(())
            }
        }
        let log = Arc::new(Mutex::new(Vec::new()));
        let mut sink = Strict(vec![], log.clone());
        let fake: Arc<dyn Executor> = Arc::new(Fake::new(10));
        let units = vec![unit(step("a", "x"), &[]), unit(step("b", "x"), &[0])];
        run(
            units,
            settings(8),
            fake,
            None,
            &mut [&mut sink],
            Controls::default(),
        )
        .await
        .unwrap();
        let log = log.lock().unwrap().join(", ");
        assert!(log.contains("done a, sync, start b"), "{log}");
    }
}
