//! kstatus's `Augment`: writes the derived `Reconciling`/`Stalled` condition into the
//! object's `status.conditions`, the way kstatus-aware tools display it.

use std::time::SystemTime;

use serde_json::{Map, Value, json};

use super::object;
use super::time::format_rfc3339;
use super::{ReadinessError, assess, unix_seconds};

/// Returns `object` with the derived condition merged into `status.conditions`: a
/// condition of the same type is updated in place (its `lastTransitionTime` changes only
/// when its status does), otherwise the condition is appended.
pub fn augment(object: &Value, now: SystemTime) -> Result<Value, ReadinessError> {
    let result = assess(object, now)?;
    let mut conditions = object::nested_slice(object, &["status", "conditions"])
        .map_err(ReadinessError::Conditions)?
        .cloned()
        .unwrap_or_default();
    let stamp = format_rfc3339(unix_seconds(now));

    if let Some(derived) = result.condition {
        let type_name = match derived.type_ {
            super::ConditionType::Reconciling => "Reconciling",
            super::ConditionType::Stalled => "Stalled",
        };
        let mut present = false;
        for item in &mut conditions {
            let Value::Object(cond) = item else {
                return Err(ReadinessError::Augment(
                    "condition does not have the expected structure",
                ));
            };
            let Some(Value::String(cond_type)) = cond.get("type") else {
                return Err(ReadinessError::Augment(
                    "condition type does not have the expected type",
                ));
            };
            if cond_type != type_name {
                continue;
            }
            let Some(Value::String(status)) = cond.get("status") else {
                return Err(ReadinessError::Augment(
                    "condition status does not have the expected type",
                ));
            };
            if status != "True" {
                cond.insert("lastTransitionTime".into(), json!(stamp));
            }
            cond.insert("status".into(), json!("True"));
            cond.insert("lastUpdateTime".into(), json!(stamp));
            cond.insert("reason".into(), json!(derived.reason));
            cond.insert("message".into(), json!(derived.message));
            present = true;
        }
        if !present {
            conditions.push(json!({
                "lastTransitionTime": stamp,
                "lastUpdateTime": stamp,
                "message": derived.message,
                "reason": derived.reason,
                "status": "True",
                "type": type_name,
            }));
        }
    }

    let mut augmented = object.clone();
    let Value::Object(root) = &mut augmented else {
        return Err(ReadinessError::Augment("object is not a map"));
    };
    let status = root
        .entry("status")
        .or_insert_with(|| Value::Object(Map::new()));
    if status.is_null() {
        *status = Value::Object(Map::new());
    }
    let Value::Object(status) = status else {
        return Err(ReadinessError::Augment("status is not a map"));
    };
    status.insert("conditions".into(), Value::Array(conditions));
    Ok(augmented)
}
