//! Named values a run carries (params, outputs), each knowing whether it is secret: one type
//! that says what to mask, what to seal and what a template or a script may see.

use std::collections::BTreeSet;

use indexmap::IndexMap;

use crate::events::Stored;
use crate::state::secrets::{Sealer, SecretError};

/// A value and whether it is secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Value {
    /// The text.
    pub text: String,
    /// Never shown, logged or stored in clear text.
    pub secret: bool,
}

/// Values by name, in the order they were added.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Values(IndexMap<String, Value>);

impl Values {
    /// No values.
    pub fn new() -> Values {
        Values::default()
    }

    /// Adds (or replaces) a value.
    pub fn insert(&mut self, name: impl Into<String>, text: impl Into<String>, secret: bool) {
        self.0.insert(
            name.into(),
            Value {
                text: text.into(),
                secret,
            },
        );
    }

    /// Adds every value of `other`, replacing values of the same name.
    pub fn extend(&mut self, other: Values) {
        self.0.extend(other.0);
    }

    /// The text of a value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(|v| v.text.as_str())
    }

    /// Whether a value is there.
    pub fn contains(&self, name: &str) -> bool {
        self.0.contains_key(name)
    }

    /// Name and text of every value, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v.text.as_str()))
    }

    /// Name and value of every value, in order.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Value)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// How many values there are.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Only the values named in `names`: what a step uses.
    pub fn only(&self, names: &BTreeSet<String>) -> Values {
        Values(
            self.0
                .iter()
                .filter(|(k, _)| names.contains(*k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        )
    }

    /// The texts of the secret values (empty ones left out: there is nothing to hide).
    pub fn secrets(&self) -> Vec<String> {
        self.0
            .values()
            .filter(|v| v.secret && !v.text.trim().is_empty())
            .map(|v| v.text.clone())
            .collect()
    }

    /// `text` with every secret value masked (see [`mask`](crate::mask::mask)).
    pub(crate) fn mask(&self, text: &str) -> String {
        crate::mask::mask(text, &self.secrets())
    }

    /// The values as a template sees them.
    pub fn data(&self) -> serde_json::Value {
        crate::render::data(self.iter())
    }

    /// The values as they are stored: secret ones sealed.
    pub fn store(&self, sealer: &Sealer) -> IndexMap<String, Stored> {
        self.0
            .iter()
            .map(|(k, v)| {
                let stored = if v.secret {
                    Stored::Sealed(sealer.seal(k, &v.text))
                } else {
                    Stored::Plain(v.text.clone())
                };
                (k.clone(), stored)
            })
            .collect()
    }

    /// Values stored earlier: sealed ones are opened, and are secret.
    pub fn open(stored: &IndexMap<String, Stored>, sealer: &Sealer) -> Result<Values, SecretError> {
        stored
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    Stored::Plain(p) => Value {
                        text: p.clone(),
                        secret: false,
                    },
                    Stored::Sealed(s) => Value {
                        text: sealer.open(k, s)?,
                        secret: true,
                    },
                };
                Ok((k.clone(), value))
            })
            .collect::<Result<_, _>>()
            .map(Values)
    }
}

impl FromIterator<(String, Value)> for Values {
    fn from_iter<I: IntoIterator<Item = (String, Value)>>(iter: I) -> Self {
        Values(iter.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrecy_travels_with_the_values() {
        let mut values = Values::new();
        values.insert("ADDR", "10.0.0.1", false);
        values.insert("TOKEN", "hunter2", true);
        values.insert("EMPTY", "", true);
        assert_eq!(values.secrets(), ["hunter2"]);
        assert_eq!(
            values.mask("use hunter2 at 10.0.0.1"),
            "use *** at 10.0.0.1"
        );
        let used: BTreeSet<String> = ["TOKEN".to_string()].into();
        assert_eq!(
            values.only(&used).iter().collect::<Vec<_>>(),
            [("TOKEN", "hunter2")]
        );

        let sealer = Sealer::from_key([1; 32]);
        let stored = values.store(&sealer);
        assert_eq!(stored["ADDR"], Stored::Plain("10.0.0.1".into()));
        assert!(matches!(&stored["TOKEN"], Stored::Sealed(s) if !s.contains("hunter2")));
        assert_eq!(Values::open(&stored, &sealer).unwrap(), values);
        assert!(Values::open(&stored, &Sealer::from_key([2; 32])).is_err());
    }
}
