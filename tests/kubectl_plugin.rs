//! The binary as a kubectl plugin: linked as `kubectl-meshbook` it is `kubectl meshbook ...`,
//! takes kubectl's `--context` and `--kubeconfig`, and linked as `kubectl_complete-meshbook` it
//! answers kubectl's completion requests for the plugin.

mod runkit;

use std::process::Command;

use runkit::{Done, Scratch};

/// `PROGRAM ARGS` in the scratch dir, with a folder first on `PATH` that holds the binary
/// linked under both plugin names.
fn call(s: &Scratch, program: &str, args: &[&str]) -> Done {
    let bin = s.path().join("bin");
    if !bin.exists() {
        std::fs::create_dir_all(&bin).unwrap();
        for name in ["kubectl-meshbook", "kubectl_complete-meshbook"] {
            std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_meshbook"), bin.join(name)).unwrap();
        }
    }
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut c = Command::new(program);
    c.args(args)
        .current_dir(s.path())
        .env("PATH", path)
        .env("MESHBOOK_STATE_DIR", s.state())
        .env("MESHBOOK_KEY_FILE", s.path().join("key"))
        .env("KUBECONFIG", s.path().join("kubeconfig"));
    runkit::finish(c, None)
}

const ONE_CONTEXT: &str = "apiVersion: meshbook/v1
kind: Runbook
metadata: {name: one}
params:
  CTX: {type: context}
steps:
  - id: note
    shell: echo \"$CTX\" > context.txt
";

const TWO_CONTEXTS: &str = "apiVersion: meshbook/v1
kind: Runbook
metadata: {name: two}
params:
  CTX_1: {type: context}
  CTX_2: {type: context}
steps:
  - id: note
    shell: echo \"$CTX_1 $CTX_2\"
";

const KUBECONFIG: &str = "apiVersion: v1
kind: Config
contexts:
- {name: east, context: {cluster: e, user: u}}
- {name: west, context: {cluster: w, user: u}}
";

#[test]
fn kubectl_meshbook_is_meshbook() {
    let s = Scratch::new();
    let help = call(&s, "kubectl-meshbook", &["--help"]);
    assert_eq!(help.code, 0, "{}", help.all());
    assert!(
        help.stdout.contains("Usage: kubectl meshbook"),
        "{}",
        help.all()
    );

    // Through kubectl itself, which finds the plugin on PATH.
    let listed = call(&s, "kubectl", &["meshbook", "list", "-o", "json"]);
    assert_eq!(listed.code, 0, "{}", listed.all());
    let listed: serde_json::Value = serde_json::from_str(&listed.stdout).unwrap();
    assert!(
        listed["runbooks"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "split-horizon")
    );

    s.runbook("one.yaml", ONE_CONTEXT);
    let work = s.work();
    let ran = call(
        &s,
        "kubectl",
        &[
            "meshbook",
            "run",
            "one.yaml",
            "--context",
            "east",
            // The runbook's steps reach no cluster, and the test has no kubeconfig.
            "--ignore-requirements",
            "--workdir",
            work.to_str().unwrap(),
            "--log-format",
            "plain",
        ],
    );
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert_eq!(s.lines("context.txt"), ["east"]);
}

#[test]
fn context_names_the_one_context_param() {
    let s = Scratch::new();
    s.runbook("one.yaml", ONE_CONTEXT);
    s.runbook("two.yaml", TWO_CONTEXTS);
    let plan = |args: &[&str]| {
        let done = call(&s, "kubectl-meshbook", args);
        assert_eq!(done.code, 0, "{}", done.all());
        done.stdout
    };
    assert!(plan(&["plan", "one.yaml", "--context", "east"]).contains("east"));
    // `-p` names a param exactly, and wins.
    let both = plan(&["plan", "one.yaml", "--context", "east", "-p", "CTX=west"]);
    assert!(both.contains("west") && !both.contains("east"), "{both}");

    let many = call(
        &s,
        "kubectl-meshbook",
        &["plan", "two.yaml", "--context", "east"],
    );
    assert_eq!(many.code, 2, "{}", many.all());
    assert!(many.stderr.contains("`CTX_1`, `CTX_2`"), "{}", many.all());
    let none = call(
        &s,
        "kubectl-meshbook",
        &["validate", "split-horizon", "--context", "east"],
    );
    assert_eq!(
        none.code,
        2,
        "split-horizon has two context params: {}",
        none.all()
    );
}

#[test]
fn kubectl_completes_the_plugin() {
    let s = Scratch::new();
    std::fs::write(s.path().join("kubeconfig"), KUBECONFIG).unwrap();
    s.runbook("one.yaml", ONE_CONTEXT);
    let done = call(&s, "kubectl", &["__complete", "meshbook", "sh"]);
    assert_eq!(done.code, 0, "{}", done.all());
    assert!(
        done.stdout.lines().any(|l| l.starts_with("show\t")),
        "{}",
        done.all()
    );
    assert!(done.stdout.lines().any(|l| l == ":4"), "{}", done.all());

    let contexts = call(
        &s,
        "kubectl_complete-meshbook",
        &["plan", "one.yaml", "--context", ""],
    );
    let values: Vec<&str> = contexts.stdout.lines().collect();
    assert_eq!(values, ["east", "west", ":4"], "{}", contexts.all());
    let params = call(
        &s,
        "kubectl_complete-meshbook",
        &["run", "one.yaml", "-p", "CTX=w"],
    );
    assert_eq!(
        params.stdout.lines().collect::<Vec<_>>(),
        ["CTX=west", ":4"]
    );
}
