//! `-o json` of every command whose result a script reads: one stable shape each
//! (docs/output.md), held by a snapshot. Each output must also be JSON alone on stdout.

mod runkit;

use runkit::Scratch;
use serde_json::Value;

/// A small runbook with params (one secret), outputs, a stand-in, a data edge and `finally`.
const RUNBOOK: &str = r#"apiVersion: meshbook/v1
kind: Runbook
metadata:
  name: tiny
  title: A tiny runbook
  source: the output tests
params:
  CTX: {type: context, description: the cluster}
  GREETING: {default: hello}
  TOKEN: {default: s3cr3t, secret: true}
steps:
  - id: make
    shell: echo "ADDR=127.0.0.9" >> "$MESHBOOK_OUTPUT"
    outputs:
      ADDR: {type: ip}
    sandbox:
      skip: no network here
      outputs: {ADDR: 127.0.0.9}
  - id: greet
    title: Say hello
    shell: echo "$GREETING $ADDR $TOKEN" > greeting.txt
  - id: after
    shell: "true"
    needs: [greet]
finally:
  - id: tidy
    shell: rm -f greeting.txt
"#;

/// A runbook with two problems, one with a suggestion.
const BROKEN: &str = "apiVersion: meshbook/v1
kind: Runbook
metadata: {name: broken}
steps:
  - id: a
    shell: echo $UNDEFINED
  - id: b
    nedds: [a]
    shell: 'true'
";

/// `meshbook ARGS` in the scratch dir, which must succeed with JSON on stdout.
fn json(s: &Scratch, args: &[&str]) -> Value {
    let done = s.meshbook(args);
    assert_eq!(done.code, 0, "{}", done.all());
    serde_json::from_str(&done.stdout).unwrap_or_else(|e| panic!("{e}: {}", done.all()))
}

#[test]
fn list() {
    let s = Scratch::new();
    let local = s.path().join("runbooks/tiny");
    std::fs::create_dir_all(&local).unwrap();
    std::fs::write(local.join("runbook.yaml"), RUNBOOK).unwrap();
    let broken = s.path().join("runbooks/unreadable");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(broken.join("runbook.yaml"), "steps: [unclosed\n").unwrap();
    let mut listed = json(&s, &["list", "-o", "json"]);
    let runbooks = listed["runbooks"].as_array_mut().unwrap();
    // Built-in runbooks come first; the snapshot holds the shape through the local one, so
    // that a change to a built-in runbook's title does not touch it.
    assert!(runbooks.len() >= 5, "{runbooks:?}");
    assert!(
        runbooks
            .iter()
            .any(|r| r["name"] == "split-horizon" && r["location"] == "built-in")
    );
    runbooks.retain(|r| r["location"] != "built-in");
    insta::assert_json_snapshot!("list", listed);
}

#[test]
fn show() {
    let s = Scratch::new();
    s.runbook("tiny.yaml", RUNBOOK);
    let shown = json(&s, &["show", "tiny.yaml", "-o", "json"]);
    assert!(
        !shown.to_string().contains("s3cr3t"),
        "a secret default is shown"
    );
    insta::assert_json_snapshot!("show", shown);
}

#[test]
fn graph() {
    let s = Scratch::new();
    s.runbook("tiny.yaml", RUNBOOK);
    insta::assert_json_snapshot!("graph", json(&s, &["graph", "tiny.yaml", "-o", "json"]));
}

#[test]
fn validate_valid_and_invalid() {
    let s = Scratch::new();
    s.runbook("tiny.yaml", RUNBOOK);
    insta::assert_json_snapshot!(
        "validate-valid",
        json(&s, &["validate", "tiny.yaml", "-o", "json"])
    );

    s.runbook("broken.yaml", BROKEN);
    let done = s.meshbook(&["validate", "broken.yaml", "-o", "json"]);
    assert_eq!(done.code, 2, "{}", done.all());
    let found: Value = serde_json::from_str(&done.stdout).unwrap();
    insta::assert_json_snapshot!("validate-invalid", found);

    // A problem with no place in a file (no such runbook, a flag) still comes as a diagnostic,
    // with nulls.
    for (args, names) in [
        (
            &["validate", "no-such-runbook", "-o", "json"][..],
            "no-such-runbook",
        ),
        (
            &["validate", "tiny.yaml", "-p", "NOPE=1", "-o", "json"][..],
            "NOPE",
        ),
    ] {
        let done = s.meshbook(args);
        assert_eq!(done.code, 2, "{}", done.all());
        let found: Value = serde_json::from_str(&done.stdout).unwrap();
        assert_eq!(found["valid"], false);
        let first = &found["diagnostics"][0];
        for key in ["file", "line", "column"] {
            assert_eq!(first[key], Value::Null, "{key}: {}", done.stdout);
        }
        assert!(
            first["message"].as_str().unwrap().contains(names),
            "{}",
            done.stdout
        );
    }
}

#[test]
fn runs() {
    let s = Scratch::new();
    assert_eq!(
        json(&s, &["runs", "-o", "json"]),
        serde_json::json!({"runs": []})
    );
    let rb = s.runbook("tiny.yaml", RUNBOOK);
    // Its steps reach no cluster: no kubeconfig is needed.
    let done = s.run(&rb, &["-p", "CTX=c1", "--ignore-requirements"]);
    assert_eq!(done.code, 0, "{}", done.all());
    let mut listed = json(&s, &["runs", "-o", "json"]);
    let run = &mut listed["runs"][0];
    let id = run["id"].as_str().unwrap().to_string();
    assert_eq!(id, runkit::run_id(&done.stdout));
    assert!(run["created_at"].as_u64().unwrap() > 0);
    assert_eq!(run["workdir"].as_str().unwrap(), s.work().to_str().unwrap());
    for (key, stands_for) in [
        ("id", "[id]"),
        ("created_at", "[ms]"),
        ("workdir", "[work]"),
    ] {
        run[key] = stands_for.into();
    }
    insta::assert_json_snapshot!("runs", listed);
}

#[test]
fn status_of_a_rehearsal() {
    let s = Scratch::new();
    let rb = s.runbook("tiny.yaml", RUNBOOK);
    let done = s.run(&rb, &["--sandbox", "-p", "CTX=c1"]);
    assert_eq!(done.code, 0, "{}", done.all());
    let mut status = json(&s, &["status", "-o", "json"]);
    assert_eq!(
        status["run"].as_str().unwrap(),
        runkit::run_id(&done.stdout)
    );
    status["run"] = "[id]".into();
    status["workdir"] = "[work]".into();
    for step in status["steps"].as_array_mut().unwrap() {
        assert!(step["duration_ms"].is_u64(), "{step}");
        step["duration_ms"] = "[ms]".into();
        step["fingerprint"] = "[fingerprint]".into();
    }
    insta::assert_json_snapshot!("status-rehearsal", status);
}

#[test]
fn inspect() {
    let s = Scratch::new();
    let object = r#"{"kind": "Service", "metadata": {"name": "gw"},
      "status": {"loadBalancer": {"ingress": [{"ip": "127.0.0.10"}, {"ip": "127.0.0.11"}]}}}"#;
    std::fs::write(s.path().join("svc.json"), object).unwrap();
    let path = json(
        &s,
        &[
            "inspect",
            "jsonpath",
            "ips: {.status.loadBalancer.ingress[*].ip}",
            "-f",
            "svc.json",
            "-o",
            "json",
        ],
    );
    insta::assert_json_snapshot!("inspect-jsonpath", path);
    let ready = json(
        &s,
        &["inspect", "readiness", "-f", "svc.json", "-o", "json"],
    );
    insta::assert_json_snapshot!("inspect-readiness", ready);
}
