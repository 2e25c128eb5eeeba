//! `wait` conditions: pure predicates over a step's produced values.

use indexmap::IndexMap;

use crate::model::{Grammar, OutputSpec, Rendered, Until};

/// Why a condition is not met (never holding a secret value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unmet {
    /// A value is empty.
    #[error("`{0}` is empty")]
    Empty(String),
    /// A value differs from the expected one.
    #[error("`{name}` is {shown}, not {expected:?}")]
    NotEqual {
        /// The output.
        name: String,
        /// The value quoted, or "a different value" for secrets.
        shown: String,
        /// The expected value.
        expected: String,
    },
    /// A value does not match the pattern.
    #[error("`{name}` is {shown}, which does not match /{pattern}/")]
    NoMatch {
        /// The output.
        name: String,
        /// The value quoted, or "a secret value" for secrets.
        shown: String,
        /// The pattern.
        pattern: String,
    },
}

/// Checks every declared output (or, with none declared, every produced value) against `until`.
pub fn check(
    until: &Until<Rendered>,
    declared: &IndexMap<String, OutputSpec>,
    produced: &IndexMap<String, String>,
) -> Result<(), Unmet> {
    for (name, value) in produced {
        if until.holds(value) {
            continue;
        }
        let secret = declared.get(name).is_some_and(|s| s.secret);
        let shown = if secret {
            "a secret value".to_string()
        } else {
            format!("{value:?}")
        };
        return Err(match until {
            Until::NonEmpty => Unmet::Empty(name.clone()),
            Until::Equals(expected) => Unmet::NotEqual {
                name: name.clone(),
                shown,
                expected: expected.clone(),
            },
            Until::Matches(p) => Unmet::NoMatch {
                name: name.clone(),
                shown,
                pattern: p.text().to_string(),
            },
        });
    }
    for name in declared.keys() {
        if !produced.contains_key(name) && matches!(until, Until::NonEmpty) {
            return Err(Unmet::Empty(name.clone()));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> IndexMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn nonempty_equals_and_matches() {
        let none = IndexMap::new();
        let matches = |p: &str| Until::Matches(crate::model::Pattern::parse(p).unwrap());
        assert_eq!(
            check(&Until::NonEmpty, &none, &values(&[("A", " ")])),
            Err(Unmet::Empty("A".into()))
        );
        assert!(check(&Until::NonEmpty, &none, &values(&[("A", "1.2.3.4")])).is_ok());
        assert!(
            check(
                &Until::Equals("Running".into()),
                &none,
                &values(&[("P", "Running\n")])
            )
            .is_ok()
        );
        let err = check(
            &Until::Equals("Running".into()),
            &none,
            &values(&[("P", "Pending")]),
        )
        .unwrap_err();
        assert_eq!(err.to_string(), r#"`P` is "Pending", not "Running""#);
        assert!(check(&matches(r"^\d+\."), &none, &values(&[("A", "10.0.0.1")])).is_ok());
        assert!(check(&matches(r"^\d+\."), &none, &values(&[("A", "x")])).is_err());
    }

    #[test]
    fn secret_values_are_not_shown() {
        let mut declared = IndexMap::new();
        declared.insert(
            "T".to_string(),
            OutputSpec {
                secret: true,
                ..Default::default()
            },
        );
        let err = check(
            &Until::Equals("x".into()),
            &declared,
            &values(&[("T", "hunter2")]),
        )
        .unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn a_missing_declared_output_is_empty() {
        let mut declared = IndexMap::new();
        declared.insert("T".to_string(), OutputSpec::default());
        assert_eq!(
            check(&Until::NonEmpty, &declared, &IndexMap::new()),
            Err(Unmet::Empty("T".into()))
        );
    }
}
