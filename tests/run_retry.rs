//! Retries and waits, end to end: attempts are counted, reasons recorded, backoff observed.

mod runkit;

use runkit::Scratch;

#[test]
fn a_flaky_step_is_retried_until_it_succeeds() {
    let s = Scratch::new();
    let rb = s.runbook(
        "retry.yaml",
        r#"apiVersion: meshbook/v1
kind: Runbook
metadata: {name: retry}
steps:
  - id: flaky
    shell: |
      echo x >> tries
      test "$(wc -l < tries)" -ge 3
    retry: {attempts: 4, backoff: {initial: 100ms, max: 200ms}}
  - id: after
    shell: touch after-ran
"#,
    );
    let done = s.run(&rb, &[]);
    assert_eq!(done.code, 0, "{}", done.all());
    assert_eq!(s.lines("tries").len(), 3);
    let retries: Vec<&str> = done
        .stdout
        .lines()
        .filter(|l| l.starts_with("retry  flaky"))
        .collect();
    assert_eq!(retries.len(), 2, "{}", done.all());
    assert!(
        retries[0].contains("attempt 1 failed: exited with status 1"),
        "{}",
        retries[0]
    );
    let status = s.status(None);
    let flaky = &status["steps"][0];
    assert_eq!(flaky["state"], "succeeded");
    assert_eq!(flaky["attempts"], 3);
}

#[test]
fn retries_run_out_and_the_step_fails() {
    let s = Scratch::new();
    let rb = s.runbook(
        "retry.yaml",
        r#"apiVersion: meshbook/v1
kind: Runbook
metadata: {name: retry}
defaults:
  retry: {attempts: 2, backoff: {initial: 50ms, max: 50ms}}
steps:
  - id: broken
    shell: echo x >> tries; exit 7
"#,
    );
    let done = s.run(&rb, &[]);
    assert_eq!(done.code, 1, "{}", done.all());
    assert_eq!(s.lines("tries").len(), 2);
    assert!(
        done.stdout
            .contains("FAILED broken after 2 attempts: exited with status 7"),
        "{}",
        done.all()
    );
}

#[test]
fn a_wait_repeats_the_step_until_the_value_exists() {
    let s = Scratch::new();
    let rb = s.runbook(
        "wait.yaml",
        r#"apiVersion: meshbook/v1
kind: Runbook
metadata: {name: wait}
steps:
  - id: gateway-address
    shell: |
      echo x >> polls
      if [ "$(wc -l < polls)" -ge 3 ]; then echo 35.1.2.3; fi
    wait: {until: nonempty, interval: 100ms, timeout: 10s}
    outputs:
      GW: {type: ip}
  - id: use
    shell: echo "$GW" > gw
"#,
    );
    let done = s.run(&rb, &[]);
    assert_eq!(done.code, 0, "{}", done.all());
    assert_eq!(s.lines("gw"), ["35.1.2.3"]);
    let waits = done
        .stdout
        .lines()
        .filter(|l| l.starts_with("wait   gateway-address: `GW` is empty"))
        .count();
    assert_eq!(waits, 2, "{}", done.all());
}

#[test]
fn a_timeout_kills_the_step() {
    let s = Scratch::new();
    let rb = s.runbook(
        "timeout.yaml",
        r#"apiVersion: meshbook/v1
kind: Runbook
metadata: {name: timeout}
steps:
  - id: slow
    shell: sleep 30
    timeout: 300ms
"#,
    );
    let done = s.run(&rb, &[]);
    assert_eq!(done.code, 1, "{}", done.all());
    assert!(
        done.stdout.contains("FAILED slow: timed out after 300ms"),
        "{}",
        done.all()
    );
}
