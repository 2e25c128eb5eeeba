//! The scheduler's view of kube steps: an [`Executor`] that dispatches each `kube.*` action to
//! its module, writes progress to the step's log, and stops promptly when asked.

use std::path::Path;
use std::sync::{Arc, Mutex};

use indexmap::IndexMap;
use meshbook_engine::model::{Action, OutputSpec, Rendered};
use meshbook_engine::run::executor::{BoxFuture, Done, Executor, StepFailure, StepRequest};
use meshbook_engine::state::log::Stream;

use super::error::error_chain;
use super::meta::Field;
use super::{
    Clients, Outputs, Progress, StepEnv, apply, delete, exec, get, kubeconfig, meta, patch, secret,
    wait,
};

/// Runs `kube.*` steps against the clusters of one run.
#[derive(Debug, Clone)]
pub struct KubeExecutor {
    clients: Arc<Clients>,
}

impl KubeExecutor {
    /// An executor over the run's clients.
    pub fn new(clients: Arc<Clients>) -> KubeExecutor {
        KubeExecutor { clients }
    }
}

/// Runs one kube action; errors are phrased for people, hold no secret, and say whether trying
/// again can help.
async fn dispatch(
    clients: &Clients,
    action: &Action<Rendered>,
    outputs: &IndexMap<String, OutputSpec>,
    env: &StepEnv,
) -> Result<Outputs, StepFailure> {
    let result = match action {
        Action::KubeApply(s) => apply::run(clients, s, outputs, env).await,
        Action::KubeWait(s) => wait::run(clients, s, outputs, env).await,
        Action::KubeGet(s) => get::run(clients, s, outputs, env).await,
        Action::KubeSecret(s) => secret::run(clients, s, outputs, env).await,
        Action::KubeLabel(s) => meta::run(clients, &s.0, Field::Labels, outputs, env).await,
        Action::KubeAnnotate(s) => meta::run(clients, &s.0, Field::Annotations, outputs, env).await,
        Action::KubePatch(s) => patch::run(clients, s, outputs, env).await,
        Action::KubeDelete(s) => delete::run(clients, s, outputs, env).await,
        Action::KubeExec(s) => exec::run(clients, s, outputs, env).await,
        Action::KubeKubeconfig(s) => kubeconfig::run(clients, s, outputs, env).await,
        Action::Shell(_) => return Err(StepFailure::Unsupported(action.kind().to_string())),
    };
    result.map_err(|e| StepFailure::Failed {
        message: error_chain(&e),
        permanence: e.permanence(),
    })
}

/// What a server-side dry run of one kube step says: what the server would do, object by
/// object, and whether it refused. Writes go with `dryRun=All`; label, annotate and delete
/// report what they would do and send nothing.
pub async fn server_dry_run(
    clients: &Clients,
    action: &Action<Rendered>,
    workdir: &Path,
) -> (Vec<String>, Result<(), StepFailure>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&lines);
    let env = StepEnv {
        workdir: workdir.to_path_buf(),
        progress: Progress::to(move |l| {
            sink.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(l.to_string())
        }),
        dry_run: true,
        wait: None,
    };
    let result = dispatch(clients, action, &IndexMap::new(), &env).await;
    let said = lines.lock().map(|l| l.clone()).unwrap_or_default();
    (said, result.map(|_| ()))
}

/// Progress lines go to the step's log (masked) and to whoever watches.
fn progress_for(req: &StepRequest) -> Progress {
    let lines = req.log.begin(req.attempt);
    Progress::to(move |line| lines.line(Stream::Stdout, line))
}

impl Executor for KubeExecutor {
    fn execute(&self, req: StepRequest) -> BoxFuture<'_, Result<Done, StepFailure>> {
        Box::pin(async move {
            let env = StepEnv {
                workdir: req.workdir.clone(),
                progress: progress_for(&req),
                dry_run: false,
                wait: req.wait.clone(),
            };
            let work = dispatch(&self.clients, &req.action, &req.outputs, &env);
            // Kube steps hold no child process: stopping and killing both drop the work.
            tokio::select! {
                result = work => result.map(Done::from),
                _ = req.stop.cancelled() => Err(StepFailure::Interrupted),
                _ = req.kill.cancelled() => Err(StepFailure::Interrupted),
            }
        })
    }
}
