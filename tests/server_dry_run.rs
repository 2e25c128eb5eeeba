//! `meshbook plan --server-dry-run`: clusters validate the writing kube steps whose inputs are
//! known, a rejection fails the plan, and nothing is changed.

mod runkit;

use runkit::Scratch;

const RUNBOOK: &str = r#"apiVersion: meshbook/v1
kind: Runbook
metadata: {name: dry}
params:
  CTX: {type: context, default: east}
steps:
  - id: ns
    kube.apply:
      context: "{{CTX}}"
      manifest: |
        apiVersion: v1
        kind: Namespace
        metadata: {name: sample}
  - id: ip
    kube.get: {context: "{{CTX}}", resource: svc, namespace: default, name: kubernetes, jsonpath: "{.spec.clusterIP}"}
    outputs: {IP: {type: ip}}
  - id: label
    kube.label: {context: "{{CTX}}", resource: configmap, namespace: default, name: "cm-{{IP}}", labels: [a=b]}
  - id: patch-missing
    kube.patch: {context: "{{CTX}}", resource: configmap, namespace: default, name: missing, patch: {data: {x: "1"}}}
"#;

#[test]
fn the_server_checks_known_steps_and_nothing_changes() {
    let s = Scratch::new();
    let rb = s.runbook("dry.yaml", RUNBOOK);
    let sandbox = s.sandbox_up("east", "sb", &[]);
    let out = s.meshbook(&[
        "plan",
        rb.to_str().unwrap(),
        "--server-dry-run",
        "--kubeconfig",
        "sb/kubeconfig",
        "-o",
        "json",
    ]);
    let ns = s.kubectl("sb", None, &["get", "namespace", "sample"]);
    s.sandbox_down("sb", sandbox);

    assert_eq!(out.code, 1, "a rejected step fails the plan: {}", out.all());
    assert!(
        out.stderr
            .contains("rejected by the cluster: patch-missing"),
        "{}",
        out.all()
    );
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let verdicts: Vec<(String, String)> = json["server_dry_run"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["step"].as_str().unwrap().to_string(),
                c["verdict"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let verdict = |id: &str| {
        verdicts
            .iter()
            .find(|(s, _)| s == id)
            .map(|(_, v)| v.as_str())
    };
    assert_eq!(verdict("ns"), Some("accepted"), "{verdicts:?}");
    assert_eq!(verdict("ip"), Some("not checked"));
    assert_eq!(
        verdict("label"),
        Some("not checked"),
        "its name needs an output"
    );
    assert_eq!(verdict("patch-missing"), Some("rejected"));
    assert_ne!(ns.code, 0, "the dry run created the namespace");
    assert!(
        ns.stderr.contains("\"sample\" not found"),
        "kubectl failed for another reason: {}",
        ns.all()
    );
}
