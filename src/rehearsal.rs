//! Rehearsals (`run --sandbox`): simulated clusters for every context the runbook names, and an
//! executor that honours the runbook's `sandbox:` stand-ins. The clusters keep their objects in
//! the run's folder, so `resume` of a rehearsal continues against the same clusters.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use indexmap::IndexMap;
use meshbook_engine::model::{Action, KubeApply, Runbook, SandboxStandIn, ValueType};
use meshbook_engine::params::ParamValues;
use meshbook_engine::run::executor::{BoxFuture, Executor, Produced, StepFailure, StepRequest};
use meshbook_engine::template::Renderer;
use meshbook_sandbox::{KubeVersion, Sandbox, SandboxConfig, Saver};

use crate::source::{Origin, RunbookSource};

/// The simulated clusters of one rehearsal, served on their own runtime for the run's length.
pub struct Rehearsal {
    runtime: tokio::runtime::Runtime,
    sandbox: Option<Sandbox>,
    /// The kubeconfig whose contexts are named after the runbook's context values.
    pub kubeconfig: PathBuf,
    /// Context value and the simulated cluster serving it.
    pub clusters: Vec<(String, String)>,
    /// Makes the clusters' objects durable on demand.
    pub saver: Saver,
}

/// The folder of a run's simulated clusters.
pub fn sandbox_dir(run_dir: &Path) -> PathBuf {
    run_dir.join("sandbox")
}

/// The distinct values of the runbook's `context` params, in declaration order.
pub fn contexts(runbook: &Runbook, params: &ParamValues) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (name, spec) in &runbook.params {
        if spec.ty == ValueType::Context
            && let Some(v) = params.get(name)
            && !out.contains(v)
        {
            out.push(v.clone());
        }
    }
    out
}

/// A cluster name the sandbox accepts (a DNS label) for a context value such as `gke_p_z_c1`.
fn cluster_name(context: &str, taken: &[String]) -> String {
    let mut base: String = context
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    base = base.trim_matches('-').chars().take(50).collect();
    if base.is_empty() {
        base = "cluster".into();
    }
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}-{n}");
        n += 1;
    }
    name
}

/// The Kubernetes minor rehearsals simulate until runbooks declare theirs: the newest that
/// still creates a token Secret per ServiceAccount (the named runbooks read them) and already
/// serves the apiVersions the stand-ins use (`apiextensions.k8s.io/v1`, `policy/v1`, ...).
const REHEARSAL_VERSION: KubeVersion = KubeVersion::new(23);

impl Rehearsal {
    /// Starts (or restarts, from `dir`) one simulated cluster per context.
    pub fn start(contexts: &[String], dir: &Path) -> Result<Rehearsal> {
        if contexts.is_empty() {
            anyhow::bail!(
                "the runbook has no `context` params, so there is no cluster to simulate"
            );
        }
        let mut clusters: Vec<(String, String)> = Vec::new();
        for ctx in contexts {
            let taken: Vec<String> = clusters.iter().map(|(_, c)| c.clone()).collect();
            clusters.push((ctx.clone(), cluster_name(ctx, &taken)));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sandbox")
            .enable_all()
            .build()
            .context("failed to start the sandbox runtime")?;
        let config = SandboxConfig {
            clusters: clusters.iter().map(|(_, c)| c.clone()).collect(),
            state_dir: Some(dir.join("clusters")),
            kube_version: REHEARSAL_VERSION,
            ..SandboxConfig::default()
        };
        let sandbox = runtime
            .block_on(Sandbox::start(config))
            .context("failed to start the sandbox")?;
        let kubeconfig = dir.join("kubeconfig");
        let text = rename_contexts(&sandbox.kubeconfig_yaml(), &clusters)?;
        crate::identities::write_private(&kubeconfig, &text)
            .with_context(|| format!("failed to write {}", kubeconfig.display()))?;
        let saver = sandbox.saver();
        Ok(Rehearsal {
            runtime,
            sandbox: Some(sandbox),
            kubeconfig,
            clusters,
            saver,
        })
    }

    /// Stops the clusters, saving their objects.
    pub fn stop(mut self) -> Result<()> {
        if let Some(sandbox) = self.sandbox.take() {
            self.runtime
                .block_on(sandbox.shutdown())
                .context("failed to stop the sandbox")?;
        }
        Ok(())
    }
}

/// Sets up the run's tool doubles in `sandbox_dir/doubles` (docs/doubles.md) and returns the
/// variables shell steps get: the doubles' `bin` first on `PATH`, and `MESHBOOK_DOUBLES`. What
/// the doubles play comes from the runbook's `sandbox/doubles.yaml`; a built-in runbook's
/// `sandbox/` is copied there first, so downloads can be served from its files.
pub fn doubles_env(
    sandbox_dir: &Path,
    source: &RunbookSource,
    kubeconfig: &Path,
) -> Result<Vec<(String, String)>> {
    let dir = sandbox_dir.join("doubles");
    let spec = source.read_sibling("sandbox/doubles.yaml").ok();
    let base = match &source.origin {
        Origin::Disk(d) => std::path::absolute(d).unwrap_or_else(|_| d.clone()),
        Origin::Builtin(rb) => {
            let root = dir.join("runbook");
            if let Some(files) = rb.get_dir(rb.path().join("sandbox")) {
                std::fs::create_dir_all(root.join(files.path()))?;
                files.extract(&root).with_context(|| {
                    format!(
                        "failed to copy the runbook's sandbox/ to {}",
                        root.display()
                    )
                })?;
            }
            root.join(rb.path())
        }
    };
    let exe = std::env::current_exe().context("cannot find the meshbook binary for the doubles")?;
    let bin = meshbook_doubles::install(&dir, &exe, kubeconfig, spec.as_deref(), &base)?;
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut paths = vec![bin];
    paths.extend(std::env::split_paths(&path));
    let joined = std::env::join_paths(paths).context("a PATH entry holds a `:`")?;
    Ok(vec![
        ("PATH".to_string(), joined.to_string_lossy().into_owned()),
        (
            meshbook_doubles::setup::DIR_VAR.to_string(),
            dir.to_string_lossy().into_owned(),
        ),
    ])
}

/// Names each context after the runbook's value (the sandbox names them after its clusters).
fn rename_contexts(kubeconfig: &str, clusters: &[(String, String)]) -> Result<String> {
    let mut doc: serde_yaml::Value =
        serde_yaml::from_str(kubeconfig).context("the sandbox wrote an unreadable kubeconfig")?;
    let by_cluster: BTreeMap<&str, &str> = clusters
        .iter()
        .map(|(ctx, c)| (c.as_str(), ctx.as_str()))
        .collect();
    if let Some(list) = doc.get_mut("contexts").and_then(|c| c.as_sequence_mut()) {
        for entry in list {
            let name = entry
                .get("name")
                .and_then(|n| n.as_str())
                .unwrap_or_default()
                .to_string();
            if let Some(ctx) = by_cluster.get(name.as_str()) {
                entry["name"] = serde_yaml::Value::String((*ctx).to_string());
            }
        }
    }
    if let Some(first) = clusters.first() {
        doc["current-context"] = serde_yaml::Value::String(first.0.clone());
    }
    Ok(serde_yaml::to_string(&doc)?)
}

/// What a rehearsal did instead of a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Substitute {
    /// A stand-in manifest was applied.
    Applied {
        step: String,
        file: String,
        context: String,
    },
    /// The step was skipped.
    Skipped { step: String, reason: String },
}

/// Runs steps as a rehearsal: stand-ins instead of the steps that declare one, everything else
/// through `inner`; the stand-in manifests go through `kube`. After every step the clusters are
/// saved, before the run records the step as done: a rehearsal killed at any moment resumes
/// against clusters that hold everything its finished steps made.
pub struct RehearsalExecutor {
    saver: Saver,
    inner: Arc<dyn Executor>,
    kube: Arc<dyn Executor>,
    stand_ins: BTreeMap<String, SandboxStandIn>,
    source: RunbookSource,
    done: Arc<Mutex<Vec<Substitute>>>,
}

impl RehearsalExecutor {
    /// Wraps `inner` for the stand-ins of `runbook` (steps and `finally` steps alike).
    pub fn new(
        saver: Saver,
        inner: Arc<dyn Executor>,
        kube: Arc<dyn Executor>,
        runbook: &Runbook,
        source: RunbookSource,
    ) -> Self {
        let stand_ins = runbook
            .steps
            .iter()
            .chain(&runbook.finally)
            .filter_map(|s| s.sandbox.clone().map(|sb| (s.id.clone(), sb)))
            .collect();
        RehearsalExecutor {
            saver,
            inner,
            kube,
            stand_ins,
            source,
            done: Arc::default(),
        }
    }

    /// What this rehearsal has substituted so far.
    pub fn substitutes(&self) -> Arc<Mutex<Vec<Substitute>>> {
        self.done.clone()
    }

    async fn stand_in(
        &self,
        sb: SandboxStandIn,
        req: StepRequest,
    ) -> Result<Produced, StepFailure> {
        let data = serde_json::Value::Object(
            req.env
                .iter()
                .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
                .collect(),
        );
        let renderer = Renderer::new();
        let render = |text: &str, what: &str| {
            renderer
                .render(text, &data)
                .map_err(|e| StepFailure::Render(format!("sandbox {what}: {e}")))
        };
        let mut outputs: Produced = IndexMap::new();
        for (name, value) in &sb.outputs {
            outputs.insert(name.clone(), render(value, &format!("output `{name}`"))?);
        }
        let record = |s: Substitute| self.done.lock().unwrap_or_else(|e| e.into_inner()).push(s);
        if let Some(reason) = &sb.skip {
            record(Substitute::Skipped {
                step: req.step.clone(),
                reason: reason.clone(),
            });
            return Ok(outputs);
        }
        let Some(file) = &sb.apply else {
            return Ok(outputs);
        };
        let text = self
            .source
            .read_sibling(file)
            .map_err(|e| StepFailure::Other(format!("{e:#}")))?;
        let manifest = render(&text, file)?;
        let context = match &sb.context {
            Some(c) => Some(render(c, "context")?),
            None => req.action.context().map(str::to_string),
        };
        let shown_context = context.clone().unwrap_or_default();
        let action = Action::KubeApply(KubeApply {
            context,
            manifest: Some(manifest),
            ..KubeApply::default()
        });
        let apply = StepRequest {
            action,
            outputs: IndexMap::new(),
            ..req.clone()
        };
        self.kube.execute(apply).await?;
        record(Substitute::Applied {
            step: req.step,
            file: file.clone(),
            context: shown_context,
        });
        Ok(outputs)
    }
}

impl Executor for RehearsalExecutor {
    fn execute(&self, request: StepRequest) -> BoxFuture<'_, Result<Produced, StepFailure>> {
        Box::pin(async move {
            let produced = match self.stand_ins.get(&request.step).cloned() {
                Some(sb) => self.stand_in(sb, request).await,
                None => self.inner.execute(request).await,
            };
            self.saver.save().map_err(|e| {
                StepFailure::Other(format!("failed to save the simulated clusters: {e}"))
            })?;
            produced
        })
    }
}

/// The closing lines of a rehearsal: every stand-in and skip of the runbook, and which ran now.
pub fn report(runbook: &Runbook, done: &[Substitute], clusters: &[(String, String)]) -> String {
    let mut out = String::from("rehearsal on simulated clusters:");
    for (ctx, cluster) in clusters {
        out.push_str(&format!(" {ctx}"));
        if ctx != cluster {
            out.push_str(&format!(" (as {cluster})"));
        }
    }
    out.push('\n');
    let ran = |id: &str| {
        done.iter().any(|d| matches!(d, Substitute::Applied { step, .. } | Substitute::Skipped { step, .. } if step == id))
    };
    let mut stand_ins = Vec::new();
    let mut skips = Vec::new();
    for s in &runbook.steps {
        let Some(sb) = &s.sandbox else { continue };
        let note = if ran(&s.id) {
            ""
        } else {
            " (not reached in this run)"
        };
        if let Some(file) = &sb.apply {
            stand_ins.push(format!("  {} → applied {file}{note}", s.id));
        }
        if let Some(reason) = &sb.skip {
            skips.push(format!("  {} → skipped: {reason}{note}", s.id));
        }
    }
    out.push_str(&format!("{} stand-ins:\n", stand_ins.len()));
    for l in stand_ins {
        out.push_str(&l);
        out.push('\n');
    }
    out.push_str(&format!("{} skipped:\n", skips.len()));
    for l in skips {
        out.push_str(&l);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_names_are_dns_labels_and_unique() {
        let a = cluster_name("gke_proj_us-central1-a_Cluster1", &[]);
        assert_eq!(a, "gke-proj-us-central1-a-cluster1");
        assert_eq!(cluster_name("c1", &["c1".to_string()]), "c1-2");
        assert_eq!(cluster_name("__", &[]), "cluster");
    }

    #[test]
    fn contexts_are_renamed_after_the_runbook_values() {
        let text = "apiVersion: v1\nkind: Config\ncontexts:\n- name: c-1\n  context: {cluster: c-1, user: c-1-admin}\ncurrent-context: c-1\n";
        let out = rename_contexts(text, &[("gke_p_z_c_1".into(), "c-1".into())]).unwrap();
        assert!(out.contains("name: gke_p_z_c_1"), "{out}");
        assert!(out.contains("current-context: gke_p_z_c_1"), "{out}");
        assert!(out.contains("cluster: c-1"), "{out}");
    }
}
