//! Everything meshbook keeps under the state directory is private (directories 0700, files at
//! most 0700) whatever the umask, a step's output file left by `kill -9` is 0600 and is removed
//! on resume, and a secrets key others can read is refused.

mod runkit;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use runkit::Scratch;

const RUNBOOK: &str = r#"apiVersion: meshbook/v1
kind: Runbook
metadata: {name: modes}
params:
  CTX: {type: context, default: c1}
steps:
  - id: version
    shell: istioctl version --remote=false
    outputs: {ISTIOCTL_VERSION: {}}
  - id: slow
    needs: [version]
    shell: |
      echo "X=1" >> "$MESHBOOK_OUTPUT"
      if [ ! -e reached ]; then echo $$ > step.pid; touch reached; sleep 30; fi
    outputs: {X: {}}
"#;

/// `meshbook ARGS...` under `umask 000`, with the scratch's key, state dir and cwd.
fn loose(s: &Scratch, args: &[&str]) -> Command {
    let mut c = Command::new("sh");
    c.arg("-c")
        .arg("umask 000; exec \"$0\" \"$@\"")
        .arg(env!("CARGO_BIN_EXE_meshbook"))
        .args(args)
        .current_dir(s.path())
        .env("MESHBOOK_KEY_FILE", s.path().join("key"))
        .env("MESHBOOK_STATE_DIR", s.state())
        .env_remove("XDG_CONFIG_HOME");
    c
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every path under `root` that others could read, with its mode (symbolic links aside).
fn exposed(root: &Path) -> Vec<(PathBuf, u32)> {
    let mut bad = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p).unwrap();
        if meta.is_symlink() {
            continue;
        }
        let m = mode(&p);
        if meta.is_dir() {
            if m != 0o700 {
                bad.push((p.clone(), m));
            }
            stack.extend(std::fs::read_dir(&p).unwrap().flatten().map(|e| e.path()));
        } else if m & 0o077 != 0 {
            bad.push((p, m));
        }
    }
    bad
}

#[test]
fn state_is_private_under_umask_000_and_killed_output_files_go_on_resume() {
    let s = Scratch::new();
    let rb = s.runbook("modes.yaml", RUNBOOK);
    let work = s.work();
    let mut child = loose(
        &s,
        &[
            "run",
            rb.to_str().unwrap(),
            "--sandbox",
            "--workdir",
            work.to_str().unwrap(),
            "--log-format",
            "plain",
        ],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !work.join("reached").exists() {
        assert!(Instant::now() < deadline, "the step did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    runkit::wait(&mut child, Duration::from_secs(30)).expect("killed");
    // The step keeps running in its own group after meshbook dies; it is not needed.
    let pid = std::fs::read_to_string(work.join("step.pid")).unwrap();
    let _ = Command::new("kill")
        .args(["-9", "--", &format!("-{}", pid.trim())])
        .status();
    let runs = s.state().join("runs");
    let run = std::fs::read_dir(&runs)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let outs: Vec<_> = std::fs::read_dir(run.join("tmp"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(outs.len(), 1, "the killed step's output file: {outs:?}");
    assert_eq!(mode(&outs[0]), 0o600, "{}", outs[0].display());
    assert_eq!(exposed(&s.state()), [], "after the kill");

    let mut resume = loose(&s, &["resume", "--log-format", "plain"]);
    resume.stdin(std::process::Stdio::null());
    let done = runkit::finish(resume, None);
    assert_eq!(done.code, 0, "{}", done.all());
    let left: Vec<_> = std::fs::read_dir(run.join("tmp"))
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert_eq!(left, Vec::<PathBuf>::new(), "leftovers were removed");
    assert_eq!(exposed(&s.state()), [], "after the resumed rehearsal");
    assert!(
        run.join("sandbox/doubles/calls.jsonl").is_file(),
        "the doubles' record was checked too"
    );
}

#[test]
fn a_secrets_key_others_can_read_is_refused() {
    let s = Scratch::new();
    let key = s.path().join("key");
    std::fs::write(&key, "bm90IHNlY3JldCBhdCBhbGwgYnV0IGEga2V5IG9mIDMyYg==\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let rb = s.runbook(
        "k.yaml",
        "apiVersion: meshbook/v1\nkind: Runbook\nmetadata: {name: k}\nsteps:\n  - id: a\n    shell: 'true'\n",
    );
    let done = s.run(&rb, &[]);
    assert_eq!(done.code, 2, "{}", done.all());
    assert!(
        done.stderr.contains(&format!(
            "secrets key {} is readable by others (mode 0644)",
            key.display()
        )) && done.stderr.contains("chmod 600"),
        "{}",
        done.all()
    );
    assert!(!s.state().join("runs").exists(), "nothing ran");
}

#[test]
fn a_state_flag_wins_over_the_environment() {
    let s = Scratch::new();
    let dir = s.path().join("mine");
    // MESHBOOK_STATE names a cluster no kubeconfig knows: only a flag keeps it from being used.
    let runs = |args: &[&str]| {
        let mut c = s.cmd(args);
        c.env("MESHBOOK_STATE", "kube://nowhere/meshbook")
            .env("KUBECONFIG", s.path().join("no-kubeconfig"));
        runkit::finish(c, None)
    };
    let flag = runs(&["runs", "--state-dir", dir.to_str().unwrap()]);
    assert_eq!(flag.code, 0, "{}", flag.all());
    assert!(flag.stdout.contains("mine/runs"), "{}", flag.all());
    let env = runs(&["runs"]);
    assert_eq!(env.code, 2, "{}", env.all());
    assert!(
        env.stderr.contains("kube://nowhere/meshbook"),
        "{}",
        env.all()
    );
    let both = runs(&["runs", "--state-dir", "a", "--state", "b"]);
    assert_eq!(both.code, 2, "{}", both.all());
    let bad = {
        let mut c = s.cmd(&["runs"]);
        c.env("MESHBOOK_STATE", "kube://no-namespace");
        runkit::finish(c, None)
    };
    assert_eq!(bad.code, 2, "{}", bad.all());
    assert!(bad.stderr.contains("MESHBOOK_STATE"), "{}", bad.all());
}
