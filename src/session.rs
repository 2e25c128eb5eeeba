//! A session drives one run: opened (created by `run`, reopened by `resume`, made by `cleanup`
//! for an earlier run), wired to its clusters, driven by the scheduler under signals, and
//! concluded with an exit code. The three commands differ only in how they open it.

use std::path::Path;
use std::time::Duration;

use meshbook_engine::events::{EventSink, Outcome};
use meshbook_engine::run::executor::{Controls, Permanence, Site};
use meshbook_engine::run::scheduler::{self, Job, Settings, Summary};
use meshbook_engine::state::replay::RunRecord;
use meshbook_engine::state::secrets::{Sealer, default_key_path};
use meshbook_engine::state::store::{OpenRun, RunMeta};
use meshbook_engine::validate::{List, Validated};
use meshbook_engine::values::Values;

use crate::args::DriveArgs;
use crate::failure::{CmdResult, Failure};
use crate::report::Reporter;
use crate::wiring::Wiring;
use crate::{recorded, rehearsal, source};

/// The key that seals secrets at rest.
pub(crate) fn sealer() -> Result<Sealer, Failure> {
    Ok(Sealer::load_or_create(&default_key_path()?)?)
}

/// One run, open and locked, with everything needed to drive it.
pub(crate) struct Session<'a> {
    run: OpenRun,
    validated: Validated,
    values: Values,
    sealer: Sealer,
    restored: Vec<Option<Values>>,
    reporter: Reporter,
    args: &'a DriveArgs,
}

impl<'a> Session<'a> {
    /// A new run described by `meta`, of `validated` with `values` (params, and for a cleanup
    /// the outputs it cleans up).
    pub(crate) fn create(
        args: &'a DriveArgs,
        verbose: bool,
        meta: RunMeta,
        validated: Validated,
        values: Values,
        sealer: Sealer,
    ) -> Result<Session<'a>, Failure> {
        let run = args.state.dir().create(meta)?;
        Session::with(run, validated, values, sealer, args, verbose)
    }

    /// A recorded run, reopened to go on: its runbook read again, its values opened.
    pub(crate) fn reopen(
        args: &'a DriveArgs,
        verbose: bool,
        id: &str,
    ) -> Result<Session<'a>, Failure> {
        let run = args.state.dir().open(id)?;
        let validated = recorded::runbook(&run.meta)?;
        let sealer = sealer()?;
        let mut values = open_values(&run.meta.params, &sealer)?;
        values.extend(open_values(&run.meta.inputs, &sealer)?);
        Session::with(run, validated, values, sealer, args, verbose)
    }

    fn with(
        run: OpenRun,
        mut validated: Validated,
        values: Values,
        sealer: Sealer,
        args: &'a DriveArgs,
        verbose: bool,
    ) -> Result<Session<'a>, Failure> {
        if run.meta.sandbox.is_some() {
            let source = source::resolve(&run.meta.runbook.to_string_lossy())?;
            rehearsal::add_stand_in_uses(&mut validated, &source);
        }
        let steps = validated.list(recorded::list(&run.meta)).steps.len();
        Ok(Session {
            reporter: Reporter::new(args.exec.log_format, steps, verbose),
            restored: vec![None; steps],
            run,
            validated,
            values,
            sealer,
            args,
        })
    }

    /// The run.
    pub(crate) fn run(&self) -> &OpenRun {
        &self.run
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
        &self.sealer
    }

    /// Which of the runbook's lists the run drives.
    pub(crate) fn list(&self) -> List {
        recorded::list(&self.run.meta)
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
            sealer,
            restored,
            mut reporter,
            args,
        } = self;
        let exec = &args.exec;
        let runbook = &validated.runbook;
        let wiring = Wiring::new(&run.meta, &run.dir, runbook, &values, &sealer)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let run_id = run.meta.id.clone();
        let settings = Settings {
            site: Site {
                run_id: run_id.clone(),
                workdir: run.meta.workdir.clone(),
                dir: run.dir.clone(),
                grace: exec.grace,
                echo: reporter.echo(),
            },
            concurrency: usize::from(exec.concurrency),
            defaults: runbook.defaults.clone(),
            values,
            sealer,
            ignored_requirements: run.meta.ignored_requirements.clone(),
        };
        let job = Job {
            list: validated.list(recorded::list(&run.meta)),
            restored,
        };
        let executor = wiring.executor.clone();
        let dir = run.dir.clone();
        let result = runtime.block_on(async {
            let controls = Controls::default();
            watch_signals(controls.clone(), exec.grace)?;
            let mut sinks: [&mut dyn EventSink; 2] = [&mut run.journal, &mut reporter];
            Ok::<_, Failure>(scheduler::run(job, settings, executor, &mut sinks, controls).await?)
        });
        reporter.finish();
        // Steps that ignore every signal must not keep the process alive.
        runtime.shutdown_timeout(Duration::from_millis(100));
        let concluded = result.and_then(|summary| {
            conclude(
                &run_id,
                &summary,
                &args.state.state_dir,
                |step| dir.log(step),
                &reporter,
            )
        });
        let steps = || {
            let history = args.state.dir().history(&run_id)?;
            let ids = job_ids(&validated, &run.meta);
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

fn conclude(
    run_id: &str,
    s: &Summary,
    state_dir: &Path,
    log: impl Fn(&str) -> std::path::PathBuf,
    reporter: &Reporter,
) -> CmdResult {
    let state_flag = if state_dir == Path::new(".meshbook") {
        String::new()
    } else {
        format!(" --state-dir {}", state_dir.display())
    };
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
                    log(&f.step).display()
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
