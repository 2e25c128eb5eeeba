//! A step's fingerprint: a keyed hash of what the step does (its kind and fields, its declared
//! outputs) and of the values it uses. `resume` re-runs a step whose fingerprint changed; since
//! only the values a step uses count, a change elsewhere leaves it alone. Policies (retry, wait,
//! timeout) and titles are left out: changing them does not change what a finished step did.
//! The hash is keyed so that it never lets anyone confirm a guess of a secret input.

use sha2::{Digest, Sha256};

use crate::model::Step;
use crate::values::Values;

/// The fingerprint of `step` given the values it uses, as 32 hex digits.
pub(crate) fn fingerprint(key: &[u8; 32], step: &Step, values: &Values) -> String {
    let mut h = Sha256::new();
    h.update(key);
    h.update(b"meshbook step v2\0");
    let mut field = |bytes: &[u8]| {
        h.update((bytes.len() as u64).to_le_bytes());
        h.update(bytes);
    };
    field(step.id.as_bytes());
    // The model always writes as JSON; were it ever not to, the error text stands in, so the
    // fingerprint stays stable rather than silently empty.
    let definition = serde_json::to_vec(&(&step.action, &step.outputs))
        .unwrap_or_else(|e| e.to_string().into_bytes());
    field(&definition);
    let mut inputs: Vec<(&str, &str)> = values.iter().collect();
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
    use crate::run::testkit::step;

    fn values(pairs: &[(&str, &str)]) -> Values {
        let mut v = Values::new();
        for (k, x) in pairs {
            v.insert(*k, *x, false);
        }
        v
    }

    #[test]
    fn changes_with_definition_and_inputs_only() {
        let key = [1; 32];
        let base = fingerprint(
            &key,
            &step("s", "echo a"),
            &values(&[("A", "1"), ("B", "2")]),
        );
        assert_eq!(base.len(), 32);
        assert_eq!(
            base,
            fingerprint(
                &key,
                &step("s", "echo a"),
                &values(&[("B", "2"), ("A", "1")])
            )
        );
        assert_ne!(
            base,
            fingerprint(
                &key,
                &step("s", "echo b"),
                &values(&[("A", "1"), ("B", "2")])
            )
        );
        assert_ne!(
            base,
            fingerprint(
                &key,
                &step("s", "echo a"),
                &values(&[("A", "1"), ("B", "3")])
            )
        );
        assert_ne!(
            base,
            fingerprint(
                &[2; 32],
                &step("s", "echo a"),
                &values(&[("A", "1"), ("B", "2")])
            )
        );
        let mut titled = step("s", "echo a");
        titled.title = Some("now with a title".into());
        titled.timeout = Some(crate::model::Duration::parse("5s").unwrap());
        assert_eq!(
            base,
            fingerprint(&key, &titled, &values(&[("A", "1"), ("B", "2")]))
        );
        // Length prefixes keep field boundaries: ("AB","") differs from ("A","B").
        assert_ne!(
            fingerprint(&key, &step("s", "x"), &values(&[("AB", "")])),
            fingerprint(&key, &step("s", "x"), &values(&[("A", "B")]))
        );
    }
}
