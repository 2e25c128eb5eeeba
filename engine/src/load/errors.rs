//! Turning what serde and the YAML parser say into located diagnostics: the node an error is
//! about, the key a duplicate repeats, nesting too deep to parse, suggestions among candidates.

use crate::diag::{Anchor, Diagnostic};
use crate::locate::{Seg, YamlPath};
use crate::model::grammar::HELP;
use crate::suggest;

/// A deserialization error at the node it is about, below `base`.
pub(super) fn path_error(
    base: &YamlPath,
    err: serde_path_to_error::Error<serde_yaml::Error>,
) -> Diagnostic {
    let mut path = base.clone();
    for seg in err.path().iter() {
        match seg {
            serde_path_to_error::Segment::Seq { index } => path.push(Seg::Index(*index)),
            serde_path_to_error::Segment::Map { key } => path.push(Seg::Key(key.clone())),
            serde_path_to_error::Segment::Enum { variant } => path.push(Seg::Key(variant.clone())),
            serde_path_to_error::Segment::Unknown => {}
        }
    }
    serde_diagnostic(path, &err.into_inner().to_string())
}

/// Rewrites serde's messages into ours: unknown fields point at the key and suggest the closest
/// name; other messages point at the value.
fn serde_diagnostic(mut path: YamlPath, message: &str) -> Diagnostic {
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let (name, candidates) = name_and_candidates(rest);
        if path.last() != Some(&Seg::Key(name.to_string())) {
            path.push(Seg::Key(name.to_string()));
        }
        let mut d = Diagnostic::at_key(path, format!("unknown field `{name}`"));
        d.help = help_among(name, &candidates);
        return d;
    }
    if let Some(rest) = message.strip_prefix("unknown variant `") {
        let (name, candidates) = name_and_candidates(rest);
        let mut d = Diagnostic::at_value(path, format!("unknown value `{name}`"));
        d.help = help_among(name, &candidates);
        return d;
    }
    if let Some(rest) = message.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or(rest);
        return Diagnostic::at_value(path, format!("missing field `{name}`"));
    }
    // serde_yaml names its own type when an enum field gets a list or a mapping.
    let message = &message.replace("expected a Value::Tagged enum", "expected a name");
    // A grammar's message may carry its help (see `model::grammar::HELP`).
    match message.split_once(HELP) {
        Some((message, help)) => Diagnostic::at_value(path, message).with_help(help),
        None => Diagnostic::at_value(path, message.to_string()),
    }
}

/// Splits serde's "NAME`, expected one of `a`, `b`" into the name and the names it expected.
fn name_and_candidates(rest: &str) -> (&str, Vec<&str>) {
    let (name, expected) = rest.split_once('`').unwrap_or((rest, ""));
    (name, expected.split('`').skip(1).step_by(2).collect())
}

/// "did you mean" when a candidate is close, else the whole list.
fn help_among(name: &str, candidates: &[&str]) -> Option<String> {
    suggest::help(name, candidates.iter().copied()).or_else(|| {
        (!candidates.is_empty()).then(|| format!("expected one of {}", quoted_list(candidates)))
    })
}

/// How deeply flow collections (`[`, `{`) may nest. The YAML parser's cost grows with the square
/// of the depth, and no runbook comes near this.
pub(crate) const MAX_DEPTH: usize = 100;

/// A diagnostic at the first bracket that opens a flow collection deeper than [`MAX_DEPTH`].
/// Brackets are counted without regard to quoting: a false alarm needs a hundred unclosed
/// brackets, and the count must be cheap, since it runs before the parser.
pub(super) fn too_deep(text: &str) -> Option<Diagnostic> {
    let mut depth = 0usize;
    let (mut line, mut col) = (1, 0);
    // Bytes, not chars, for speed: a column counts the bytes that start a character.
    for b in text.bytes() {
        if b & 0xC0 != 0x80 {
            col += 1;
        }
        match b {
            b'\n' => (line, col) = (line + 1, 0),
            b'[' | b'{' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Some(Diagnostic {
                        message: format!(
                            "invalid YAML: brackets nest more than {MAX_DEPTH} levels deep"
                        ),
                        anchor: Anchor::Position { line, col },
                        help: None,
                    });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    None
}

pub(super) fn syntax_error(err: &serde_yaml::Error, source: &str) -> Diagnostic {
    let text = err.to_string();
    // serde_yaml appends " at line L column C"; the location is shown separately.
    let message = text.split(" at line ").next().unwrap_or(&text).to_string();
    if let Some(d) = duplicate_key(&message) {
        return d;
    }
    let message = message.replace("recursion limit exceeded", "nested too deeply");
    let anchor = match err.location() {
        Some(loc) => Anchor::Position {
            line: loc.line(),
            col: loc.column(),
        },
        None => match second_document(source) {
            Some(d) => return d,
            None => Anchor::Nowhere,
        },
    };
    Diagnostic {
        message: format!("invalid YAML: {message}"),
        anchor,
        help: None,
    }
}

/// serde_yaml refuses a second YAML document without saying where: the second document's start,
/// or where the text stops parsing before it gets there (a line indented less than the first,
/// which ends the document).
fn second_document(text: &str) -> Option<Diagnostic> {
    use yaml_rust2::parser::{Event, Parser};
    let at = |line: usize, col: usize| Anchor::Position { line, col: col + 1 };
    let mut parser = Parser::new_from_str(text);
    let mut documents = 0;
    loop {
        match parser.next_token() {
            Ok((Event::DocumentStart, mark)) => {
                documents += 1;
                if documents == 2 {
                    return Some(Diagnostic {
                        message:
                            "invalid YAML: a second document starts here; a runbook file holds one"
                                .into(),
                        anchor: at(mark.line(), mark.col()),
                        help: Some(
                            "remove the `---` and what follows, or move it to a file of its own"
                                .into(),
                        ),
                    });
                }
            }
            Ok((Event::StreamEnd, _)) => return None,
            Ok(_) => {}
            Err(e) => {
                return Some(Diagnostic {
                    message: format!("invalid YAML: {}", e.info()),
                    anchor: at(e.marker().line(), e.marker().col()),
                    help: Some("check the indentation of this line and the lines before it".into()),
                });
            }
        }
    }
}

/// serde_yaml's `PATH: duplicate entry with key "K"` points at the mapping; the second key is
/// the mistake, and the locator (which keeps the last of equal keys) finds it.
fn duplicate_key(message: &str) -> Option<Diagnostic> {
    let (path, key) = match message.split_once(": duplicate entry with key ") {
        Some((path, key)) => (path, key),
        None => ("", message.strip_prefix("duplicate entry with key ")?),
    };
    let key = key.strip_prefix('"')?.strip_suffix('"')?;
    let mut at = YamlPath::new();
    for part in path.split('.').filter(|p| !p.is_empty()) {
        let mut pieces = part.split('[');
        if let Some(k) = pieces.next().filter(|k| !k.is_empty()) {
            at.push(Seg::Key(k.to_string()));
        }
        for index in pieces {
            at.push(Seg::Index(index.trim_end_matches(']').parse().ok()?));
        }
    }
    at.push(Seg::Key(key.to_string()));
    Some(
        Diagnostic::at_key(at, format!("duplicate key `{key}`"))
            .with_help("a mapping has each key once; the first one is above"),
    )
}

pub(super) fn key_path(key: &str) -> YamlPath {
    vec![Seg::Key(key.into())]
}

pub(super) fn child(path: &YamlPath, key: &str) -> YamlPath {
    let mut p = path.clone();
    p.push(Seg::Key(key.into()));
    p
}

pub(super) fn quoted_list(items: &[&str]) -> String {
    items
        .iter()
        .map(|k| format!("`{k}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
