//! A step's fingerprint: a keyed hash of what the step does (its kind and fields, its declared
//! outputs) and of the inputs it resolves (params and upstream outputs). `resume` re-runs a step
//! whose fingerprint changed. Policies (retry, wait, timeout) and titles are left out: changing
//! them does not change what a finished step did. The hash is keyed so that it never lets anyone
//! confirm a guess of a secret input.

use indexmap::IndexMap;
use sha2::{Digest, Sha256};

use crate::model::Step;

/// The fingerprint of `step` given its resolved inputs `env`, as 32 hex digits.
pub fn fingerprint(key: &[u8; 32], step: &Step, env: &IndexMap<String, String>) -> String {
    let mut h = Sha256::new();
    h.update(key);
    h.update(b"meshbook step v1\0");
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(step.id.as_bytes());
    field(&serde_json::to_vec(&step.action).unwrap_or_default());
    field(&serde_json::to_vec(&step.outputs).unwrap_or_default());
    let mut inputs: Vec<(&String, &String)> = env.iter().collect();
    inputs.sort();
    for (name, value) in inputs {
        field(name.as_bytes());
        field(value.as_bytes());
    }
    let digest = h.finalize();
    digest[..16].iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Action, ShellSpec};

    fn step(script: &str) -> Step {
        Step {
            id: "s".into(),
            title: None,
            needs: vec![],
            timeout: None,
            retry: None,
            wait: None,
            outputs: IndexMap::new(),
            sandbox: None,
            action: Action::Shell(ShellSpec::script(script)),
        }
    }

    fn env(pairs: &[(&str, &str)]) -> IndexMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn changes_with_definition_and_inputs_only() {
        let key = [1; 32];
        let base = fingerprint(&key, &step("echo a"), &env(&[("A", "1"), ("B", "2")]));
        assert_eq!(base.len(), 32);
        assert_eq!(
            base,
            fingerprint(&key, &step("echo a"), &env(&[("B", "2"), ("A", "1")]))
        );
        assert_ne!(
            base,
            fingerprint(&key, &step("echo b"), &env(&[("A", "1"), ("B", "2")]))
        );
        assert_ne!(
            base,
            fingerprint(&key, &step("echo a"), &env(&[("A", "1"), ("B", "3")]))
        );
        assert_ne!(
            base,
            fingerprint(&[2; 32], &step("echo a"), &env(&[("A", "1"), ("B", "2")]))
        );
        let mut titled = step("echo a");
        titled.title = Some("now with a title".into());
        titled.timeout = Some(crate::model::Duration::parse("5s").unwrap());
        assert_eq!(
            base,
            fingerprint(&key, &titled, &env(&[("A", "1"), ("B", "2")]))
        );
        // Length prefixes keep field boundaries: ("AB","") differs from ("A","B").
        assert_ne!(
            fingerprint(&key, &step("x"), &env(&[("AB", "")])),
            fingerprint(&key, &step("x"), &env(&[("A", "B")]))
        );
    }
}
