//! Failure → fix → resume; a changed step re-runs with its downstream; `--from`; signals.

mod runkit;

use std::time::{Duration, Instant};

use runkit::{Scratch, run_id};

const CHAIN: &str = r#"apiVersion: meshbook/v1
kind: Runbook
metadata: {name: chain}
steps:
  - id: a
    shell: |
      echo a >> ran
      echo "A=from-a" >> "$MESHBOOK_OUTPUT"
    outputs:
      A: {type: string}
  - id: b
    shell: |
      echo b >> ran
      test -e fixed
      echo "B=$A+b" >> "$MESHBOOK_OUTPUT"
    outputs:
      B: {type: string}
  - id: c
    shell: echo "c $B" >> ran
  - id: d
    shell: echo d >> ran
"#;

#[test]
fn a_failed_run_resumes_without_rerunning_finished_steps() {
    let s = Scratch::new();
    let rb = s.runbook("chain.yaml", CHAIN);
    let first = s.run(&rb, &[]);
    assert_eq!(first.code, 1, "{}", first.all());
    let mut ran = s.lines("ran");
    ran.sort();
    assert_eq!(ran, ["a", "b", "d"]);

    std::fs::write(s.work().join("fixed"), "").unwrap();
    std::fs::remove_file(s.work().join("ran")).unwrap();
    let second = s.resume(&[]);
    assert_eq!(second.code, 0, "{}", second.all());
    assert!(second.stdout.contains("  done    a\n"), "{}", second.all());
    assert!(second.stdout.contains("  run     b\n"), "{}", second.all());
    assert!(second.stdout.contains("  run     c\n"), "{}", second.all());
    assert!(second.stdout.contains("  done    d\n"), "{}", second.all());
    assert_eq!(
        s.lines("ran"),
        ["b", "c from-a+b"],
        "restored outputs feed the resumed steps"
    );
    let states = s.states(None);
    assert!(!states.is_empty());
    assert!(states.iter().all(|(_, st)| st == "succeeded"), "{states:?}");

    let again = s.resume(&[]);
    assert_eq!(
        again.code,
        2,
        "a finished run is not resumed by default: {}",
        again.all()
    );
}

#[test]
fn a_changed_step_reruns_with_its_downstream() {
    let s = Scratch::new();
    std::fs::write(s.work().join("fixed"), "").unwrap();
    let rb = s.runbook("chain.yaml", CHAIN);
    let first = s.run(&rb, &[]);
    assert_eq!(first.code, 0, "{}", first.all());
    let id = run_id(&first.stdout);
    std::fs::remove_file(s.work().join("ran")).unwrap();

    std::fs::write(&rb, CHAIN.replace("B=$A+b", "B=$A+b2")).unwrap();
    let second = s.resume(&[&id]);
    assert_eq!(second.code, 0, "{}", second.all());
    assert!(
        second
            .stdout
            .contains("re-run  b  (re-run: its definition or inputs changed)"),
        "{}",
        second.all()
    );
    assert!(
        second
            .stdout
            .contains("re-run  c  (re-run: upstream `b` runs again)"),
        "{}",
        second.all()
    );
    assert_eq!(s.lines("ran"), ["b", "c from-a+b2"]);

    std::fs::remove_file(s.work().join("ran")).unwrap();
    let third = s.resume(&[&id, "--from", "a"]);
    assert_eq!(third.code, 0, "{}", third.all());
    assert!(
        third
            .stdout
            .contains("re-run  a  (re-run: forced by --from)"),
        "{}",
        third.all()
    );
    assert_eq!(s.lines("ran"), ["a", "b", "c from-a+b2"]);
    let bad = s.resume(&[&id, "--from", "zz"]);
    assert_eq!(bad.code, 2, "{}", bad.all());
}

#[test]
fn two_processes_never_drive_one_run() {
    let s = Scratch::new();
    let rb = s.runbook(
        "slow.yaml",
        "apiVersion: meshbook/v1\nkind: Runbook\nmetadata: {name: slow}\nsteps:\n  - id: s\n    shell: touch started; sleep 2\n",
    );
    let mut child = s.spawn_run(&rb);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !s.work().join("started").exists() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(20));
    }
    let id = s.status(None)["run"].as_str().unwrap().to_string();
    let second = s.resume(&[&id]);
    assert_eq!(second.code, 2, "{}", second.all());
    assert!(
        second
            .stderr
            .contains(&format!("run {id} is being driven by {} on ", child.id())),
        "{}",
        second.all()
    );
    assert!(child.wait().unwrap().success());
}

fn signal(pid: u32, sig: &str) {
    let ok = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(ok.success());
}

fn wait_for(path: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

const LONG: &str = r#"apiVersion: meshbook/v1
kind: Runbook
metadata: {name: long}
steps:
  - id: long
    shell: |
      TRAP
      sleep 60 & echo $! > child.pid
      touch started
      wait
  - id: after
    shell: touch after
    needs: [long]
"#;

#[test]
fn the_first_signal_stops_gracefully_and_the_run_resumes() {
    let s = Scratch::new();
    let rb = s.runbook("long.yaml", &LONG.replace("TRAP", "true"));
    let work = s.work();
    let child = s.spawn_run(&rb);
    wait_for(&work.join("started"));
    let start = Instant::now();
    signal(child.id(), "-TERM");
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(130),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(start.elapsed() < Duration::from_secs(8));
    let pid = std::fs::read_to_string(work.join("child.pid")).unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        runkit::has_ended(pid.trim()),
        "the step's process group got the signal"
    );
    assert!(!work.join("after").exists());
    let states = s.states(None);
    assert_eq!(states[0], ("long".to_string(), "interrupted".to_string()));

    std::fs::write(
        &rb,
        LONG.replace("TRAP", "true").replace("sleep 60", "sleep 0"),
    )
    .unwrap();
    let resumed = s.resume(&[]);
    assert_eq!(resumed.code, 0, "{}", resumed.all());
    assert!(work.join("after").exists());
}

#[test]
fn a_second_signal_kills_at_once() {
    let s = Scratch::new();
    let rb = s.runbook("long.yaml", &LONG.replace("TRAP", "trap '' TERM INT"));
    let work = s.work();
    let child = s.spawn(&[
        "run",
        rb.to_str().unwrap(),
        "--workdir",
        work.to_str().unwrap(),
        "--log-format",
        "plain",
        "--grace",
        "60s",
    ]);
    wait_for(&work.join("started"));
    signal(child.id(), "-INT");
    std::thread::sleep(Duration::from_millis(300));
    let start = Instant::now();
    signal(child.id(), "-INT");
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130));
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the second signal does not wait for the grace period"
    );
    assert_eq!(s.states(None)[0].1, "interrupted");
}

#[test]
fn a_torn_last_journal_line_is_tolerated() {
    let s = Scratch::new();
    let rb = s.runbook("chain.yaml", CHAIN);
    let first = s.run(&rb, &[]);
    assert_eq!(first.code, 1, "{}", first.all());
    let id = run_id(&first.stdout);
    let journal = s.state().join("runs").join(&id).join("journal.jsonl");
    let mut text = std::fs::read(&journal).unwrap();
    text.extend_from_slice(br#"{"at":1,"event":"step_succ"#);
    std::fs::write(&journal, text).unwrap();
    assert_eq!(
        s.states(Some(&id))[0],
        ("a".to_string(), "succeeded".to_string())
    );
    std::fs::write(s.work().join("fixed"), "").unwrap();
    let resumed = s.resume(&[]);
    assert_eq!(resumed.code, 0, "{}", resumed.all());
    let states = s.states(Some(&id));
    assert!(!states.is_empty());
    assert!(states.iter().all(|(_, st)| st == "succeeded"), "{states:?}");
}
