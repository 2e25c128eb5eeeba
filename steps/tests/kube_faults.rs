//! Kube steps under injected API faults: dropped watches, server errors, throttling.

mod support;

use std::collections::BTreeMap;
use std::time::Duration;

use meshbook_engine::model::ValueType;
use meshbook_engine::run::executor::Permanence;
use meshbook_sandbox::Faults;

use support::{Env, WEB, WIDGETS};

const DEPLOY_READY: &str = "kube.wait: {resource: deploy, name: web, timeout: 30s}";

#[tokio::test]
async fn a_wait_survives_watches_dropped_after_every_event() {
    let faults = Faults {
        watch_drop_after: Some(1),
        ..Faults::default()
    };
    let env = Env::with_faults(&["c1"], faults).await;
    env.apply(WEB).await.unwrap();
    env.run(DEPLOY_READY).await.unwrap();
    let lines = env.lines();
    let seen: Vec<&String> = lines
        .iter()
        .filter(|l| l.starts_with("waiting for"))
        .collect();
    // The wait saw the rollout unfinished, so it needed later events, and no watch carried
    // more than one: only listing again after each drop can have finished it.
    assert!(
        seen.first().is_some_and(|l| l.contains("InProgress")),
        "{seen:?}"
    );
    env.run("kube.wait: {resource: pods, selector: app=web, min: 2, timeout: 30s}")
        .await
        .unwrap();
}

#[tokio::test]
async fn server_errors_are_retried() {
    let mut error_rate = BTreeMap::new();
    error_rate.insert("*".to_string(), 0.3);
    let faults = Faults {
        error_rate,
        error_status: 500,
        ..Faults::default()
    };
    let env = Env::with_faults(&["c1"], faults).await;
    env.apply(WIDGETS).await.unwrap();
    env.apply(WEB).await.unwrap();
    env.run(DEPLOY_READY).await.unwrap();
    env.run("kube.wait: {resource: svc, name: web, jsonpath: '{.status.loadBalancer.ingress[0].ip}', timeout: 30s}")
        .await
        .unwrap();
    let ip = env
        .run("kube.get: {resource: svc, name: web, jsonpath: '{.status.loadBalancer.ingress[0].ip}'}\noutputs: {IP: {type: ip}}")
        .await
        .unwrap();
    ValueType::Ip.admits(&ip["IP"]).unwrap();
}

#[tokio::test]
async fn a_server_that_always_fails_gives_a_clear_error() {
    let mut error_rate = BTreeMap::new();
    error_rate.insert("patch".to_string(), 1.0);
    let faults = Faults {
        error_rate,
        error_status: 500,
        ..Faults::default()
    };
    let env = Env::with_faults(&["c1"], faults).await;
    let err = env
        .apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n")
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("cannot apply configmap/c in namespace default of context c1: "),
        "{text}"
    );
    assert!(text.contains("500"), "{text}");
    assert_eq!(
        err.permanence(),
        Permanence::Transient,
        "a server error may pass: the step's retries apply"
    );
}

#[tokio::test]
async fn a_refusal_is_permanent() {
    let env = Env::start(&["c1"]).await;
    // The sandbox, like a real server, refuses a name that is not a DNS subdomain (422).
    let err = env
        .apply("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Not_A_Name}\n")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("422"), "{err}");
    assert_eq!(err.permanence(), Permanence::Permanent);
}

#[tokio::test]
async fn throttling_is_waited_out() {
    let faults = Faults {
        throttle_rate: 0.3,
        retry_after: Duration::from_secs(1),
        ..Faults::default()
    };
    let env = Env::with_faults(&["c1"], faults).await;
    let cms: String = (0..5)
        .map(|i| format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c{i}}}\n---\n"))
        .collect();
    env.apply(&cms).await.unwrap();
    let applied = env
        .lines()
        .iter()
        .filter(|l| l.starts_with("configmap/c") && l.contains(" created "))
        .count();
    assert_eq!(applied, 5);
}
