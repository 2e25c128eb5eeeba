//! Compute Engine's `filter` parameter on list methods. gcloud turns `--filter` into it where it
//! can and then trusts the server's answer, so a list must apply it.
//!
//! The grammar (Compute Engine API reference, `filter` of every `list`): one expression
//! `FIELD OP VALUE`, or several each in parentheses, all of which must hold. `OP` is `eq`/`=` or
//! `ne`/`!=`; `VALUE` (bare or double-quoted) is an RE2 regular expression that must match the
//! whole field. Nested fields use dots; a list field matches when any element does.

use regex::Regex;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};

/// A parsed filter.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    terms: Vec<Term>,
}

#[derive(Debug, Clone)]
struct Term {
    field: Vec<String>,
    negated: bool,
    pattern: Regex,
}

fn invalid(text: &str) -> ApiError {
    ApiError::invalid(format!(
        "Invalid value for field 'filter': '{text}'. Invalid list filter expression."
    ))
}

/// Splits `text` into top-level parenthesized groups, or returns it whole when it has none.
fn groups(text: &str) -> Option<Vec<String>> {
    let text = text.trim();
    if !text.starts_with('(') {
        return Some(vec![text.to_string()]);
    }
    let mut out = Vec::new();
    let mut depth = 0usize;
    let mut in_quote = false;
    let mut current = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' if in_quote => {
                current.push(c);
                current.extend(chars.next());
                continue;
            }
            '"' => in_quote = !in_quote,
            '(' if !in_quote => {
                depth += 1;
                if depth == 1 {
                    continue;
                }
            }
            ')' if !in_quote => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    out.push(std::mem::take(&mut current));
                    continue;
                }
            }
            c if depth == 0 && !c.is_whitespace() => return None,
            _ => {}
        }
        if depth > 0 {
            current.push(c);
        }
    }
    (depth == 0 && !in_quote).then_some(out)
}

fn term(text: &str) -> Option<Term> {
    let text = text.trim();
    let (field, rest) = text.split_once(char::is_whitespace)?;
    let rest = rest.trim_start();
    let (op, value) = rest.split_once(char::is_whitespace)?;
    let negated = match op {
        "eq" | "=" => false,
        "ne" | "!=" => true,
        _ => return None,
    };
    let value = value.trim();
    let value = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\""),
        None => value.to_string(),
    };
    let pattern = Regex::new(&format!("^(?:{value})$")).ok()?;
    Some(Term {
        field: field.split('.').map(str::to_string).collect(),
        negated,
        pattern,
    })
}

impl Filter {
    /// Parses a filter; an empty one matches everything.
    pub fn parse(text: Option<&str>) -> ApiResult<Filter> {
        let Some(text) = text.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(Filter::default());
        };
        let terms = groups(text)
            .ok_or_else(|| invalid(text))?
            .iter()
            .map(|g| term(g).ok_or_else(|| invalid(text)))
            .collect::<ApiResult<Vec<Term>>>()?;
        Ok(Filter { terms })
    }

    /// Whether `resource` passes every term.
    pub fn matches(&self, resource: &Value) -> bool {
        self.terms.iter().all(|t| {
            let mut values = Vec::new();
            collect(resource, &t.field, &mut values);
            let hit = values.iter().any(|v| t.pattern.is_match(v));
            hit != t.negated
        })
    }
}

/// The string values at `path` (lists are searched element by element).
fn collect(value: &Value, path: &[String], out: &mut Vec<String>) {
    match (value, path.split_first()) {
        (Value::Array(items), _) => items.iter().for_each(|i| collect(i, path, out)),
        (v, None) => match v {
            Value::String(s) => out.push(s.clone()),
            Value::Null => {}
            other => out.push(other.to_string()),
        },
        (Value::Object(map), Some((head, rest))) => {
            if let Some(v) = map.get(head) {
                collect(v, rest, out);
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_forms_gcloud_sends() {
        let vm = json!({"name": "vm1", "status": "RUNNING",
            "zone": "http://127.0.0.1:1/compute/v1/projects/p/zones/us-east1-b",
            "tags": {"items": ["a", "gke-c-1234-node"]}});
        let f = |t: &str| Filter::parse(Some(t)).unwrap().matches(&vm);
        assert!(f(r#"name eq ".*\bvm1\b.*""#));
        assert!(!f(r#"name eq ".*\bvm2\b.*""#));
        assert!(f(r#"name ne ".*\bvm2\b.*""#));
        assert!(f(r#"(status eq RUNNING)(zone eq ".*\bus\-east1\-b\b.*")"#));
        assert!(!f(
            r#"(status eq TERMINATED)(zone eq ".*\bus\-east1\-b\b.*")"#
        ));
        assert!(f(r#"tags.items eq "gke-.*-node""#));
        assert!(f(r#"name eq ".*(vm).*""#));
        assert!(Filter::parse(None).unwrap().matches(&vm));
    }

    #[test]
    fn malformed_filters_are_refused() {
        assert!(Filter::parse(Some("name")).is_err());
        assert!(Filter::parse(Some("name lt 3")).is_err());
        assert!(Filter::parse(Some("(name eq a")).is_err());
        assert!(Filter::parse(Some("name eq \"(\"")).is_err());
    }
}
