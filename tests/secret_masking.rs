//! A secret that a step's error or wait message would quote is masked in output and state.

mod runkit;

use runkit::Scratch;

const RUNBOOK: &str = r#"apiVersion: meshbook/v1
kind: Runbook
metadata: {name: masking}
params:
  TOKEN: {secret: true, default: s3cr3t-token-value}
steps:
  - id: compare
    shell: echo "got $TOKEN" >&2; echo nope
    outputs: {X: {}}
    wait: {until: {equals: "{{TOKEN}}"}, timeout: 1s, interval: 200ms}
"#;

#[test]
fn wait_messages_and_step_logs_never_show_a_secret() {
    let s = Scratch::new();
    let rb = s.runbook("masking.yaml", RUNBOOK);
    let done = s.run(&rb, &["-v"]);
    assert_eq!(done.code, 1, "{}", done.all());
    assert!(done.all().contains("still waiting"), "{}", done.all());
    assert!(!done.all().contains("s3cr3t-token-value"), "{}", done.all());
    assert!(
        !s.state_bytes().contains("s3cr3t-token-value"),
        "a secret reached the state dir"
    );
    let status = s.meshbook(&["status"]);
    assert!(
        !status.all().contains("s3cr3t-token-value"),
        "{}",
        status.all()
    );
}

/// A producer of a secret output that also prints it on stderr, succeeding and failing.
const STDERR_RUNBOOK: &str = r#"apiVersion: meshbook/v1
kind: Runbook
metadata: {name: stderr-masking}
steps:
  - id: ok
    shell: |
      echo "TOK=tok-s3cr3t-ok" >> "$MESHBOOK_OUTPUT"
      echo "minted tok-s3cr3t-ok" >&2
    outputs: {TOK: {secret: true}}
  - id: bad
    shell: |
      echo "BAD=tok-s3cr3t-bad" >> "$MESHBOOK_OUTPUT"
      echo "minted tok-s3cr3t-bad, then failed" >&2
      exit 3
    outputs: {BAD: {secret: true}}
"#;

#[test]
fn secret_outputs_are_masked_on_stderr_live_and_in_the_log() {
    let s = Scratch::new();
    let rb = s.runbook("stderr.yaml", STDERR_RUNBOOK);
    let done = s.run(&rb, &["-v"]);
    assert_eq!(done.code, 1, "{}", done.all());
    assert!(!done.all().contains("tok-s3cr3t"), "{}", done.all());
    assert!(
        done.all().contains("minted ***"),
        "-v shows the masked line: {}",
        done.all()
    );
    let id = runkit::run_id(&done.stdout);
    for (step, line) in [("ok", "minted ***"), ("bad", "minted ***, then failed")] {
        let log =
            std::fs::read_to_string(s.state().join(format!("runs/{id}/logs/{step}.log"))).unwrap();
        assert!(log.contains(line), "{step}: {log}");
    }
    assert!(
        !s.state_bytes().contains("tok-s3cr3t"),
        "a secret reached the state dir"
    );
}
