//! Rendered diagnostics and plans, snapshot-tested so their wording and layout are reviewed.

use meshbook_engine::values::Values;
use meshbook_engine::{diag, plan, read_runbook};

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

#[test]
fn a_cycle_a_typo_in_needs_and_an_unknown_field_are_reported_together() {
    let text = fixture("three-mistakes.yaml");
    let diags = read_runbook(&text).unwrap_err();
    insta::assert_snapshot!(diag::render("three-mistakes.yaml", &text, &diags));
}

#[test]
fn bad_version_ranges_are_reported_at_their_column() {
    let text = "apiVersion: meshbook/v1\nkind: Runbook\nmetadata: {name: r}\nrequires:\n  kubernetes: \">=1.9, <1.1x6\"\n  helm: 2.10\n  istioctl: [1]\nsteps: []\n";
    let diags = read_runbook(text).unwrap_err();
    insta::assert_snapshot!(diag::render("r.yaml", text, &diags));
}

#[test]
fn a_plan_orders_steps_by_data_and_shows_placeholders() {
    let text = fixture("addr-flow.yaml");
    let validated = read_runbook(&text).unwrap();
    let mut params = Values::new();
    params.insert("CTX", "gke_proj_zone_c1", false);
    params.insert("TOKEN", "hunter2", true);
    let plan = plan::plan(&validated, &params);
    let ids: Vec<&str> = plan.steps.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["gw-addr", "secret", "use-addr"]);
    let text = plan.to_text();
    assert!(
        !text.contains("hunter2"),
        "a secret param leaked into the plan"
    );
    insta::assert_snapshot!(text);
    insta::assert_json_snapshot!(plan);
}

#[test]
fn graphs_render_as_dot_and_mermaid() {
    let validated = read_runbook(&fixture("addr-flow.yaml")).unwrap();
    insta::assert_snapshot!(plan::graph_text(&validated, plan::GraphFormat::Dot));
    insta::assert_snapshot!(plan::graph_text(&validated, plan::GraphFormat::Mermaid));
}

#[test]
fn a_plan_shows_wait_templates_and_says_which_timeout_bounds_what() {
    let text = r#"apiVersion: meshbook/v1
kind: Runbook
metadata: {name: waits}
params:
  CTX: {type: context}
defaults: {timeout: 15m}
steps:
  - id: revision
    kube.get: {context: "{{CTX}}", resource: deployments, namespace: istio-system, name: istiod, jsonpath: "{.metadata.labels.rev}"}
    outputs: {REVISION: {}}
  - id: same-revision
    kube.get: {context: "{{CTX}}", resource: deployments, namespace: istio-system, name: istiod-2, jsonpath: "{.metadata.labels.rev}"}
    outputs: {OTHER: {}}
    wait: {until: {equals: "{{REVISION}}"}, timeout: 1m}
  - id: long-watch
    kube.wait: {context: "{{CTX}}", resource: deployments, namespace: istio-system, name: istiod, timeout: 20m}
  - id: short-watch
    kube.wait: {context: "{{CTX}}", resource: deployments, namespace: istio-system, name: istiod}
    timeout: 10m
"#;
    let validated = read_runbook(text).unwrap();
    let mut params = Values::new();
    params.insert("CTX", "c1", false);
    let plan = plan::plan(&validated, &params).to_text();
    for line in [
        "↻ wait until equals \"⟨REVISION from revision⟩\", every 2s: gives up 1m after the first attempt starts, each attempt within the step's timeout 15m",
        "↻ timeout 15m per attempt: it ends kube.wait before its timeout 20m",
        "↻ kube.wait gives up after 5m (its default timeout; the step's timeout 10m per attempt is longer)",
        "↻ timeout 15m per attempt\n",
    ] {
        assert!(plan.contains(line), "missing {line:?} in:\n{plan}");
    }
    assert!(!plan.contains("{{REVISION}}"), "{plan}");
}
