//! A test of a value: non-empty, equal to a text, or matching a pattern. A step's `wait.until`
//! applies it to the step's outputs; `kube.wait` to what a JSONPath prints.

use std::borrow::Cow;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::locate::Seg;
use crate::model::fold::{Folder, key, under};
use crate::model::grammar::{Pattern, Rendered, Stage, Templated, Written};

/// A condition on a value.
#[derive(Clone, Debug, PartialEq)]
pub enum Until<S: Stage = Written> {
    /// The value is not empty (blanks aside).
    NonEmpty,
    /// The value, trimmed, equals this text.
    Equals(String),
    /// The value matches this regular expression.
    Matches(S::Of<Pattern>),
}

impl Until {
    /// Folds the template fields; `at` is where the condition is written.
    pub(crate) fn fold<F: Folder>(&self, f: &mut F, at: &[Seg]) -> Result<Until<F::Out>, F::Error> {
        Ok(match self {
            Until::NonEmpty => Until::NonEmpty,
            Until::Equals(e) => Until::Equals(f.text(&under(at, key("equals")), e)?),
            Until::Matches(m) => Until::Matches(f.grammar(&under(at, key("matches")), m)?),
        })
    }
}

impl Until<Rendered> {
    /// Whether `value` satisfies the condition.
    pub fn holds(&self, value: &str) -> bool {
        match self {
            Until::NonEmpty => !value.trim().is_empty(),
            Until::Equals(expected) => value.trim() == expected,
            Until::Matches(pattern) => pattern.is_match(value),
        }
    }
}

impl Serialize for Until {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let (name, text) = match self {
            Until::NonEmpty => return s.serialize_str("nonempty"),
            Until::Equals(e) => ("equals", e.as_str()),
            Until::Matches(m) => ("matches", m.text()),
        };
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry(name, text)?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for Until {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        const VARIANTS: &[&str] = &["nonempty", "equals", "matches"];
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Until;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("`nonempty`, `{equals: TEXT}` or `{matches: REGEX}`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Until, E> {
                match v {
                    "nonempty" => Ok(Until::NonEmpty),
                    other => Err(E::unknown_variant(other, VARIANTS)),
                }
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<Until, A::Error> {
                use serde::de::Error;
                let until = match map.next_key::<String>()?.as_deref() {
                    Some("equals") => Until::Equals(map.next_value()?),
                    Some("matches") => Until::Matches(map.next_value::<Templated<Pattern>>()?),
                    Some(other) => return Err(A::Error::unknown_variant(other, &VARIANTS[1..])),
                    None => return Err(A::Error::custom("expected one of equals, matches")),
                };
                if let Some(extra) = map.next_key::<String>()? {
                    return Err(A::Error::custom(format!(
                        "`equals` and `matches` cannot be combined with `{extra}`: give one"
                    )));
                }
                Ok(until)
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl JsonSchema for Until {
    fn schema_name() -> Cow<'static, str> {
        "Until".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "description": "A condition on a value.",
            "oneOf": [
                {"description": "The value is not empty.", "const": "nonempty"},
                {"description": "The value equals this text.", "type": "object",
                 "properties": {"equals": {"type": "string"}}, "required": ["equals"], "additionalProperties": false},
                {"description": "The value matches this regular expression.", "type": "object",
                 "properties": {"matches": {"type": "string"}}, "required": ["matches"], "additionalProperties": false},
            ]
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::grammar::Grammar;

    #[test]
    fn nonempty_equals_and_matches() {
        assert!(!Until::<Rendered>::NonEmpty.holds(" "));
        assert!(Until::<Rendered>::NonEmpty.holds("1.2.3.4"));
        assert!(Until::<Rendered>::Equals("Running".into()).holds("Running\n"));
        assert!(!Until::<Rendered>::Equals("Running".into()).holds("Pending"));
        let digits = Until::<Rendered>::Matches(Pattern::parse(r"^\d+\.").unwrap());
        assert!(digits.holds("10.0.0.1") && !digits.holds("x"));
    }

    #[test]
    fn reads_and_writes_its_yaml_forms() {
        for text in ["nonempty", "{equals: Running}", "{matches: '^v1'}"] {
            let until: Until = serde_yaml::from_str(text).unwrap();
            let back = serde_yaml::to_string(&until).unwrap();
            assert_eq!(
                serde_yaml::from_str::<Until>(&back).unwrap(),
                until,
                "{text}"
            );
        }
        let err = serde_yaml::from_str::<Until>("non-empty")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown variant `non-empty`"), "{err}");
    }
}
