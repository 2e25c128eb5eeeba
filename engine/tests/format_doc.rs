//! The step examples in docs/runbook-format.md are valid: all of them together form one runbook,
//! which the loader and the JSON Schema both accept.

#[test]
fn every_step_example_in_the_format_doc_validates() {
    let doc = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../docs/runbook-format.md"
    ))
    .unwrap();
    let mut steps = String::new();
    let mut examples = 0;
    for block in doc.split("```yaml\n").skip(1) {
        let body = block.split("```").next().unwrap();
        if body.starts_with("- id:") {
            examples += 1;
            for line in body.lines() {
                steps.push_str("  ");
                steps.push_str(line);
                steps.push('\n');
            }
        }
    }
    assert!(
        examples >= 10,
        "expected examples of every step kind, found {examples} blocks"
    );
    let runbook = format!(
        "apiVersion: meshbook/v1\nkind: Runbook\nmetadata: {{name: doc-examples}}\nparams:\n  CTX_CLUSTER1: {{type: context}}\n  CTX_CLUSTER2: {{type: context}}\n  ISTIO_DIR: {{type: path}}\n  MESH_ID: {{}}\n  REMOTE_GW_ADDR: {{type: ip}}\n  CLUSTER_NAME: {{}}\nsteps:\n{steps}"
    );
    // The JSON Schema editors use accepts them too, by an independent validator.
    let schema = meshbook_engine::schema::runbook_schema();
    let validator = jsonschema::validator_for(&schema).expect("the schema is a JSON Schema");
    let instance: serde_json::Value = serde_yaml::from_str(&runbook).unwrap();
    let problems: Vec<String> = validator
        .iter_errors(&instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let validated = meshbook_engine::read_runbook(&runbook).unwrap_or_else(|diags| {
        panic!(
            "{}",
            meshbook_engine::diag::render("runbook-format.md examples", &runbook, &diags)
        )
    });
    let kinds: std::collections::BTreeSet<&str> = validated
        .runbook
        .steps
        .iter()
        .map(|s| s.action.kind())
        .collect();
    assert_eq!(
        kinds.len(),
        meshbook_engine::model::KIND_KEYS.len(),
        "kinds covered: {kinds:?}"
    );
}
