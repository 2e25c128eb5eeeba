//! Templates: handlebars in strict mode without HTML escaping, plus the names a template uses
//! (so dependencies and undefined names are known before anything runs).

use std::collections::BTreeSet;

use base64::Engine as _;
use handlebars::template::{HelperTemplate, Parameter, Template, TemplateElement};
use handlebars::{
    Context, Handlebars, Helper, HelperResult, Output, RenderContext, RenderErrorReason,
};

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

/// Where a template sits, which decides what it may contain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// A field whose text is a value (a context, a manifest, a name).
    Field,
    /// A shell script body: values reach it only as `$NAME` or quoted by `{{sh NAME}}`.
    Script,
}

/// A template construct meshbook does not accept, and where it is in the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// What is wrong.
    pub message: String,
    /// The safe spelling, when there is one.
    pub help: Option<String>,
    /// The construct as written (from its `{{` to its `}}`), to point at.
    pub snippet: String,
}

/// The names `text` uses, or every construct in it that validation cannot see through.
///
/// The language is small on purpose, so that a template that validates cannot fail when it is
/// rendered and hides no data edge: values are strings, so a template names a param or an
/// output directly (`{{X}}`), passes it to `sh`, `b64enc` or `b64dec`, or tests it with
/// `{{#if}}`/`{{#unless}}` (conditions may use `eq`, `ne`, `not`, `and`, `or`). Lookups, paths
/// (`this`, `@root.X`, `./X`, `[X]`, `X.y`), `#each`, `#with`, partials and decorators are
/// rejected. In a script only `{{sh ...}}` may appear.
pub fn check(text: &str, place: Place) -> Result<BTreeSet<String>, Vec<Problem>> {
    let mut walk = Walk {
        text,
        place,
        names: BTreeSet::new(),
        problems: Vec::new(),
    };
    if !text.contains("{{") {
        return Ok(walk.names);
    }
    match Template::compile(text) {
        Ok(template) => walk.template(&template),
        Err(e) => {
            // The parser lists every token it could have accepted; the first clause is the useful part.
            let reason = e.reason().to_string();
            let reason = reason.split(": expected").next().unwrap_or(&reason);
            let snippet = e
                .pos()
                .map(|(line, col)| walk.snippet(line, col))
                .unwrap_or_default();
            walk.problems.push(Problem {
                message: format!("invalid template: {reason}"),
                help: None,
                snippet,
            });
        }
    }
    if walk.problems.is_empty() {
        Ok(walk.names)
    } else {
        Err(walk.problems)
    }
}

/// Helpers whose result is text: `{{sh X}}`, `{{b64enc X}}`, `{{b64dec X}}`.
const TEXT_HELPERS: [&str; 3] = ["sh", "b64enc", "b64dec"];

/// Helpers a condition may use, with the number of arguments each takes.
const CONDITION_HELPERS: [(&str, usize); 5] =
    [("eq", 2), ("ne", 2), ("not", 1), ("and", 2), ("or", 2)];

const LANGUAGE: &str = "templates may use `{{NAME}}`, `{{sh NAME}}`, `{{b64enc NAME}}`, \
`{{b64dec NAME}}` and `{{#if NAME}}…{{else}}…{{/if}}` (or `#unless`)";

struct Walk<'a> {
    text: &'a str,
    place: Place,
    names: BTreeSet<String>,
    problems: Vec<Problem>,
}

impl Walk<'_> {
    fn template(&mut self, template: &Template) {
        for (i, element) in template.elements.iter().enumerate() {
            let at = template
                .mapping
                .get(i)
                .map(|m| (m.0, m.1))
                .unwrap_or((1, 1));
            self.element(element, at);
        }
    }

    fn element(&mut self, element: &TemplateElement, at: (usize, usize)) {
        match element {
            TemplateElement::RawString(_) | TemplateElement::Comment(_) => {}
            TemplateElement::Expression(h) | TemplateElement::HtmlExpression(h) => {
                let quoted = matches!(&h.name, Parameter::Name(n) if n == "sh");
                let triple = matches!(element, TemplateElement::HtmlExpression(_));
                if self.place == Place::Script && (!quoted || triple) {
                    let problem = self.unsafe_in_script(h, at);
                    self.problems.push(problem);
                    return;
                }
                if h.params.is_empty() && h.hash.is_empty() && !is_text_helper(&h.name) {
                    self.argument(&h.name, at);
                } else {
                    self.call(
                        &h.name,
                        &h.params,
                        &h.hash,
                        &TEXT_HELPERS.map(|n| (n, 1)),
                        at,
                    );
                }
            }
            TemplateElement::HelperBlock(h) => {
                let name = h.name.as_name().unwrap_or_default();
                if self.place == Place::Script {
                    // One error for the block: what is inside it is the same mistake.
                    let problem = self.unsafe_in_script(h, at);
                    self.problems.push(problem);
                    return;
                } else if !matches!(name, "if" | "unless") || h.block_param.is_some() {
                    self.reject(at, format!("`#{name}` blocks are not supported"), None);
                } else {
                    self.call(&h.name, &h.params, &h.hash, &[("if", 1), ("unless", 1)], at);
                }
                for t in h.template.iter().chain(&h.inverse) {
                    self.template(t);
                }
            }
            TemplateElement::PartialExpression(_) | TemplateElement::PartialBlock(_) => {
                self.reject(at, "partials (`{{> name}}`) are not supported".into(), None)
            }
            _ => self.reject(
                at,
                "decorators (`{{* name}}`) are not supported".into(),
                None,
            ),
        }
    }

    /// A helper call: its name must be one of `allowed`, with that many plain arguments.
    fn call(
        &mut self,
        name: &Parameter,
        params: &[Parameter],
        hash: &std::collections::HashMap<String, Parameter>,
        allowed: &[(&str, usize)],
        at: (usize, usize),
    ) {
        let helper = name.as_name().unwrap_or_default();
        let Some(&(_, arity)) = allowed.iter().find(|(n, _)| *n == helper) else {
            let message = if helper == "lookup" {
                "`lookup` is not supported: it hides which value a step uses".to_string()
            } else {
                format!("unknown helper `{helper}`")
            };
            self.reject(at, message, None);
            return;
        };
        if params.len() != arity || !hash.is_empty() {
            let s = if arity == 1 { "" } else { "s" };
            self.reject(at, format!("`{helper}` takes {arity} argument{s}"), None);
            return;
        }
        for p in params {
            match p {
                Parameter::Subexpression(sub) => {
                    let inner: Vec<(&str, usize)> = match (self.place, helper) {
                        (_, "sh" | "b64enc" | "b64dec") => TEXT_HELPERS.map(|n| (n, 1)).to_vec(),
                        _ => TEXT_HELPERS
                            .map(|n| (n, 1))
                            .into_iter()
                            .chain(CONDITION_HELPERS)
                            .collect(),
                    };
                    if let TemplateElement::Expression(h) = sub.as_element() {
                        self.call(&h.name, &h.params, &h.hash, &inner, at);
                    }
                }
                other => self.argument(other, at),
            }
        }
    }

    /// A value: a plain name (recorded), or a literal.
    fn argument(&mut self, p: &Parameter, at: (usize, usize)) {
        let raw = match p {
            Parameter::Name(_) | Parameter::Path(_) => p.as_name().unwrap_or_default(),
            Parameter::Literal(v) if !v.is_null() => return,
            Parameter::Literal(_) => return self.reject(at, "`null` is not a value".into(), None),
            _ => return self.reject(at, "a subexpression is not a value here".into(), None),
        };
        if is_plain_name(raw) {
            self.names.insert(raw.to_string());
            return;
        }
        let root = raw
            .trim_start_matches("@root")
            .trim_start_matches(['.', '/', '['])
            .split(['.', '/', '[', ']'])
            .find(|s| is_plain_name(s));
        let help = root.map(|n| format!("name the value directly: `{{{{{n}}}}}`"));
        self.reject(
            at,
            format!("`{raw}`: a template names a param or output directly (values are text, with no fields)"),
            help,
        );
    }

    fn unsafe_in_script(&self, h: &HelperTemplate, at: (usize, usize)) -> Problem {
        let mut names = Walk {
            text: self.text,
            place: Place::Field,
            names: BTreeSet::new(),
            problems: Vec::new(),
        };
        names.loose(h);
        let snippet = self.snippet(at.0, at.1);
        let help = match names.names.iter().next() {
            Some(n) => format!("use `${n}` (the step's environment has it) or `{{{{sh {n}}}}}`"),
            None => "use `$NAME` (the step's environment has it) or `{{sh NAME}}`".to_string(),
        };
        Problem {
            message: format!(
                "`{snippet}` puts a value into a script unquoted: only `{{{{sh NAME}}}}` may appear in a script"
            ),
            help: Some(help),
            snippet,
        }
    }

    /// Every name-like word of a construct, to suggest the safe spelling.
    fn loose(&mut self, h: &HelperTemplate) {
        let params = std::iter::once(&h.name)
            .chain(&h.params)
            .chain(h.hash.values());
        for p in params {
            match p {
                Parameter::Path(_) => {
                    let raw = p.as_name().unwrap_or_default().trim_start_matches("@root");
                    if let Some(n) = raw
                        .split(['.', '/', '[', ']'])
                        .find(|s| is_plain_name(s) && *s != "this")
                    {
                        self.names.insert(n.to_string());
                    }
                }
                Parameter::Literal(serde_json::Value::String(s)) if is_plain_name(s) => {
                    self.names.insert(s.clone());
                }
                Parameter::Subexpression(sub) => {
                    if let TemplateElement::Expression(inner) = sub.as_element() {
                        self.loose(inner);
                    }
                }
                _ => {}
            }
        }
        for t in h.template.iter().chain(&h.inverse) {
            for e in &t.elements {
                if let TemplateElement::Expression(inner)
                | TemplateElement::HtmlExpression(inner)
                | TemplateElement::HelperBlock(inner) = e
                {
                    self.loose(inner);
                }
            }
        }
    }

    fn reject(&mut self, at: (usize, usize), message: String, help: Option<String>) {
        let snippet = self.snippet(at.0, at.1);
        let place = if self.place == Place::Script {
            " in a script"
        } else {
            ""
        };
        self.problems.push(Problem {
            message: format!("`{snippet}`{place}: {message}"),
            help: help.or_else(|| Some(LANGUAGE.to_string())),
            snippet,
        });
    }

    /// The tag that starts at 1-based `line`, `col` of the text: from there to its `}}`.
    fn snippet(&self, line: usize, col: usize) -> String {
        let start = self
            .text
            .split_inclusive('\n')
            .take(line.saturating_sub(1))
            .map(str::len)
            .sum::<usize>();
        let rest = &self.text[start.min(self.text.len())..];
        let rest = match rest.char_indices().nth(col.saturating_sub(1)) {
            Some((i, _)) => &rest[i..],
            None => "",
        };
        let rest = &rest[rest.find("{{").unwrap_or(0)..];
        let end = rest
            .find("}}")
            .map(|i| i + 2 + usize::from(rest[i + 2..].starts_with('}')))
            .unwrap_or_else(|| rest.find('\n').unwrap_or(rest.len()));
        rest[..end].to_string()
    }
}

fn is_text_helper(name: &Parameter) -> bool {
    matches!(name.as_name(), Some(n) if TEXT_HELPERS.contains(&n))
}

/// A param or output name as a template may write it.
fn is_plain_name(s: &str) -> bool {
    s != "this" && crate::model::names::is_env_name(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names(text: &str, place: Place) -> Vec<String> {
        check(text, place).unwrap().into_iter().collect()
    }

    fn problems(text: &str, place: Place) -> Vec<Problem> {
        check(text, place).expect_err(text)
    }

    #[test]
    fn finds_the_names_a_template_uses() {
        assert!(names("plain", Place::Field).is_empty());
        assert_eq!(names("{{A}}-{{sh B}}", Place::Field), ["A", "B"]);
        assert_eq!(
            names("{{#if C}}{{D}}{{else}}{{{E}}}{{/if}}", Place::Field),
            ["C", "D", "E"]
        );
        assert_eq!(
            names("{{#unless (eq F \"x\")}}y{{/unless}}", Place::Field),
            ["F"]
        );
        assert_eq!(names("{{sh (b64dec E)}}", Place::Script), ["E"]);
        assert_eq!(names("echo {{sh A}} {{! note }}", Place::Script), ["A"]);
    }

    #[test]
    fn what_validates_renders() {
        let r = Renderer::new();
        let data = json!({"A": "", "B": "b", "C": "aGk="});
        for (text, want) in [
            ("{{#if A}}a{{else if B}}{{B}}{{/if}}", "b"),
            (
                "{{#unless (eq B \"b\")}}no{{else}}{{sh (b64dec C)}}{{/unless}}",
                "hi",
            ),
            ("{{#if (and B (not A))}}{{{B}}}{{/if}}", "b"),
        ] {
            check(text, Place::Field).unwrap();
            assert_eq!(r.render(text, &data).unwrap(), want, "{text}");
        }
    }

    #[test]
    fn a_script_takes_values_only_quoted() {
        for text in [
            "echo {{X}}",
            "echo {{{X}}}",
            "echo {{lookup this \"X\"}}",
            "echo {{#with X}}{{this}}{{/with}}",
            "echo {{b64dec (b64enc X)}}",
            "echo {{#each this}}{{this}}{{/each}}",
            "echo {{this.X}}",
            "echo {{./X}}",
            "echo {{[X]}}",
            "echo {{@root.X}}",
            "echo {{#if X}}{{lookup this \"X\"}}{{/if}}",
            "echo {{#if X}}{{sh X}}{{/if}}",
            "echo {{{sh X}}}",
        ] {
            let p = problems(text, Place::Script);
            assert_eq!(p.len(), 1, "{text}: {p:?}");
            assert!(text.contains(&p[0].snippet), "{text}: {p:?}");
            assert!(p[0].snippet.starts_with("{{"), "{text}: {p:?}");
            let help = p[0].help.as_deref().unwrap();
            let name = if text.contains('X') { "X" } else { "NAME" };
            assert!(
                help.contains(&format!("`${name}`"))
                    && help.contains(&format!("`{{{{sh {name}}}}}`")),
                "{text}: {help}"
            );
        }
    }

    #[test]
    fn rejects_what_validation_cannot_see_through() {
        for (text, says) in [
            ("{{lookup this \"X\"}}", "`lookup` is not supported"),
            ("{{@root.NOPE}}", "names a param or output directly"),
            ("{{X.field}}", "names a param or output directly"),
            ("{{> p}}", "partials"),
            ("{{nope X}}", "unknown helper `nope`"),
            ("{{#each X}}{{this}}{{/each}}", "`#each` blocks"),
            ("{{#with X}}{{this}}{{/with}}", "`#with` blocks"),
            ("{{sh A B}}", "`sh` takes 1 argument"),
            ("{{#if (gt A 1)}}x{{/if}}", "unknown helper `gt`"),
            ("{{sh (eq A B)}}", "unknown helper `eq`"),
            ("{{#if A}}", "invalid template"),
            ("{{A", "invalid template"),
        ] {
            let p = problems(text, Place::Field);
            assert!(p[0].message.contains(says), "{text}: {p:?}");
        }
    }

    #[test]
    fn points_at_the_construct_in_its_line() {
        let p = problems("a: {{A}}\nb: {{#each B}}x{{/each}}\n", Place::Field);
        assert_eq!(p[0].snippet, "{{#each B}}");
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
