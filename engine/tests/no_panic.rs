//! The loader and the validator never panic, whatever the input: arbitrary text, and valid
//! runbooks with pieces cut out or swapped.

use proptest::prelude::*;

const VALID: &str = include_str!("fixtures/addr-flow.yaml");

fn exercise(text: &str) {
    match meshbook_engine::read_runbook(text) {
        Ok(v) => {
            let _ = meshbook_engine::plan::plan(&v, &Default::default()).to_text();
        }
        Err(diags) => {
            let rendered = meshbook_engine::diag::render("fuzz.yaml", text, &diags);
            assert!(!rendered.is_empty());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text(text in "\\PC{0,400}") {
        exercise(&text);
    }

    #[test]
    fn yaml_shaped_text(lines in prop::collection::vec(
        prop_oneof![
            Just("steps:".to_string()),
            Just("  - id: a".to_string()),
            Just("    needs: [a, b]".to_string()),
            Just("    shell: echo $X {{Y}}".to_string()),
            Just("    kube.get: {resource: pods, jsonpath: \"{.items[\"}".to_string()),
            Just("    outputs: {X: {type: ip}}".to_string()),
            Just("    wait: {until: {matches: \"(\"}}".to_string()),
            Just("params: {Y: {type: port, default: 0}}".to_string()),
            Just("apiVersion: meshbook/v1".to_string()),
            Just("kind: Runbook".to_string()),
            Just("metadata: {name: x}".to_string()),
            "[ -~]{0,30}",
        ],
        0..25,
    )) {
        exercise(&lines.join("\n"));
    }

    #[test]
    fn valid_runbook_cut_at_any_point(cut in 0usize..VALID.len(), len in 0usize..40) {
        let mut text: Vec<char> = VALID.chars().collect();
        let start = cut.min(text.len());
        let end = (start + len).min(text.len());
        text.drain(start..end);
        exercise(&text.into_iter().collect::<String>());
    }
}
