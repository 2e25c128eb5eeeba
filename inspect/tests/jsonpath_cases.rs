//! Runs every case of `data/kubectl_jsonpath_cases.json` (client-go and cli-runtime test
//! tables plus cases recorded from kubectl on tutorial objects).
//!
//! Which expectation a case is held to, when it carries more than one:
//! - `expected_client_go_master` wins over `expected`: the empty-slice early return it
//!   describes is what client-go master does and what kubectl 1.32 prints.
//! - `expected_sorted_keys` wins for Go-struct inputs whose output prints an object:
//!   kubectl only ever sees maps, and maps marshal with sorted keys. The exception is a
//!   case whose order comes from `..` traversal (see `TRAVERSAL_ORDER`), where Go's map
//!   order is random and this crate uses document order, which `expected` records.
//! - `expected_error_unstructured` wins over `expected_error`: it names kubectl's Go types.
//! - `expected_in_unmerged_commit` is ignored: upstream never merged `=~`.

use meshbook_inspect::jsonpath::JsonPath;
use serde_json::Value;

/// Cases with `expected_sorted_keys` whose order is a traversal order, not a printed map.
const TRAVERSAL_ORDER: &[u64] = &[59];

fn cases() -> Vec<Value> {
    let text = include_str!("data/kubectl_jsonpath_cases.json");
    serde_json::from_str(text).expect("the cases file is JSON")
}

fn str_field<'a>(case: &'a Value, key: &str) -> Option<&'a str> {
    case.get(key).and_then(Value::as_str)
}

fn expected_output(case: &Value) -> &str {
    let id = case["id"].as_u64().unwrap_or_default();
    if let Some(master) = str_field(case, "expected_client_go_master") {
        return master;
    }
    if let Some(sorted) = str_field(case, "expected_sorted_keys")
        && !TRAVERSAL_ORDER.contains(&id)
    {
        return sorted;
    }
    str_field(case, "expected").unwrap_or_default()
}

fn expected_error(case: &Value) -> Option<&str> {
    str_field(case, "expected_error_unstructured").or_else(|| str_field(case, "expected_error"))
}

/// Runs one case; returns a description of the mismatch, if any.
fn check(case: &Value) -> Result<(), String> {
    let template = str_field(case, "template").ok_or("case without template")?;
    let allow = case["allow_missing_keys"].as_bool().unwrap_or(false);
    let wants_error = case["error"].as_bool().unwrap_or(false);
    let stage = str_field(case, "error_stage");
    let as_json = str_field(case, "output_mode") == Some("jsonpath-as-json");

    let outcome = match JsonPath::parse(template) {
        Err(err) => Err(("parse", err.to_string())),
        Ok(path) => {
            let rendered = if as_json {
                path.render_as_json(&case["input"], allow)
            } else {
                path.render(&case["input"], allow)
            };
            rendered.map_err(|err| ("execute", err.to_string()))
        }
    };

    match (outcome, wants_error) {
        (Ok(output), false) => {
            let expected = expected_output(case);
            let matches = if str_field(case, "compare") == Some("sorted_words") {
                let mut got: Vec<&str> = output.split_whitespace().collect();
                let mut want: Vec<&str> = expected.split_whitespace().collect();
                got.sort_unstable();
                want.sort_unstable();
                got == want
            } else {
                output == expected
            };
            if matches {
                Ok(())
            } else {
                Err(format!("output {output:?}, expected {expected:?}"))
            }
        }
        (Ok(output), true) => Err(format!("expected an error, got output {output:?}")),
        (Err((got_stage, message)), true) => {
            if let Some(stage) = stage
                && stage != got_stage
            {
                return Err(format!(
                    "failed at {got_stage} ({message}), expected {stage}"
                ));
            }
            match expected_error(case) {
                Some(expected) if expected != message => {
                    Err(format!("error {message:?}, expected {expected:?}"))
                }
                _ => Ok(()),
            }
        }
        (Err((got_stage, message)), false) => {
            Err(format!("unexpected {got_stage} error: {message}"))
        }
    }
}

#[test]
fn every_kubectl_jsonpath_case_passes() {
    let cases = cases();
    assert_eq!(
        cases.len(),
        127,
        "the cases file changed; review the selection rules above"
    );
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|case| {
            check(case).err().map(|why| {
                format!(
                    "#{} {} / {}: {}\n    template {:?}",
                    case["id"], case["suite"], case["name"], why, case["template"]
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

#[test]
fn every_expected_error_text_is_checked() {
    // Guards the runner itself: error cases must carry a text to compare with.
    let cases = cases();
    let unchecked: Vec<&Value> = cases
        .iter()
        .filter(|case| case["error"].as_bool() == Some(true) && expected_error(case).is_none())
        .map(|case| &case["id"])
        .collect();
    assert!(
        unchecked.is_empty(),
        "error cases without expected_error: {unchecked:?}"
    );
}
