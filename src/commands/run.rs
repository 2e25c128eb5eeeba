//! `meshbook run`: create a run, then drive it. The driver here is shared by `resume` and
//! `cleanup`: it wires the scheduler to the executors, the journal and a reporter, and turns
//! signals into a graceful stop (first) or a kill (second).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use indexmap::IndexMap;
use meshbook_engine::model::{Action, Defaults, Runbook};
use meshbook_engine::run::events::{EventSink, Outcome, Stored};
use meshbook_engine::run::executor::{BoxFuture, Executor, Produced, StepFailure, StepRequest};
use meshbook_engine::run::scheduler::{self, Controls, Settings, Summary, Unit};
use meshbook_engine::state::journal::now_ms;
use meshbook_engine::state::secrets::{Sealer, default_key_path};
use meshbook_engine::state::store::{OpenRun, RunKind, RunMeta, Store, new_run_id};
use meshbook_steps::kube::client::Clients;
use meshbook_steps::kube::executor::KubeExecutor;
use meshbook_steps::shell::ShellExecutor;

use crate::failure::{CmdResult, Failure};
use crate::identities;
use crate::prepare::{RunbookArgs, prepare};
use crate::rehearsal::{self, Rehearsal, RehearsalExecutor, Substitute};
use crate::report::{LogFormat, Reporter};
use crate::source::{self, Origin, RunbookSource};

/// Where run state lives.
#[derive(Debug, Clone, Args)]
pub struct StateArgs {
    /// The state directory: runs, journals and logs.
    #[arg(
        long,
        value_name = "DIR",
        env = "MESHBOOK_STATE_DIR",
        default_value = ".meshbook"
    )]
    pub state_dir: PathBuf,
}

/// How steps are carried out and reported.
#[derive(Debug, Clone, Args)]
pub struct ExecArgs {
    /// Most steps running at once.
    #[arg(long, short = 'j', default_value_t = 8, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// Progress output: a live view on a terminal (auto), plain lines, or JSON lines.
    #[arg(long, value_enum, default_value_t)]
    pub log_format: LogFormat,
    /// How long stopped steps get to exit before they are killed.
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub grace: Duration,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    meshbook_engine::model::Duration::parse(text)
        .map(|d| d.get())
        .map_err(|e| e.to_string())
}

/// `meshbook run`.
#[derive(Debug, Clone, Args)]
pub struct RunArgs {
    /// The runbook and its params.
    #[command(flatten)]
    pub runbook: RunbookArgs,
    /// Where run state lives.
    #[command(flatten)]
    pub state: StateArgs,
    /// The directory steps run in (default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub workdir: Option<PathBuf>,
    /// How steps are carried out and reported.
    #[command(flatten)]
    pub exec: ExecArgs,
    /// The kubeconfig whose contexts the runbook names (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "FILE", conflicts_with = "sandbox")]
    pub kubeconfig: Option<PathBuf>,
    /// Rehearse on simulated clusters, one per context the runbook names, honouring its stand-ins.
    #[arg(long)]
    pub sandbox: bool,
}

/// Sends each step to the executor for its kind.
pub struct StepRouter {
    /// Runs `shell:` steps.
    pub shell: ShellExecutor,
    /// Runs every `kube.*` step, when wired.
    pub kube: Option<Arc<dyn Executor>>,
    /// Variables shell steps get besides params and outputs (`KUBECONFIG` of the run).
    pub env: IndexMap<String, String>,
}

impl Executor for StepRouter {
    fn execute(&self, mut request: StepRequest) -> BoxFuture<'_, Result<Produced, StepFailure>> {
        match (&request.action, &self.kube) {
            (Action::Shell(_), _) => {
                for (k, v) in &self.env {
                    request.env.entry(k.clone()).or_insert_with(|| v.clone());
                }
                self.shell.execute(request)
            }
            (_, Some(kube)) => kube.execute(request),
            (other, None) => {
                let kind = other.kind().to_string();
                Box::pin(async move { Err(StepFailure::Unsupported(kind)) })
            }
        }
    }
}

/// How a run reaches its clusters, and for rehearsals the simulated clusters themselves.
pub struct Wiring {
    /// Carries out the run's steps.
    pub executor: Arc<dyn Executor>,
    rehearsal: Option<(Rehearsal, Arc<std::sync::Mutex<Vec<Substitute>>>)>,
}

impl Wiring {
    /// Connects a run to its clusters: the run's kubeconfig, or (for rehearsals) simulated
    /// clusters started from the run's sandbox folder, with the runbook's stand-ins.
    pub fn new(
        meta: &RunMeta,
        run_dir: &Path,
        runbook: &Runbook,
        values: &IndexMap<String, String>,
    ) -> Result<Wiring, Failure> {
        let rehearsal = match &meta.sandbox {
            Some(dir) => Some(
                Rehearsal::start(
                    &rehearsal::contexts(runbook, values),
                    dir,
                    crate::gcp::plan(runbook),
                )
                .map_err(Failure::Other)?,
            ),
            None => None,
        };
        let kubeconfig = rehearsal
            .as_ref()
            .map(|r| r.kubeconfig.clone())
            .or_else(|| meta.kubeconfig.clone());
        let cloud_env = rehearsal
            .as_ref()
            .map(|r| r.env.clone())
            .unwrap_or_default();
        let clients =
            Arc::new(Clients::deferred(kubeconfig.as_deref()).with_exec_env(cloud_env.clone()));
        let ids = identities::file(run_dir);
        clients.expect_identities(identities::load(&ids));
        if let RunKind::Cleanup { of } = &meta.kind
            && let Some(runs) = run_dir.parent()
        {
            clients.expect_identities(identities::load(&identities::file(&runs.join(of))));
        }
        let kube: Arc<dyn Executor> = Arc::new(identities::Recorder::new(
            Arc::new(KubeExecutor::new(clients.clone())),
            clients,
            ids,
        ));
        let mut env = IndexMap::new();
        if let Some(k) = &kubeconfig {
            env.insert("KUBECONFIG".to_string(), k.to_string_lossy().into_owned());
        }
        // The simulated cloud's environment first, so the doubles' PATH comes last and wins.
        env.extend(cloud_env);
        let source = match (&rehearsal, &meta.sandbox) {
            (Some(r), Some(dir)) => {
                let source =
                    source::resolve(&meta.runbook.to_string_lossy()).map_err(Failure::Other)?;
                env.insert("MESHBOOK_SANDBOX".to_string(), "1".to_string());
                env.extend(
                    rehearsal::doubles_env(dir, &source, &r.kubeconfig).map_err(Failure::Other)?,
                );
                Some(source)
            }
            _ => None,
        };
        let router: Arc<dyn Executor> = Arc::new(StepRouter {
            shell: ShellExecutor,
            kube: Some(kube.clone()),
            env,
        });
        let (Some(rehearsal), Some(source)) = (rehearsal, source) else {
            return Ok(Wiring {
                executor: router,
                rehearsal: None,
            });
        };
        let sandbox = rehearsal
            .sandbox()
            .ok_or_else(|| Failure::Other(anyhow::anyhow!("the sandbox is not running")))?;
        let stand_ins =
            RehearsalExecutor::new(sandbox, router, kube, runbook, source, &rehearsal.plan);
        let done = stand_ins.substitutes();
        Ok(Wiring {
            executor: Arc::new(stand_ins),
            rehearsal: Some((rehearsal, done)),
        })
    }

    /// Ends the run's wiring: a rehearsal reports its stand-ins and skips and stops its clusters.
    pub fn finish(self, runbook: &Runbook, result: CmdResult) -> CmdResult {
        if let Some((rehearsal, done)) = self.rehearsal {
            let done = done.lock().map(|d| d.clone()).unwrap_or_default();
            out!("{}", rehearsal::report(runbook, &done, &rehearsal.clusters));
            if let Some(note) = rehearsal.cloud_note() {
                outln!("{note}");
            }
            rehearsal.stop().map_err(Failure::Other)?;
        }
        result
    }
}

/// The key that seals secrets at rest.
pub fn sealer() -> Result<Sealer, Failure> {
    let path = default_key_path().map_err(|e| Failure::Other(e.into()))?;
    Sealer::load_or_create(&path).map_err(|e| Failure::Other(e.into()))
}

/// How a run's `run.json` names its runbook so that `resume` can read it again.
pub fn runbook_ref(arg: &str, source: &RunbookSource) -> PathBuf {
    match &source.origin {
        Origin::Disk(_) => {
            std::path::absolute(&source.display).unwrap_or_else(|_| PathBuf::from(&source.display))
        }
        Origin::Builtin(_) => PathBuf::from(arg),
    }
}

/// Seals the values whose names `secret` says are secret.
pub fn seal_values(
    values: &IndexMap<String, String>,
    secret: impl Fn(&str) -> bool,
    sealer: &Sealer,
) -> IndexMap<String, Stored> {
    values
        .iter()
        .map(|(k, v)| {
            let s = if secret(k) {
                Stored::Sealed(sealer.seal(k, v))
            } else {
                Stored::Plain(v.clone())
            };
            (k.clone(), s)
        })
        .collect()
}

/// The scheduler's view of a runbook's steps (or `finally` steps): no step restored.
pub fn units(
    steps: &[meshbook_engine::model::Step],
    graph: &meshbook_engine::graph::Graph,
) -> Vec<Unit> {
    steps
        .iter()
        .enumerate()
        .map(|(i, s)| Unit {
            step: s.clone(),
            deps: graph.deps(i).to_vec(),
            restored: None,
        })
        .collect()
}

/// Runs `meshbook run`.
pub fn run(args: &RunArgs, verbose: u8) -> CmdResult {
    let prepared = prepare(&args.runbook, true)?;
    let workdir = match &args.workdir {
        Some(w) => w.clone(),
        None => std::env::current_dir().map_err(|e| Failure::Other(e.into()))?,
    };
    // A fresh working directory is created, as a rehearsal's usually is; a file in its place is
    // a mistake.
    if !workdir.exists() {
        std::fs::create_dir_all(&workdir).map_err(|e| {
            Failure::Invalid(format!(
                "error: cannot create --workdir {}: {e}",
                workdir.display()
            ))
        })?;
    }
    if !workdir.is_dir() {
        return Err(Failure::Invalid(format!(
            "error: --workdir {} is not a directory",
            workdir.display()
        )));
    }
    let workdir = std::path::absolute(&workdir).unwrap_or(workdir);
    let sealer = sealer()?;
    let runbook = &prepared.validated.runbook;
    let meta = RunMeta {
        id: new_run_id(),
        kind: RunKind::Steps,
        runbook: runbook_ref(&args.runbook.runbook, &prepared.source),
        name: runbook.metadata.name.clone(),
        workdir,
        params: seal_values(&prepared.params, |k| is_secret_param(runbook, k), &sealer),
        inputs: IndexMap::new(),
        created_at: now_ms(),
        kubeconfig: args
            .kubeconfig
            .as_deref()
            .map(|k| std::path::absolute(k).unwrap_or_else(|_| k.to_path_buf())),
        sandbox: None,
    };
    let store = Store::new(&args.state.state_dir);
    let mut meta = meta;
    if args.sandbox {
        let dir = rehearsal::sandbox_dir(&store.run_dir(&meta.id));
        meta.sandbox = Some(std::path::absolute(&dir).unwrap_or(dir));
    }
    let open = store.create(meta).map_err(|e| Failure::Other(e.into()))?;
    let wiring = Wiring::new(&open.meta, &open.dir, runbook, &prepared.params)?;
    let units = units(&runbook.steps, &prepared.validated.graph);
    let reporter = Reporter::new(args.exec.log_format, units.len(), verbose > 0);
    let result = drive(Drive {
        open,
        units,
        values: prepared.params.clone(),
        defaults: runbook.defaults.clone(),
        exec: &args.exec,
        state_dir: &args.state.state_dir,
        reporter,
        sealer,
        executor: wiring.executor.clone(),
    });
    wiring.finish(runbook, result)
}

/// True when param `name` is declared secret.
pub fn is_secret_param(runbook: &Runbook, name: &str) -> bool {
    runbook.params.get(name).is_some_and(|p| p.secret)
}

/// Everything the driver needs.
pub struct Drive<'a> {
    /// The run, locked.
    pub open: OpenRun,
    /// Its steps.
    pub units: Vec<Unit>,
    /// Values every step sees.
    pub values: IndexMap<String, String>,
    /// The runbook's defaults.
    pub defaults: Defaults,
    /// Execution flags.
    pub exec: &'a ExecArgs,
    /// The state dir, for the hints printed at the end.
    pub state_dir: &'a Path,
    /// The reporter.
    pub reporter: Reporter,
    /// The secrets key.
    pub sealer: Sealer,
    /// Carries out steps.
    pub executor: Arc<dyn Executor>,
}

/// Drives a run to its end and maps the outcome to an exit code.
pub fn drive(d: Drive<'_>) -> CmdResult {
    let Drive {
        mut open,
        units,
        values,
        defaults,
        exec,
        state_dir,
        mut reporter,
        sealer,
        executor,
    } = d;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Other(e.into()))?;
    let run_id = open.meta.id.clone();
    let settings = Settings {
        run_id: run_id.clone(),
        concurrency: usize::from(exec.concurrency),
        workdir: open.meta.workdir.clone(),
        log_dir: open.log_dir(),
        scratch: open.scratch_dir(),
        grace: exec.grace,
        defaults,
        values,
        sealer,
        // Sealed params and cleanup inputs are the secret ones.
        secret_values: open
            .meta
            .params
            .iter()
            .chain(&open.meta.inputs)
            .filter(|(_, v)| matches!(v, Stored::Sealed(_)))
            .map(|(k, _)| k.clone())
            .collect(),
    };
    let log_dir = open.log_dir();
    let echo = reporter.echo();
    let grace = exec.grace;
    let result = runtime.block_on(async {
        let controls = Controls::default();
        watch_signals(controls.clone(), grace)?;
        let mut sinks: [&mut dyn EventSink; 2] = [&mut open.journal, &mut reporter];
        scheduler::run(units, settings, executor, echo, &mut sinks, controls)
            .await
            .map_err(|e| Failure::Other(e.into()))
    });
    reporter.finish();
    // Steps that ignore every signal must not keep the process alive.
    runtime.shutdown_timeout(Duration::from_millis(100));
    let summary = result?;
    conclude(&run_id, &summary, state_dir, &log_dir, &reporter)
}

fn conclude(
    run_id: &str,
    s: &Summary,
    state_dir: &Path,
    log_dir: &Path,
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
            for (step, error) in &s.failed {
                let log = log_dir.join(scheduler::log_name(step));
                msg.push_str(&format!(
                    "  step `{step}`: {error}\n    log: {}\n",
                    log.display()
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
    let mut int = signal(SignalKind::interrupt()).map_err(|e| Failure::Other(e.into()))?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| Failure::Other(e.into()))?;
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
