//! The scheduler's view of kube steps: an [`Executor`] that dispatches each `kube.*` action to
//! its module, writes progress to the step's log, and stops promptly when asked.

use std::fs::OpenOptions;
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt as _;
use std::sync::{Arc, Mutex};

use indexmap::IndexMap;
use meshbook_engine::model::{Action, OutputSpec};
use meshbook_engine::run::executor::{
    BoxFuture, Executor, Produced, StepFailure, StepRequest, Stream,
};

use super::{
    Clients, Outputs, Progress, StepEnv, apply, delete, error_chain, exec, get, kubeconfig, meta,
    patch, secret, wait,
};

/// Runs `kube.*` steps against the clusters of one run.
#[derive(Debug, Clone)]
pub struct KubeExecutor {
    clients: Arc<Clients>,
    dry_run: bool,
}

impl KubeExecutor {
    /// An executor over the run's clients.
    pub fn new(clients: Arc<Clients>) -> KubeExecutor {
        KubeExecutor {
            clients,
            dry_run: false,
        }
    }

    /// The run's clients (for the identities of the clusters used).
    pub fn clients(&self) -> &Arc<Clients> {
        &self.clients
    }
}

fn chain<E: std::error::Error + 'static>(e: E) -> String {
    error_chain(&e)
}

/// Runs one kube action; errors are phrased for people and hold no secret.
pub async fn dispatch(
    clients: &Clients,
    action: &Action,
    outputs: &IndexMap<String, OutputSpec>,
    env: &StepEnv,
) -> Result<Outputs, StepFailure> {
    let result = match action {
        Action::KubeApply(s) => apply::run(clients, s, outputs, env).await.map_err(chain),
        Action::KubeWait(s) => wait::run(clients, s, outputs, env).await.map_err(chain),
        Action::KubeGet(s) => get::run(clients, s, outputs, env).await.map_err(chain),
        Action::KubeSecret(s) => secret::run(clients, s, outputs, env).await.map_err(chain),
        Action::KubeLabel(s) => meta::label(clients, s, outputs, env).await.map_err(chain),
        Action::KubeAnnotate(s) => meta::annotate(clients, s, outputs, env)
            .await
            .map_err(chain),
        Action::KubePatch(s) => patch::run(clients, s, outputs, env).await.map_err(chain),
        Action::KubeDelete(s) => delete::run(clients, s, outputs, env).await.map_err(chain),
        Action::KubeExec(s) => exec::run(clients, s, outputs, env).await.map_err(chain),
        Action::KubeKubeconfig(s) => kubeconfig::run(clients, s, outputs, env)
            .await
            .map_err(chain),
        other => return Err(StepFailure::Unsupported(other.kind().to_string())),
    };
    result.map_err(StepFailure::Other)
}

fn progress_for(req: &StepRequest) -> Progress {
    if let Some(dir) = req.log.path.parent() {
        let _ = meshbook_engine::state::fsutil::create_private_dir(dir);
    }
    let file = OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(&req.log.path)
        .ok()
        .map(Mutex::new);
    if let Some(f) = &file
        && let Ok(mut f) = f.lock()
    {
        let _ = writeln!(f, "==> {} attempt {}", req.step, req.attempt);
    }
    let echo = req.log.echo.clone();
    let step = req.step.clone();
    // Lines can quote what a pod printed (kube.exec): secrets the step can see are masked.
    let secrets = req.secrets.clone();
    Progress::to(move |line| {
        let masked;
        let line = if secrets.is_empty() {
            line
        } else {
            masked = meshbook_engine::run::executor::mask(line, &secrets);
            masked.as_str()
        };
        if let Some(f) = &file
            && let Ok(mut f) = f.lock()
        {
            let _ = writeln!(f, "{line}");
        }
        if let Some(echo) = &echo {
            echo(&step, Stream::Stdout, line);
        }
    })
}

impl Executor for KubeExecutor {
    fn execute(&self, req: StepRequest) -> BoxFuture<'_, Result<Produced, StepFailure>> {
        Box::pin(async move {
            let env = StepEnv {
                workdir: req.workdir.clone(),
                progress: progress_for(&req),
                dry_run: self.dry_run,
            };
            let work = dispatch(&self.clients, &req.action, &req.outputs, &env);
            // Kube steps hold no child process: stopping and killing both drop the work.
            tokio::select! {
                result = work => result,
                _ = req.stop.cancelled() => Err(StepFailure::Interrupted),
                _ = req.kill.cancelled() => Err(StepFailure::Interrupted),
            }
        })
    }
}
