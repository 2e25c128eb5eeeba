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
