//! Runs every case of `data/kstatus_cases.json` (cli-utils kstatus test tables plus
//! derived cases): status, derived conditions and the exact message of each.
//! `TestAugmentConditions` cases also check the condition list [`augment`] writes.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use meshbook_inspect::readiness::{Assessment, ConditionType, assess, augment, compute_at};
use serde_json::Value;

/// The fixed "now" the cases are evaluated at, and its RFC 3339 spellings.
const NOW_SECONDS: u64 = 1_767_225_600; // 2026-01-01T00:00:00Z
const NOW: &str = "2026-01-01T00:00:00Z";
const NOW_MINUS_1M: &str = "2025-12-31T23:59:00Z";

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW_SECONDS)
}

fn cases() -> Vec<Value> {
    let text = include_str!("data/kstatus_cases.json")
        .replace("__NOW_RFC3339__", NOW)
        .replace("__NOW_MINUS_1M_RFC3339__", NOW_MINUS_1M);
    serde_json::from_str(&text).expect("the cases file is JSON")
}

fn condition_type_name(type_: ConditionType) -> &'static str {
    match type_ {
        ConditionType::Reconciling => "Reconciling",
        ConditionType::Stalled => "Stalled",
    }
}

fn check(case: &Value) -> Result<(), String> {
    let object = &case["object"];
    let result: Assessment = assess(object, now()).map_err(|e| format!("error: {e}"))?;

    let status = result.status.to_string();
    let expected_status = case["expected_status"].as_str().unwrap_or_default();
    if status != expected_status {
        return Err(format!(
            "status {status}, expected {expected_status} ({})",
            result.message
        ));
    }
    if let Some(expected) = case["expected_message"].as_str()
        && result.message != expected
    {
        return Err(format!(
            "message {:?}, expected {expected:?}",
            result.message
        ));
    }
    if let Some(part) = case["expected_message_contains"].as_str()
        && !result.message.contains(part)
    {
        return Err(format!("message {:?} lacks {part:?}", result.message));
    }

    let derived: Vec<(&str, &str, &str)> = result
        .condition
        .iter()
        .map(|c| (condition_type_name(c.type_), "True", c.reason.as_str()))
        .collect();
    for expected in case["expected_conditions"].as_array().into_iter().flatten() {
        let want = (
            expected["type"].as_str().unwrap_or_default(),
            expected["status"].as_str().unwrap_or_default(),
            expected["reason"].as_str().unwrap_or_default(),
        );
        if !derived.contains(&want) {
            return Err(format!("condition {want:?} missing from {derived:?}"));
        }
    }
    for absent in case["absent_condition_types"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let absent = absent.as_str().unwrap_or_default();
        if derived.iter().any(|(type_, _, _)| *type_ == absent) {
            return Err(format!("condition {absent} present"));
        }
    }

    // The polling layer's view agrees with Compute for every case.
    let readiness = compute_at(object, now());
    if readiness.status != result.status || readiness.message != result.message {
        return Err(format!("compute_at disagrees: {readiness:?}"));
    }

    if let Some(expected) = case["augmented_conditions_asserted"].as_array() {
        let augmented = augment(object, now()).map_err(|e| format!("augment error: {e}"))?;
        let got: Vec<(String, String)> = augmented["status"]["conditions"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| {
                let field = |k: &str| c[k].as_str().unwrap_or_default().to_string();
                (field("type"), field("reason"))
            })
            .collect();
        let want: Vec<(String, String)> = expected
            .iter()
            .map(|c| {
                let field = |k: &str| c[k].as_str().unwrap_or_default().to_string();
                (field("type"), field("reason"))
            })
            .collect();
        if got.len() != want.len() || want.iter().any(|w| !got.contains(w)) {
            return Err(format!("augmented conditions {got:?}, expected {want:?}"));
        }
    }
    Ok(())
}

#[test]
fn every_kstatus_case_passes() {
    let cases = cases();
    assert_eq!(
        cases.len(),
        57,
        "the cases file changed; review this runner"
    );
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            check(case).err().map(|why| {
                format!(
                    "#{} {} / {}: {why}",
                    case["id"], case["suite"], case["name"]
                )
            })
        })
        .collect();
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}
