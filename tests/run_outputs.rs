//! Output passing between steps, typed outputs, secrets at rest, and cleanup runs.

mod runkit;

use runkit::Scratch;

#[test]
fn outputs_pass_between_steps_and_secrets_stay_sealed() {
    let s = Scratch::new();
    let rb = s.fixture("outputs.yaml");
    let done = s.run(&rb, &[]);
    assert_eq!(done.code, 0, "{}", done.all());
    assert_eq!(
        s.lines("result.txt"),
        ["hello world via 10.1.2.3:15443", "line one", "line two"]
    );
    assert_eq!(s.lines("templated.txt"), ["10.1.2.3"]);
    assert!(done.stdout.contains("SECRET=***"), "{}", done.all());

    let disk = s.state_bytes();
    assert!(disk.contains("10.1.2.3"), "plain outputs are recorded");
    assert!(
        !disk.contains("hunter2"),
        "a secret output is on disk in clear text"
    );
    assert!(
        !disk.contains("s3cr3t-param"),
        "a secret param is on disk in clear text"
    );
    let status = s.meshbook(&["status"]);
    assert!(
        status.stdout.contains("SECRET=***") && !status.stdout.contains("hunter2"),
        "{}",
        status.all()
    );
    assert!(status.stdout.contains("ADDR=10.1.2.3"));

    let mode = |p: &std::path::Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    };
    let run_dir = std::fs::read_dir(s.state().join("runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(mode(&run_dir.join("journal.jsonl")), 0o600);
    assert_eq!(mode(&run_dir.join("run.json")), 0o600);
    // `greet` printed its greeting; `produce` printed nothing, so it has no log.
    assert_eq!(mode(&run_dir.join("logs/greet.log")), 0o600);
    assert!(!run_dir.join("logs/produce.log").exists());
    assert_eq!(mode(&s.path().join("key")), 0o600);
}

#[test]
fn an_invalid_typed_output_fails_the_step_naming_the_value() {
    let s = Scratch::new();
    let rb = s.runbook(
        "typed.yaml",
        r#"apiVersion: meshbook/v1
kind: Runbook
metadata: {name: typed}
steps:
  - id: lb-address
    shell: echo "35.1.2"
    outputs:
      LB_ADDR: {type: ip}
  - id: use
    shell: echo "$LB_ADDR"
  - id: other
    shell: touch other-ran
"#,
    );
    let done = s.run(&rb, &[]);
    assert_eq!(done.code, 1, "{}", done.all());
    assert!(
        done.stderr
            .contains(r#"step `lb-address`: output `LB_ADDR` = "35.1.2" is not a valid ip"#),
        "{}",
        done.all()
    );
    assert!(
        done.stdout
            .contains("skip   use: `lb-address` did not succeed"),
        "{}",
        done.all()
    );
    assert!(
        s.work().join("other-ran").exists(),
        "independent branches still run"
    );
    assert!(done.stderr.contains("meshbook resume"), "{}", done.all());
}

#[test]
fn a_secret_output_that_fails_its_type_is_not_shown() {
    let s = Scratch::new();
    let rb = s.runbook(
        "secret.yaml",
        r#"apiVersion: meshbook/v1
kind: Runbook
metadata: {name: secret}
steps:
  - id: token
    shell: echo "tok-hunter2"
    outputs:
      TOKEN: {type: base64, secret: true}
"#,
    );
    let done = s.run(&rb, &[]);
    assert_eq!(done.code, 1, "{}", done.all());
    assert!(
        done.stderr.contains("output `TOKEN` is not a valid base64"),
        "{}",
        done.all()
    );
    assert!(!done.all().contains("hunter2"));
    assert!(!s.state_bytes().contains("hunter2"));
}

#[test]
fn invalid_input_exits_2() {
    let s = Scratch::new();
    let rb = s.runbook("bad.yaml", "apiVersion: meshbook/v1\nkind: Runbook\nmetadata: {name: x}\nsteps:\n  - id: a\n    shell: x\n    needs: [nope]\n");
    assert_eq!(s.run(&rb, &[]).code, 2);
    assert_eq!(s.resume(&[]).code, 2, "nothing to resume");
}

#[test]
fn cleanup_runs_finally_steps_with_the_runs_outputs() {
    let s = Scratch::new();
    let rb = s.runbook(
        "cleanup.yaml",
        r#"apiVersion: meshbook/v1
kind: Runbook
metadata: {name: with-cleanup}
params:
  NS: {default: demo}
steps:
  - id: create
    shell: echo "created-$NS"
    outputs:
      THING: {type: string}
finally:
  - id: delete
    shell: echo "deleted $THING in $NS" >> cleanup.log
"#,
    );
    let done = s.run(&rb, &[]);
    assert_eq!(done.code, 0, "{}", done.all());
    assert!(
        !s.work().join("cleanup.log").exists(),
        "finally steps do not run by themselves"
    );
    let done = s.meshbook(&["cleanup", "--log-format", "plain"]);
    assert_eq!(done.code, 0, "{}", done.all());
    assert_eq!(s.lines("cleanup.log"), ["deleted created-demo in demo"]);
    let runs = s.meshbook(&["runs"]);
    assert!(runs.stdout.contains("cleanup of"), "{}", runs.all());
}

#[test]
fn json_log_format_emits_one_event_per_line() {
    let s = Scratch::new();
    let rb = s.fixture("outputs.yaml");
    let work = s.work();
    let out = s.meshbook(&[
        "run",
        rb.to_str().unwrap(),
        "--workdir",
        work.to_str().unwrap(),
        "--log-format",
        "json",
    ]);
    assert_eq!(out.code, 0, "{}", out.all());
    let events: Vec<serde_json::Value> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"run_started"));
    assert_eq!(kinds.last(), Some(&"run_finished"));
    assert_eq!(kinds.iter().filter(|k| **k == "step_succeeded").count(), 3);
    let produce = events
        .iter()
        .find(|e| e["event"] == "step_succeeded" && e["step"] == "produce")
        .unwrap();
    assert_eq!(produce["outputs"]["ADDR"]["plain"], "10.1.2.3");
    assert!(produce["outputs"]["SECRET"]["sealed"].is_string());
    assert!(!out.stdout.contains("hunter2"));
}
