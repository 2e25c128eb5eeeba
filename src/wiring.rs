//! How a run reaches its clusters: the executors it is carried out by, each wrapping the next
//! with one job. For a rehearsal, the simulated clusters too.
//!
//! ```text
//! RehearsalExecutor (stand-ins; how each step ran; saves the clusters before a step is recorded)
//!   └─ StepRouter (shell → ShellExecutor with the run's KUBECONFIG (a rehearsal's: also its
//!      own HOME, and none of meshbook's gcloud or ssh-agent variables); kube.* → …)
//!        └─ identities::Recorder (records each context's cluster identity as soon as it is known)
//!             └─ KubeExecutor (kube-rs, one client per context)
//! ```

use std::sync::Arc;

use meshbook_engine::model::{Action, Runbook};
use meshbook_engine::run::executor::{BoxFuture, Done, Executor, StepFailure, StepRequest};
use meshbook_engine::state::RunDir;
use meshbook_engine::state::replay::StepRecord;
use meshbook_engine::state::secrets::Sealer;
use meshbook_engine::state::store::{RunKind, RunMeta};
use meshbook_engine::values::Values;
use meshbook_steps::kube::{Clients, KubeExecutor};
use meshbook_steps::shell::ShellExecutor;

use crate::coverage::Coverage;
use crate::failure::{CmdResult, Failure};
use crate::identities;
use crate::rehearsal::{self, Rehearsal, RehearsalExecutor};
use crate::report::Reporter;
use crate::source;

/// Sends each step to the executor for its kind.
struct StepRouter {
    shell: ShellExecutor,
    kube: Arc<dyn Executor>,
    /// Variables shell steps get besides the values they use (`KUBECONFIG` of the run).
    env: Values,
}

impl Executor for StepRouter {
    fn execute(&self, mut request: StepRequest) -> BoxFuture<'_, Result<Done, StepFailure>> {
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
    rehearsal: Option<Rehearsal>,
}

impl Wiring {
    /// Connects a run to its clusters: the run's kubeconfig, or (for rehearsals) simulated
    /// clusters started from the run's sandbox folder, with the runbook's stand-ins.
    /// `kubeconfig` (given to this invocation) wins over the one the run was started with, which
    /// another machine may not have.
    pub(crate) fn new(
        meta: &RunMeta,
        dir: &RunDir,
        kubeconfig: Option<&std::path::Path>,
        runbook: &Runbook,
        params: &Values,
        sealer: &Sealer,
    ) -> anyhow::Result<Wiring> {
        let mut rehearsal = match &meta.sandbox {
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
        // A different cluster behind a context is refused all the same: each context's cluster
        // identity is recorded and checked.
        let kubeconfig = rehearsal
            .as_ref()
            .map(|r| r.kubeconfig.clone())
            .or_else(|| kubeconfig.map(std::path::Path::to_path_buf))
            .or_else(|| meta.kubeconfig.clone().filter(|k| k.exists()));
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
        if let Some(r) = &mut rehearsal {
            r.warm_gcloud(&mut env);
        }
        let shell = match &rehearsal {
            Some(_) => ShellExecutor::withholding(rehearsal::withheld()),
            None => ShellExecutor::default(),
        };
        let router: Arc<dyn Executor> = Arc::new(StepRouter {
            shell,
            kube: kube.clone(),
            env,
        });
        let (Some(rehearsal), Some(source), Some(folder)) = (rehearsal, source, &meta.sandbox)
        else {
            return Ok(Wiring {
                executor: router,
                rehearsal: None,
            });
        };
        let sandbox = rehearsal
            .sandbox()
            .ok_or_else(|| anyhow::anyhow!("the sandbox is not running"))?;
        let executor = RehearsalExecutor::new(
            sandbox,
            router,
            kube,
            runbook,
            source,
            &rehearsal.plan,
            rehearsal::doubles_dir(folder),
        );
        Ok(Wiring {
            executor: Arc::new(executor),
            rehearsal: Some(rehearsal),
        })
    }

    /// Ends the run's wiring: a rehearsal reports (through `reporter`, so JSON logs stay JSON)
    /// its clusters and its coverage (`steps` reads what the journal says of each step of the
    /// run) and stops its clusters.
    pub(crate) fn finish(
        self,
        steps: impl FnOnce() -> Result<Vec<(String, StepRecord)>, Failure>,
        reporter: &Reporter,
        result: CmdResult,
    ) -> CmdResult {
        if let Some(rehearsal) = self.rehearsal {
            reporter.line(&rehearsal::clusters_line(
                &rehearsal.clusters,
                &rehearsal.versions(),
            ));
            match steps() {
                Ok(steps) => reporter.line(Coverage::new(&steps).report().trim_end()),
                Err(e) => reporter.line(&format!(
                    "coverage: the journal cannot be read: {}",
                    e.message()
                )),
            }
            if let Some(note) = rehearsal.cloud_note() {
                reporter.line(&note);
            }
            rehearsal.stop()?;
        }
        result
    }
}
