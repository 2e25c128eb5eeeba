//! Rehearsals (`run --sandbox`): simulated clusters for every context the runbook names, and an
//! executor that honours the runbook's `sandbox:` stand-ins. The clusters keep their objects in
//! the run's folder, so `resume` of a rehearsal continues against the same clusters. When the
//! runbook's steps call gcloud, a simulated Google Cloud runs beside them (see `crate::gcp`).

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::{OsStr, OsString};
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use indexmap::IndexMap;
use meshbook_cloud::{Cloud, CloudConfig, warm_gcloud};
use meshbook_engine::events::Rehearsed;
use meshbook_engine::model::{
    Action, Instead, KubeApply, Manifests, Place, Runbook, SandboxStandIn, ValueType,
};
use meshbook_engine::render::Render;
use meshbook_engine::run::executor::{
    BoxFuture, Done, Executor, Produced, StepFailure, StepRequest,
};
use meshbook_engine::state::secrets::Sealer;
use meshbook_engine::template::{self, renderer};
use meshbook_engine::validate::{List, Validated};
use meshbook_engine::values::Values;
use meshbook_sandbox::KubeVersion;
use meshbook_sandbox::at_rest::Seal;
use meshbook_sandbox::{Sandbox, SandboxConfig};

use crate::gcp;
use crate::source::{Origin, RunbookSource};

/// The simulated clusters (and cloud) of one rehearsal, served on their own runtime for the
/// run's length.
pub(crate) struct Rehearsal {
    runtime: tokio::runtime::Runtime,
    sandbox: Option<Arc<Sandbox>>,
    cloud: Option<Cloud>,
    /// The kubeconfig whose contexts are named after the runbook's context values.
    pub(crate) kubeconfig: PathBuf,
    /// Context value and the simulated cluster serving it.
    pub(crate) clusters: Vec<(String, String)>,
    /// The simulated cloud's environment for steps and exec credential plugins (empty without).
    pub(crate) env: Vec<(String, String)>,
    /// What the rehearsal does with gcloud steps.
    pub(crate) plan: gcp::Plan,
    /// The interpreter that runs the steps' gcloud calls warm, once started.
    gcloud: Option<warm_gcloud::Server>,
    /// The rehearsal's sandbox folder.
    dir: PathBuf,
}

/// The distinct values of the runbook's `context` params, in declaration order.
pub(crate) fn contexts(runbook: &Runbook, params: &Values) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (name, spec) in &runbook.params {
        if spec.ty == ValueType::Context
            && let Some(v) = params.get(name)
            && !out.iter().any(|o| o == v)
        {
            out.push(v.to_string());
        }
    }
    out
}

/// In a rehearsal a stand-in's manifest is part of what its step does, so the values it names
/// are among those the step uses (and its fingerprint covers them): the params, and the outputs
/// of the steps upstream of it (for `finally` steps, of the run's steps too).
pub(crate) fn add_stand_in_uses(validated: &mut Validated, source: &RunbookSource) {
    let runbook = &validated.runbook;
    let params: Vec<&String> = runbook.params.keys().collect();
    let step_outputs: Vec<&String> = runbook
        .steps
        .iter()
        .flat_map(|s| s.outputs.keys())
        .collect();
    let mut added: Vec<(List, usize, Vec<String>)> = Vec::new();
    for list in [List::Steps, List::Finally] {
        let steps = validated.list(list);
        for (i, step) in steps.steps.iter().enumerate() {
            let Some(Instead::Apply { file, .. }) = step.sandbox.as_ref().map(|sb| &sb.instead)
            else {
                continue;
            };
            // A missing or broken stand-in fails its step when it runs, saying why.
            let Ok(refs) = source
                .read_sibling(file)
                .map_err(|_| ())
                .and_then(|text| template::check(&text, template::Place::Field).map_err(|_| ()))
            else {
                continue;
            };
            let upstream: Vec<&String> = steps
                .graph
                .upstream(i)
                .into_iter()
                .flat_map(|u| steps.steps[u].outputs.keys())
                .collect();
            let known = |name: &String| {
                params.contains(&name)
                    || upstream.contains(&name)
                    || (list == List::Finally && step_outputs.contains(&name))
            };
            let names = refs.into_iter().filter(known).collect();
            added.push((list, i, names));
        }
    }
    for (list, i, names) in added {
        let uses = match list {
            List::Steps => &mut validated.uses[i],
            List::Finally => &mut validated.finally_uses[i],
        };
        uses.extend(names);
    }
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

/// The Kubernetes minor a rehearsal simulates, and why: `asked` (`--kube-version`), else the
/// newest simulated minor the runbook's `requires.kubernetes` allows.
pub(crate) fn version_for(
    runbook: &Runbook,
    asked: Option<KubeVersion>,
) -> Result<(KubeVersion, String)> {
    let declared = runbook.requires.kubernetes.as_ref();
    if let Some(v) = asked {
        let why = match declared {
            Some(r) if r.allows_minor(v) => format!("--kube-version, inside the runbook's {r}"),
            Some(r) => format!("--kube-version, outside the runbook's {r}"),
            None => "--kube-version".to_string(),
        };
        return Ok((v, why));
    }
    let Some(range) = declared else {
        return Ok((
            meshbook_sandbox::default_version(),
            "the newest simulated; the runbook declares no Kubernetes range".to_string(),
        ));
    };
    match range.newest_minor(meshbook_sandbox::supported_versions()) {
        Some(v) => Ok((v, format!("the newest minor the runbook's {range} allows"))),
        None => anyhow::bail!(
            "the runbook requires Kubernetes {range}, and the sandbox simulates none of it (1.9 to {})",
            meshbook_sandbox::default_version()
        ),
    }
}

/// The run's key, sealing what the simulated clusters keep in the run's folder.
struct RunSeal(Sealer);

impl std::fmt::Debug for RunSeal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunSeal")
    }
}

impl Seal for RunSeal {
    fn seal(&self, name: &str, plain: &str) -> String {
        self.0.seal(&format!("sandbox/{name}"), plain)
    }

    fn open(&self, name: &str, sealed: &str) -> std::result::Result<String, String> {
        self.0
            .open(&format!("sandbox/{name}"), sealed)
            .map_err(|e| e.to_string())
    }
}

/// The administrator token of a rehearsal's simulated cluster, from its sealed store.
pub(crate) fn admin_token(store: &Path, cluster: &str, sealer: Sealer) -> Result<String> {
    let seal: Arc<dyn Seal> = Arc::new(RunSeal(sealer));
    meshbook_sandbox::stored_admin_token(store, cluster, &Some(seal)).with_context(|| {
        format!(
            "no credential for simulated cluster {cluster} in {}",
            store.display()
        )
    })
}

impl Rehearsal {
    /// Starts (or restarts, from `dir`) one simulated cluster per context, unless the runbook
    /// makes its clusters with gcloud, and the simulated cloud when its steps call gcloud.
    /// The clusters simulate `version` (clusters restarted from `dir` keep the one they were
    /// made with); when `pinned`, the simulated cloud refuses to create clusters of another.
    pub(crate) fn start(
        contexts: &[String],
        dir: &Path,
        plan: gcp::Plan,
        sealer: &Sealer,
        version: KubeVersion,
        pinned: bool,
    ) -> Result<Rehearsal> {
        let contexts = if plan.starts_clusters() {
            contexts
        } else {
            &[]
        };
        if contexts.is_empty() && !plan.starts_cloud() {
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
            kube_version: version,
            // The clusters' objects may hold the run's secrets (a secret param applied as a
            // Secret): sealed with the run's key, like its recorded values.
            at_rest: Some(Arc::new(RunSeal(sealer.clone()))),
            ..SandboxConfig::default()
        };
        let sandbox = Arc::new(
            runtime
                .block_on(Sandbox::start(config))
                .context("failed to start the sandbox")?,
        );
        let kubeconfig = dir.join("kubeconfig");
        let ours = rename_contexts(&sandbox.kubeconfig_yaml(), &clusters)?;
        let ours = exec_credentials(&ours, &dir.join("clusters"))?;
        // gcloud adds its entries to this file during the run: a restart keeps them.
        let text = match std::fs::read_to_string(&kubeconfig) {
            Ok(earlier) => merge_kubeconfig(&earlier, &ours)?,
            Err(_) => ours,
        };
        crate::identities::write_private(&kubeconfig, &text)
            .with_context(|| format!("failed to write {}", kubeconfig.display()))?;
        let cloud = match plan.starts_cloud() {
            true => {
                let config = CloudConfig {
                    dir: std::path::absolute(dir.join("gcp")).unwrap_or_else(|_| dir.join("gcp")),
                    project: gcp::PROJECT.to_string(),
                    pinned_version: pinned.then(|| version.to_string()),
                    // The run's folder must hold no credential in clear: the access token is
                    // derived from the run's key at every start instead of kept there.
                    token: Some(format!(
                        "ya29.rehearsal-{}",
                        sealer.derive(&format!("gcp-token:{}", dir.display()))
                    )),
                };
                let host: Arc<dyn meshbook_cloud::ClusterHost> = sandbox.clone();
                Some(
                    runtime
                        .block_on(Cloud::start(config, host))
                        .context("failed to start the simulated Google Cloud")?,
                )
            }
            false => None,
        };
        let env = cloud.as_ref().map(Cloud::environment).unwrap_or_default();
        Ok(Rehearsal {
            runtime,
            sandbox: Some(sandbox),
            cloud,
            kubeconfig,
            clusters,
            env,
            plan,
            gcloud: None,
            dir: dir.to_path_buf(),
        })
    }

    /// Sends the steps' gcloud calls to a warm interpreter (`meshbook_cloud::warm_gcloud`),
    /// when the simulated cloud runs and `MESHBOOK_WARM_GCLOUD` is not `0`. `env` holds the
    /// variables shell steps get besides meshbook's own (less those [`withheld`]); the
    /// interpreter starts with the same, and `env` gets the variables that lead to it.
    pub(crate) fn warm_gcloud(&mut self, env: &mut Values) {
        if self.cloud.is_none() || std::env::var_os(WARM_GCLOUD_VAR).is_some_and(|v| v == "0") {
            return;
        }
        let withheld = withheld();
        let mut vars: BTreeMap<OsString, OsString> = std::env::vars_os()
            .filter(|(k, _)| !withheld.iter().any(|w| k == w.as_str()))
            .collect();
        for (k, v) in env.iter() {
            vars.insert(k.into(), v.into());
        }
        let log = self.dir.join("warm-gcloud.log");
        let started =
            std::env::current_exe().and_then(|exe| warm_gcloud::Server::start(&vars, &exe, &log));
        match started {
            Ok(Some(server)) => {
                let path = vars.get(OsStr::new("PATH")).cloned().unwrap_or_default();
                for (k, v) in server.variables(&path) {
                    env.insert(k, v, false);
                }
                self.gcloud = Some(server);
            }
            // Steps run gcloud as installed: the same calls, only slower.
            Ok(None) => {}
            Err(e) => tracing::warn!("gcloud runs cold: the warm interpreter did not start: {e}"),
        }
    }

    /// The running sandbox (saved after every step).
    pub(crate) fn sandbox(&self) -> Option<Arc<Sandbox>> {
        self.sandbox.clone()
    }

    /// Every simulated cluster (the rehearsal's and those gcloud created) with its Kubernetes minor.
    pub(crate) fn versions(&self) -> Vec<(String, KubeVersion)> {
        self.sandbox
            .as_ref()
            .map(|s| {
                s.clusters()
                    .into_iter()
                    .map(|c| (c.name, c.kube_version))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// A line about the simulated Google Cloud, when one ran.
    pub(crate) fn cloud_note(&self) -> Option<String> {
        self.cloud.as_ref().map(|c| {
            format!(
                "simulated Google Cloud at {} (state, gcloud configuration and VM folders in {})",
                c.origin(),
                c.dir().display()
            )
        })
    }

    /// Stops the cloud and the clusters, saving their state.
    pub(crate) fn stop(mut self) -> Result<()> {
        drop(self.gcloud.take());
        if let Some(cloud) = self.cloud.take() {
            self.runtime.block_on(cloud.shutdown());
        }
        if let Some(sandbox) = self.sandbox.take() {
            let sandbox = Arc::try_unwrap(sandbox)
                .map_err(|_| anyhow::anyhow!("the sandbox is still in use"))?;
            self.runtime
                .block_on(sandbox.shutdown())
                .context("failed to stop the sandbox")?;
        }
        Ok(())
    }
}

/// Writes a built-in runbook's files under `root` (which lies in the run's state directory):
/// directories 0700, files 0600, whatever the umask.
fn extract_private(dir: &include_dir::Dir<'_>, root: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root.join(dir.path()))?;
    for entry in dir.entries() {
        match entry {
            include_dir::DirEntry::Dir(d) => extract_private(d, root)?,
            include_dir::DirEntry::File(f) => std::io::Write::write_all(
                &mut std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(root.join(f.path()))?,
                f.contents(),
            )?,
        }
    }
    Ok(())
}

/// Set to `0`, a rehearsal runs gcloud as installed instead of warm.
pub(crate) const WARM_GCLOUD_VAR: &str = "MESHBOOK_WARM_GCLOUD";

/// The folder of a rehearsal's tool doubles (links, configuration, record of calls), in its
/// sandbox folder.
pub(crate) fn doubles_dir(sandbox_dir: &Path) -> PathBuf {
    sandbox_dir.join("doubles")
}

/// Variables of meshbook's own environment that a rehearsal's shell steps do not inherit: those
/// that would point gcloud or Google's client libraries at a real account, project, credentials
/// or endpoint (the simulated cloud gives its own `CLOUDSDK_*`), and the user's ssh agent.
pub(crate) fn withheld() -> Vec<String> {
    let google = |n: &str| {
        (n.starts_with("CLOUDSDK_") && n != "CLOUDSDK_PYTHON")
            || ["GOOGLE_", "GCLOUD_", "GCE_METADATA_"]
                .iter()
                .any(|p| n.starts_with(p))
            || n == "BOTO_CONFIG"
    };
    std::env::vars_os()
        .filter_map(|(n, _)| n.into_string().ok())
        .filter(|n| google(n) || n == "SSH_AUTH_SOCK" || n == "SSH_AGENT_PID")
        .collect()
}

/// Sets up the run's tool doubles in `sandbox_dir/doubles` (docs/doubles.md) and returns the
/// variables shell steps get: the doubles' `bin` first on `PATH`, `MESHBOOK_DOUBLES`, and a
/// `HOME` of the rehearsal's own (`sandbox_dir/home`), so that steps writing `~/.ssh`,
/// `~/.kube` or other dot-files never touch the user's. What
/// the doubles play comes from the runbook's `sandbox/doubles.yaml`; a built-in runbook's
/// `sandbox/` is copied there first, so downloads can be served from its files.
pub(crate) fn doubles_env(
    sandbox_dir: &Path,
    source: &RunbookSource,
    kubeconfig: &Path,
) -> Result<Vec<(String, String)>> {
    let dir = doubles_dir(sandbox_dir);
    let spec = source.read_sibling("sandbox/doubles.yaml").ok();
    let base = match &source.origin {
        Origin::Disk(d) => std::path::absolute(d).unwrap_or_else(|_| d.clone()),
        Origin::Builtin(rb) => {
            let root = dir.join("runbook");
            if let Some(files) = rb.get_dir(rb.path().join("sandbox")) {
                extract_private(files, &root).with_context(|| {
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
    let home = std::path::absolute(sandbox_dir.join("home")).context("no working directory")?;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&home)
        .with_context(|| format!("failed to create {}", home.display()))?;
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
        ("HOME".to_string(), home.to_string_lossy().into_owned()),
    ])
}

/// `earlier` (the kubeconfig of an interrupted rehearsal, with gcloud's entries) with the
/// sandbox's own entries of `ours` put back.
fn merge_kubeconfig(earlier: &str, ours: &str) -> Result<String> {
    let mut doc: serde_yaml::Value = serde_yaml::from_str(earlier).unwrap_or_default();
    let new: serde_yaml::Value =
        serde_yaml::from_str(ours).context("the sandbox wrote an unreadable kubeconfig")?;
    if !doc.is_mapping() {
        return Ok(ours.to_string());
    }
    for key in ["clusters", "users", "contexts"] {
        let fresh = new
            .get(key)
            .and_then(|v| v.as_sequence())
            .cloned()
            .unwrap_or_default();
        let names: Vec<&serde_yaml::Value> = fresh.iter().filter_map(|e| e.get("name")).collect();
        let mut list = doc
            .get(key)
            .and_then(|v| v.as_sequence())
            .cloned()
            .unwrap_or_default();
        list.retain(|e| e.get("name").is_none_or(|n| !names.contains(&n)));
        list.extend(fresh.iter().cloned());
        doc[key] = serde_yaml::Value::Sequence(list);
    }
    Ok(serde_yaml::to_string(&doc)?)
}

/// The kubeconfig with each cluster's bearer token replaced by an exec credential plugin,
/// `meshbook sandbox credential`, that reads the token from the clusters' sealed store when a
/// client connects: the run's folder then holds no token in clear, and kubectl, kube-rs and the
/// doubles all speak the plugin protocol.
fn exec_credentials(kubeconfig: &str, store: &Path) -> Result<String> {
    let mut doc: serde_yaml::Value =
        serde_yaml::from_str(kubeconfig).context("the sandbox wrote an unreadable kubeconfig")?;
    let exe = std::env::current_exe().context("cannot find the meshbook executable")?;
    let key = meshbook_engine::state::secrets::default_key_path()?;
    let store = std::path::absolute(store).unwrap_or_else(|_| store.to_path_buf());
    let key = std::path::absolute(&key).unwrap_or(key);
    if let Some(users) = doc.get_mut("users").and_then(|u| u.as_sequence_mut()) {
        for entry in users {
            let name = entry
                .get("name")
                .and_then(|n| n.as_str())
                .unwrap_or_default();
            let Some(cluster) = name.strip_suffix(meshbook_sandbox::ADMIN_USER_SUFFIX) else {
                continue;
            };
            let exec = serde_json::json!({
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": exe,
                "args": ["sandbox", "credential", "--store", store, "--cluster", cluster,
                         "--key-file", key],
                "interactiveMode": "Never",
            });
            entry["user"] = serde_yaml::to_value(serde_json::json!({ "exec": exec }))?;
        }
    }
    Ok(serde_yaml::to_string(&doc)?)
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

/// Runs steps as a rehearsal: stand-ins instead of the steps that declare one, everything else
/// through `inner`; the stand-in manifests go through `kube`. Each success says how the step was
/// carried out (real tools, doubles, a stand-in or skipped), which the journal records with it.
/// After every step the clusters are saved, before the run records the step as done: a
/// rehearsal killed at any moment resumes against clusters that hold everything its finished
/// steps made. Without gcloud on the machine, gcloud steps are skipped, and so are the steps
/// that need them or their outputs.
pub(crate) struct RehearsalExecutor {
    // Weak: the rehearsal owns the sandbox and must get it back to shut it down.
    sandbox: std::sync::Weak<Sandbox>,
    inner: Arc<dyn Executor>,
    kube: Arc<dyn Executor>,
    stand_ins: BTreeMap<String, SandboxStandIn>,
    source: RunbookSource,
    /// The doubles' folder, whose record of calls says which doubles a step called.
    doubles: PathBuf,
    /// Steps skipped because gcloud is missing (their outputs are placeholders).
    skipped_for_gcloud: Mutex<BTreeSet<String>>,
    /// Without gcloud: the gcloud steps, and per step what it needs and the outputs it uses.
    without_gcloud: Option<WithoutGcloud>,
}

/// What a rehearsal on a machine without gcloud skips.
struct WithoutGcloud {
    gcloud_steps: BTreeSet<String>,
    /// Step id → ids of the steps it needs or whose outputs it names.
    deps: BTreeMap<String, Vec<String>>,
}

impl WithoutGcloud {
    fn new(runbook: &Runbook, plan: &gcp::Plan) -> Option<WithoutGcloud> {
        if plan.installed || plan.steps.is_empty() {
            return None;
        }
        let steps: Vec<&meshbook_engine::model::Step> =
            runbook.steps.iter().chain(&runbook.finally).collect();
        let producers: BTreeMap<&str, &str> = steps
            .iter()
            .flat_map(|s| s.outputs.keys().map(move |o| (o.as_str(), s.id.as_str())))
            .collect();
        let deps = steps
            .iter()
            .map(|s| {
                let text = serde_json::to_string(&s.action).unwrap_or_default();
                let mut d: Vec<String> = s.needs.clone();
                d.extend(
                    producers
                        .iter()
                        .filter(|(o, p)| **p != s.id && names(&text, o))
                        .map(|(_, p)| p.to_string()),
                );
                (s.id.clone(), d)
            })
            .collect();
        Some(WithoutGcloud {
            gcloud_steps: plan.steps.clone(),
            deps,
        })
    }

    /// Why `step` is skipped, given the steps skipped so far for want of gcloud (steps a
    /// stand-in skipped gave their outputs, so they do not count).
    fn reason(&self, step: &str, skipped: &BTreeSet<String>) -> Option<String> {
        if self.gcloud_steps.contains(step) {
            return Some(gcp::MISSING.to_string());
        }
        self.deps
            .get(step)?
            .iter()
            .find(|d| skipped.contains(d.as_str()))
            .map(|d| format!("needs `{d}`, skipped: {}", gcp::MISSING))
    }
}

/// Values of the declared types for a step skipped without gcloud: every step that uses them is
/// skipped too, so they only satisfy the output checks — and the step's `wait.until`, which would
/// otherwise repeat the skipped step until its timeout.
fn placeholders(
    declared: &IndexMap<String, meshbook_engine::model::OutputSpec>,
    wait: Option<&meshbook_engine::run::executor::Waiting>,
) -> Produced {
    const CANDIDATES: [&str; 8] = ["", "0", "1", "0.0.0.0", "0.0.0.0/32", "null", "false", "x"];
    let expected = match wait.map(|w| &w.until) {
        Some(meshbook_engine::model::Until::Equals(e)) => Some(e.as_str()),
        _ => None,
    };
    declared
        .iter()
        .map(|(name, spec)| {
            let admitted = |c: &&str| spec.ty.admits(c).is_ok();
            let waited_for = |c: &&str| wait.is_none_or(|w| w.until.holds(c));
            let value = expected
                .into_iter()
                .chain(CANDIDATES)
                .filter(admitted)
                .find(waited_for)
                .or_else(|| CANDIDATES.into_iter().find(admitted))
                .unwrap_or("");
            (name.clone(), value.to_string())
        })
        .collect()
}

/// Whether `text` names `var` as `$var`, `${var}` or `{{var}}`.
fn names(text: &str, var: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    text.match_indices(var).any(|(i, _)| {
        let before = &text[..i];
        let after = text[i + var.len()..].chars().next();
        let opened =
            before.ends_with('$') || before.ends_with("${") || before.trim_end().ends_with("{{");
        opened && !after.is_some_and(word)
    })
}

/// How long the doubles' record of calls in `dir` is now: calls appended after this belong to
/// steps that run from now on.
fn calls_mark(dir: &Path) -> u64 {
    std::fs::metadata(dir.join(meshbook_doubles::setup::CALLS_FILE)).map_or(0, |m| m.len())
}

/// The tools whose doubles `step` called since the record of calls was `mark` bytes long, in
/// the order first called. Concurrent steps append whole lines of their own, told apart by the
/// step each line names (`MESHBOOK_STEP`); a line that does not parse is no call. A call that
/// ran no subcommand and did nothing is a probe (gcloud's `git --version` and `ssh -V`), not
/// a double doing the step's work.
fn doubles_called(dir: &Path, mark: u64, step: &str) -> Vec<String> {
    use std::io::{Read, Seek, SeekFrom};
    let mut text = String::new();
    if let Ok(mut f) = std::fs::File::open(dir.join(meshbook_doubles::setup::CALLS_FILE)) {
        let _ = f
            .seek(SeekFrom::Start(mark))
            .and_then(|_| f.read_to_string(&mut text));
    }
    let mut tools: Vec<String> = Vec::new();
    for call in text
        .lines()
        .filter_map(|l| serde_json::from_str::<meshbook_doubles::Call>(l).ok())
    {
        let probe = call.command.is_empty() && call.effects.is_empty();
        if call.step.as_deref() == Some(step) && !probe && !tools.contains(&call.tool) {
            tools.push(call.tool);
        }
    }
    tools
}

impl RehearsalExecutor {
    /// Wraps `inner` for the stand-ins of `runbook` (steps and `finally` steps alike); the
    /// doubles record their calls in `doubles`.
    pub(crate) fn new(
        sandbox: Arc<Sandbox>,
        inner: Arc<dyn Executor>,
        kube: Arc<dyn Executor>,
        runbook: &Runbook,
        source: RunbookSource,
        plan: &gcp::Plan,
        doubles: PathBuf,
    ) -> Self {
        let stand_ins = runbook
            .steps
            .iter()
            .chain(&runbook.finally)
            .filter_map(|s| s.sandbox.clone().map(|sb| (s.id.clone(), sb)))
            .collect();
        RehearsalExecutor {
            sandbox: Arc::downgrade(&sandbox),
            inner,
            kube,
            stand_ins,
            source,
            doubles,
            skipped_for_gcloud: Mutex::default(),
            without_gcloud: WithoutGcloud::new(runbook, plan),
        }
    }

    async fn stand_in(&self, sb: SandboxStandIn, req: StepRequest) -> Result<Done, StepFailure> {
        let data = req.env.data();
        let render = |text: &str, what: &str| {
            Render::new(renderer(), &data)
                .text(&format!("sandbox {what}"), text)
                .map_err(|e| StepFailure::Render(e.to_string()))
        };
        let mut outputs: Produced = IndexMap::new();
        for (name, value) in &sb.outputs {
            outputs.insert(name.clone(), render(value, &format!("output `{name}`"))?);
        }
        let (file, context) = match &sb.instead {
            Instead::Skip(reason) => {
                return Ok(Done {
                    outputs,
                    rehearsed: Some(Rehearsed::Skipped {
                        reason: reason.clone(),
                    }),
                    left_running: 0,
                });
            }
            Instead::Apply { file, context } => (file, context),
        };
        let text = self
            .source
            .read_sibling(file)
            .map_err(|e| StepFailure::permanent(format!("{e:#}")))?;
        let manifest = render(&text, file)?;
        let context = match context {
            Some(c) => Some(render(c, "context")?),
            None => req.action.context().map(str::to_string),
        };
        let shown_context = context.clone().unwrap_or_default();
        let action = Action::KubeApply(KubeApply {
            place: Place::context(context),
            manifests: Manifests::Inline(manifest),
            selector: None,
            force: false,
        });
        let apply = StepRequest {
            action,
            outputs: IndexMap::new(),
            wait: None,
            ..req.clone()
        };
        self.kube.execute(apply).await?;
        Ok(Done {
            outputs,
            rehearsed: Some(Rehearsed::StandIn {
                file: file.clone(),
                context: shown_context,
            }),
            left_running: 0,
        })
    }

    /// Runs the step as written, saying whether it called doubles.
    async fn as_written(&self, request: StepRequest) -> Result<Done, StepFailure> {
        let step = request.step.clone();
        let mark = calls_mark(&self.doubles);
        let done = self.inner.execute(request).await?;
        let doubles = doubles_called(&self.doubles, mark, &step);
        let how = if doubles.is_empty() {
            Rehearsed::Real
        } else {
            Rehearsed::Double { doubles }
        };
        Ok(Done {
            rehearsed: Some(how),
            ..done
        })
    }
}

impl Executor for RehearsalExecutor {
    fn execute(&self, request: StepRequest) -> BoxFuture<'_, Result<Done, StepFailure>> {
        Box::pin(async move {
            let skip = self.without_gcloud.as_ref().and_then(|w| {
                let skipped = self
                    .skipped_for_gcloud
                    .lock()
                    .unwrap_or_else(|e| e.into_inner());
                w.reason(&request.step, &skipped)
            });
            let done = match (self.stand_ins.get(&request.step).cloned(), skip) {
                (Some(sb), _) => self.stand_in(sb, request).await,
                (None, Some(reason)) => {
                    self.skipped_for_gcloud
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(request.step.clone());
                    Ok(Done {
                        outputs: placeholders(&request.outputs, request.wait.as_ref()),
                        rehearsed: Some(Rehearsed::Skipped { reason }),
                        left_running: 0,
                    })
                }
                (None, None) => self.as_written(request).await,
            };
            // Clusters a step created (gcloud) are saved too: ask the sandbox for all of them.
            if let Some(sandbox) = self.sandbox.upgrade() {
                sandbox.saver().save().map_err(|e| {
                    StepFailure::transient(format!("failed to save the simulated clusters: {e}"))
                })?;
            }
            done
        })
    }
}

/// The first line of a rehearsal's closing report: its simulated clusters and their versions.
pub(crate) fn clusters_line(
    clusters: &[(String, String)],
    versions: &[(String, KubeVersion)],
) -> String {
    let version_of = |name: &str| {
        versions
            .iter()
            .find(|(n, _)| n == name)
            .map_or(String::new(), |(_, v)| format!(" at Kubernetes {v}"))
    };
    let mut out = String::from("rehearsal on simulated clusters:");
    for (ctx, cluster) in clusters {
        out.push_str(&format!(" {ctx}"));
        if ctx != cluster {
            out.push_str(&format!(" (as {cluster})"));
        }
        out.push_str(&version_of(cluster));
        out.push(';');
    }
    for (name, _) in versions {
        if !clusters.iter().any(|(_, c)| c == name) {
            out.push_str(&format!(
                " {name} (created with gcloud){};",
                version_of(name)
            ));
        }
    }
    if out.ends_with(';') {
        out.pop();
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
    fn a_step_is_credited_with_the_doubles_it_called_since_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(meshbook_doubles::setup::CALLS_FILE);
        let line = |step: &str, tool: &str| {
            format!("{{\"step\":\"{step}\",\"tool\":\"{tool}\",\"command\":\"x\",\"exit\":0}}\n")
        };
        assert_eq!(calls_mark(dir.path()), 0);
        std::fs::write(&file, line("a", "git")).unwrap();
        let mark = calls_mark(dir.path());
        let later = [
            line("a", "helm"),
            line("b", "curl"),
            "{\"step\":\"a\",\"to".to_string() + "\n",
            line("a", "istioctl"),
            line("a", "helm"),
            "{\"step\":\"a\",\"tool\":\"ssh\",\"flags\":[\"-V\"],\"exit\":255}\n".to_string(),
            "{\"step\":\"a\",\"tool\":\"curl\",\"effects\":[\"served\"],\"exit\":0}\n".to_string(),
        ]
        .concat();
        std::fs::write(&file, line("a", "git") + &later).unwrap();
        assert_eq!(
            doubles_called(dir.path(), mark, "a"),
            ["helm", "istioctl", "curl"]
        );
        assert_eq!(doubles_called(dir.path(), mark, "b"), ["curl"]);
        assert!(doubles_called(dir.path(), mark, "c").is_empty());
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
