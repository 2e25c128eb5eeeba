//! The JSON Schema of the runbook format, generated from the model, for editors.

use serde_json::{Value, json};

/// The schema of `meshbook/v1` runbooks as a JSON value.
pub fn runbook_schema() -> Value {
    let mut schema = schemars::schema_for!(crate::model::Runbook);
    schema.insert(
        "$id".into(),
        "https://meshbook.dev/schema/runbook-v1.json".into(),
    );
    schema.insert("title".into(), "meshbook runbook (meshbook/v1)".into());
    let mut schema = schema.to_value();
    if let Some(defs) = schema.get_mut("$defs") {
        close_steps(defs);
        shell_as_text(defs);
    }
    schema
}

/// A step's kind is flattened into it, and a flattened schema cannot say "no other keys"
/// (`additionalProperties` sees only the step's own properties), so schemars leaves steps open.
/// `unevaluatedProperties` also counts the keys of the kind that matched, and so rejects an
/// unknown key as the loader does.
fn close_steps(defs: &mut Value) {
    if let Some(step) = defs.get_mut("Step").and_then(Value::as_object_mut) {
        step.insert("unevaluatedProperties".into(), false.into());
    }
}

/// `shell:` is a script as text (a YAML number or boolean is taken as text too) or
/// `{script | argv, env}` with exactly one of `script` and `argv`; the generated schema has only
/// the mapping, without the choice.
fn shell_as_text(defs: &mut Value) {
    let Some(mapping) = defs.get_mut("ShellSpec") else {
        return;
    };
    let description = mapping.get("description").cloned();
    let mut object = mapping.take();
    if let Some(o) = object.as_object_mut() {
        o.remove("description");
        o.insert(
            "oneOf".into(),
            json!([{ "required": ["script"] }, { "required": ["argv"] }]),
        );
    }
    *mapping = json!({
        "description": description,
        "anyOf": [{ "type": ["string", "number", "boolean"] }, object],
    });
}
