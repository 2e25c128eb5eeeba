//! Templates: handlebars in strict mode without HTML escaping, plus the names a template uses
//! (so dependencies and undefined names are known before anything runs).

use std::collections::BTreeSet;

use base64::Engine as _;
use handlebars::template::{Parameter, Template, TemplateElement};
use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, Path, RenderContext, RenderErrorReason,
};

/// Helpers every template may call, besides handlebars' own (`if`, `each`, `eq`, ...).
pub(crate) const HELPERS: [&str; 3] = ["sh", "b64enc", "b64dec"];

const BUILTIN_HELPERS: [&str; 16] = [
    "if", "unless", "each", "with", "lookup", "log", "eq", "ne", "gt", "gte", "lt", "lte", "and",
    "or", "not", "len",
];

/// Why a template is unusable.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The text is not a valid template.
    #[error("invalid template: {0}")]
    Syntax(String),
    /// Rendering failed (an undefined name, a helper error).
    #[error("{0}")]
    Render(String),
}

/// The renderer every part of meshbook shares (it holds no state between renders).
pub fn renderer() -> &'static Renderer {
    static RENDERER: std::sync::LazyLock<Renderer> = std::sync::LazyLock::new(Renderer::new);
    &RENDERER
}

/// The template renderer: strict, unescaped, with meshbook's helpers.
pub struct Renderer {
    hb: Handlebars<'static>,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

impl Renderer {
    /// A renderer in strict mode with the `sh`, `b64enc` and `b64dec` helpers.
    pub fn new() -> Self {
        let mut hb = Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_escape_fn(handlebars::no_escape);
        hb.register_helper("sh", Box::new(sh_helper));
        hb.register_helper("b64enc", Box::new(b64enc_helper));
        hb.register_helper("b64dec", Box::new(b64dec_helper));
        Renderer { hb }
    }

    /// Renders `text` with `data`; text without `{{` is returned as is.
    pub fn render(&self, text: &str, data: &serde_json::Value) -> Result<String, TemplateError> {
        if !text.contains("{{") {
            return Ok(text.to_string());
        }
        self.hb
            .render_template(text, data)
            .map_err(|e| match e.reason() {
                RenderErrorReason::TemplateError(t) => {
                    TemplateError::Syntax(t.reason().to_string())
                }
                RenderErrorReason::MissingVariable(Some(name)) => {
                    TemplateError::Render(format!("`{name}` is not defined"))
                }
                other => TemplateError::Render(other.to_string()),
            })
    }
}

/// Quotes a value for bash: `it's` becomes `'it'\''s'`.
pub(crate) fn shell_quote(value: &str) -> String {
    if !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:=@,+%".contains(&b))
    {
        return value.to_string();
    }
    format!("'{}'", value.replace('\'', r"'\''"))
}

fn param_text(h: &Helper<'_>, name: &str) -> Result<String, RenderErrorReason> {
    let value = h
        .param(0)
        .ok_or(RenderErrorReason::ParamNotFoundForIndex("sh", 0))?;
    Ok(match value.value() {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => {
            return Err(RenderErrorReason::Other(format!(
                "{name}: the value is null"
            )));
        }
        other => other.to_string(),
    })
}

fn sh_helper(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    out.write(&shell_quote(&param_text(h, "sh")?))?;
    Ok(())
}

fn b64enc_helper(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let text = param_text(h, "b64enc")?;
    out.write(&base64::engine::general_purpose::STANDARD.encode(text))?;
    Ok(())
}

fn b64dec_helper(
    h: &Helper<'_>,
    _: &Handlebars<'_>,
    _: &Context,
    _: &mut RenderContext<'_, '_>,
    out: &mut dyn Output,
) -> HelperResult {
    let text = param_text(h, "b64dec")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .map_err(|_| RenderErrorReason::Other("b64dec: the value is not base64".into()))?;
    out.write(&String::from_utf8_lossy(&bytes))?;
    Ok(())
}

/// A use of a name inside a template.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Reference {
    /// The root name (`X` for `{{X}}` and `{{X.field}}`).
    pub name: String,
    /// True when the name appears bare (`{{X}}`), not as an argument of a helper such as `sh`.
    pub raw: bool,
}

/// The names `text` uses, or the reason it is not a valid template.
pub fn references(text: &str) -> Result<BTreeSet<Reference>, TemplateError> {
    let mut refs = BTreeSet::new();
    if !text.contains("{{") {
        return Ok(refs);
    }
    let template = Template::compile(text).map_err(|e| {
        // The parser lists every token it could have accepted; the first clause is the useful part.
        let reason = e.reason().to_string();
        TemplateError::Syntax(
            reason
                .split(": expected")
                .next()
                .unwrap_or(&reason)
                .to_string(),
        )
    })?;
    collect(&template, &mut refs);
    Ok(refs)
}

fn collect(template: &Template, refs: &mut BTreeSet<Reference>) {
    for element in &template.elements {
        match element {
            TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h) => {
                let is_helper = matches!(&h.name, Parameter::Name(n) if is_helper_name(n));
                if !is_helper && h.params.is_empty() && h.hash.is_empty() {
                    name_of(&h.name, true, refs);
                } else {
                    params(&h.params, refs);
                    params(h.hash.values(), refs);
                }
            }
            TemplateElement::HelperBlock(h) => {
                params(&h.params, refs);
                params(h.hash.values(), refs);
                if let Some(t) = &h.template {
                    collect(t, refs);
                }
                if let Some(t) = &h.inverse {
                    collect(t, refs);
                }
            }
            _ => {}
        }
    }
}

fn is_helper_name(name: &str) -> bool {
    HELPERS.contains(&name) || BUILTIN_HELPERS.contains(&name)
}

fn params<'a>(ps: impl IntoIterator<Item = &'a Parameter>, refs: &mut BTreeSet<Reference>) {
    for p in ps {
        match p {
            Parameter::Subexpression(sub) => {
                if let Some(ps) = sub.params() {
                    params(ps, refs);
                }
                if let Some(hash) = sub.hash() {
                    params(hash.values(), refs);
                }
            }
            other => name_of(other, false, refs),
        }
    }
}

fn name_of(p: &Parameter, raw: bool, refs: &mut BTreeSet<Reference>) {
    let name = match p {
        Parameter::Name(n) => n.split(['.', '/']).next().unwrap_or(n).to_string(),
        Parameter::Path(Path::Relative((_, raw_path))) => raw_path
            .split(['.', '/', '['])
            .next()
            .unwrap_or(raw_path)
            .to_string(),
        _ => return,
    };
    if name.is_empty() || name == "this" || name.starts_with('@') || name == ".." {
        return;
    }
    refs.insert(Reference { name, raw });
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(text: &str) -> Vec<(String, bool)> {
        references(text)
            .unwrap()
            .into_iter()
            .map(|r| (r.name, r.raw))
            .collect()
    }

    #[test]
    fn finds_bare_and_helper_references() {
        assert_eq!(names("plain"), vec![]);
        assert_eq!(
            names("{{A}}-{{sh B}}"),
            vec![("A".into(), true), ("B".into(), false)]
        );
        assert_eq!(
            names("{{#if C}}{{D.x}}{{/if}}"),
            vec![("C".into(), false), ("D".into(), true)]
        );
        assert_eq!(names("{{sh (b64dec E)}}"), vec![("E".into(), false)]);
    }

    #[test]
    fn rejects_malformed_templates() {
        assert!(references("{{#if A}}").is_err());
        assert!(references("{{A").is_err());
    }

    #[test]
    fn renders_strictly_without_escaping() {
        let r = Renderer::new();
        let data = json!({"A": "<a&b>", "Q": "it's here"});
        assert_eq!(r.render("{{A}}", &data).unwrap(), "<a&b>");
        assert_eq!(
            r.render("echo {{sh Q}}", &data).unwrap(),
            r"echo 'it'\''s here'"
        );
        assert_eq!(r.render("{{b64enc A}}", &data).unwrap(), "PGEmYj4=");
        let err = r.render("{{MISSING}}", &data).unwrap_err().to_string();
        assert!(err.contains("MISSING"), "{err}");
    }

    #[test]
    fn quotes_only_when_needed() {
        assert_eq!(shell_quote("10.0.0.1"), "10.0.0.1");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
    }
}
