//! One environment for the steps tests and benches: an in-process sandbox, clients over it, and
//! the one builder of step requests (a step written as YAML, validated and rendered by the
//! engine as a run would), run through the executors as the scheduler runs them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use meshbook_engine::run::executor::{
    Controls, Executor, Produced, Site, StepFailure, StepRequest,
};
use meshbook_engine::state::RunDir;
use meshbook_engine::state::log::Echo;
use meshbook_engine::values::Values;
use meshbook_sandbox::{Faults, Sandbox, SandboxConfig};
use meshbook_steps::kube::{Clients, KubeExecutor};
use meshbook_steps::shell::ShellExecutor;

/// A runbook holding one step `s` written as YAML, with `params` declared.
fn runbook(step: &str, params: &[&str]) -> String {
    let mut text =
        String::from("apiVersion: meshbook/v1\nkind: Runbook\nmetadata: {name: t}\nparams:\n");
    for name in params {
        text.push_str(&format!("  {name}: {{}}\n"));
    }
    text.push_str("steps:\n  - id: s\n");
    text.push_str(&indent(step, 4));
    text
}

/// What validation says of a step written as YAML (it must be refused).
pub fn invalid(step: &str) -> String {
    let text = runbook(step, &[]);
    match meshbook_engine::read_runbook(&text) {
        Ok(_) => panic!("the step was accepted:\n{step}"),
        Err(diags) => meshbook_engine::diag::render("step.yaml", &text, &diags),
    }
}

/// Plain (not secret) values.
pub fn plain(pairs: &[(&str, &str)]) -> Values {
    let mut values = Values::new();
    for (name, text) in pairs {
        values.insert(*name, *text, false);
    }
    values
}

/// A step written as YAML (its kind key and fields, `outputs`, ...), read and validated as a
/// runbook's step, then made into the request for its first attempt with `values`, as the
/// scheduler makes it: the run's directory is `dir`, and so is its working directory.
static NEXT_RUN: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(1);

pub fn request(dir: &Path, step: &str, values: &Values, echo: Option<Echo>) -> StepRequest {
    let names: Vec<&str> = values.iter().map(|(k, _)| k).collect();
    let text = runbook(step, &names);
    let validated = meshbook_engine::read_runbook(&text).unwrap_or_else(|diags| {
        panic!(
            "{}",
            meshbook_engine::diag::render("step.yaml", &text, &diags)
        )
    });
    let step = &validated.runbook.steps[0];
    let site = Site {
        // One run per request: tests run side by side, and a step's leftovers are found by
        // its run and step (steps/src/leftovers.rs).
        run_id: format!(
            "r{}",
            NEXT_RUN.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ),
        workdir: dir.to_path_buf(),
        dir: RunDir::at(dir),
        grace: Duration::from_millis(300),
        echo,
    };
    StepRequest::build(
        &site,
        step,
        1,
        values.clone(),
        &Controls::default(),
        std::time::Duration::ZERO,
    )
    .expect("the step renders")
}

/// A running sandbox with a kubeconfig, clients over it, and the progress lines of the steps run.
pub struct Env {
    pub sandbox: Sandbox,
    pub dir: tempfile::TempDir,
    pub clients: Arc<Clients>,
    pub executor: KubeExecutor,
    lines: Arc<Mutex<Vec<String>>>,
}

pub fn config(clusters: &[&str]) -> SandboxConfig {
    SandboxConfig {
        clusters: clusters.iter().map(|c| c.to_string()).collect(),
        pod_ready_delay: Duration::from_millis(200),
        lb_ip_delay: Duration::from_millis(300),
        ..SandboxConfig::default()
    }
}

impl Env {
    pub async fn start(clusters: &[&str]) -> Env {
        Env::with_config(config(clusters)).await
    }

    pub async fn with_faults(clusters: &[&str], faults: Faults) -> Env {
        Env::with_config(SandboxConfig {
            faults,
            ..config(clusters)
        })
        .await
    }

    pub async fn with_config(cfg: SandboxConfig) -> Env {
        let sandbox = Sandbox::start(cfg).await.expect("sandbox starts");
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        sandbox.write_kubeconfig(&kubeconfig).unwrap();
        let clients = Arc::new(Clients::deferred(Some(&kubeconfig)));
        Env {
            sandbox,
            executor: KubeExecutor::new(clients.clone()),
            clients,
            dir,
            lines: Arc::default(),
        }
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    /// The request for a step written as YAML, its progress lines collected.
    pub fn request(&self, step: &str) -> StepRequest {
        let lines = Arc::clone(&self.lines);
        let echo: Echo =
            Arc::new(move |_: &str, _, line: &str| lines.lock().unwrap().push(line.to_string()));
        request(self.dir.path(), step, &Values::new(), Some(echo))
    }

    /// Runs a kube step written as YAML through the kube executor.
    pub async fn run(&self, step: &str) -> Result<Produced, StepFailure> {
        let done = self.executor.execute(self.request(step)).await?;
        Ok(done.outputs)
    }

    /// Applies a manifest (in the default namespace) through a `kube.apply` step.
    pub async fn apply(&self, manifest: &str) -> Result<Produced, StepFailure> {
        self.run(&format!(
            "kube.apply:\n  namespace: default\n  manifest: |\n{}",
            indent(manifest, 4)
        ))
        .await
    }

    /// Every progress line so far.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Forgets the progress lines so far.
    pub fn clear_lines(&self) {
        self.lines.lock().unwrap().clear();
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// A client of the current context, to look at and poke objects as another user would.
    pub async fn client(&self) -> kube::Client {
        let config = kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(self.kubeconfig()).unwrap(),
            &kube::config::KubeConfigOptions::default(),
        )
        .await
        .unwrap();
        kube::Client::try_from(config).unwrap()
    }

    /// The object at an API path (`/api/v1/namespaces/default/configmaps/c`), if it exists.
    pub async fn object(&self, path: &str) -> Option<serde_json::Value> {
        let request = http::Request::get(path).body(Vec::new()).unwrap();
        match self
            .client()
            .await
            .request::<serde_json::Value>(request)
            .await
        {
            Ok(v) => Some(v),
            Err(kube::Error::Api(s)) if s.code == 404 => None,
            Err(e) => panic!("GET {path}: {e}"),
        }
    }

    /// Sends a merge patch to an API path (the status subresource included).
    pub async fn merge_patch(&self, path: &str, patch: &serde_json::Value) {
        let request = http::Request::patch(path)
            .header(http::header::CONTENT_TYPE, "application/merge-patch+json")
            .body(serde_json::to_vec(patch).unwrap())
            .unwrap();
        self.client()
            .await
            .request::<serde_json::Value>(request)
            .await
            .unwrap_or_else(|e| panic!("PATCH {path}: {e}"));
    }
}

/// Runs a shell step written as YAML in `dir`, with `values` as its environment.
pub async fn shell(
    dir: &Path,
    step: &str,
    values: &[(&str, &str)],
) -> Result<Produced, StepFailure> {
    let done = ShellExecutor::default()
        .execute(request(dir, step, &plain(values), None))
        .await?;
    Ok(done.outputs)
}

/// `text` with every line indented by `n` spaces.
pub fn indent(text: &str, n: usize) -> String {
    let pad = " ".repeat(n);
    text.trim_matches('\n')
        .lines()
        .map(|l| format!("{pad}{l}\n"))
        .collect()
}

pub const WEB: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  labels: {app: web}
spec:
  replicas: 2
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  type: LoadBalancer
  selector: {app: web}
  ports:
  - port: 80
    targetPort: 80
"#;

pub const WIDGETS: &str = r#"
apiVersion: example.com/v1
kind: Widget
metadata:
  name: w1
spec:
  size: 3
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.example.com
spec:
  group: example.com
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget, shortNames: [wdg]}
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
"#;
