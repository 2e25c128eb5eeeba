//! How fast a `kube.wait` reacts to the change it waits for (from the moment the change is sent), against `kubectl wait` on the same
//! simulated cluster, in the same run. Prints a table; `cargo bench -p meshbook-steps --bench wait_reaction`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::Env;

const TRIALS: usize = 9;

async fn set_flag(env: &Env, state: &str) -> Instant {
    let sent = Instant::now();
    env.merge_patch(
        "/api/v1/namespaces/default/configmaps/flag",
        &json!({"data": {"state": state}}),
    )
    .await;
    sent
}

/// A `kube.wait`, and a `kube.get` with `wait: until` (whose interval is far longer than the
/// trial: only its watch can see the change in time).
const KUBE_WAIT: &str =
    "kube.wait: {resource: cm, name: flag, jsonpath: '{.data.state}', equals: on}";
const KUBE_GET: &str = "kube.get: {resource: cm, name: flag, jsonpath: '{.data.state}'}\noutputs: {S: {}}\nwait: {until: {equals: on}, interval: 10m, timeout: 1m}";

async fn meshbook_reaction(env: &Env, step: &str) -> Duration {
    set_flag(env, "off").await;
    let waiting = async {
        let got = env.run(step).await.unwrap();
        assert!(got.values().all(|v| v == "on"), "{got:?}");
        Instant::now()
    };
    let flipping = async {
        tokio::time::sleep(Duration::from_millis(500)).await;
        set_flag(env, "on").await
    };
    let (done, flipped) = tokio::join!(waiting, flipping);
    done.saturating_duration_since(flipped)
}

async fn kubectl_reaction(env: &Env) -> Duration {
    set_flag(env, "off").await;
    let kubeconfig = env.kubeconfig();
    let mut child = tokio::process::Command::new("kubectl")
        .arg("--kubeconfig")
        .arg(&kubeconfig)
        .args([
            "wait",
            "configmap/flag",
            "--for=jsonpath={.data.state}=on",
            "--timeout=30s",
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("kubectl runs");
    // kubectl needs longer to start and begin watching.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let flipped = set_flag(env, "on").await;
    child.wait().await.unwrap();
    Instant::now().saturating_duration_since(flipped)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let env = Env::start(&["c1"]).await;
    let cm = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: flag}\ndata: {state: off}\n";
    env.apply(cm).await.unwrap();
    let (mut waits, mut gets, mut theirs) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..TRIALS {
        waits.push(meshbook_reaction(&env, KUBE_WAIT).await);
        gets.push(meshbook_reaction(&env, KUBE_GET).await);
        theirs.push(kubectl_reaction(&env).await);
    }
    let k = median(theirs);
    println!(
        "| wait for a ConfigMap value (median of {TRIALS}) | reaction after the change | ratio to kubectl |"
    );
    println!("|---|---:|---:|");
    for (name, d) in [
        ("meshbook kube.wait (watch)", median(waits)),
        ("meshbook kube.get with wait: until (watch)", median(gets)),
        ("kubectl wait --for=jsonpath (incl. process exit)", k),
    ] {
        println!(
            "| {name} | {} µs | {:.3}x |",
            d.as_micros(),
            d.as_secs_f64() / k.as_secs_f64()
        );
    }
}
