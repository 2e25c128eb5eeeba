//! Kube steps under injected API faults: dropped watches, server errors, throttling.

mod kube_support;

use std::collections::BTreeMap;
use std::time::Duration;

use meshbook_engine::model::{KubeApply, KubeGet, KubeWait, ValueType};
use meshbook_sandbox::Faults;
use meshbook_steps::kube::{apply, get, wait};

use kube_support::{Env, WEB, WIDGETS, none, outputs};

fn manifest(text: &str) -> KubeApply {
    KubeApply {
        manifest: Some(text.into()),
        ..KubeApply::default()
    }
}

fn ready(resource: &str, name: &str) -> KubeWait {
    KubeWait {
        resource: resource.into(),
        name: Some(name.into()),
        timeout: Some(meshbook_engine::model::Duration(Duration::from_secs(30))),
        ..KubeWait::default()
    }
}

#[tokio::test]
async fn a_wait_survives_watches_dropped_after_every_event() {
    let faults = Faults {
        watch_drop_after: Some(1),
        ..Faults::default()
    };
    let env = Env::with_faults(&["c1"], faults).await;
    apply::run(&env.clients, &manifest(WEB), &none(), &env.env)
        .await
        .unwrap();
    wait::run(&env.clients, &ready("deploy", "web"), &none(), &env.env)
        .await
        .unwrap();
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
    let mut pods = ready("pods", "");
    pods.name = None;
    pods.selector = Some("app=web".into());
    pods.min = Some(2);
    wait::run(&env.clients, &pods, &none(), &env.env)
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
    apply::run(&env.clients, &manifest(WIDGETS), &none(), &env.env)
        .await
        .unwrap();
    apply::run(&env.clients, &manifest(WEB), &none(), &env.env)
        .await
        .unwrap();
    wait::run(&env.clients, &ready("deploy", "web"), &none(), &env.env)
        .await
        .unwrap();
    let mut lb = ready("svc", "web");
    lb.jsonpath = Some("{.status.loadBalancer.ingress[0].ip}".into());
    wait::run(&env.clients, &lb, &none(), &env.env)
        .await
        .unwrap();
    let ip = get::run(
        &env.clients,
        &KubeGet {
            resource: "svc".into(),
            name: Some("web".into()),
            jsonpath: Some("{.status.loadBalancer.ingress[0].ip}".into()),
            allow_missing_keys: true,
            ..KubeGet::default()
        },
        &outputs(&[("IP", ValueType::Ip, None)]),
        &env.env,
    )
    .await
    .unwrap();
    ValueType::Ip.check(&ip["IP"]).unwrap();
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
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n";
    let err = apply::run(&env.clients, &manifest(cm), &none(), &env.env)
        .await
        .unwrap_err();
    let text = meshbook_steps::kube::error_chain(&err);
    assert!(
        text.starts_with("cannot apply configmap/c in namespace default of context c1: "),
        "{text}"
    );
    assert!(text.contains("500"), "{text}");
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
    let report = apply::apply(&env.clients, &manifest(&cms), &env.env)
        .await
        .unwrap();
    assert_eq!(report.len(), 5);
}
