//! Reading fields of an unstructured object the way apimachinery's helpers do.
//!
//! `GetIntField`-style reads fall back to a default on any mismatch, while the
//! `NestedInt64`-style reads used for generations report a mismatch as an error.

use serde_json::Value;

/// A field that exists but has the wrong type (apimachinery's "accessor error").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path} accessor error: {value} is of the type {go_type}, expected {expected}")]
pub struct FieldError {
    /// The field path, such as `.metadata.generation`.
    pub path: String,
    /// Go's `%v` of a scalar, or an elided `map[...]` / `[...]`.
    pub value: String,
    /// Go's type name of what was found.
    pub go_type: &'static str,
    /// The Go type that was expected.
    pub expected: &'static str,
}

impl FieldError {
    fn new(path: &[&str], found: &Value, expected: &'static str) -> Self {
        let (value, go_type) = match found {
            Value::Null => ("<nil>".to_string(), "<nil>"),
            Value::Bool(b) => (b.to_string(), "bool"),
            Value::Number(n) if n.is_i64() => (n.to_string(), "int64"),
            Value::Number(n) => (n.to_string(), "float64"),
            Value::String(s) => (s.clone(), "string"),
            Value::Array(_) => ("[...]".to_string(), "[]interface {}"),
            Value::Object(_) => ("map[...]".to_string(), "map[string]interface {}"),
        };
        FieldError {
            path: format!(".{}", path.join(".")),
            value,
            go_type,
            expected,
        }
    }
}

/// apimachinery's `NestedFieldNoCopy`: `Ok(None)` when absent (or under a null).
pub(crate) fn nested<'a>(obj: &'a Value, path: &[&str]) -> Result<Option<&'a Value>, FieldError> {
    let mut current = obj;
    for (i, field) in path.iter().enumerate() {
        match current {
            Value::Null => return Ok(None),
            Value::Object(map) => match map.get(*field) {
                Some(next) => current = next,
                None => return Ok(None),
            },
            other => {
                return Err(FieldError::new(
                    &path[..=i],
                    other,
                    "map[string]interface{}",
                ));
            }
        }
    }
    Ok(Some(current))
}

/// kstatus `GetIntField`: an int64 value, or `default` when absent or of another type.
pub(crate) fn int(obj: &Value, path: &[&str], default: i64) -> i64 {
    match nested(obj, path) {
        Ok(Some(value)) => value.as_i64().unwrap_or(default),
        _ => default,
    }
}

/// kstatus `GetStringField`.
pub(crate) fn string<'a>(obj: &'a Value, path: &[&str], default: &'a str) -> &'a str {
    match nested(obj, path) {
        Ok(Some(Value::String(s))) => s,
        _ => default,
    }
}

/// kstatus `GetBoolField`.
pub(crate) fn boolean(obj: &Value, path: &[&str], default: bool) -> bool {
    match nested(obj, path) {
        Ok(Some(Value::Bool(b))) => *b,
        _ => default,
    }
}

/// apimachinery `NestedInt64`: present values must be int64.
pub(crate) fn nested_int64(obj: &Value, path: &[&str]) -> Result<Option<i64>, FieldError> {
    match nested(obj, path)? {
        None => Ok(None),
        Some(value) => value
            .as_i64()
            .map(Some)
            .ok_or_else(|| FieldError::new(path, value, "int64")),
    }
}

/// apimachinery `NestedString`: present values must be strings.
pub(crate) fn nested_string<'a>(
    obj: &'a Value,
    path: &[&str],
) -> Result<Option<&'a str>, FieldError> {
    match nested(obj, path)? {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(FieldError::new(path, other, "string")),
    }
}

/// apimachinery `NestedSlice`: present values must be lists.
pub(crate) fn nested_slice<'a>(
    obj: &'a Value,
    path: &[&str],
) -> Result<Option<&'a Vec<Value>>, FieldError> {
    match nested(obj, path)? {
        None => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items)),
        Some(other) => Err(FieldError::new(path, other, "[]interface {}")),
    }
}

/// One entry of `status.conditions`, with absent fields as empty strings.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct BasicCondition {
    pub type_: String,
    pub status: String,
    pub reason: String,
    pub message: String,
}

/// `status.conditions` decoded strictly, as kstatus's `GetObjectWithConditions` does.
pub(crate) fn conditions(obj: &Value) -> Result<Vec<BasicCondition>, FieldError> {
    let status = match obj.get("status") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Object(status)) => status,
        Some(other) => return Err(FieldError::new(&["status"], other, "struct")),
    };
    let items = match status.get("conditions") {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items,
        Some(other) => return Err(FieldError::new(&["status", "conditions"], other, "slice")),
    };
    let path = ["status", "conditions"];
    items
        .iter()
        .map(|item| match item {
            Value::Null => Ok(BasicCondition::default()),
            Value::Object(map) => {
                let text = |key: &str| match map.get(key) {
                    None | Some(Value::Null) => Ok(String::new()),
                    Some(Value::String(s)) => Ok(s.clone()),
                    Some(other) => Err(FieldError::new(
                        &[&path[..], &[key]].concat(),
                        other,
                        "string",
                    )),
                };
                Ok(BasicCondition {
                    type_: text("type")?,
                    status: text("status")?,
                    reason: text("reason")?,
                    message: text("message")?,
                })
            }
            other => Err(FieldError::new(&path, other, "struct")),
        })
        .collect()
}

/// The first condition of a type with a given status.
pub(crate) fn find_condition<'c>(
    conditions: &'c [BasicCondition],
    type_: &str,
    status: &str,
) -> Option<&'c BasicCondition> {
    conditions
        .iter()
        .find(|c| c.type_ == type_ && c.status == status)
}

/// The object's `kind`, as `GetKind` reads it.
pub(crate) fn kind(obj: &Value) -> &str {
    string(obj, &["kind"], "")
}

/// The lookup key kstatus uses: `group/Kind`, or the bare kind for the core group.
/// `None` when `apiVersion` does not parse as a group/version.
pub(crate) fn group_kind(obj: &Value) -> Option<String> {
    let api_version = string(obj, &["apiVersion"], "");
    let group = match api_version.matches('/').count() {
        _ if api_version.is_empty() || api_version == "/" => "",
        0 => "",
        1 => api_version.split_once('/').map_or("", |(group, _)| group),
        _ => return None,
    };
    let kind = kind(obj);
    Some(if group.is_empty() {
        kind.to_string()
    } else {
        format!("{group}/{kind}")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn int_fields_accept_only_whole_numbers() {
        let obj = json!({"spec": {"a": 3, "b": 3.0, "c": "3", "d": null}});
        assert_eq!(int(&obj, &["spec", "a"], 1), 3);
        assert_eq!(int(&obj, &["spec", "b"], 1), 1);
        assert_eq!(int(&obj, &["spec", "c"], 1), 1);
        assert_eq!(int(&obj, &["spec", "d"], 1), 1);
        assert_eq!(int(&obj, &["spec", "a", "x"], 7), 7);
    }

    #[test]
    fn nested_int64_reports_wrong_types() {
        let obj = json!({"metadata": {"generation": 1.5}});
        let err = nested_int64(&obj, &["metadata", "generation"]).expect_err("float");
        assert_eq!(
            err.to_string(),
            ".metadata.generation accessor error: 1.5 is of the type float64, expected int64"
        );
        assert_eq!(
            nested_int64(&json!({}), &["metadata", "generation"]),
            Ok(None)
        );
    }

    #[test]
    fn group_kind_drops_the_version() {
        assert_eq!(
            group_kind(&json!({"apiVersion": "apps/v1", "kind": "Deployment"})).as_deref(),
            Some("apps/Deployment")
        );
        assert_eq!(
            group_kind(&json!({"apiVersion": "v1", "kind": "Pod"})).as_deref(),
            Some("Pod")
        );
        assert_eq!(
            group_kind(&json!({"apiVersion": "a/b/c", "kind": "Pod"})),
            None
        );
    }

    #[test]
    fn conditions_must_be_a_list_of_objects() {
        assert!(conditions(&json!({"status": {"conditions": "x"}})).is_err());
        assert!(conditions(&json!({"status": {"conditions": [{"type": 1}]}})).is_err());
        let parsed = conditions(
            &json!({"status": {"conditions": [{"type": "Ready", "status": "True", "extra": 1}]}}),
        )
        .expect("valid conditions");
        assert_eq!(parsed[0].type_, "Ready");
        assert_eq!(parsed[0].reason, "");
    }
}
