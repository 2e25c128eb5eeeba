//! How a run reaches its clusters: the executors it is carried out by, each wrapping the next
//! with one job. For a rehearsal, the simulated clusters too.
//!
//! ```text
//! RehearsalExecutor (stand-ins; saves the simulated clusters before a step is recorded done)
//!   └─ StepRouter (shell → ShellExecutor with the run's KUBECONFIG (a rehearsal's: also its
//!      own HOME, and none of meshbook's gcloud or ssh-agent variables); kube.* → …)
//!        └─ identities::Recorder (records each context's cluster identity as soon as it is known)
//!             └─ KubeExecutor (kube-rs, one client per context)
//! ```

use std::sync::{Arc, Mutex};

use meshbook_engine::model::{Action, Runbook};
use meshbook_engine::run::executor::{BoxFuture, Executor, Produced, StepFailure, StepRequest};
use meshbook_engine::state::RunDir;
use meshbook_engine::state::secrets::Sealer;
use meshbook_engine::state::store::{RunKind, RunMeta};
use meshbook_engine::values::Values;
use meshbook_steps::kube::{Clients, KubeExecutor};
use meshbook_steps::shell::ShellExecutor;

use crate::failure::CmdResult;
use crate::identities;
use crate::rehearsal::{self, Rehearsal, RehearsalExecutor, Substitute};
use crate::source;

/// Sends each step to the executor for its kind.
struct StepRouter {
    shell: ShellExecutor,
    kube: Arc<dyn Executor>,
    /// Variables shell steps get besides the values they use (`KUBECONFIG` of the run).
    env: Values,
}

impl Executor for StepRouter {
    fn execute(&self, mut request: StepRequest) -> BoxFuture<'_, Result<Produced, StepFailure>> {
        match &request.action {
            Action::Shell(_) => {
                for (k, v) in self.env.iter() {
                    if !request.env.contains(k) {
                        request.env.insert(k, v, false);
                    }
                }
                self.shell.execute(request)
            }
            _ => self.kube.execute(request),
        }
    }
}

/// The executors of a run, and for a rehearsal its simulated clusters.
pub(crate) struct Wiring {
    /// Carries out the run's steps.
    pub(crate) executor: Arc<dyn Executor>,
    rehearsal: Option<(Rehearsal, Arc<Mutex<Vec<Substitute>>>)>,
}

impl Wiring {
    /// Connects a run to its clusters: the run's kubeconfig, or (for rehearsals) simulated
    /// clusters started from the run's sandbox folder, with the runbook's stand-ins.
    pub(crate) fn new(
        meta: &RunMeta,
        dir: &RunDir,
        runbook: &Runbook,
        params: &Values,
        sealer: &Sealer,
    ) -> anyhow::Result<Wiring> {
        let rehearsal = match &meta.sandbox {
            Some(folder) => {
                let asked = meta.kube_version.as_deref().map(str::parse).transpose()?;
                let (version, _) = rehearsal::version_for(runbook, asked)?;
                Some(Rehearsal::start(
                    &rehearsal::contexts(runbook, params),
                    folder,
                    crate::gcp::plan(runbook),
                    sealer,
                    version,
                    asked.is_some(),
                )?)
            }
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
        clients.expect_identities(identities::load(&dir.identities()));
        if let RunKind::Cleanup { of } = &meta.kind
            && let Some(runs) = dir.path().parent()
        {
            let cleaned = RunDir::at(runs.join(of));
            clients.expect_identities(identities::load(&cleaned.identities()));
        }
        let kube: Arc<dyn Executor> = Arc::new(identities::Recorder::new(
            Arc::new(KubeExecutor::new(clients.clone())),
            clients,
            dir.identities(),
        ));
        let mut env = Values::new();
        if let Some(k) = &kubeconfig {
            env.insert("KUBECONFIG", k.to_string_lossy(), false);
        }
        // The simulated cloud's environment first, so the doubles' PATH comes last and wins.
        for (k, v) in &cloud_env {
            env.insert(k, v, false);
        }
        let source = match (&rehearsal, &meta.sandbox) {
            (Some(r), Some(folder)) => {
                let source = source::resolve(&meta.runbook.to_string_lossy())?;
                env.insert("MESHBOOK_SANDBOX", "1", false);
                for (k, v) in rehearsal::doubles_env(folder, &source, &r.kubeconfig)? {
                    env.insert(k, v, false);
                }
                Some(source)
            }
            _ => None,
        };
        let shell = match &rehearsal {
            Some(_) => ShellExecutor::withholding(rehearsal::withheld()),
            None => ShellExecutor::default(),
        };
        let router: Arc<dyn Executor> = Arc::new(StepRouter {
            shell,
            kube: kube.clone(),
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
            .ok_or_else(|| anyhow::anyhow!("the sandbox is not running"))?;
        let stand_ins =
            RehearsalExecutor::new(sandbox, router, kube, runbook, source, &rehearsal.plan);
        let done = stand_ins.substitutes();
        Ok(Wiring {
            executor: Arc::new(stand_ins),
            rehearsal: Some((rehearsal, done)),
        })
    }

    /// Ends the run's wiring: a rehearsal reports its stand-ins and skips and stops its clusters.
    pub(crate) fn finish(self, runbook: &Runbook, result: CmdResult) -> CmdResult {
        if let Some((rehearsal, done)) = self.rehearsal {
            let done = done.lock().map(|d| d.clone()).unwrap_or_default();
            out!(
                "{}",
                rehearsal::report(runbook, &done, &rehearsal.clusters, &rehearsal.versions())
            );
            if let Some(note) = rehearsal.cloud_note() {
                outln!("{note}");
            }
            rehearsal.stop()?;
        }
        result
    }
}
