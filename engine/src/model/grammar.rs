//! Text fields with a grammar of their own (a label selector, a kubectl JSONPath, a regular
//! expression, a condition, a label edit), and the two stages a step kind lives in.
//!
//! A field with a grammar is parsed when the runbook is loaded, so a mistake is reported with its
//! line and column; a field that holds a template can only be parsed once it is rendered. A step
//! kind is therefore generic over its [`Stage`]: as [`Written`] in the runbook, each such field is
//! a [`Templated`] text (parsed unless it holds a template); as [`Rendered`] for an executor, it
//! is the parsed value itself, so executors never parse or check anything again.

use std::fmt;

use meshbook_inspect::jsonpath::JsonPath;
use meshbook_inspect::labels::Selector;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Where a step kind is: as written in the runbook, or rendered for an executor.
pub trait Stage: Clone + fmt::Debug + PartialEq + 'static {
    /// The form a field with grammar `T` takes at this stage.
    type Of<T: Grammar>: Clone + fmt::Debug + PartialEq;
}

/// The stage of a runbook as written: fields hold templates.
#[derive(Clone, Debug, PartialEq)]
pub enum Written {}

/// The stage an executor sees: every template rendered, every grammar parsed.
#[derive(Clone, Debug, PartialEq)]
pub enum Rendered {}

impl Stage for Written {
    type Of<T: Grammar> = Templated<T>;
}

impl Stage for Rendered {
    type Of<T: Grammar> = T;
}

/// A text grammar: how a field's text becomes a value, and the text it came from.
pub trait Grammar: Clone + fmt::Debug + PartialEq + Sized {
    /// Parses `text`; the error says what is wrong, phrased for a diagnostic.
    fn parse(text: &str) -> Result<Self, String>;
    /// The text the value was parsed from.
    fn text(&self) -> &str;
}

/// True when `text` holds a template, so that its grammar can be checked only once rendered.
pub(crate) fn is_template(text: &str) -> bool {
    text.contains("{{")
}

/// A field with a grammar as written: its text, parsed unless it holds a template.
#[derive(Clone, Debug, PartialEq)]
pub struct Templated<T> {
    text: String,
    parsed: Option<T>,
}

impl<T: Grammar> Templated<T> {
    /// Reads `text`, parsing it unless it holds a template.
    pub fn new(text: impl Into<String>) -> Result<Self, String> {
        let text = text.into();
        let parsed = if is_template(&text) {
            None
        } else {
            Some(T::parse(&text)?)
        };
        Ok(Templated { text, parsed })
    }

    /// Text that is shown, not used (a plan's placeholders stand in for values).
    pub fn shown(text: impl Into<String>) -> Self {
        let text = text.into();
        let parsed = T::parse(&text).ok();
        Templated { text, parsed }
    }

    /// The text as written.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// The parsed value, when the text holds no template.
    pub(crate) fn parsed(&self) -> Option<&T> {
        self.parsed.as_ref()
    }
}

impl<T: Grammar> From<T> for Templated<T> {
    fn from(value: T) -> Self {
        Templated {
            text: value.text().to_string(),
            parsed: Some(value),
        }
    }
}

impl<'de, T: Grammar> Deserialize<'de> for Templated<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Templated::new(text).map_err(serde::de::Error::custom)
    }
}

impl<T> Serialize for Templated<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.text)
    }
}

impl<T> JsonSchema for Templated<T> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        String::schema_name()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }
}

/// A field with a grammar that takes no template: parsed when the runbook is loaded.
#[derive(Clone, Debug, PartialEq)]
pub struct Parsed<T>(pub T);

impl<'de, T: Grammar> Deserialize<'de> for Parsed<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        T::parse(&text)
            .map(Parsed)
            .map_err(serde::de::Error::custom)
    }
}

impl<T: Grammar> Serialize for Parsed<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.text())
    }
}

impl<T> JsonSchema for Parsed<T> {
    fn inline_schema() -> bool {
        true
    }
    fn schema_name() -> std::borrow::Cow<'static, str> {
        String::schema_name()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        String::json_schema(generator)
    }
}

impl Grammar for Selector {
    fn parse(text: &str) -> Result<Self, String> {
        Selector::parse(text).map_err(|e| e.to_string())
    }
    fn text(&self) -> &str {
        self.as_str()
    }
}

impl Grammar for JsonPath {
    fn parse(text: &str) -> Result<Self, String> {
        JsonPath::parse(text).map_err(|e| format!("invalid kubectl JSONPath `{text}`: {e}"))
    }
    fn text(&self) -> &str {
        self.template()
    }
}

/// A regular expression (Rust's `regex` syntax).
#[derive(Clone, Debug)]
pub struct Pattern(regex::Regex);

impl Pattern {
    /// True when the pattern matches somewhere in `text`.
    pub(crate) fn is_match(&self, text: &str) -> bool {
        self.0.is_match(text)
    }
}

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

impl Grammar for Pattern {
    fn parse(text: &str) -> Result<Self, String> {
        regex::Regex::new(text).map(Pattern).map_err(|e| {
            // The crate's message draws the pattern over several lines; the last one says why.
            let full = e.to_string();
            let last = full.lines().last().unwrap_or_default().trim();
            format!(
                "invalid regular expression: {}",
                last.strip_prefix("error: ").unwrap_or(last)
            )
        })
    }
    fn text(&self) -> &str {
        self.0.as_str()
    }
}

/// A condition to wait for, as `kubectl wait --for=condition=Type[=Status]` takes it.
#[derive(Clone, Debug, PartialEq)]
pub struct Condition {
    text: String,
    /// The condition's type (`Available`), compared without case.
    pub kind: String,
    /// The wanted status (`True` unless given), compared without case.
    pub status: String,
}

impl Grammar for Condition {
    fn parse(text: &str) -> Result<Self, String> {
        // `kubectl wait --for=condition=Ready` is often copied with its `condition=`.
        let body = text.trim();
        let body = body.strip_prefix("condition=").unwrap_or(body);
        let (kind, status) = match body.split_once('=') {
            Some((k, s)) => (k.trim(), s.trim()),
            None => (body, "True"),
        };
        if kind.is_empty() || status.is_empty() {
            return Err(format!("condition `{text}` is not `Type` or `Type=Status`"));
        }
        Ok(Condition {
            text: text.to_string(),
            kind: kind.to_string(),
            status: status.to_string(),
        })
    }
    fn text(&self) -> &str {
        &self.text
    }
}

/// One change of labels or annotations, as `kubectl label` takes it: `key=value` sets the key,
/// `key-` removes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Edit {
    text: String,
    /// The key.
    pub key: String,
    /// The value to set, or `None` to remove the key.
    pub value: Option<String>,
}

impl Grammar for Edit {
    fn parse(text: &str) -> Result<Self, String> {
        let (key, value) = match text.split_once('=') {
            Some((key, value)) if !key.is_empty() => (key, Some(value)),
            None if text.len() > 1 && text.ends_with('-') => (&text[..text.len() - 1], None),
            _ => {
                return Err(format!(
                    "`{text}` is neither `key=value` nor `key-`{HELP}write `key=value` to set, `key-` to remove"
                ));
            }
        };
        Ok(Edit {
            text: text.to_string(),
            key: key.to_string(),
            value: value.map(str::to_string),
        })
    }
    fn text(&self) -> &str {
        &self.text
    }
}

/// Separates a message from its help in the text of a deserialization error (serde's errors are
/// only text); the loader splits it into a diagnostic's message and help.
pub(crate) const HELP: &str = "\n= help: ";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_text_is_parsed_at_once_and_templates_later() {
        let sel = Templated::<Selector>::new("app=web").unwrap();
        assert!(sel.parsed().is_some_and(|s| s.as_str() == "app=web"));
        let later = Templated::<Selector>::new("app={{APP}}").unwrap();
        assert_eq!((later.text(), later.parsed()), ("app={{APP}}", None));
        let err = Templated::<Selector>::new("app in (a").unwrap_err();
        assert_eq!(
            err,
            r#"invalid label selector "app in (a": bad requirement "app in (a""#
        );
    }

    #[test]
    fn conditions_default_to_true() {
        let c = Condition::parse("condition=Available").unwrap();
        assert_eq!((c.kind.as_str(), c.status.as_str()), ("Available", "True"));
        let c = Condition::parse("Ready=False").unwrap();
        assert_eq!((c.kind.as_str(), c.status.as_str()), ("Ready", "False"));
        assert!(Condition::parse("=x").is_err());
    }

    #[test]
    fn edits_parse_like_kubectl() {
        let set = Edit::parse("istio-injection=enabled").unwrap();
        assert_eq!(
            (set.key.as_str(), set.value.as_deref()),
            ("istio-injection", Some("enabled"))
        );
        let remove = Edit::parse("old-").unwrap();
        assert_eq!((remove.key.as_str(), remove.value), ("old", None));
        assert!(Edit::parse("bare").is_err());
        assert!(Edit::parse("=x").is_err());
        assert!(Edit::parse("-").is_err());
    }

    #[test]
    fn bad_patterns_say_why_on_one_line() {
        let err = Pattern::parse("[a").unwrap_err();
        assert_eq!(err, "invalid regular expression: unclosed character class");
    }
}
