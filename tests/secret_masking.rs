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
