//! An in-process sandbox and the clients, step environment and captured progress of a run.

#![allow(dead_code)]

use std::sync::{Arc, Mutex};
use std::time::Duration;

use indexmap::IndexMap;
use meshbook_engine::model::{OutputSpec, ValueType};
use meshbook_sandbox::{Faults, Sandbox, SandboxConfig};
use meshbook_steps::kube::{Clients, Progress, StepEnv};

/// A running sandbox with a kubeconfig, clients over it and a step environment.
pub struct Env {
    pub sandbox: Sandbox,
    pub dir: tempfile::TempDir,
    pub clients: Clients,
    pub env: StepEnv,
    pub lines: Arc<Mutex<Vec<String>>>,
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
        let clients = Clients::from_path(&kubeconfig).expect("kubeconfig loads");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        let env = StepEnv {
            workdir: dir.path().to_path_buf(),
            progress: Progress::to(move |l| sink.lock().unwrap().push(l.to_string())),
            dry_run: false,
        };
        Env {
            sandbox,
            dir,
            clients,
            env,
            lines,
        }
    }

    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    pub fn write(&self, name: &str, text: &str) -> std::path::PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, text).unwrap();
        p
    }
}

pub fn outputs(decls: &[(&str, ValueType, Option<&str>)]) -> IndexMap<String, OutputSpec> {
    decls
        .iter()
        .map(|(n, ty, path)| {
            (
                n.to_string(),
                OutputSpec {
                    ty: *ty,
                    jsonpath: path.map(str::to_string),
                    ..OutputSpec::default()
                },
            )
        })
        .collect()
}

pub fn none() -> IndexMap<String, OutputSpec> {
    IndexMap::new()
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
