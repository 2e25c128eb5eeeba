//! A shell step that leaves a process behind (`cmd &` holding its stdout) ends when its own
//! process does: the leftover is killed and reported, and neither the other steps, the step's
//! timeout nor a signal wait for it.

mod runkit;

use std::process::Command;
use std::time::{Duration, Instant};

use runkit::Scratch;

/// The scenario of issue 9: a step leaving `sleep 20` behind, with a timeout, beside an
/// independent 5-second step.
const RUNBOOK: &str = r#"apiVersion: meshbook/v1
kind: Runbook
metadata: {name: leftovers}
steps:
  - id: bg
    shell: sleep 20 & echo $! > bg.pid; echo X=1 >> "$MESHBOOK_OUTPUT"
    timeout: 3s
    outputs: {X: {}}
  - id: other
    shell: sleep 5
"#;

#[test]
fn a_background_process_neither_stalls_the_run_nor_outlives_its_step() {
    let s = Scratch::new();
    let rb = s.runbook("leftovers.yaml", RUNBOOK);
    let start = Instant::now();
    let done = s.run(&rb, &["-v"]);
    let took = start.elapsed();
    assert_eq!(done.code, 0, "{}", done.all());
    assert!(
        took < Duration::from_secs(14),
        "the run waited for the background process: {took:?}\n{}",
        done.all()
    );
    assert!(
        done.all().contains("left 1 process running: killed"),
        "-v shows the leftover: {}",
        done.all()
    );
    let id = runkit::run_id(&done.stdout);
    let log = std::fs::read_to_string(s.state().join(format!("runs/{id}/logs/bg.log"))).unwrap();
    assert!(log.contains("left 1 process running: killed"), "{log}");
    let pid = s.lines("bg.pid").concat();
    assert!(!pid.is_empty());
    assert!(
        runkit::has_ended(&pid),
        "the leftover `sleep 20` ({pid}) was killed"
    );
    // Without -v too, the step's line says so (as nextest flags a leaky test), and the journal
    // keeps it.
    let again = Scratch::new();
    let rb = again.runbook("leftovers.yaml", RUNBOOK);
    let quiet = again.run(&rb, &[]);
    assert_eq!(quiet.code, 0, "{}", quiet.all());
    let line = quiet
        .stdout
        .lines()
        .find(|l| l.starts_with("done   bg "))
        .unwrap_or_default();
    assert!(
        line.contains("[left 1 process running: killed]"),
        "{}",
        quiet.all()
    );
    let id = runkit::run_id(&quiet.stdout);
    let journal =
        std::fs::read_to_string(again.state().join(format!("runs/{id}/journal.jsonl"))).unwrap();
    assert!(journal.contains(r#""left_running":1"#), "{journal}");
}

#[test]
fn a_signal_stops_the_run_while_a_step_left_a_process_behind() {
    let s = Scratch::new();
    let rb = s.runbook("leftovers.yaml", RUNBOOK);
    let mut child = s.spawn_run(&rb);
    // Once `bg` has finished, `other` still has seconds to go.
    s.await_file("bg.pid");
    std::thread::sleep(Duration::from_millis(1000));
    let sent = Instant::now();
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let status = runkit::wait(&mut child, Duration::from_secs(60)).expect("meshbook ended");
    assert!(
        sent.elapsed() < Duration::from_secs(3),
        "SIGINT took {:?} to stop the run",
        sent.elapsed()
    );
    assert_eq!(status.code(), Some(130));
}

/// Daemons leave the step's process group (`setsid`, as `ssh-agent` does), yet carry its mark
/// in their environment: they are killed and counted too.
const DAEMONS: &str = r#"apiVersion: meshbook/v1
kind: Runbook
metadata: {name: daemons}
steps:
  - id: setsid
    shell: |
      setsid -f sh -c 'echo $$ > daemon.pid; exec sleep 30'
      for i in $(seq 1 50); do [ -s daemon.pid ] && break; sleep 0.1; done
  - id: agent
    shell: |
      if command -v ssh-agent >/dev/null; then eval "$(ssh-agent -s)"; else setsid -f sleep 30; SSH_AGENT_PID=none; fi
      echo "$SSH_AGENT_PID" > agent.pid
"#;

#[test]
fn daemons_a_step_started_do_not_outlive_it() {
    let s = Scratch::new();
    let rb = s.runbook("daemons.yaml", DAEMONS);
    let done = s.run(&rb, &["-v"]);
    assert_eq!(done.code, 0, "{}", done.all());
    let id = runkit::run_id(&done.stdout);
    for (step, file) in [("setsid", "daemon.pid"), ("agent", "agent.pid")] {
        let log =
            std::fs::read_to_string(s.state().join(format!("runs/{id}/logs/{step}.log"))).unwrap();
        assert!(
            log.contains("left 1 process running: killed"),
            "{step}: {log}"
        );
        let pid = s.lines(file).concat();
        if pid != "none" {
            assert!(
                !pid.is_empty() && runkit::has_ended(&pid),
                "{step}'s daemon ({pid}) was killed"
            );
        }
    }
}
