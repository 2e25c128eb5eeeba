//! kubectl's JSONPath: the template language of `kubectl get -o jsonpath=...`.
//!
//! This follows client-go's `util/jsonpath` and the cli-runtime printer, quirks included:
//! `[]` is `[0]`, `['a.b']` means `.a.b`, a slice selecting nothing stops the step,
//! results of one action are joined by a single space, maps print as compact JSON with
//! sorted keys, and missing keys are an error unless `allow_missing_keys` is set
//! (kubectl sets it by default: `--allow-missing-template-keys=true`).
//!
//! Deliberate differences from kubectl, all in corners:
//! - Where Go leaves the order open (the values of a map under `.*` and `..`), the
//!   document order of the object is used.
//! - Filtering a string or a map reports `<string>` / `<map[string]interface {}>` instead
//!   of printing the value, so object data (a Secret's, say) never lands in an error.
//! - Indexing the "no value" of an empty `{range}` is an error here; kubectl panics.
//! - Go's Unicode digit and letter classes are approximated for non-ASCII characters,
//!   and a `\xff`-style literal that is not UTF-8 prints as U+FFFD.
//!
//! kubectl wraps the error texts returned here as
//! `error parsing jsonpath <template>, <message>` and
//! `error executing jsonpath "<template>": Error executing template: <message>. ...`.

mod compare;
mod error;
mod eval;
mod item;
mod node;
mod parser;
mod print;
mod scan;
mod unquote;

use serde_json::Value;

pub use error::ExecError;
pub use parser::{ParseError, ParseErrorKind};

/// A parsed kubectl JSONPath template, reusable across objects.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    template: String,
    nodes: Vec<node::Node>,
}

/// A template that failed to parse or to run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The template does not parse.
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// The template parsed but failed on the data.
    #[error(transparent)]
    Exec(#[from] ExecError),
}

impl JsonPath {
    /// Parses a template such as `{.items[*].metadata.name}`.
    pub fn parse(template: &str) -> Result<JsonPath, ParseError> {
        Ok(JsonPath {
            template: template.to_string(),
            nodes: parser::parse(template)?,
        })
    }

    /// The template text this was parsed from.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// Exactly what `kubectl get -o jsonpath=TEMPLATE` prints for `data` (no newline added).
    pub fn render(&self, data: &Value, allow_missing_keys: bool) -> Result<String, ExecError> {
        let mut out = String::new();
        for results in self.items(data, allow_missing_keys)? {
            for (i, item) in results.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                print::text(*item, &mut out);
            }
        }
        Ok(out)
    }

    /// What `kubectl get -o jsonpath-as-json=TEMPLATE` prints: one indented JSON array
    /// per template node, each followed by a newline.
    pub fn render_as_json(
        &self,
        data: &Value,
        allow_missing_keys: bool,
    ) -> Result<String, ExecError> {
        let mut out = String::new();
        for results in self.items(data, allow_missing_keys)? {
            print::json_array(&results, &mut out);
        }
        Ok(out)
    }

    /// The raw results of every printed template node (text nodes included), in order.
    pub fn find_results(
        &self,
        data: &Value,
        allow_missing_keys: bool,
    ) -> Result<Vec<Vec<Value>>, ExecError> {
        let results = self.items(data, allow_missing_keys)?;
        Ok(results
            .into_iter()
            .map(|items| items.into_iter().map(|item| item.to_value()).collect())
            .collect())
    }

    fn items<'a>(
        &'a self,
        data: &'a Value,
        allow_missing_keys: bool,
    ) -> Result<Vec<Vec<item::Item<'a>>>, ExecError> {
        eval::Evaluator::new(&self.nodes, allow_missing_keys).find_results(data)
    }
}

impl std::str::FromStr for JsonPath {
    type Err = ParseError;

    fn from_str(template: &str) -> Result<Self, Self::Err> {
        JsonPath::parse(template)
    }
}

/// Parses and renders in one go, as `kubectl get -o jsonpath=TEMPLATE` does.
pub fn render_template(
    template: &str,
    data: &Value,
    allow_missing_keys: bool,
) -> Result<String, Error> {
    Ok(JsonPath::parse(template)?.render(data, allow_missing_keys)?)
}
