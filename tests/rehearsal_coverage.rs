//! A rehearsal's coverage: each step's success records how it ran (real tools, doubles by name,
//! skipped with the stand-in's reason), so the live output, the closing report, `status` and
//! `runs` say it, also after the rehearsal was killed (-9) and resumed.

mod runkit;

use std::time::{Duration, Instant};

use runkit::Scratch;
use serde_json::{Value, json};

/// A kube step, a shell step calling istioctl's double, one with real tools only, a gate that
/// holds the run until the test lets it go, and a traffic check the rehearsal skips.
const RUNBOOK: &str = r#"apiVersion: meshbook/v1
kind: Runbook
metadata: {name: coverage}
params:
  CTX: {type: context, default: c1}
steps:
  - id: namespace
    kube.apply:
      context: "{{CTX}}"
      manifest: |
        apiVersion: v1
        kind: Namespace
        metadata: {name: demo}
  - id: istioctl-version
    shell: istioctl version --remote=false
  - id: echo
    shell: echo hello
  - id: gate
    needs: [istioctl-version, echo, namespace]
    # Bounded: an orphan of a killed run ends by itself.
    shell: for i in $(seq 600); do [ -f go ] && exit 0; sleep 0.1; done; exit 1
  - id: traffic
    needs: [gate]
    shell: curl -s http://10.0.0.1/ && echo "ANSWER=yes" >> "$MESHBOOK_OUTPUT"
    outputs:
      ANSWER: {}
    sandbox: {skip: needs real traffic, outputs: {ANSWER: stand-in}}
"#;

fn step<'a>(status: &'a Value, id: &str) -> &'a Value {
    status["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step {id} in {status}"))
}

#[test]
fn a_rehearsal_reports_how_each_step_ran_and_keeps_it_across_a_kill_and_resume() {
    let s = Scratch::new();
    let runbook = s.runbook("coverage.yaml", RUNBOOK);
    let work = s.work();
    let mut child = s.spawn(&[
        "run",
        runbook.to_str().unwrap(),
        "--sandbox",
        "--workdir",
        work.to_str().unwrap(),
        "--log-format",
        "plain",
    ]);
    // Kill -9 once istioctl's double has run (the gate holds the rest).
    let deadline = Instant::now() + Duration::from_secs(120);
    let doubled = loop {
        std::thread::sleep(Duration::from_millis(100));
        let status = s.meshbook(&["status", "-o", "json"]);
        if status.code == 0 {
            let status: Value = serde_json::from_str(&status.stdout).unwrap();
            if step(&status, "istioctl-version")["state"] == "succeeded" {
                break true;
            }
        }
        if Instant::now() > deadline {
            break false;
        }
    };
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(doubled, "the rehearsal did not get to istioctl");

    let killed = s.status(None);
    assert_eq!(
        step(&killed, "istioctl-version")["rehearsed"],
        json!({"how": "double", "doubles": ["istioctl"]}),
        "{killed}"
    );

    std::fs::write(work.join("go"), "").unwrap();
    let resumed = s.resume(&[]);
    assert_eq!(resumed.code, 0, "{}", resumed.all());
    // Live output: the skipped step says so, never `done`.
    assert!(
        resumed
            .stdout
            .contains("skipped traffic: needs real traffic; stand-in outputs: ANSWER=stand-in"),
        "{}",
        resumed.stdout
    );
    assert!(
        !resumed.stdout.contains("done   traffic"),
        "{}",
        resumed.stdout
    );
    // The closing report covers the steps of both invocations, from the journal.
    let summary =
        "coverage: 4 of 5 steps ran (1 with doubles); 1 skipped: traffic (needs real traffic)";
    assert!(resumed.stdout.contains(summary), "{}", resumed.stdout);
    assert!(
        resumed
            .stdout
            .contains("  istioctl-version → double: istioctl\n"),
        "{}",
        resumed.stdout
    );

    let status = s.status(None);
    assert_eq!(status["rehearsal"], true);
    assert_eq!(
        step(&status, "namespace")["rehearsed"],
        json!({"how": "real"})
    );
    assert_eq!(step(&status, "echo")["rehearsed"], json!({"how": "real"}));
    assert_eq!(
        step(&status, "istioctl-version")["rehearsed"],
        json!({"how": "double", "doubles": ["istioctl"]})
    );
    assert_eq!(
        step(&status, "traffic")["rehearsed"],
        json!({"how": "skipped", "reason": "needs real traffic"})
    );
    let coverage = &status["coverage"];
    assert_eq!(
        (
            &coverage["steps"],
            &coverage["ran"],
            &coverage["with_doubles"]
        ),
        (&json!(5), &json!(4), &json!(1)),
        "{coverage}"
    );
    assert_eq!(coverage["doubles"], json!(["istioctl"]));
    assert_eq!(
        coverage["skipped"],
        json!([{"step": "traffic", "reason": "needs real traffic"}])
    );

    let text = s.meshbook(&["status"]);
    assert!(text.stdout.contains("(rehearsal)"), "{}", text.stdout);
    let traffic = text
        .stdout
        .lines()
        .find(|l| l.starts_with("traffic "))
        .unwrap_or_default();
    assert!(traffic.contains(" skipped "), "{}", text.stdout);
    assert!(text.stdout.contains("double: istioctl"), "{}", text.stdout);
    assert!(text.stdout.contains(summary), "{}", text.stdout);

    let runs = s.meshbook(&["runs"]);
    let row = runs.stdout.lines().nth(1).unwrap_or_default();
    assert!(row.trim_end().ends_with("  rehearsal"), "{}", runs.stdout);
    let runs: Value = serde_json::from_str(&s.meshbook(&["runs", "-o", "json"]).stdout).unwrap();
    assert_eq!(runs["runs"][0]["rehearsal"], true);
}
