//! Every named runbook rehearses to completion on simulated clusters, from any directory, and a
//! rehearsal killed midway resumes against the same clusters without redoing finished steps.

mod runkit;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use runkit::Scratch;

const RUNBOOKS: [&str; 4] = [
    "split-horizon",
    "gke-multicluster",
    "asm-east-west",
    "vm-expansion",
];

fn example_params(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("runbooks")
        .join(name)
        .join("example-params.yaml")
}

fn rehearse(s: &Scratch, name: &str, extra: &[&str]) -> runkit::Done {
    let params = example_params(name);
    let work = s.work();
    let mut args = vec![
        "run",
        name,
        "--sandbox",
        "--params",
        params.to_str().unwrap(),
        "--workdir",
        work.to_str().unwrap(),
        "--log-format",
        "plain",
    ];
    args.extend_from_slice(extra);
    // The user's HOME, ssh agent and gcloud settings: a rehearsal's steps see none of them.
    let home = s.path().join("home");
    std::fs::create_dir_all(home.join(".ssh")).unwrap();
    std::fs::write(home.join(".ssh/known_hosts"), "the user's\n").unwrap();
    let mut cmd = s.cmd(&args);
    cmd.env("HOME", &home)
        .env("CLOUDSDK_CORE_ACCOUNT", "leaked@example.org")
        .env("GOOGLE_APPLICATION_CREDENTIALS", home.join("leaked.json"))
        .env("SSH_AUTH_SOCK", home.join("agent.sock"));
    runkit::finish(cmd, None)
}

/// What vm-expansion's rehearsal did outside the clusters: `~/.ssh` and the account were the
/// rehearsal's own, the ssh-agent did not outlive its step, and the VM ran gce-script.sh.
fn check_vm_expansion(s: &Scratch, done: &runkit::Done) {
    let ssh: Vec<_> = std::fs::read_dir(s.path().join("home/.ssh"))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert_eq!(ssh, ["known_hosts"], "the user's ~/.ssh was written");
    assert!(
        done.stdout.contains("GCP_ACCOUNT=meshbook@example.com"),
        "a CLOUDSDK_ variable of meshbook's environment reached gcloud: {}",
        done.stdout
    );
    let logs = s
        .state()
        .join("runs")
        .join(runkit::run_id(&done.stdout))
        .join("logs");
    let log = |step: &str| std::fs::read_to_string(logs.join(format!("{step}.log"))).unwrap();
    let key = log("ssh-key");
    assert!(key.contains("left 1 process running: killed"), "{key}");
    let agent = key
        .lines()
        .find_map(|l| l.strip_prefix("Agent pid "))
        .expect("ssh-agent started");
    // Killed is enough: a zombie waiting for init to reap it has not outlived its step.
    assert!(
        runkit::has_ended(agent.trim()),
        "ssh-agent {agent} outlived its step"
    );
    assert!(log("check-vm-cert").contains("cert-chain.pem: OK"));
    let script = log("run-gce-script");
    assert!(
        script.contains("istiod.istio-system.svc") && script.contains("productcatalogservice"),
        "{script}"
    );
}

/// The minors the rehearsal's clusters had, from its closing report (`... at Kubernetes 1.15`):
/// clusters gcloud created have the version it asked for.
fn rehearsed_version(stdout: &str) -> String {
    let report = stdout
        .lines()
        .find(|l| l.starts_with("rehearsal on simulated clusters:"))
        .unwrap_or_default();
    let mut versions: Vec<&str> = report
        .split("at Kubernetes ")
        .skip(1)
        .filter_map(|v| v.split([';', ' ']).next())
        .collect();
    versions.dedup();
    if versions.is_empty() {
        // No cluster was made (gcloud refused): the version the rehearsal asked for.
        return stdout
            .lines()
            .find_map(|l| l.strip_prefix("rehearsing at Kubernetes "))
            .and_then(|l| l.split(' ').next())
            .unwrap_or("?")
            .to_string();
    }
    versions.join(", ")
}

/// The runbook's range, as the rehearsal named it (`the newest minor the runbook's R allows`).
fn declared_range(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| Some(l.split_once("the runbook's ")?.1.split_once(" allows)")?.0))
        .unwrap_or("none")
        .to_string()
}

/// `✔`, or `✗ at step S: REASON` with the first failed step's reason; for a command that exited
/// with a status, the first error line of its log says more.
fn outcome(done: &runkit::Done) -> String {
    if done.code == 0 {
        return "✔".to_string();
    }
    let mut lines = done.stderr.lines();
    let Some(failed) = lines.find_map(|l| l.trim().strip_prefix("step `")) else {
        return format!("✗ (exit {})", done.code);
    };
    let (step, reason) = failed.split_once("`: ").unwrap_or((failed, ""));
    let mut reason = reason.to_string();
    if reason.starts_with("exited with status") {
        let log = lines.find_map(|l| l.trim().strip_prefix("log: ").map(str::to_string));
        let text = log
            .and_then(|l| std::fs::read_to_string(l).ok())
            .unwrap_or_default();
        if let Some(e) = text.lines().find(|l| l.to_lowercase().starts_with("error")) {
            let e = e.rsplit_once("message=").map_or(e, |(_, m)| m);
            reason = e.split(". ").next().unwrap_or(e).to_string();
        }
    }
    format!("✗ at step `{step}`: {}", reason.replace('|', "\\|"))
}

const TABLE_START: &str = "<!-- rehearsed-at: written by tests/rehearsal.rs -->";
const TABLE_END: &str = "<!-- /rehearsed-at -->";

/// The README's "Rehearsed at" section: rehearsals at the declared version and at 1.32.
fn rehearsed_at_table(rows: &[(String, String)]) -> String {
    let mut out = format!(
        "{TABLE_START}\n## Rehearsed at\n\nWhat `meshbook run NAME --sandbox` (the newest minor the runbook's \
         `requires.kubernetes` allows) and `--kube-version 1.32` end with, on the example params:\n\n\
         | Kubernetes | rehearsal |\n|---|---|\n"
    );
    for (version, result) in rows {
        out.push_str(&format!("| {version} | {result} |\n"));
    }
    out.push_str(TABLE_END);
    out
}

#[test]
fn every_named_runbook_rehearses_to_completion() {
    let handles: Vec<_> = RUNBOOKS
        .iter()
        .map(|name| {
            std::thread::spawn(move || {
                let s = Scratch::new();
                let done = rehearse(&s, name, &[]);
                assert_eq!(done.code, 0, "{name} did not rehearse:\n{}", done.all());
                assert!(
                    done.stdout.contains("rehearsal on simulated clusters"),
                    "{name}: {}",
                    done.all()
                );
                assert!(
                    done.stdout.contains("\ncoverage: "),
                    "{name}: {}",
                    done.all()
                );
                let expected: &[&str] = match *name {
                    // Every gcloud step runs against the simulated cloud, helm, downloads and
                    // ssh/scp to the VM run through doubles; what stays skipped is traffic checks.
                    "gke-multicluster" => &["verify-reviews-v3"],
                    "vm-expansion" => &["verify-storefront"],
                    _ => &[],
                };
                if !expected.is_empty() {
                    assert_eq!(skipped(&done.stdout), expected, "{name}: {}", done.stdout);
                    assert!(
                        done.stdout
                            .contains("simulated Google Cloud at http://127.0.0.1:"),
                        "{name}"
                    );
                }
                if *name == "vm-expansion" {
                    check_vm_expansion(&s, &done);
                }
                if *name == "asm-east-west" {
                    assert!(!skipped(&done.stdout).contains(&"project-number".to_string()));
                }
                let states = s.states(None);
                assert!(!states.is_empty());
                for (id, state) in states {
                    assert_eq!(state, "succeeded", "{name}: step {id}");
                }
                match *name {
                    "asm-east-west" => gateways_have_addresses(&s),
                    "gke-multicluster" => cleanup_deletes_the_clusters(&s),
                    _ => {}
                }
                let declared = format!(
                    "{} (declared: `{}`)",
                    rehearsed_version(&done.stdout),
                    declared_range(&done.stdout)
                );
                (*name, declared, outcome(&done))
            })
        })
        .collect();
    let declared: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    // Then each at 1.32 (after the others, to keep the machine's load down), on clusters gcloud
    // creates at 1.32 too (GKE offers no 1.9 or 1.14 any more), for the README's table.
    let handles: Vec<_> = declared
        .into_iter()
        .map(|(name, version, result)| {
            std::thread::spawn(move || {
                let later = Scratch::new();
                let current = match name {
                    "gke-multicluster" | "vm-expansion" => rehearse(
                        &later,
                        name,
                        &["--kube-version", "1.32", "-p", "CLUSTER_VERSION=1.32"],
                    ),
                    _ => rehearse(&later, name, &["--kube-version", "1.32"]),
                };
                assert_eq!(
                    rehearsed_version(&current.stdout),
                    "1.32",
                    "{}",
                    current.all()
                );
                let rows = [(version, result), ("1.32".to_string(), outcome(&current))];
                runkit::check_readme_section(
                    name,
                    TABLE_START,
                    TABLE_END,
                    &rehearsed_at_table(&rows),
                );
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

/// asm-east-west waited for each east-west gateway's LoadBalancer address, not just the Service.
fn gateways_have_addresses(s: &Scratch) {
    let status = s.status(None);
    for n in [1, 2] {
        let step = format!("eastwest-gateway-ready-{n}");
        let output = format!("EASTWEST_GW_ADDR_{n}");
        let found = status["steps"]
            .as_array()
            .unwrap()
            .iter()
            .find(|st| st["id"] == step.as_str())
            .map(|st| st["outputs"][&output]["plain"].clone());
        let addr = found.as_ref().and_then(|v| v.as_str()).unwrap_or_default();
        assert!(addr.starts_with("127.18."), "{step}: {output} is {found:?}");
    }
}

/// gke-multicluster's clean-up deletes both clusters and the firewall rule from the simulated
/// cloud, and the files the run wrote (the remote kubeconfig holds a token: 0600 until then).
fn cleanup_deletes_the_clusters(s: &Scratch) {
    use std::os::unix::fs::PermissionsExt;
    let kubeconfig = s.work().join("cluster-2");
    let mode = std::fs::metadata(&kubeconfig).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{}", kubeconfig.display());
    let done = s.meshbook(&["cleanup", "--log-format", "plain"]);
    assert_eq!(done.code, 0, "{}", done.all());
    let status = s.status(None);
    let ids: Vec<&str> = status["steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|st| st["state"] == "succeeded")
        .filter_map(|st| st["id"].as_str())
        .collect();
    for id in [
        "delete-firewall",
        "delete-cluster-1",
        "delete-cluster-2",
        "remove-manifests",
        "remove-remote-kubeconfig",
    ] {
        assert!(
            ids.contains(&id),
            "{id} did not succeed: {ids:?}\n{}",
            done.all()
        );
    }
    let run = status["run"].as_str().unwrap();
    let logs = s.state().join("runs").join(run).join("logs");
    for (step, what) in [
        ("delete-cluster-1", "clusters/cluster-1]"),
        ("delete-cluster-2", "clusters/cluster-2]"),
        ("delete-firewall", "firewalls/istio-multicluster-test-pods]"),
    ] {
        let log = std::fs::read_to_string(logs.join(format!("{step}.log"))).unwrap();
        assert!(
            log.contains("Deleted [") && log.contains(what),
            "{step}:\n{log}"
        );
    }
    for file in ["istio_master.yaml", "istio-remote.yaml", "cluster-2"] {
        assert!(!s.work().join(file).exists(), "{file} was left behind");
    }
}

/// The ids of the steps the closing report's coverage says were skipped (`  ID → skipped: WHY`).
fn skipped(report: &str) -> Vec<String> {
    report
        .lines()
        .skip_while(|l| !l.starts_with("coverage: "))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| {
            l.trim()
                .split_once(" → skipped: ")
                .map(|(id, _)| id.to_string())
        })
        .collect()
}

/// A PATH with every program of this one except gcloud.
fn path_without_gcloud(dir: &Path) -> std::ffi::OsString {
    let bin = dir.join("bin-without-gcloud");
    std::fs::create_dir_all(&bin).unwrap();
    for d in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        for entry in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            let name = entry.file_name();
            if name == "gcloud" || bin.join(&name).exists() {
                continue;
            }
            let _ = std::os::unix::fs::symlink(entry.path(), bin.join(&name));
        }
    }
    bin.into_os_string()
}

#[test]
fn without_gcloud_its_steps_and_their_dependants_are_skipped_and_the_rehearsal_passes() {
    let s = Scratch::new();
    let params = example_params("asm-east-west");
    let work = s.work();
    let out = s
        .cmd(&[
            "run",
            "asm-east-west",
            "--sandbox",
            "--params",
            params.to_str().unwrap(),
            "--workdir",
            work.to_str().unwrap(),
            "--log-format",
            "plain",
        ])
        .env("PATH", path_without_gcloud(s.path()))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}
{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("project-number → skipped: gcloud is not installed"),
        "{stdout}"
    );
    assert!(
        stdout.contains(
            "mesh-id → skipped: needs `project-number`, skipped: gcloud is not installed"
        ),
        "{stdout}"
    );
    assert!(!stdout.contains("simulated Google Cloud at"), "{stdout}");
}

#[test]
fn every_rehearsal_killed_midway_resumes_on_the_same_clusters() {
    let handles: Vec<_> = RUNBOOKS
        .iter()
        .map(|name| std::thread::spawn(move || killed_then_resumed(name)))
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

/// The step logs of the steps a run's output says failed, for the assertion message.
fn failed_logs(s: &Scratch, stdout: &str) -> String {
    let runs = s.state().join("runs");
    let mut out = String::new();
    for line in stdout.lines() {
        let Some(step) = line
            .strip_prefix("FAILED ")
            .and_then(|rest| rest.split(':').next())
        else {
            continue;
        };
        for run in std::fs::read_dir(&runs).into_iter().flatten().flatten() {
            let log = run.path().join("logs").join(format!("{step}.log"));
            if let Ok(text) = std::fs::read_to_string(&log) {
                out.push_str(&format!("--- {}\n{text}", log.display()));
            }
        }
    }
    out
}

fn killed_then_resumed(name: &str) {
    let s = Scratch::new();
    let params = example_params(name);
    let work = s.work();
    let mut child = s.spawn(&[
        "run",
        name,
        "--sandbox",
        "--params",
        params.to_str().unwrap(),
        "--workdir",
        work.to_str().unwrap(),
        "--log-format",
        "plain",
    ]);
    // Kill -9 once a third of the steps are done: the simulated clusters die with the process.
    // The bound is generous: gcloud (a Python program) is slow on a loaded machine.
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut progressed = false;
    let mut total = 0;
    while !progressed && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
        let listed = s.meshbook(&["status", "-o", "json"]);
        if listed.code != 0 {
            continue;
        }
        let status: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
        let steps = status["steps"].as_array().unwrap();
        total = steps.len();
        let done = steps.iter().filter(|st| st["state"] == "succeeded").count();
        progressed = total > 0 && done * 3 >= total;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(progressed, "{name}: the rehearsal made no progress");
    let done_before: Vec<String> = s
        .states(None)
        .into_iter()
        .filter(|(_, st)| st == "succeeded")
        .map(|(id, _)| id)
        .collect();
    assert!(
        done_before.len() < total,
        "{name} finished before it could be killed"
    );

    let resumed = s.resume(&[]);
    assert_eq!(
        resumed.code,
        0,
        "{name}: {}\n{}",
        resumed.all(),
        failed_logs(&s, &resumed.stdout)
    );
    for id in &done_before {
        assert!(
            resumed
                .stdout
                .lines()
                .any(|l| l.trim_start().starts_with("done") && l.trim_end().ends_with(id.as_str())),
            "{name}: step {id} was done before the kill but is not skipped on resume:\n{}",
            resumed.stdout
        );
        assert!(
            !resumed.stdout.contains(&format!("start  {id}\n")),
            "{name}: step {id} ran again:\n{}",
            resumed.stdout
        );
    }
    assert!(
        resumed.stdout.contains("rehearsal on simulated clusters"),
        "{}",
        resumed.all()
    );
    for (id, state) in s.states(None) {
        assert_eq!(state, "succeeded", "{name}: step {id}");
    }
}

#[test]
fn a_double_given_a_flag_its_tool_lacks_fails_the_step_in_the_tools_words() {
    let s = Scratch::new();
    let runbook = s.runbook(
        "bad-flag.yaml",
        "apiVersion: meshbook/v1\nkind: Runbook\nmetadata: {name: bad-flag}\nparams:\n  CTX: {type: context, default: c1}\nsteps:\n  - id: version\n    shell: istioctl version --remote=false\n    outputs:\n      ISTIOCTL_VERSION: {}\n  - id: render\n    needs: [version]\n    shell: helm template --bogus chart\n",
    );
    let done = s.run(&runbook, &["--sandbox"]);
    assert_eq!(done.code, 1, "{}", done.all());
    let states = s.states(None);
    assert!(
        states.contains(&("version".to_string(), "succeeded".to_string())),
        "{states:?}"
    );
    assert!(
        states.contains(&("render".to_string(), "failed".to_string())),
        "{states:?}"
    );
    let runs = s.state().join("runs");
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let log = std::fs::read_to_string(run.join("logs/render.log")).unwrap();
    assert!(log.contains("Error: unknown flag: --bogus"), "{log}");
    let calls = std::fs::read_to_string(run.join("sandbox/doubles/calls.jsonl")).unwrap();
    assert!(
        calls.contains("\"step\":\"render\"") && calls.contains("\"exit\":1"),
        "{calls}"
    );
}
