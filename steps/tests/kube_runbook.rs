//! A runbook through the real scheduler: apply a Deployment and a LoadBalancer Service, wait
//! for readiness, capture the LoadBalancer IP into an `ip` output with `kube.get`, and hand it
//! to a shell step.

mod support;

use std::sync::Arc;
use std::time::Duration;

use meshbook_engine::events::Outcome;
use meshbook_engine::model::Action;
use meshbook_engine::run::executor::{
    BoxFuture, Controls, Done, Executor, Site, StepFailure, StepRequest,
};
use meshbook_engine::run::scheduler::{self, Job, Settings};
use meshbook_engine::state::RunDir;
use meshbook_engine::state::secrets::Sealer;
use meshbook_engine::validate::List;
use meshbook_engine::values::Values;
use meshbook_steps::kube::{Clients, KubeExecutor};
use meshbook_steps::shell::ShellExecutor;

use support::Env;

const RUNBOOK: &str = r#"
apiVersion: meshbook/v1
kind: Runbook
metadata: {name: lb-ip}
params:
  CTX: {type: context, default: c1}
steps:
  - id: deploy
    kube.apply:
      context: "{{CTX}}"
      namespace: demo
      manifest: |
        apiVersion: v1
        kind: Namespace
        metadata: {name: demo}
        ---
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: gw, labels: {app: gw}}
        spec:
          replicas: 1
          selector: {matchLabels: {app: gw}}
          template:
            metadata: {labels: {app: gw}}
            spec:
              containers: [{name: gw, image: envoy}]
        ---
        apiVersion: v1
        kind: Service
        metadata: {name: gw, labels: {app: gw}}
        spec:
          type: LoadBalancer
          selector: {app: gw}
          ports: [{port: 15443}]
  - id: ready
    needs: [deploy]
    kube.wait:
      context: "{{CTX}}"
      namespace: demo
      resource: deploy
      name: gw
  - id: gw-addr
    needs: [ready]
    kube.get:
      context: "{{CTX}}"
      namespace: demo
      resource: svc
      selector: app=gw
      jsonpath: "{.items[0].status.loadBalancer.ingress[0].ip}"
    wait: {until: nonempty, timeout: 30s, interval: 100ms}
    outputs:
      GW_ADDR: {type: ip}
  - id: use-it
    shell: echo "gateway at $GW_ADDR" > gateway.txt
"#;

struct Router {
    shell: ShellExecutor,
    kube: KubeExecutor,
}

impl Executor for Router {
    fn execute(&self, request: StepRequest) -> BoxFuture<'_, Result<Done, StepFailure>> {
        match request.action {
            Action::Shell(_) => self.shell.execute(request),
            _ => self.kube.execute(request),
        }
    }
}

#[tokio::test]
async fn a_load_balancer_ip_flows_from_kube_get_to_a_shell_step() {
    let env = Env::start(&["c1"]).await;
    let validated = meshbook_engine::read_runbook(RUNBOOK).expect("valid");
    let clients = Clients::deferred(Some(&env.kubeconfig()));
    let router = Router {
        shell: ShellExecutor::default(),
        kube: KubeExecutor::new(Arc::new(clients)),
    };
    let mut values = Values::new();
    values.insert("CTX", "c1", false);
    let settings = Settings {
        site: Site {
            run_id: "r1".into(),
            workdir: env.dir.path().to_path_buf(),
            dir: RunDir::at(env.dir.path().join("run")),
            grace: Duration::from_secs(1),
            echo: None,
        },
        concurrency: 4,
        defaults: validated.runbook.defaults.clone(),
        values,
        sealer: Sealer::from_key([7; 32]),
        ignored_requirements: Vec::new(),
    };
    let job = Job {
        list: validated.list(List::Steps),
        restored: Vec::new(),
    };
    let summary = scheduler::run(
        job,
        settings,
        Arc::new(router),
        &mut [],
        Controls::default(),
    )
    .await
    .unwrap();
    assert_eq!(summary.outcome, Outcome::Succeeded, "{:?}", summary.failed);
    let said = std::fs::read_to_string(env.dir.path().join("gateway.txt")).unwrap();
    let addr = said.trim().strip_prefix("gateway at ").unwrap();
    assert!(addr.parse::<std::net::IpAddr>().is_ok(), "{said}");
}
