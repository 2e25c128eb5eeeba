//! The named runbooks against their tutorials: the defects a real run would hit and a rehearsal
//! used to hide. Each check either rehearses the runbook into the failure it must report, or
//! runs the step's own script or selector against what a real cluster would give it.

mod runkit;

use std::path::{Path, PathBuf};

use meshbook_inspect::labels::Selector;
use runkit::Scratch;
use serde::Deserialize;
use serde_json::Value;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn runbook_dir(name: &str) -> PathBuf {
    root().join("runbooks").join(name)
}

/// Rehearses a named runbook with its example params and `extra` arguments.
fn rehearse(s: &Scratch, name: &str, extra: &[&str]) -> runkit::Done {
    let params = runbook_dir(name).join("example-params.yaml");
    let mut args = vec!["--sandbox", "--params", params.to_str().unwrap()];
    args.extend_from_slice(extra);
    s.run(&runbook_dir(name), &args)
}

/// The log of a step of the scratch's only run.
fn step_log(s: &Scratch, step: &str) -> String {
    let runs = s.state().join("runs");
    let run = std::fs::read_dir(&runs).unwrap().next().unwrap().unwrap();
    std::fs::read_to_string(run.path().join("logs").join(format!("{step}.log"))).unwrap_or_default()
}

/// Asserts the rehearsal failed at `step` (and nowhere else) and that its log says `why`.
fn fails_at(s: &Scratch, done: &runkit::Done, step: &str, why: &str) {
    assert_eq!(done.code, 1, "{}", done.all());
    let failed: Vec<String> = s
        .states(None)
        .into_iter()
        .filter(|(_, state)| state == "failed")
        .map(|(id, _)| id)
        .collect();
    assert_eq!(failed, [step], "{}", done.all());
    let log = step_log(s, step);
    assert!(log.contains(why), "{step}'s log lacks {why:?}:\n{log}");
}

/// The runbook as YAML.
fn runbook_yaml(name: &str) -> serde_yaml::Value {
    let text = std::fs::read_to_string(runbook_dir(name).join("runbook.yaml")).unwrap();
    serde_yaml::from_str(&text).unwrap()
}

fn step<'a>(runbook: &'a serde_yaml::Value, id: &str) -> &'a serde_yaml::Value {
    runbook["steps"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|s| s["id"].as_str() == Some(id))
        .unwrap_or_else(|| panic!("no step {id}"))
}

#[test]
fn asm_east_west_refuses_gateways_for_a_revision_istiod_does_not_run() {
    // The stand-in control plane is what `asmcli install` of 1.13.4-asm.4 leaves: asm-1134-4.
    let s = Scratch::new();
    let done = rehearse(&s, "asm-east-west", &["-p", "ASM_REVISION=asm-173-3"]);
    fails_at(
        &s,
        &done,
        "check-revision",
        "ASM_REVISION is asm-173-3, but istiod in gke-cluster runs revision asm-1134-4",
    );
    let states = s.states(None);
    assert!(
        !states.contains(&("eastwest-gateway-1".into(), "succeeded".into())),
        "{states:?}"
    );
}

#[test]
fn asm_east_west_refuses_a_kubeconfig_file_of_another_cluster_than_its_context() {
    let s = Scratch::new();
    let other = runbook_dir("asm-east-west").join("sandbox/kubeconfig-2");
    let param = format!("KUBECONFIG_1={}", other.display());
    let done = rehearse(&s, "asm-east-west", &["-p", &param]);
    fails_at(
        &s,
        &done,
        "same-cluster-1",
        "points istioctl and asmcli at context onprem-cluster",
    );
}

#[test]
fn gke_multicluster_checks_the_context_get_credentials_writes() {
    let s = Scratch::new();
    let done = rehearse(
        &s,
        "gke-multicluster",
        &[
            "-p",
            "CTX_CLUSTER1=gke_another-project_us-east1-b_cluster-1",
        ],
    );
    fails_at(
        &s,
        &done,
        "get-credentials-1",
        "get-credentials wrote the context gke_my-project_us-east1-b_cluster-1 for cluster-1, but CTX_CLUSTER1 is gke_another-project_us-east1-b_cluster-1",
    );
}

/// The tutorial's kubectl, answering `get pod` with a pod name and `logs` with `log`.
fn fake_kubectl(dir: &Path, log: &str) -> PathBuf {
    let bin = dir.join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::write(dir.join("proxy.log"), log).unwrap();
    let script = format!(
        "#!/bin/bash\ncase \" $* \" in\n  *' get pod '*) echo sleep-754684654f-n6bzf ;;\n  *' logs '*) cat {} ;;\n  *) exit 3 ;;\nesac\n",
        dir.join("proxy.log").display()
    );
    let path = bin.join("kubectl");
    std::fs::write(&path, script).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// Runs split-horizon's `sleep-proxy-log` script as the shell step does, against `log`.
fn sleep_proxy_log(log: &str) -> std::process::Output {
    let runbook = runbook_yaml("split-horizon");
    let script = step(&runbook, "sleep-proxy-log")["shell"]
        .as_str()
        .unwrap()
        .to_string();
    let dir = tempfile::tempdir().unwrap();
    let bin = fake_kubectl(dir.path(), log);
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());
    let mut child = std::process::Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .env("PATH", path)
        .env("CTX_CLUSTER1", "cluster1")
        .env("INGRESS_HOST", "192.23.120.32")
        .env("SECURE_INGRESS_PORT", "443")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + runkit::LIMIT;
    while child.try_wait().unwrap().is_none() {
        assert!(std::time::Instant::now() < deadline, "the script hangs");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

const LOCAL_CALL: &str = r#"[2018-11-25T12:38:06.745Z] "GET /hello HTTP/1.1" 200 - 0 60 171 170 "-" "curl/7.60.0" "6f93c9cc" "helloworld.sample:5000" "10.10.0.90:5000" outbound|5000||helloworld.sample.svc.cluster.local - 10.20.194.146:5000 10.10.0.89:59646 -"#;

fn gateway_call(port: u16) -> String {
    format!(
        r#"[2018-11-25T12:37:52.077Z] "GET /hello HTTP/1.1" 200 - 0 60 190 189 "-" "curl/7.60.0" "6e096efe" "helloworld.sample:5000" "192.23.120.32:{port}" outbound|5000||helloworld.sample.svc.cluster.local - 10.20.194.146:5000 10.10.0.89:59496 -"#
    )
}

#[test]
fn split_horizon_proxy_log_check_needs_a_call_through_cluster2s_gateway() {
    // The tutorial's log: v2 through cluster2's gateway (the port meshNetworks names), v1 local.
    let both = format!("{}\n{LOCAL_CALL}\n", gateway_call(443));
    let out = sleep_proxy_log(&both);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("1 call(s) went through cluster2's gateway"),
        "{stdout}"
    );

    // Only local answers (v2 never crossed the networks), or another gateway port: a failure.
    for log in [
        format!("{LOCAL_CALL}\n"),
        format!("{}\n", gateway_call(15443)),
        String::new(),
    ] {
        let out = sleep_proxy_log(&log);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "passed on {log:?}");
        assert!(
            stderr.contains(
                "no call to helloworld.sample went through cluster2's gateway \"192.23.120.32:443\""
            ),
            "{stderr}"
        );
    }
}

/// The (kind, name) of the documents of a manifest that `selector` keeps (`kubectl apply -l`).
fn selected(manifest: &Path, selector: &str) -> Vec<(String, String)> {
    let selector = Selector::parse(selector).unwrap();
    let text = std::fs::read_to_string(manifest).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .filter_map(|d| Value::deserialize(d).ok())
        .filter(|d| d.is_object() && selector.matches(d))
        .map(|d| {
            (
                d["kind"].as_str().unwrap_or_default().to_string(),
                d["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
        })
        .collect()
}

#[test]
fn split_horizon_applies_only_the_helloworld_service_with_old_and_new_samples() {
    // Istio 1.1's sample labels its Deployments with a version only; newer ones (the fixture is
    // istio/istio's samples/helloworld/helloworld.yaml of 2026) label them app=helloworld too, so
    // `-l app=helloworld` would start v1 and v2 in each cluster and the cross-cluster check could
    // pass on local answers alone.
    let runbook = runbook_yaml("split-horizon");
    let samples = [
        runbook_dir("split-horizon").join("sandbox/istio-1.1.0/samples/helloworld/helloworld.yaml"),
        root().join("tests/fixtures/helloworld-current.yaml"),
    ];
    for id in ["cluster1-helloworld-service", "cluster2-helloworld-service"] {
        let sel = step(&runbook, id)["kube.apply"]["selector"]
            .as_str()
            .unwrap();
        for sample in &samples {
            assert_eq!(
                selected(sample, sel),
                [("Service".to_string(), "helloworld".to_string())],
                "{id} with {}",
                sample.display()
            );
        }
    }
    for (id, version) in [
        ("cluster1-helloworld-v1", "v1"),
        ("cluster2-helloworld-v2", "v2"),
    ] {
        let sel = step(&runbook, id)["kube.apply"]["selector"]
            .as_str()
            .unwrap();
        for sample in &samples {
            let names: Vec<String> = selected(sample, sel).into_iter().map(|(_, n)| n).collect();
            assert_eq!(names, [format!("helloworld-{version}")], "{id}");
        }
    }
}

/// Every workload the tutorials show as READY 2/2 has a check that its pods carry the injected
/// `istio-proxy` and that it is ready, and a traffic check comes after it.
#[test]
fn every_injected_workload_is_checked_for_its_ready_sidecar() {
    let expected: [(&str, &[&str], &[&str]); 3] = [
        (
            "split-horizon",
            &[
                "cluster2-helloworld-v2-sidecar",
                "cluster1-helloworld-v1-sidecar",
                "cluster1-sleep-sidecar",
            ],
            &["verify-split-horizon"],
        ),
        (
            "asm-east-west",
            &[
                "helloworld-v1-sidecar",
                "sleep-sidecar-1",
                "helloworld-v2-sidecar",
                "sleep-sidecar-2",
            ],
            &["verify-1", "verify-2"],
        ),
        (
            "gke-multicluster",
            &["bookinfo-sidecars", "reviews-v3-sidecar"],
            &["verify-reviews-v3"],
        ),
    ];
    for (name, checks, verifies) in expected {
        let runbook = runbook_yaml(name);
        for id in checks {
            let wait = &step(&runbook, id)["kube.wait"];
            assert_eq!(wait["resource"].as_str(), Some("pods"), "{name} {id}");
            assert_eq!(
                wait["jsonpath"].as_str(),
                Some(r#"{.status.containerStatuses[?(@.name=="istio-proxy")].ready}"#),
                "{name} {id}"
            );
            assert_eq!(wait["equals"].as_str(), Some("true"), "{name} {id}");
        }
        let plan = runkit::finish(
            runkit::meshbook(
                root(),
                &["show", runbook_dir(name).to_str().unwrap(), "-o", "json"],
            ),
            None,
        );
        assert_eq!(plan.code, 0, "{}", plan.all());
        let shown: Value = serde_json::from_str(&plan.stdout).unwrap();
        let upstream: Vec<_> = verifies.iter().map(|v| upstream_of(&shown, v)).collect();
        for id in checks {
            assert!(
                upstream.iter().any(|u| u.contains(*id)),
                "{name}: no traffic check ({verifies:?}) waits for {id}"
            );
        }
    }
}

/// Every step `id` depends on, directly or not, from `show -o json`'s `needs`.
fn upstream_of(shown: &Value, id: &str) -> std::collections::BTreeSet<String> {
    let steps = shown["steps"].as_array().unwrap();
    let needs = |id: &str| -> Vec<String> {
        steps
            .iter()
            .find(|s| s["id"] == id)
            .and_then(|s| s["needs"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|n| n.as_str().map(str::to_string))
            .collect()
    };
    let mut seen = std::collections::BTreeSet::new();
    let mut todo = needs(id);
    while let Some(n) = todo.pop() {
        if seen.insert(n.clone()) {
            todo.extend(needs(&n));
        }
    }
    seen
}

#[test]
fn gke_multicluster_fetches_credentials_one_cluster_at_a_time() {
    // Both get-credentials rewrite one kubeconfig: run at once, one context can be lost.
    let out = runkit::finish(
        runkit::meshbook(
            root(),
            &[
                "show",
                runbook_dir("gke-multicluster").to_str().unwrap(),
                "-o",
                "json",
            ],
        ),
        None,
    );
    let shown: Value = serde_json::from_str(&out.stdout).unwrap();
    assert!(upstream_of(&shown, "get-credentials-2").contains("get-credentials-1"));
}

/// split-horizon's and gke-multicluster's token steps on a current cluster, which makes no legacy
/// token Secret for a ServiceAccount: the runbook's own steps, from the account to the token, run
/// alone against a simulated 1.32 cluster.
#[test]
fn the_token_steps_work_on_clusters_without_legacy_token_secrets() {
    for (name, context) in [
        ("split-horizon", "CTX_CLUSTER2"),
        ("gke-multicluster", "CTX_CLUSTER2"),
    ] {
        let runbook = runbook_yaml(name);
        let wanted = ["token-secret", "secret-name", "ca-data-token"];
        let mut steps: Vec<serde_yaml::Value> = vec![serde_yaml::from_str(&format!(
            "id: service-account\nkube.apply:\n  context: \"{{{{{context}}}}}\"\n  manifest: |\n    apiVersion: v1\n    kind: Namespace\n    metadata: {{name: istio-system}}\n    ---\n    apiVersion: v1\n    kind: ServiceAccount\n    metadata: {{name: istio-multi, namespace: istio-system}}\n"
        ))
        .unwrap()];
        for id in wanted {
            let mut s = step(&runbook, id).clone();
            let needs: Vec<serde_yaml::Value> = s["needs"]
                .as_sequence()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|n| n.as_str().is_some_and(|n| wanted.contains(&n)))
                .chain(std::iter::once(serde_yaml::Value::from("service-account")))
                .collect();
            s["needs"] = serde_yaml::Value::Sequence(needs);
            steps.push(s);
        }
        let mut params = serde_yaml::Mapping::new();
        for p in [context, "NAMESPACE", "SERVICE_ACCOUNT"] {
            if let Some(spec) = runbook["params"].get(p) {
                params.insert(p.into(), spec.clone());
            }
        }
        let mini = serde_yaml::to_string(&serde_json::json!({
            "apiVersion": "meshbook/v1", "kind": "Runbook",
            "metadata": {"name": format!("{name}-tokens")},
        }))
        .unwrap()
            + &serde_yaml::to_string(&serde_yaml::Value::Mapping(
                [
                    ("params".into(), serde_yaml::Value::Mapping(params)),
                    ("steps".into(), serde_yaml::Value::Sequence(steps)),
                ]
                .into_iter()
                .collect(),
            ))
            .unwrap();
        let s = Scratch::new();
        let path = s.runbook("tokens.yaml", &mini);
        let done = s.run(
            &path,
            &[
                "--sandbox",
                "--kube-version",
                "1.32",
                "-p",
                &format!("{context}=cluster2"),
            ],
        );
        assert_eq!(done.code, 0, "{name}:\n{mini}\n{}", done.all());
        assert!(
            done.stdout.contains("SECRET_NAME=istio-multi-token"),
            "{name}: {}",
            done.stdout
        );
    }
}
