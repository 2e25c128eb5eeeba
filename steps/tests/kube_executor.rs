//! The kube executor as the scheduler drives it: rendered actions in, outputs or failures out.

mod support;

use std::time::Duration;

use meshbook_engine::run::executor::{Executor, Permanence, StepFailure};

use support::{Env, WEB};

#[tokio::test]
async fn a_runbooks_kube_steps_apply_wait_and_capture_an_ip() {
    let env = Env::start(&["c1"]).await;
    let mut apply = env.request(&format!(
        "kube.apply:\n  context: c1\n  manifest: |\n{}",
        support::indent(WEB, 4)
    ));
    apply.log = apply.log.unechoed();
    let produced = env.executor.execute(apply).await.unwrap();
    assert!(produced.outputs.is_empty());
    let log = std::fs::read_to_string(env.dir.path().join("logs/s.log")).unwrap();
    assert_eq!(
        log,
        "==> s attempt 1\n\
         deployment.apps/web created (in namespace default of context c1)\n\
         service/web created (in namespace default of context c1)\n"
    );

    env.run("kube.wait: {context: c1, resource: svc, name: web, jsonpath: '{.status.loadBalancer.ingress[0].ip}'}")
        .await
        .unwrap();

    let get = env.request("kube.get: {context: c1, resource: svc, name: web, jsonpath: '{.status.loadBalancer.ingress[0].ip}'}\noutputs: {LB_IP: {type: ip}}");
    let produced = env.executor.execute(get).await.unwrap();
    meshbook_engine::model::ValueType::Ip
        .admits(&produced.outputs["LB_IP"])
        .expect("an ip address");
    assert_eq!(
        env.clients.identities().await.keys().collect::<Vec<_>>(),
        ["c1"]
    );
}

#[tokio::test]
async fn failures_name_the_context_and_stop_ends_a_wait() {
    let env = Env::start(&["c1"]).await;
    let err = env
        .run("kube.get: {resource: deploy, name: absent, jsonpath: '{.metadata.name}'}\noutputs: {N: {}}")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StepFailure::transient(
            "deployment.apps/absent in namespace default of context c1 not found"
        )
    );

    let err = env
        .run("kube.wait: {context: c1, resource: frobs, name: x}")
        .await
        .unwrap_err();
    assert_eq!(
        err,
        StepFailure::permanent(
            "the server of context \"c1\" doesn't have a resource type \"frobs\""
        )
    );
    assert_eq!(err.permanence(), Permanence::Permanent);

    let req = env.request("kube.wait: {resource: cm, name: never}");
    let stop = req.stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stop.cancel();
    });
    let ended = tokio::time::timeout(Duration::from_secs(5), env.executor.execute(req))
        .await
        .expect("stop did not end the wait");
    assert_eq!(ended.unwrap_err(), StepFailure::Interrupted);

    let shell = env.request("shell: 'true'");
    assert_eq!(
        env.executor.execute(shell).await.unwrap_err(),
        StepFailure::Unsupported("shell".into())
    );
}
