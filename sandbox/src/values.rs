//! Values checked against their schema, as the API server checks them.
//!
//! A built-in kind is decoded into Go structs: a value of the wrong JSON type fails decoding
//! with Go's first `json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas
//! of type int32` (the request is a 400). A custom resource is validated against its CRD's
//! structural schema (types, `enum`, `pattern`, bounds, lengths, item counts, `required`) and
//! every violation becomes a field error worded as the apiextensions server words kube-openapi's
//! results (`field.TypeInvalid`, `field.Required`, `field.NotSupported`, `field.TooLong`,
//! `field.TooMany`, `field.Invalid`); the request is a 422. CEL rules
//! (`x-kubernetes-validations`) are not evaluated.

use serde_json::{Value, json};

use crate::fields::Schema;
use crate::status::ApiError;

/// Types whose Go decoding accepts more than their schema's `type` says (custom unmarshalers).
const LENIENT: &[&str] = &[
    "Quantity",
    "IntOrString",
    "Time",
    "MicroTime",
    "RawExtension",
    "FieldsV1",
    "JSON",
    "JSONSchemaPropsOrBool",
    "JSONSchemaPropsOrArray",
    "JSONSchemaPropsOrStringArray",
];

/// The definition a schema refers to (`$ref`, or a one-element `allOf` of one).
fn reference(s: &Value) -> Option<&str> {
    let r = match (s.get("$ref"), s.get("allOf")) {
        (Some(Value::String(r)), _) => r,
        (None, Some(Value::Array(all))) if all.len() == 1 => all[0].get("$ref")?.as_str()?,
        _ => return None,
    };
    r.rsplit('/').next()
}

/// The Go type a schema decodes into: `v1.PodSpec`, `int32`, `map[string]string`, `[]v1.Container`.
fn go_type(s: &Value) -> String {
    if let Some(name) = reference(s) {
        let mut parts = name.rsplit('.');
        let ty = parts.next().unwrap_or(name);
        return match parts.next() {
            Some(pkg) => format!("{pkg}.{ty}"),
            None => ty.to_string(),
        };
    }
    match (s["type"].as_str(), s["format"].as_str()) {
        (Some("string"), Some("byte")) => "[]uint8".into(),
        (Some("string"), _) => "string".into(),
        (Some("integer"), Some("int32")) => "int32".into(),
        (Some("integer"), _) => "int64".into(),
        (Some("number"), _) => "float64".into(),
        (Some("boolean"), _) => "bool".into(),
        (Some("array"), _) => format!("[]{}", go_type(&s["items"])),
        (Some("object"), _) if s["additionalProperties"].is_object() => {
            format!("map[string]{}", go_type(&s["additionalProperties"]))
        }
        _ => "interface {}".into(),
    }
}

/// The JSON kind Go names in a decoding error.
fn go_kind(v: &Value) -> String {
    match v {
        Value::String(_) => "string".into(),
        Value::Number(n) if n.is_f64() => format!("number {n}"),
        Value::Number(_) => "number".into(),
        Value::Bool(_) => "bool".into(),
        Value::Array(_) => "array".into(),
        _ => "object".into(),
    }
}

/// The first value of `obj` that the built-in type described by `schema` cannot hold, as
/// Go's decoder reports it, in document order. `root` names the top-level struct
/// (`Deployment`).
pub fn decoding_error(schema: &Schema, root: &str, obj: &Value) -> Option<String> {
    go_check(schema, schema.root, obj, root, "")
}

fn go_check<'a>(
    schema: &Schema<'a>,
    s: &'a Value,
    v: &Value,
    owner: &str,
    path: &str,
) -> Option<String> {
    if v.is_null() {
        return None;
    }
    let name = reference(s);
    if name.is_some_and(|n| LENIENT.iter().any(|l| n.rsplit('.').next() == Some(l))) {
        return None;
    }
    let r = schema.resolve(s);
    let fits = match r["type"].as_str() {
        Some("string") => v.is_string(),
        Some("integer") => {
            let bound = if r["format"] == "int32" {
                i64::from(i32::MIN)..=i64::from(i32::MAX)
            } else {
                i64::MIN..=i64::MAX
            };
            v.as_i64().is_some_and(|i| bound.contains(&i)) || (v.is_u64() && r["format"] != "int32")
        }
        Some("number") => v.is_number(),
        Some("boolean") => v.is_boolean(),
        Some("array") => v.is_array(),
        Some("object") => v.is_object(),
        _ => true,
    };
    if !fits {
        return Some(format!(
            "json: cannot unmarshal {} into Go struct field {owner}.{path} of type {}",
            go_kind(v),
            go_type(s)
        ));
    }
    match v {
        Value::Array(items) => items
            .iter()
            .find_map(|x| go_check(schema, &r["items"], x, owner, path)),
        Value::Object(map) => {
            if let Some(props) = r["properties"].as_object() {
                // A struct: its fields are named after it.
                let owner = name.and_then(|n| n.rsplit('.').next()).unwrap_or(owner);
                map.iter().find_map(|(k, x)| {
                    let sub = if path.is_empty() {
                        k.clone()
                    } else {
                        format!("{path}.{k}")
                    };
                    go_check(schema, props.get(k)?, x, owner, &sub)
                })
            } else if r["additionalProperties"].is_object() {
                // A map: Go names the field holding it and the element type.
                map.values()
                    .find_map(|x| go_check(schema, &r["additionalProperties"], x, owner, path))
            } else {
                None
            }
        }
        _ => None,
    }
}

/// The values of a server-side apply configuration that its built-in type declares as numbers
/// but that are not, as structured-merge-diff reports them when it builds the typed patch:
/// `.spec.replicas: expected numeric (int or float), got string`, items of keyed lists named
/// by their keys (`.spec.template.spec.containers[name="c"].ports[containerPort=80,protocol="TCP"]`).
pub fn apply_type_errors(schema: &Schema, obj: &Value) -> Vec<String> {
    let mut out = Vec::new();
    typed_walk(schema, schema.root, obj, String::new(), &mut out);
    out
}

fn typed_walk<'a>(
    schema: &Schema<'a>,
    s: &'a Value,
    v: &Value,
    path: String,
    out: &mut Vec<String>,
) {
    if v.is_null()
        || reference(s).is_some_and(|n| LENIENT.iter().any(|l| n.rsplit('.').next() == Some(l)))
    {
        return;
    }
    let r = schema.resolve(s);
    match (r["type"].as_str(), v) {
        (Some("integer" | "number"), v) if !v.is_number() => {
            let got = match v {
                Value::String(_) => "string",
                Value::Bool(_) => "bool",
                Value::Array(_) => "[]interface {}",
                _ => "map[string]interface {}",
            };
            out.push(format!(
                "{path}: expected numeric (int or float), got {got}"
            ));
        }
        (_, Value::Array(items)) => {
            let keys: Vec<&str> = match (
                &r["x-kubernetes-list-map-keys"],
                &r["x-kubernetes-patch-merge-key"],
            ) {
                (Value::Array(k), _) => k.iter().filter_map(Value::as_str).collect(),
                (_, Value::String(k)) => vec![k.as_str()],
                _ => Vec::new(),
            };
            for (i, x) in items.iter().enumerate() {
                let element = if keys.is_empty() {
                    format!("[{i}]")
                } else {
                    let parts: Vec<String> =
                        keys.iter().map(|k| format!("{k}={}", x[*k])).collect();
                    format!("[{}]", parts.join(","))
                };
                typed_walk(schema, &r["items"], x, format!("{path}{element}"), out);
            }
        }
        (_, Value::Object(map)) => {
            for (k, x) in map {
                let sub = r["properties"]
                    .get(k)
                    .or_else(|| r.get("additionalProperties").filter(|a| a.is_object()));
                if let Some(sub) = sub {
                    typed_walk(schema, sub, x, format!("{path}.{k}"), out);
                }
            }
        }
        _ => {}
    }
}

/// One field error of a custom resource, as the API server lists it in an `Invalid` status.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldError {
    /// `spec.size`.
    pub field: String,
    /// The cause's reason: `FieldValueInvalid`, `FieldValueTypeInvalid`, `FieldValueRequired`,
    /// `FieldValueNotSupported`, `FieldValueTooLong`, `FieldValueTooMany`.
    pub reason: &'static str,
    /// The message without the field: `Required value`, `Invalid value: 0: …`.
    pub message: String,
}

impl FieldError {
    fn new(field: &str, reason: &'static str, message: String) -> Self {
        FieldError {
            field: field.to_string(),
            reason,
            message,
        }
    }
    fn invalid(field: &str, value: &Value, detail: String) -> Self {
        Self::new(
            field,
            "FieldValueInvalid",
            format!("Invalid value: {value}: {field} in body {detail}"),
        )
    }
}

/// The 422 `Invalid` status listing `errors`, as the API server words it:
/// `Widget.example.com "w" is invalid: [spec.size: Required value, …]`.
pub fn invalid(group: &str, kind: &str, name: &str, errors: &[FieldError]) -> ApiError {
    let lines: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect();
    let list = match lines.as_slice() {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    };
    let mut e = ApiError::invalid(group, kind, name, "", "");
    e.message = format!("{kind}.{group} \"{name}\" is invalid: {list}");
    let causes: Vec<Value> = errors
        .iter()
        .map(|e| json!({"reason": e.reason, "message": e.message, "field": e.field}))
        .collect();
    e.details = Some(Box::new(
        json!({"name": name, "group": group, "kind": kind, "causes": causes}),
    ));
    e
}

/// Every violation of a custom resource's structural schema, in document order.
pub fn validate(schema: &Schema, obj: &Value) -> Vec<FieldError> {
    let mut out = Vec::new();
    check(schema, schema.root, obj, "", &mut out);
    out
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "string",
        Value::Number(n) if n.is_f64() && n.as_f64().is_some_and(|f| f.fract() != 0.0) => "number",
        Value::Number(_) => "integer",
        Value::Bool(_) => "boolean",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    }
}

fn check<'a>(schema: &Schema<'a>, s: &'a Value, v: &Value, path: &str, out: &mut Vec<FieldError>) {
    let s = schema.resolve(s);
    if v.is_null() || path == "metadata" {
        // Nulls are pruned from structural objects; metadata is ObjectMeta's, checked apart.
        return;
    }
    let actual = json_type(v);
    let declared = s["type"].as_str();
    let int_or_string = s["x-kubernetes-int-or-string"] == true;
    let fits = match declared {
        _ if int_or_string => matches!(actual, "integer" | "string"),
        Some("number") => matches!(actual, "integer" | "number"),
        Some(t) => t == actual,
        None => true,
    };
    if !fits {
        let expected = if int_or_string {
            "integer,string"
        } else {
            declared.unwrap_or_default()
        };
        out.push(FieldError::new(
            path,
            "FieldValueTypeInvalid",
            format!(
                "Invalid value: \"{actual}\": {path} in body must be of type {expected}: \"{actual}\""
            ),
        ));
        return;
    }
    if let Some(allowed) = s["enum"].as_array()
        && !allowed.contains(v)
    {
        let list: Vec<String> = allowed
            .iter()
            .map(|a| match a {
                Value::String(s) => format!("{s:?}"),
                other => format!("\"{other}\""),
            })
            .collect();
        out.push(FieldError::new(
            path,
            "FieldValueNotSupported",
            format!(
                "Unsupported value: {v}: supported values: {}",
                list.join(", ")
            ),
        ));
    }
    match v {
        Value::String(text) => check_string(s, text, v, path, out),
        Value::Number(n) => check_number(s, n.as_f64().unwrap_or_default(), v, path, out),
        Value::Array(items) => {
            let len = items.len() as u64;
            if let Some(min) = s["minItems"].as_u64()
                && len < min
            {
                out.push(FieldError::invalid(
                    path,
                    &Value::from(len),
                    format!("should have at least {min} items"),
                ));
            }
            if let Some(max) = s["maxItems"].as_u64()
                && len > max
            {
                out.push(FieldError::new(
                    path,
                    "FieldValueTooMany",
                    format!("Too many: {len}: must have at most {max} items"),
                ));
            }
            for (i, x) in items.iter().enumerate() {
                check(schema, &s["items"], x, &format!("{path}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for req in s["required"].as_array().into_iter().flatten() {
                if let Some(name) = req.as_str()
                    && map.get(name).is_none_or(Value::is_null)
                {
                    out.push(FieldError::new(
                        &join(path, name),
                        "FieldValueRequired",
                        "Required value".into(),
                    ));
                }
            }
            let props = s["properties"].as_object();
            for (k, x) in map {
                let sub = props
                    .and_then(|p| p.get(k))
                    .or_else(|| s.get("additionalProperties").filter(|a| a.is_object()));
                if let Some(sub) = sub {
                    check(schema, sub, x, &join(path, k), out);
                }
            }
        }
        _ => {}
    }
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn check_string(s: &Value, text: &str, v: &Value, path: &str, out: &mut Vec<FieldError>) {
    let chars = text.chars().count() as u64;
    if let Some(min) = s["minLength"].as_u64()
        && chars < min
    {
        out.push(FieldError::invalid(
            path,
            v,
            format!("should be at least {min} chars long"),
        ));
    }
    if let Some(max) = s["maxLength"].as_u64()
        && chars > max
    {
        out.push(FieldError::new(
            path,
            "FieldValueTooLong",
            format!(
                "Too long: may not be more than {max} byte{}",
                if max == 1 { "" } else { "s" }
            ),
        ));
    }
    if let Some(pattern) = s["pattern"].as_str()
        && let Ok(re) = regex::Regex::new(pattern)
        && !re.is_match(text)
    {
        out.push(FieldError::invalid(
            path,
            v,
            format!("should match '{pattern}'"),
        ));
    }
}

fn check_number(s: &Value, n: f64, v: &Value, path: &str, out: &mut Vec<FieldError>) {
    if let Some(min) = s.get("minimum").filter(|m| m.is_number()) {
        let exclusive = s["exclusiveMinimum"] == true;
        let m = min.as_f64().unwrap_or_default();
        if (exclusive && n <= m) || n < m {
            let how = if exclusive { "" } else { " or equal to" };
            out.push(FieldError::invalid(
                path,
                v,
                format!("should be greater than{how} {min}"),
            ));
        }
    }
    if let Some(max) = s.get("maximum").filter(|m| m.is_number()) {
        let exclusive = s["exclusiveMaximum"] == true;
        let m = max.as_f64().unwrap_or_default();
        if (exclusive && n >= m) || n > m {
            let how = if exclusive { "" } else { " or equal to" };
            out.push(FieldError::invalid(
                path,
                v,
                format!("should be less than{how} {max}"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment_error(obj: Value) -> Option<String> {
        let defs = crate::schemas::builtin(32);
        let lookup = |n: &str| defs.get(n);
        let schema = Schema {
            root: defs.get("io.k8s.api.apps.v1.Deployment").unwrap(),
            lookup: &lookup,
        };
        decoding_error(&schema, "Deployment", &obj)
    }

    #[test]
    fn built_in_values_of_the_wrong_type_fail_as_go_decoding_does() {
        assert_eq!(
            deployment_error(json!({"spec": {"replicas": "three"}})).unwrap(),
            "json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32"
        );
        assert_eq!(
            deployment_error(json!({"metadata": {"labels": ["a"]}})).unwrap(),
            "json: cannot unmarshal array into Go struct field ObjectMeta.metadata.labels of type map[string]string"
        );
        assert_eq!(
            deployment_error(
                json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": 5}]}}}})
            )
            .unwrap(),
            "json: cannot unmarshal number into Go struct field Container.spec.template.spec.containers.image of type string"
        );
        assert_eq!(
            deployment_error(json!({"spec": {"template": {"spec": {"containers": {}}}}})).unwrap(),
            "json: cannot unmarshal object into Go struct field PodSpec.spec.template.spec.containers of type []v1.Container"
        );
        // Quantities and int-or-strings take numbers and strings; nulls are zero values.
        assert_eq!(
            deployment_error(
                json!({"spec": {"replicas": null, "strategy": {"rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}},
                "template": {"spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": 1, "memory": "1Gi"}}}]}}}})
            ),
            None
        );
    }

    #[test]
    fn applied_numbers_that_are_not_are_found_with_typed_paths() {
        let defs = crate::schemas::builtin(32);
        let lookup = |n: &str| defs.get(n);
        let schema = Schema {
            root: defs.get("io.k8s.api.apps.v1.Deployment").unwrap(),
            lookup: &lookup,
        };
        let applied = json!({"spec": {"replicas": "three", "template": {"spec": {"containers": [
            {"name": "c", "ports": [{"containerPort": 80, "protocol": "TCP", "hostPort": "x"}]}]}}}});
        assert_eq!(
            apply_type_errors(&schema, &applied),
            vec![
                ".spec.replicas: expected numeric (int or float), got string",
                ".spec.template.spec.containers[name=\"c\"].ports[containerPort=80,protocol=\"TCP\"].hostPort: expected numeric (int or float), got string",
            ]
        );
        assert!(apply_type_errors(&schema, &json!({"spec": {"replicas": 3}})).is_empty());
    }

    #[test]
    fn custom_resources_are_validated_against_their_schema() {
        let root = json!({"type": "object", "properties": {"spec": {"type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "integer", "minimum": 1, "maximum": 10},
                "colour": {"type": "string", "enum": ["red", "blue"]},
                "name": {"type": "string", "pattern": "^[a-z]+$", "minLength": 2, "maxLength": 5},
                "tags": {"type": "array", "maxItems": 2, "items": {"type": "string"}},
                "port": {"x-kubernetes-int-or-string": true}}}}});
        let lookup = |_: &str| None;
        let schema = Schema {
            root: &root,
            lookup: &lookup,
        };
        let errors = |v: Value| -> Vec<String> {
            validate(&schema, &v)
                .into_iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect()
        };
        assert!(
            errors(json!({"spec": {"size": 3, "colour": "red", "name": "abc", "port": "http"}}))
                .is_empty()
        );
        assert_eq!(
            errors(
                json!({"spec": {"size": "three", "colour": "purple", "name": "A", "tags": ["a", "b", "c"], "port": true}})
            ),
            vec![
                "spec.size: Invalid value: \"string\": spec.size in body must be of type integer: \"string\"",
                "spec.colour: Unsupported value: \"purple\": supported values: \"red\", \"blue\"",
                "spec.name: Invalid value: \"A\": spec.name in body should be at least 2 chars long",
                "spec.name: Invalid value: \"A\": spec.name in body should match '^[a-z]+$'",
                "spec.tags: Too many: 3: must have at most 2 items",
                "spec.port: Invalid value: \"boolean\": spec.port in body must be of type integer,string: \"boolean\"",
            ]
        );
        assert_eq!(
            errors(json!({"spec": {"size": 11, "name": "abcdef"}})),
            vec![
                "spec.size: Invalid value: 11: spec.size in body should be less than or equal to 10",
                "spec.name: Too long: may not be more than 5 bytes",
            ]
        );
        assert_eq!(
            errors(json!({"spec": {"size": 0}})),
            vec![
                "spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1"
            ]
        );
        assert_eq!(
            errors(json!({"spec": {}})),
            vec!["spec.size: Required value"]
        );
    }
}
