//! The one visitor over a step's template fields. Every step kind lists its template fields once,
//! in its `fold`; a [`Folder`] decides what happens to each: validation collects the names they
//! use, the plan renders what it can, a run renders everything and parses what has a grammar.

use indexmap::IndexMap;

use crate::locate::Seg;
use crate::model::grammar::{Grammar, Stage, Templated};

/// What to do with each template field of a step kind, and the stage the result is in.
pub(crate) trait Folder {
    /// The stage of the folded kind.
    type Out: Stage;
    /// Why a field could not be folded.
    type Error;

    /// A template field at `at` (a path relative to the kind's body).
    fn text(&mut self, at: &[Seg], text: &str) -> Result<String, Self::Error>;

    /// A template field with a grammar.
    fn grammar<T: Grammar>(
        &mut self,
        at: &[Seg],
        field: &Templated<T>,
    ) -> Result<<Self::Out as Stage>::Of<T>, Self::Error>;

    /// A YAML value given as data (a patch body): every string in it is a template; keys are not.
    fn json(
        &mut self,
        at: &[Seg],
        value: &serde_json::Value,
    ) -> Result<serde_json::Value, Self::Error> {
        use serde_json::Value;
        Ok(match value {
            Value::String(s) => Value::String(self.text(at, s)?),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, v)| self.json(&under(at, Seg::Index(i)), v))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.json(&under(at, key(k)), v)?)))
                    .collect::<Result<_, Self::Error>>()?,
            ),
            other => other.clone(),
        })
    }

    /// An optional template field.
    fn opt_text(&mut self, at: &str, text: Option<&String>) -> Result<Option<String>, Self::Error> {
        text.map(|t| self.text(&[key(at)], t)).transpose()
    }

    /// An optional field with a grammar.
    fn opt_grammar<T: Grammar>(
        &mut self,
        at: &str,
        field: Option<&Templated<T>>,
    ) -> Result<Option<<Self::Out as Stage>::Of<T>>, Self::Error> {
        field.map(|f| self.grammar(&[key(at)], f)).transpose()
    }

    /// A list of template fields, each at its index under `at`.
    fn texts(&mut self, at: &str, items: &[String]) -> Result<Vec<String>, Self::Error> {
        items
            .iter()
            .enumerate()
            .map(|(i, t)| self.text(&[key(at), Seg::Index(i)], t))
            .collect()
    }

    /// A map whose values are template fields, each under its key.
    fn text_map(
        &mut self,
        at: &str,
        map: &IndexMap<String, String>,
    ) -> Result<IndexMap<String, String>, Self::Error> {
        map.iter()
            .map(|(k, v)| Ok((k.clone(), self.text(&[key(at), key(k)], v)?)))
            .collect()
    }
}

/// A key segment of a field path.
pub(crate) fn key(name: &str) -> Seg {
    Seg::Key(name.to_string())
}

/// `at` with one more segment.
pub(crate) fn under(at: &[Seg], seg: Seg) -> Vec<Seg> {
    let mut path = at.to_vec();
    path.push(seg);
    path
}
