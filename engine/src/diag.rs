//! Problems found in a runbook or params file, each tied to a place in the source, and their
//! rendering as `FILE:LINE:COL: message` with the source line and a caret.

use std::fmt::Write as _;

use crate::locate::{Locator, Span, YamlPath};

/// Which part of a mapping entry a diagnostic points at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// The key (unknown fields, duplicate ids).
    Key,
    /// The value (wrong types, bad references).
    Value,
}

/// Where a diagnostic points.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Anchor {
    /// A node of the document, found by path when rendering; `needle` narrows it to a text inside
    /// the node (a template reference inside a script).
    Node {
        /// The node.
        path: YamlPath,
        /// Its key or its value.
        part: Part,
        /// A text inside the node to point at.
        needle: Option<String>,
    },
    /// A position the YAML parser reported (syntax errors).
    Position {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        col: usize,
    },
    /// Nowhere in particular (an empty file).
    Nowhere,
}

/// One problem, with an optional hint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnostic {
    /// What is wrong.
    pub message: String,
    /// Where.
    pub anchor: Anchor,
    /// How to fix it, when there is something useful to say.
    pub help: Option<String>,
}

impl Diagnostic {
    /// A problem with the value at `path`.
    pub(crate) fn at_value(path: YamlPath, message: impl Into<String>) -> Self {
        Diagnostic {
            message: message.into(),
            anchor: Anchor::Node {
                path,
                part: Part::Value,
                needle: None,
            },
            help: None,
        }
    }

    /// A problem with the key at `path`.
    pub(crate) fn at_key(path: YamlPath, message: impl Into<String>) -> Self {
        Diagnostic {
            message: message.into(),
            anchor: Anchor::Node {
                path,
                part: Part::Key,
                needle: None,
            },
            help: None,
        }
    }

    /// Adds a hint.
    pub(crate) fn with_help(mut self, help: impl Into<String>) -> Self {
        self.help = Some(help.into());
        self
    }

    /// Narrows the anchor to the first occurrence of `needle` inside the node.
    pub(crate) fn with_needle(mut self, needle: impl Into<String>) -> Self {
        if let Anchor::Node { needle: n, .. } = &mut self.anchor {
            *n = Some(needle.into());
        }
        self
    }
}

/// A resolved diagnostic: the file position and the line it is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Located {
    /// 1-based line (0 when there is none).
    pub line: usize,
    /// 1-based column.
    pub col: usize,
    /// Characters to underline.
    pub width: usize,
}

/// Finds the line and column of each diagnostic in `text`.
pub(crate) fn locate(text: &str, diagnostics: &[Diagnostic]) -> Vec<Located> {
    let text = without_bom(text);
    let needs_locator = diagnostics
        .iter()
        .any(|d| matches!(d.anchor, Anchor::Node { .. }));
    let locator = if needs_locator {
        Locator::new(text)
    } else {
        Locator::default()
    };
    diagnostics
        .iter()
        .map(|d| resolve(text, &locator, &d.anchor))
        .collect()
}

fn resolve(text: &str, locator: &Locator, anchor: &Anchor) -> Located {
    match anchor {
        Anchor::Nowhere => Located {
            line: 0,
            col: 0,
            width: 0,
        },
        Anchor::Position { line, col } => Located {
            line: *line,
            col: *col,
            width: 1,
        },
        Anchor::Node { path, part, needle } => {
            let Some(node) = locator.find(path) else {
                return Located {
                    line: 1,
                    col: 1,
                    width: 1,
                };
            };
            let exact = locator.has(path);
            let span = match part {
                Part::Key if exact => node.key.unwrap_or(node.value),
                _ => node.value,
            };
            let span = needle
                .as_deref()
                .and_then(|n| find_needle(text, span, n))
                .unwrap_or(span);
            Located {
                line: span.line,
                col: span.col,
                width: span.width,
            }
        }
    }
}

/// The text as loading reads it: without a leading byte order mark.
fn without_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

fn find_needle(text: &str, from: Span, needle: &str) -> Option<Span> {
    let found = from.offset + text.get(from.offset..)?.find(needle)?;
    let line_start = text[..found].rfind('\n').map_or(0, |i| i + 1);
    let line = text[..found].matches('\n').count() + 1;
    let col = text[line_start..found].chars().count() + 1;
    Some(Span {
        line,
        col,
        offset: found,
        width: needle.chars().count().max(1),
    })
}

/// A diagnostic placed in its file, for machines (`meshbook validate -o json`): 1-based line
/// and column, absent when the problem has no place (an empty file, a command-line flag).
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Finding {
    /// The file, as messages name it; absent for a problem that is in no file.
    pub file: Option<String>,
    /// 1-based line.
    pub line: Option<usize>,
    /// 1-based column, in characters.
    pub column: Option<usize>,
    /// What is wrong.
    pub message: String,
    /// How to fix it, when there is something useful to say.
    pub suggestion: Option<String>,
}

/// Places each diagnostic in `text`, in the order [`render`] prints them.
pub fn findings(file: &str, text: &str, diagnostics: &[Diagnostic]) -> Vec<Finding> {
    let located = locate(text, diagnostics);
    let mut out: Vec<Finding> = diagnostics
        .iter()
        .zip(&located)
        .map(|(d, at)| Finding {
            file: Some(file.to_string()),
            line: (at.line > 0).then_some(at.line),
            column: (at.line > 0).then_some(at.col),
            message: d.message.clone(),
            suggestion: d.help.clone(),
        })
        .collect();
    out.sort_by_key(|f| (f.line.unwrap_or(0), f.column.unwrap_or(0)));
    out
}

/// Renders diagnostics the way compilers do:
///
/// ```text
/// runbook.yaml:12:7: unknown field `contxt` in a kube.get step
///    |
/// 12 |       contxt: c1
///    |       ^^^^^^
///    = help: did you mean `context`?
/// ```
pub fn render(file: &str, text: &str, diagnostics: &[Diagnostic]) -> String {
    let text = without_bom(text);
    let located = locate(text, diagnostics);
    let mut order: Vec<usize> = (0..diagnostics.len()).collect();
    order.sort_by_key(|&i| (located[i].line, located[i].col));
    let lines: Vec<&str> = text.lines().collect();
    let mut out = String::new();
    for i in order {
        let (d, at) = (&diagnostics[i], &located[i]);
        if at.line == 0 {
            let _ = writeln!(out, "{file}: {}", d.message);
        } else {
            let _ = writeln!(out, "{file}:{}:{}: {}", at.line, at.col, d.message);
            if let Some(src) = lines.get(at.line - 1) {
                let gutter = at.line.to_string().len();
                let pad = " ".repeat(gutter);
                let lead: String = src
                    .chars()
                    .take(at.col.saturating_sub(1))
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                let avail = src
                    .chars()
                    .count()
                    .saturating_sub(at.col.saturating_sub(1))
                    .max(1);
                let _ = writeln!(out, "{pad} |");
                let _ = writeln!(out, "{} | {src}", at.line);
                let _ = writeln!(
                    out,
                    "{pad} | {lead}{}",
                    "^".repeat(at.width.min(avail).max(1))
                );
            }
        }
        if let Some(help) = &d.help {
            let _ = writeln!(out, "  = help: {help}");
        }
    }
    out
}
