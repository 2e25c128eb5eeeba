//! The kube executor as the scheduler drives it: rendered actions in, outputs or failures out.

mod kube_support;

use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use meshbook_engine::model::{
    Action, KubeApply, KubeGet, KubeWait, OutputSpec, ShellSpec, ValueType,
};
use meshbook_engine::run::executor::{Executor, LogSink, StepFailure, StepRequest, check_outputs};
use meshbook_steps::kube::{Clients, KubeExecutor};
use tokio_util::sync::CancellationToken;

use kube_support::{Env, WEB, outputs};

fn request(
    env: &Env,
    step: &str,
    action: Action,
    outs: IndexMap<String, OutputSpec>,
) -> StepRequest {
    StepRequest {
        run_id: "r1".into(),
        step: step.into(),
        attempt: 1,
        action,
        env: IndexMap::new(),
        secrets: Vec::new(),
        outputs: outs,
        workdir: env.dir.path().to_path_buf(),
        scratch: env.dir.path().join("scratch"),
        log: LogSink {
            path: env.dir.path().join("logs").join(format!("{step}.log")),
            echo: None,
        },
        stop: CancellationToken::new(),
        kill: CancellationToken::new(),
        grace: Duration::from_secs(1),
    }
}

fn executor(env: &Env) -> KubeExecutor {
    let clients = Clients::from_path(&env.dir.path().join("kubeconfig")).unwrap();
    KubeExecutor::new(Arc::new(clients))
}

#[tokio::test]
async fn a_runbooks_kube_steps_apply_wait_and_capture_an_ip() {
    let env = Env::start(&["c1"]).await;
    let ex = executor(&env);
    let apply = Action::KubeApply(KubeApply {
        context: Some("c1".into()),
        manifest: Some(WEB.into()),
        ..KubeApply::default()
    });
    let produced = ex
        .execute(request(&env, "apply", apply, IndexMap::new()))
        .await
        .unwrap();
    assert!(produced.is_empty());
    let log = std::fs::read_to_string(env.dir.path().join("logs/apply.log")).unwrap();
    assert_eq!(
        log,
        "==> apply attempt 1\n\
         deployment.apps/web created (in namespace default of context c1)\n\
         service/web created (in namespace default of context c1)\n"
    );

    let wait = Action::KubeWait(KubeWait {
        context: Some("c1".into()),
        resource: "svc".into(),
        name: Some("web".into()),
        jsonpath: Some("{.status.loadBalancer.ingress[0].ip}".into()),
        ..KubeWait::default()
    });
    ex.execute(request(&env, "wait", wait, IndexMap::new()))
        .await
        .unwrap();

    let decl = outputs(&[("LB_IP", ValueType::Ip, None)]);
    let get = Action::KubeGet(KubeGet {
        context: Some("c1".into()),
        resource: "svc".into(),
        name: Some("web".into()),
        jsonpath: Some("{.status.loadBalancer.ingress[0].ip}".into()),
        allow_missing_keys: true,
        ..KubeGet::default()
    });
    let produced = ex
        .execute(request(&env, "get", get, decl.clone()))
        .await
        .unwrap();
    check_outputs(&decl, &produced).unwrap();
    assert_eq!(
        ex.clients().identities().await.keys().collect::<Vec<_>>(),
        ["c1"]
    );
}

#[tokio::test]
async fn failures_name_the_context_and_stop_ends_a_wait() {
    let env = Env::start(&["c1"]).await;
    let ex = executor(&env);
    let get = Action::KubeGet(KubeGet {
        resource: "deploy".into(),
        name: Some("absent".into()),
        jsonpath: Some("{.metadata.name}".into()),
        allow_missing_keys: true,
        ..KubeGet::default()
    });
    let err = ex
        .execute(request(
            &env,
            "get",
            get,
            outputs(&[("N", ValueType::String, None)]),
        ))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StepFailure::Other(
            "deployment.apps/absent in namespace default of context c1 not found".into()
        )
    );

    let unknown = Action::KubeWait(KubeWait {
        context: Some("c1".into()),
        resource: "frobs".into(),
        ..KubeWait::default()
    });
    let err = ex
        .execute(request(&env, "w", unknown, IndexMap::new()))
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StepFailure::Other(
            "the server of context \"c1\" doesn't have a resource type \"frobs\"".into()
        )
    );

    let forever = Action::KubeWait(KubeWait {
        resource: "cm".into(),
        name: Some("never".into()),
        ..KubeWait::default()
    });
    let req = request(&env, "forever", forever, IndexMap::new());
    let stop = req.stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.cancel();
    });
    let ended = tokio::time::timeout(Duration::from_secs(5), ex.execute(req))
        .await
        .expect("stop did not end the wait");
    assert_eq!(ended.unwrap_err(), StepFailure::Interrupted);

    let shell = Action::Shell(ShellSpec {
        script: Some("true".into()),
        ..ShellSpec::default()
    });
    assert_eq!(
        ex.execute(request(&env, "sh", shell, IndexMap::new()))
            .await
            .unwrap_err(),
        StepFailure::Unsupported("shell".into())
    );
}
