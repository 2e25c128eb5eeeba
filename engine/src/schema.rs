//! The JSON Schema of the runbook format, generated from the model, for editors.

/// The schema of `meshbook/v1` runbooks as a JSON value.
pub fn runbook_schema() -> serde_json::Value {
    let mut schema = schemars::schema_for!(crate::model::Runbook);
    schema.insert(
        "$id".into(),
        "https://meshbook.dev/schema/runbook-v1.json".into(),
    );
    schema.insert("title".into(), "meshbook runbook (meshbook/v1)".into());
    schema.to_value()
}
