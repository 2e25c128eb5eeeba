//! Runs kept on a cluster (`--state kube://CONTEXT/NAMESPACE`), driven by meshbook processes on
//! two "machines" (each its own working directory, HOME and secrets key) against one sandbox:
//! listed, shown and resumed from the other machine; a killed holder's lock taken over once its
//! lease lapses; a paused holder that lost its lease writing nothing; racing resumes; dropped
//! answers mid-write; and copies between a state dir and the cluster.

mod runkit;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use runkit::{Done, SandboxProcess, Scratch, finish, run_id, wait};

const STATE: &str = "kube://cluster1/meshbook";

/// A sandbox, the namespace of the run state (made from the shipped RBAC manifest), and two
/// machines that reach it with the same kubeconfig.
struct Cluster {
    scratch: Scratch,
    _sandbox: SandboxProcess,
}

/// One machine: its own folders and key; everything else it shares with the other is the
/// cluster.
struct Machine<'a> {
    cluster: &'a Cluster,
    root: PathBuf,
}

impl Cluster {
    fn up(faults: &[&str]) -> Cluster {
        let scratch = Scratch::new();
        let sandbox = scratch.sandbox_up("cluster1", "sbx", faults);
        let rbac = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/run-state-rbac.yaml");
        // Applying is idempotent: with dropped answers injected, it is tried until it is done.
        let apply = || scratch.kubectl("sbx", None, &["apply", "-f", rbac.to_str().unwrap()]);
        let applied = (0..10)
            .map(|_| apply())
            .find(|done| done.code == 0)
            .unwrap_or_else(apply);
        assert_eq!(
            applied.code,
            0,
            "the shipped RBAC applies: {}",
            applied.all()
        );
        Cluster {
            scratch,
            _sandbox: sandbox,
        }
    }

    fn machine(&self, name: &str) -> Machine<'_> {
        let root = self.scratch.path().join(name);
        for dir in ["home", "work", "tmp"] {
            std::fs::create_dir_all(root.join(dir)).unwrap();
        }
        Machine {
            cluster: self,
            root,
        }
    }

    fn kubeconfig(&self) -> PathBuf {
        self.scratch.path().join("sbx/kubeconfig")
    }

    /// Every run-state Secret's data, decoded: what the cluster holds of the runs.
    fn stored(&self) -> String {
        let got = self.scratch.kubectl(
            "sbx",
            None,
            &["-n", "meshbook", "get", "secrets", "-o", "json"],
        );
        assert_eq!(got.code, 0, "{}", got.all());
        let list: serde_json::Value = serde_json::from_str(&got.stdout).unwrap();
        let mut out = String::new();
        for item in list["items"].as_array().unwrap() {
            for (key, value) in item["data"].as_object().into_iter().flatten() {
                use base64::Engine as _;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(value.as_str().unwrap())
                    .unwrap();
                out.push_str(&format!(
                    "{} {key}: {}\n",
                    item["metadata"]["name"].as_str().unwrap(),
                    String::from_utf8_lossy(&bytes)
                ));
            }
        }
        out
    }

    fn leases(&self) -> String {
        let got = self.scratch.kubectl(
            "sbx",
            None,
            &["-n", "meshbook", "get", "leases", "-o", "name"],
        );
        assert_eq!(got.code, 0, "{}", got.all());
        got.stdout
    }
}

impl Machine<'_> {
    fn work(&self) -> PathBuf {
        self.root.join("work")
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_meshbook"));
        c.args(args)
            .current_dir(self.work())
            .env("HOME", self.root.join("home"))
            .env("MESHBOOK_KEY_FILE", self.root.join("key"))
            .env("KUBECONFIG", self.cluster.kubeconfig())
            .env("MESHBOOK_STATE", STATE)
            .env("MESHBOOK_LEASE_DURATION", "3s")
            .env("TMPDIR", self.root.join("tmp"))
            .env_remove("MESHBOOK_STATE_DIR")
            .env_remove("XDG_CONFIG_HOME");
        c
    }

    fn meshbook(&self, args: &[&str]) -> Done {
        finish(self.cmd(args), None)
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    fn runbook(&self, text: &str) -> String {
        let path = self.root.join("runbook.yaml");
        std::fs::write(&path, text).unwrap();
        path.to_str().unwrap().to_string()
    }

    fn status(&self, run: &str) -> serde_json::Value {
        let done = self.meshbook(&["status", run, "-o", "json"]);
        assert_eq!(done.code, 0, "{}", done.all());
        serde_json::from_str(&done.stdout).unwrap()
    }

    /// Waits for a step to make `file` in this machine's working directory.
    fn await_file(&self, file: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.work().join(file).exists() {
            assert!(Instant::now() < deadline, "no step made `{file}`");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Step id to (state, attempts).
fn steps(status: &serde_json::Value) -> Vec<(String, String, u64)> {
    status["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["id"].as_str().unwrap().to_string(),
                s["state"].as_str().unwrap().to_string(),
                s["attempts"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

/// Resumes `run` until its lease lapses and the resume drives it (at most 20 s).
fn resume_once_free(machine: &Machine, run: &str) -> Done {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let done = machine.meshbook(&["resume", run, "--log-format", "plain"]);
        if done.code != 2 || Instant::now() > deadline {
            return done;
        }
        assert!(done.stderr.contains("being driven by"), "{}", done.all());
        std::thread::sleep(Duration::from_millis(250));
    }
}

const SECRET: &str = "s3cr3t-token-value";
const SEED: &str = "SEED=s3cr3t-token-value";

/// `a` makes a secret output from a secret param (`-p SEED=…`); `b` needs a file `ready` in the
/// working directory; `c` uses the secret. Each step counts its runs in `ran` of the directory
/// it runs in.
const NEEDS_READY: &str = r#"apiVersion: meshbook/v1
kind: Runbook
metadata: {name: shared}
params:
  SEED: {type: string, secret: true}
steps:
  - id: a
    shell: 'echo a >> ran; echo "TOKEN=$SEED" >> "$MESHBOOK_OUTPUT"'
    outputs: {TOKEN: {secret: true}}
  - id: b
    needs: [a]
    shell: 'echo b >> ran; test -f ready'
  - id: c
    needs: [b]
    shell: 'echo c >> ran; printf %s "$TOKEN" | sha256sum > token.sha'
"#;

#[test]
fn a_run_on_a_cluster_is_listed_shown_and_resumed_from_another_machine() {
    let cluster = Cluster::up(&[]);
    let (a, b) = (cluster.machine("a"), cluster.machine("b"));
    let started = a.meshbook(&[
        "run",
        &a.runbook(NEEDS_READY),
        "-p",
        SEED,
        "--log-format",
        "plain",
    ]);
    assert_eq!(started.code, 1, "b fails on a: {}", started.all());
    let run = run_id(&started.stdout);
    assert!(
        started
            .stderr
            .contains(&format!("meshbook resume {run} --state {STATE}")),
        "the hint names the state: {}",
        started.all()
    );
    assert!(
        started
            .stderr
            .contains(&format!("log: meshbook logs {run} b --state {STATE}")),
        "the log is named where it is kept: {}",
        started.all()
    );
    assert_eq!(cluster.leases(), "", "a finished process leaves no lease");
    // The other machine has neither the runbook file nor the working directory.
    std::fs::remove_dir_all(a.root.join("work")).unwrap();
    std::fs::remove_file(a.root.join("runbook.yaml")).unwrap();

    let listed = b.meshbook(&["runs"]);
    assert_eq!(listed.code, 0, "{}", listed.all());
    assert!(
        listed.stdout.contains(&run) && listed.stdout.contains("failed"),
        "{}",
        listed.all()
    );
    let shown = steps(&b.status(&run));
    assert_eq!(shown[0], ("a".into(), "succeeded".into(), 1), "{shown:?}");
    assert_eq!(shown[1].1, "failed", "{shown:?}");

    let log = b.meshbook(&["logs", &run, "b"]);
    assert_eq!(log.code, 0, "{}", log.all());
    assert!(log.stdout.starts_with("==> b attempt 1"), "{}", log.all());

    std::fs::write(b.work().join("ready"), "").unwrap();
    let resumed = b.meshbook(&["resume", "--log-format", "plain"]);
    assert_eq!(resumed.code, 0, "{}", resumed.all());
    assert!(resumed.stdout.contains("done    a"), "{}", resumed.all());
    assert!(
        resumed.stdout.contains("steps run in"),
        "says where steps run: {}",
        resumed.all()
    );
    // `a` did not run again; `c` got the secret `a` made on the other machine.
    let ran = std::fs::read_to_string(b.work().join("ran")).unwrap();
    assert_eq!(ran, "b\nc\n");
    let sha = std::fs::read_to_string(b.work().join("token.sha")).unwrap();
    let expected = Command::new("sh")
        .args(["-c", &format!("printf %s {SECRET} | sha256sum")])
        .output()
        .unwrap();
    assert_eq!(sha, String::from_utf8_lossy(&expected.stdout));
    let done = steps(&b.status(&run));
    assert!(
        done.iter().all(|(_, state, _)| state == "succeeded"),
        "{done:?}"
    );

    // Secrets stay sealed on the cluster and out of every output.
    let stored = cluster.stored();
    assert!(stored.contains("journal.0000000000"), "{stored}");
    assert!(stored.contains("log."), "step logs are kept: {stored}");
    assert!(!stored.contains(SECRET), "a secret in clear on the cluster");
    for out in [&started, &listed, &resumed] {
        assert!(!out.all().contains(SECRET), "{}", out.all());
    }
    assert_eq!(cluster.leases(), "");
}

/// A kubeconfig for cluster1 that authenticates as the shipped manifest's service account, with
/// a token the cluster mints for it.
fn service_account_kubeconfig(cluster: &Cluster) -> PathBuf {
    let token = cluster.scratch.kubectl(
        "sbx",
        None,
        &["-n", "meshbook", "create", "token", "meshbook"],
    );
    assert_eq!(token.code, 0, "{}", token.all());
    let path = cluster.scratch.path().join("service-account-kubeconfig");
    std::fs::copy(cluster.kubeconfig(), &path).unwrap();
    let user = format!("cluster1{}", meshbook_sandbox::ADMIN_USER_SUFFIX);
    let set = runkit::kubectl(
        cluster.scratch.path(),
        path.to_str().unwrap(),
        None,
        &[
            "config",
            "set-credentials",
            &user,
            "--token",
            token.stdout.trim(),
        ],
    );
    assert_eq!(set.code, 0, "{}", set.all());
    let who = runkit::kubectl(
        cluster.scratch.path(),
        path.to_str().unwrap(),
        None,
        &[
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ],
    );
    assert_eq!(
        who.stdout,
        "system:serviceaccount:meshbook:meshbook",
        "{}",
        who.all()
    );
    path
}

#[test]
fn the_shipped_role_is_all_a_service_account_needs_to_drive_runs() {
    let cluster = Cluster::up(&[]);
    let kubeconfig = service_account_kubeconfig(&cluster);
    let (a, b) = (cluster.machine("a"), cluster.machine("b"));
    let as_account = |m: &Machine, args: &[&str]| {
        let mut c = m.cmd(args);
        c.env("KUBECONFIG", &kubeconfig);
        finish(c, None)
    };
    let runbook = a.runbook(NEEDS_READY);
    let started = as_account(&a, &["run", &runbook, "-p", SEED, "--log-format", "plain"]);
    assert_eq!(started.code, 1, "b fails on a: {}", started.all());
    let run = run_id(&started.stdout);
    // The other machine has neither the runbook file nor the working directory.
    std::fs::remove_dir_all(a.work()).unwrap();
    std::fs::remove_file(&runbook).unwrap();
    let listed = as_account(&b, &["runs"]);
    assert_eq!(listed.code, 0, "{}", listed.all());
    assert!(listed.stdout.contains(&run), "{}", listed.all());
    let log = as_account(&b, &["logs", &run, "b"]);
    assert_eq!(log.code, 0, "{}", log.all());
    std::fs::write(b.work().join("ready"), "").unwrap();
    let resumed = as_account(&b, &["resume", &run, "--log-format", "plain"]);
    assert_eq!(resumed.code, 0, "{}", resumed.all());
    assert_eq!(
        std::fs::read_to_string(b.work().join("ran")).unwrap(),
        "b\nc\n"
    );
    let shown = as_account(&b, &["status", &run, "-o", "json"]);
    assert_eq!(shown.code, 0, "{}", shown.all());
    assert_eq!(cluster.leases(), "", "the lock was released");

    // Without the binding the same account may do nothing with runs, and says so.
    let unbound = cluster.scratch.kubectl(
        "sbx",
        None,
        &[
            "-n",
            "meshbook",
            "delete",
            "rolebinding",
            "meshbook-run-state",
        ],
    );
    assert_eq!(unbound.code, 0, "{}", unbound.all());
    let refused = as_account(&b, &["runs"]);
    assert_eq!(refused.code, 1, "{}", refused.all());
    assert!(
        refused.stderr.contains("forbidden")
            && (refused.stderr).contains("system:serviceaccount:meshbook:meshbook")
            && (refused.stderr).contains("deploy/run-state-rbac.yaml"),
        "{}",
        refused.all()
    );
}

/// `a` runs once; `b` waits (at most 30 s) for a file `go` in its working directory, after
/// marking that it started; `c` ends the run.
const WAITS_FOR_GO: &str = r#"apiVersion: meshbook/v1
kind: Runbook
metadata: {name: waits}
steps:
  - id: a
    shell: 'echo a >> ran; echo "X=1" >> "$MESHBOOK_OUTPUT"'
    outputs: {X: {}}
  - id: b
    needs: [a]
    shell: 'echo b >> ran; touch b-started; for i in $(seq 300); do test -f go && exit 0; sleep 0.1; done; exit 1'
  - id: c
    needs: [b]
    shell: 'echo c >> ran'
"#;

#[test]
fn a_killed_holder_is_taken_over_once_its_lease_lapses() {
    let cluster = Cluster::up(&[]);
    let (a, b) = (cluster.machine("a"), cluster.machine("b"));
    let mut holder = a.spawn(&["run", &a.runbook(WAITS_FOR_GO), "--log-format", "plain"]);
    a.await_file("b-started");
    holder.kill().unwrap();
    holder.wait().unwrap();
    let run = steps_run(&b);
    let refused = b.meshbook(&["resume", &run]);
    assert_eq!(refused.code, 2, "{}", refused.all());
    assert!(
        refused.stderr.contains("being driven by") && refused.stderr.contains("lease runs until"),
        "says who holds it and until when: {}",
        refused.all()
    );
    std::fs::write(a.work().join("go"), "").unwrap();
    let taken = resume_once_free(&b, &run);
    assert_eq!(taken.code, 0, "{}", taken.all());
    // The working directory of the run is on this machine too: steps ran there.
    let ran = std::fs::read_to_string(a.work().join("ran")).unwrap();
    assert_eq!(ran.matches('a').count(), 1, "a ran once: {ran}");
    assert!(ran.ends_with("c\n"), "{ran}");
    assert_eq!(cluster.leases(), "");
}

/// The id of the only run, as `runs -o json` from `machine` lists it.
fn steps_run(machine: &Machine) -> String {
    let listed = machine.meshbook(&["runs", "-o", "json"]);
    assert_eq!(listed.code, 0, "{}", listed.all());
    let runs: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    runs["runs"][0]["id"].as_str().unwrap().to_string()
}

#[test]
fn a_paused_holder_that_lost_its_lease_writes_nothing() {
    let cluster = Cluster::up(&[]);
    let (a, b) = (cluster.machine("a"), cluster.machine("b"));
    let mut holder = a.spawn(&["run", &a.runbook(WAITS_FOR_GO), "--log-format", "plain"]);
    a.await_file("b-started");
    let signal = |name: &str| {
        let sent = Command::new("kill")
            .args([name, &holder.id().to_string()])
            .status()
            .unwrap();
        assert!(sent.success());
    };
    signal("-STOP");
    let run = steps_run(&b);
    std::fs::write(a.work().join("go"), "").unwrap();
    let taken = resume_once_free(&b, &run);
    assert_eq!(taken.code, 0, "{}", taken.all());
    let before = cluster.stored();
    signal("-CONT");
    let status = wait(&mut holder, Duration::from_secs(60)).expect("the paused holder ends");
    let mut stderr = String::new();
    std::io::Read::read_to_string(holder.stderr.as_mut().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("lost the lock on run"), "{stderr}");
    assert_eq!(cluster.stored(), before, "the paused holder wrote nothing");
    let done = steps(&b.status(&run));
    assert!(done.iter().all(|(_, s, _)| s == "succeeded"), "{done:?}");
}

#[test]
fn of_two_racing_resumes_one_drives_the_run() {
    let cluster = Cluster::up(&[]);
    let (a, b, c) = (
        cluster.machine("a"),
        cluster.machine("b"),
        cluster.machine("c"),
    );
    // b takes a while on the resumes, so they overlap.
    let text = NEEDS_READY.replace("test -f ready", "test -f ready && sleep 2");
    let started = a.meshbook(&[
        "run",
        &a.runbook(&text),
        "-p",
        SEED,
        "--log-format",
        "plain",
    ]);
    assert_eq!(started.code, 1, "{}", started.all());
    let run = run_id(&started.stdout);
    std::fs::write(a.work().join("ready"), "").unwrap();
    let racers = [b.spawn(&["resume", &run]), c.spawn(&["resume", &run])];
    let mut codes: Vec<i32> = racers
        .into_iter()
        .map(|child| {
            let out = child.wait_with_output().unwrap();
            out.status.code().unwrap_or(-1)
        })
        .collect();
    codes.sort();
    assert_eq!(codes, [0, 2], "one drives, the other is refused");
    let ran = std::fs::read_to_string(a.work().join("ran")).unwrap();
    assert_eq!(ran, "a\nb\nb\nc\n", "b and c ran once more, not twice");
}

#[test]
fn writes_whose_answers_are_dropped_land_once() {
    // A fifth of the journal's writes land without an answer; some others fail outright.
    let cluster = Cluster::up(&[
        "--lost-answer-rate",
        "patch=0.2",
        "--lost-answer-rate",
        "create=0.2",
        "--error-rate",
        "patch=0.05",
    ]);
    let a = cluster.machine("a");
    let mut text =
        String::from("apiVersion: meshbook/v1\nkind: Runbook\nmetadata: {name: chain}\nsteps:\n");
    for i in 0..15 {
        let needs = match i {
            0 => String::new(),
            _ => format!("\n    needs: [s{}]", i - 1),
        };
        text.push_str(&format!(
            "  - id: s{i}{needs}\n    shell: 'echo s{i} >> ran; echo \"V{i}={i}\" >> \"$MESHBOOK_OUTPUT\"'\n    outputs: {{V{i}: {{}}}}\n"
        ));
    }
    let started = a.meshbook(&["run", &a.runbook(&text), "--log-format", "plain"]);
    assert_eq!(started.code, 0, "{}", started.all());
    let run = run_id(&started.stdout);
    let status = a.status(&run);
    let shown = steps(&status);
    assert_eq!(shown.len(), 15);
    for (i, (id, state, attempts)) in shown.iter().enumerate() {
        assert_eq!(
            (id.as_str(), state.as_str(), *attempts),
            (format!("s{i}").as_str(), "succeeded", 1)
        );
        assert_eq!(
            status["steps"][i]["outputs"][format!("V{i}")]["plain"],
            i.to_string()
        );
    }
    // Each record once: a duplicated line would break the journal's chain, and status checks it.
    let stored = cluster.stored();
    assert_eq!(stored.matches("\"step_started\"").count(), 15, "{stored}");
}

#[test]
fn runs_are_copied_between_a_state_dir_and_a_cluster() {
    let cluster = Cluster::up(&[]);
    let (a, b) = (cluster.machine("a"), cluster.machine("b"));
    let local = a.root.join("state");
    let local = local.to_str().unwrap();
    let started = a.meshbook(&[
        "run",
        &a.runbook(NEEDS_READY),
        "-p",
        SEED,
        "--state",
        local,
        "--log-format",
        "plain",
    ]);
    assert_eq!(started.code, 1, "{}", started.all());
    let run = run_id(&started.stdout);
    let copied = a.meshbook(&["state", "copy", local, STATE]);
    assert_eq!(copied.code, 0, "{}", copied.all());
    assert!(
        copied.stdout.contains(&format!("copied run {run}")),
        "{}",
        copied.all()
    );
    let again = a.meshbook(&["state", "copy", local, STATE, &run]);
    assert_eq!(
        again.code,
        2,
        "a run is not copied over itself: {}",
        again.all()
    );
    assert!(!cluster.stored().contains(SECRET));

    // The other machine resumes the copy with its own key: the run's key came with it.
    std::fs::write(b.work().join("ready"), "").unwrap();
    std::fs::remove_dir_all(a.root.join("work")).unwrap();
    let resumed = b.meshbook(&["resume", &run, "--log-format", "plain"]);
    assert_eq!(resumed.code, 0, "{}", resumed.all());
    assert_eq!(
        std::fs::read_to_string(b.work().join("ran")).unwrap(),
        "b\nc\n"
    );

    // And back to a state dir on that machine, where it reads as a run of its own.
    let back = b.root.join("state");
    let copied = b.meshbook(&["state", "copy", STATE, back.to_str().unwrap()]);
    assert_eq!(copied.code, 0, "{}", copied.all());
    let shown = b.meshbook(&[
        "status",
        &run,
        "--state",
        back.to_str().unwrap(),
        "-o",
        "json",
    ]);
    assert_eq!(shown.code, 0, "{}", shown.all());
    let status: serde_json::Value = serde_json::from_str(&shown.stdout).unwrap();
    assert!(
        steps(&status).iter().all(|(_, s, _)| s == "succeeded"),
        "{status}"
    );
    let on_disk = walk(&back);
    assert!(
        !on_disk.contains(SECRET),
        "a secret in clear in the copied state"
    );
    let from = b.meshbook(&[
        "resume",
        &run,
        "--state",
        back.to_str().unwrap(),
        "--from",
        "c",
    ]);
    assert_eq!(
        from.code,
        0,
        "the copy opens with this machine's key: {}",
        from.all()
    );
}

fn walk(dir: &Path) -> String {
    let mut out = String::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.push_str(&walk(&path));
        } else {
            out.push_str(&String::from_utf8_lossy(&std::fs::read(&path).unwrap()));
        }
    }
    out
}

/// A small xorshift generator seeded from the clock: different moments each run of the test.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos();
        Rng(u64::from(nanos) | 1)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// 8 layers of 4 steps, each needing two of the layer before and logging its id; the first
/// makes a secret and a plain output, which the last uses.
fn layered() -> String {
    let mut text = String::from(
        "apiVersion: meshbook/v1\nkind: Runbook\nmetadata: {name: layered}\nparams:\n  SEED: {type: string, secret: true}\nsteps:\n  - id: first\n    shell: 'echo first >> ran; echo \"TOKEN=$SEED\" >> \"$MESHBOOK_OUTPUT\"; echo \"PLAIN=p-1\" >> \"$MESHBOOK_OUTPUT\"'\n    outputs: {TOKEN: {secret: true}, PLAIN: {}}\n",
    );
    for layer in 0..8 {
        for k in 0..4 {
            let needs = match layer {
                0 => "[first]".to_string(),
                _ => format!("[s{}-{k}, s{}-{}]", layer - 1, layer - 1, (k + 1) % 4),
            };
            text.push_str(&format!(
                "  - id: s{layer}-{k}\n    needs: {needs}\n    shell: 'sleep 0.$((1 + RANDOM % 3)); echo s{layer}-{k} >> ran'\n"
            ));
        }
    }
    text.push_str("  - id: last\n    needs: [s7-0, s7-1, s7-2, s7-3]\n    shell: 'echo last >> ran; printf %s \"$TOKEN $PLAIN\" | sha256sum > last.sha'\n");
    text
}

#[test]
fn kill_9_at_random_moments_then_resume_on_the_other_machine() {
    let cluster = Cluster::up(&[]);
    let machines = [cluster.machine("a"), cluster.machine("b")];
    let runbook = machines[0].runbook(&layered());
    let work = machines[0].work();
    let ran = || -> Vec<String> {
        std::fs::read_to_string(work.join("ran"))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    };
    let mut rng = Rng::new();
    let mut run: Option<String> = None;
    let mut kills = 0;
    let deadline = Instant::now() + Duration::from_secs(150);
    for round in 0.. {
        assert!(Instant::now() < deadline, "the run never completed");
        let machine = &machines[round % 2];
        let done: Vec<String> = match &run {
            Some(id) => steps(&machine.status(id))
                .into_iter()
                .filter(|(_, state, _)| state == "succeeded")
                .map(|(id, _, _)| id)
                .collect(),
            None => Vec::new(),
        };
        let before = ran().len();
        let args: Vec<&str> = match &run {
            Some(id) => vec!["resume", id, "--log-format", "plain"],
            None => vec!["run", &runbook, "-p", SEED, "--log-format", "plain"],
        };
        let mut child = machine.spawn(&args);
        let delay = Duration::from_millis(300 + rng.below(1200));
        let start = Instant::now();
        let ended = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break Some(status);
            }
            if start.elapsed() >= delay {
                child.kill().unwrap(); // SIGKILL
                child.wait().unwrap();
                kills += 1;
                break None;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        // Steps live in their own process groups and outlive a killed meshbook: let them end.
        std::thread::sleep(Duration::from_millis(200));
        for again in &ran()[before..] {
            assert!(
                !done.contains(again),
                "step {again} was done, yet ran again"
            );
        }
        if run.is_none() {
            let listed = machine.meshbook(&["runs", "-o", "json"]);
            let runs: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
            run = runs["runs"][0]["id"].as_str().map(str::to_string);
        }
        match ended {
            Some(status) if status.success() => break,
            Some(status) => {
                let mut err = String::new();
                std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
                // The killed holder's lease has not lapsed yet: try again shortly.
                assert_eq!(status.code(), Some(2), "{err}");
                assert!(err.contains("being driven by"), "{err}");
                std::thread::sleep(Duration::from_millis(300));
            }
            None => {}
        }
    }
    assert!(kills > 0, "the test killed nothing");
    // What killed processes left on their machine goes with the next command there.
    for machine in &machines {
        machine.meshbook(&["runs"]);
        let left: Vec<_> = std::fs::read_dir(machine.root.join("tmp"))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "mirrors left behind: {left:?}");
    }
    // A step killed mid-way runs again (it was never recorded done); every step ran.
    let lines = ran();
    for id in ["first", "s3-2", "last"] {
        assert!(lines.iter().any(|l| l == id), "{id} never ran: {lines:?}");
    }
    let sha = std::fs::read_to_string(work.join("last.sha")).unwrap();
    let expected = Command::new("sh")
        .args(["-c", &format!("printf %s '{SECRET} p-1' | sha256sum")])
        .output()
        .unwrap();
    assert_eq!(
        sha,
        String::from_utf8_lossy(&expected.stdout),
        "outputs restored"
    );
    assert!(!cluster.stored().contains(SECRET));
}
