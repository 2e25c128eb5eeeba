//! A session drives one run: opened (created by `run`, reopened by `resume`, made by `cleanup`
//! for an earlier run), wired to its clusters, driven by the scheduler under signals, and
//! concluded with an exit code. The three commands differ only in how they open it.

use std::time::Duration;

use meshbook_engine::events::{EventSink, Outcome};
use meshbook_engine::run::executor::{Controls, Permanence, Site};
use meshbook_engine::run::scheduler::{self, Job, Settings, Summary};
use meshbook_engine::state::replay::RunRecord;
use meshbook_engine::state::secrets::Sealer;
use meshbook_engine::state::store::RunMeta;
use meshbook_engine::validate::{List, Validated};
use meshbook_engine::values::Values;

use crate::args::DriveArgs;
use crate::failure::{CmdResult, Failure};
use crate::report::Reporter;
use crate::store::{Driven, RunKey, Store};
use crate::wiring::Wiring;
use crate::{recorded, rehearsal, source};

/// One run, open and locked, with everything needed to drive it.
pub(crate) struct Session<'a> {
    run: Driven,
    validated: Validated,
    values: Values,
    restored: Vec<Option<Values>>,
    reporter: Reporter,
    args: &'a DriveArgs,
    /// The flag naming the run's store, for the commands the user is told to run.
    store_flag: String,
}

/// What a new run is made of.
pub(crate) struct NewRun<'t> {
    /// What it is.
    pub(crate) meta: RunMeta,
    /// The runbook file's text, which a cluster keeps with the run.
    pub(crate) runbook: Option<&'t str>,
    /// The runbook, checked.
    pub(crate) validated: Validated,
    /// Params, and for a cleanup the outputs it cleans up.
    pub(crate) values: Values,
    /// The key that seals its secrets.
    pub(crate) key: RunKey,
}

impl<'a> Session<'a> {
    /// A new run.
    pub(crate) fn create(
        args: &'a DriveArgs,
        store: &Store,
        verbose: bool,
        new: NewRun<'_>,
    ) -> Result<Session<'a>, Failure> {
        let run = store.create(new.meta, new.key, new.runbook)?;
        Session::with(run, new.validated, new.values, args, store, verbose)
    }

    /// A recorded run, reopened to go on: its runbook read again, its values opened.
    pub(crate) fn reopen(
        args: &'a DriveArgs,
        store: &Store,
        verbose: bool,
        id: &str,
    ) -> Result<Session<'a>, Failure> {
        let run = store.open(id)?;
        let validated = recorded::runbook_of(&run.run.meta, &run.run.dir)?;
        let mut values = open_values(&run.run.meta.params, &run.sealer)?;
        values.extend(open_values(&run.run.meta.inputs, &run.sealer)?);
        Session::with(run, validated, values, args, store, verbose)
    }

    fn with(
        run: Driven,
        mut validated: Validated,
        values: Values,
        args: &'a DriveArgs,
        store: &Store,
        verbose: bool,
    ) -> Result<Session<'a>, Failure> {
        let run_meta = &run.run.meta;
        if run_meta.sandbox.is_some() {
            let source = source::resolve(&run_meta.runbook.to_string_lossy())?;
            rehearsal::add_stand_in_uses(&mut validated, &source);
        }
        let steps = validated.list(recorded::list(run_meta)).steps.len();
        Ok(Session {
            reporter: Reporter::new(args.exec.log_format, steps, verbose),
            restored: vec![None; steps],
            run,
            validated,
            values,
            args,
            store_flag: store.flag(),
        })
    }

    /// What the run is.
    pub(crate) fn meta(&self) -> &RunMeta {
        &self.run.run.meta
    }

    /// The run's events so far.
    pub(crate) fn history(&self) -> Result<Vec<meshbook_engine::state::journal::Entry>, Failure> {
        Ok(self.run.history()?)
    }

    /// The runbook, checked.
    pub(crate) fn validated(&self) -> &Validated {
        &self.validated
    }

    /// The values every step may use.
    pub(crate) fn values(&self) -> &Values {
        &self.values
    }

    /// The key that seals the run's secrets.
    pub(crate) fn sealer(&self) -> &Sealer {
        &self.run.sealer
    }

    /// Which of the runbook's lists the run drives.
    pub(crate) fn list(&self) -> List {
        recorded::list(self.meta())
    }

    /// Steps that an earlier invocation finished, with their outputs: they do not run again.
    pub(crate) fn restore(&mut self, restored: Vec<Option<Values>>) {
        self.restored = restored;
    }

    /// Says something before the run starts, keeping any live view intact.
    pub(crate) fn say(&self, line: &str) {
        self.reporter.line(line);
    }

    /// Drives the run to its end and maps the outcome to an exit code.
    pub(crate) fn drive(self) -> CmdResult {
        let Session {
            mut run,
            validated,
            values,
            restored,
            mut reporter,
            args,
            store_flag,
        } = self;
        let exec = &args.exec;
        let runbook = &validated.runbook;
        let meta = run.run.meta.clone();
        let dir = run.run.dir.clone();
        let sealer = run.sealer.clone();
        let workdir = workdir_here(&meta, &reporter)?;
        let wiring = Wiring::new(
            &meta,
            &dir,
            args.state.kubeconfig.as_deref(),
            runbook,
            &values,
            &sealer,
        )?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let run_id = meta.id.clone();
        let settings = Settings {
            site: Site {
                run_id: run_id.clone(),
                workdir,
                dir: dir.clone(),
                grace: exec.grace,
                echo: reporter.echo(),
            },
            concurrency: usize::from(exec.concurrency),
            defaults: runbook.defaults.clone(),
            values,
            sealer,
            ignored_requirements: meta.ignored_requirements.clone(),
        };
        let job = Job {
            list: validated.list(recorded::list(&meta)),
            restored,
        };
        let executor = wiring.executor.clone();
        let lost = run.lost_signal();
        let shared = lost.is_some();
        let result = runtime.block_on(async {
            let controls = Controls::default();
            watch_signals(controls.clone(), exec.grace)?;
            if let Some(lost) = lost {
                // Another process took the run over: start nothing more; the next write fails.
                let stop = controls.stop.clone();
                tokio::spawn(async move {
                    lost.cancelled().await;
                    stop.cancel();
                });
            }
            let mut sinks: [&mut dyn EventSink; 2] = [&mut run, &mut reporter];
            scheduler::run(job, settings, executor, &mut sinks, controls)
                .await
                .map_err(lost_or_other)
        });
        reporter.finish();
        // Steps that ignore every signal must not keep the process alive.
        runtime.shutdown_timeout(Duration::from_millis(100));
        let concluded = result.and_then(|summary| {
            conclude(
                &run_id,
                &summary,
                &store_flag,
                |step| match shared {
                    // The mirror's copy goes with this process: the cluster keeps the log.
                    true => format!("meshbook logs {run_id} {step}{store_flag}"),
                    false => dir.log(step).display().to_string(),
                },
                &reporter,
            )
        });
        let steps = || {
            let history = run.history()?;
            let ids = job_ids(&validated, &meta);
            Ok(recorded::step_records(ids, &RunRecord::replay(&history)))
        };
        wiring.finish(steps, &reporter, concluded)
    }
}

/// The ids of the steps a run drives, in runbook order.
fn job_ids(validated: &Validated, meta: &RunMeta) -> Vec<String> {
    validated
        .list(recorded::list(meta))
        .steps
        .iter()
        .map(|s| s.id.clone())
        .collect()
}

/// Stored values (params, cleanup inputs) opened with the key.
pub(crate) fn open_values(
    stored: &indexmap::IndexMap<String, meshbook_engine::events::Stored>,
    sealer: &Sealer,
) -> Result<Values, Failure> {
    Values::open(stored, sealer).map_err(|_| {
        Failure::Invalid(
            "the run's secret params cannot be opened with the current secrets key \
             (MESHBOOK_KEY_FILE, $XDG_CONFIG_HOME/meshbook/key or ~/.config/meshbook/key)"
                .into(),
        )
    })
}

/// A scheduler that gave up because the run was taken over says so as a locked run does
/// (exit 2); any other failure to record progress is an error at the edge (exit 1).
fn lost_or_other(e: scheduler::SchedulerError) -> Failure {
    match e
        .0
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<crate::kstate::Lost>())
    {
        Some(lost) => Failure::Invalid(lost.to_string()),
        None => e.into(),
    }
}

/// The directory steps run in: the run's, or, for a run resumed on a machine that lacks it (kept
/// on a cluster, or copied), the current one.
fn workdir_here(meta: &RunMeta, reporter: &Reporter) -> Result<std::path::PathBuf, Failure> {
    if meta.workdir.is_dir() {
        return Ok(meta.workdir.clone());
    }
    let here = std::env::current_dir()?;
    reporter.line(&format!(
        "the run's directory {} is not on this machine: steps run in {}",
        meta.workdir.display(),
        here.display()
    ));
    Ok(here)
}

fn conclude(
    run_id: &str,
    s: &Summary,
    state_flag: &str,
    log: impl Fn(&str) -> String,
    reporter: &Reporter,
) -> CmdResult {
    match s.outcome {
        Outcome::Succeeded => {
            reporter.line(&format!(
                "run {run_id} succeeded: {} steps done",
                s.succeeded
            ));
            Ok(())
        }
        Outcome::Failed => {
            let mut msg = format!(
                "run {run_id} failed: {} failed, {} blocked, {} done\n",
                s.failed.len(),
                s.blocked,
                s.succeeded
            );
            for f in &s.failed {
                let kind = match f.permanence {
                    Permanence::Permanent => {
                        "permanent failure: trying again cannot help (it was not retried)"
                    }
                    Permanence::Transient => "transient failure: it may pass when tried again",
                };
                msg.push_str(&format!(
                    "  step `{}`: {}\n    {kind}\n    log: {}\n",
                    f.step,
                    f.error,
                    log(&f.step)
                ));
            }
            msg.push_str(&format!(
                "continue after a fix with: meshbook resume {run_id}{state_flag}\n"
            ));
            Err(Failure::StepFailed(msg))
        }
        Outcome::Interrupted => Err(Failure::Interrupted(format!(
            "run {run_id} interrupted: {} steps stopped, {} not started, {} done\ncontinue with: meshbook resume {run_id}{state_flag}\n",
            s.interrupted, s.not_started, s.succeeded
        ))),
    }
}

/// First SIGINT/SIGTERM: stop gracefully; second: kill.
fn watch_signals(controls: Controls, grace: Duration) -> Result<(), Failure> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut int = signal(SignalKind::interrupt())?;
    let mut term = signal(SignalKind::terminate())?;
    tokio::spawn(async move {
        tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
        eprintln!(
            "stopping: no new steps; running steps get {} to exit (signal again to kill them now)",
            crate::report::human(grace)
        );
        controls.stop.cancel();
        tokio::select! { _ = int.recv() => {}, _ = term.recv() => {} }
        eprintln!("killing running steps");
        controls.kill.cancel();
    });
    Ok(())
}
