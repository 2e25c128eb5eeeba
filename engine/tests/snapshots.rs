//! Rendered diagnostics and plans, snapshot-tested so their wording and layout are reviewed.

use meshbook_engine::params::ParamValues;
use meshbook_engine::{check, diag, plan};

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
    let diags = check(&text).unwrap_err();
    insta::assert_snapshot!(diag::render("three-mistakes.yaml", &text, &diags));
}

#[test]
fn a_plan_orders_steps_by_data_and_shows_placeholders() {
    let text = fixture("addr-flow.yaml");
    let validated = check(&text).unwrap();
    let mut params = ParamValues::new();
    params.insert("CTX".into(), "gke_proj_zone_c1".into());
    params.insert("TOKEN".into(), "hunter2".into());
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
    let validated = check(&fixture("addr-flow.yaml")).unwrap();
    insta::assert_snapshot!(plan::graph_text(&validated, plan::GraphFormat::Dot));
    insta::assert_snapshot!(plan::graph_text(&validated, plan::GraphFormat::Mermaid));
}
