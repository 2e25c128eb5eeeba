//! Finds where a node of a YAML document sits in its text. Loading works on values; this pass runs
//! only when a diagnostic needs a line and column, so well-formed runbooks never pay for it.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// One step of a path into a YAML document.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Seg {
    /// A mapping key.
    Key(String),
    /// A sequence index.
    Index(usize),
}

/// A path from the document root, such as `steps[3].needs[0]`.
pub type YamlPath = Vec<Seg>;

/// Formats a path the way messages show it: `steps[3].kube.get.context`.
pub(crate) fn display_path(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// A place in the source text: 1-based line and column, byte offset, and the width to underline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Span {
    /// 1-based line.
    pub line: usize,
    /// 1-based column, in characters.
    pub col: usize,
    /// Byte offset of the first character.
    pub offset: usize,
    /// Characters to underline (at least 1).
    pub width: usize,
}

/// Where a node's key (for mapping entries) and value start.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NodeSpan {
    /// The key of the entry holding this node, if it is held by a mapping.
    pub key: Option<Span>,
    /// The value itself.
    pub value: Span,
}

/// Every node's position, by path.
#[derive(Debug, Default)]
pub(crate) struct Locator {
    nodes: HashMap<YamlPath, NodeSpan>,
}

impl Locator {
    /// Parses `text` and records where each node is. A syntax error stops the pass; what was
    /// recorded before it is kept.
    pub(crate) fn new(text: &str) -> Locator {
        let mut builder = Builder {
            text,
            frames: Vec::new(),
            nodes: HashMap::new(),
            doc: 0,
            cursor: (0, 0),
        };
        let mut parser = Parser::new_from_str(text);
        let _ = parser.load(&mut builder, false);
        Locator {
            nodes: builder.nodes,
        }
    }

    /// The node at `path`, or its nearest recorded ancestor.
    pub(crate) fn find(&self, path: &[Seg]) -> Option<NodeSpan> {
        let mut len = path.len();
        loop {
            if let Some(n) = self.nodes.get(&path[..len]) {
                return Some(*n);
            }
            if len == 0 {
                return None;
            }
            len -= 1;
        }
    }

    /// True when the exact path was recorded.
    pub(crate) fn has(&self, path: &[Seg]) -> bool {
        self.nodes.contains_key(path)
    }
}

enum Frame {
    Map {
        path: YamlPath,
        key: Option<(String, Span)>,
        first: bool,
    },
    Seq {
        path: YamlPath,
        next: usize,
    },
}

struct Builder<'a> {
    text: &'a str,
    frames: Vec<Frame>,
    nodes: HashMap<YamlPath, NodeSpan>,
    doc: usize,
    /// The last (character index, byte offset) converted: events arrive in text order, so each
    /// conversion walks on from the previous one and the whole pass stays linear.
    cursor: (usize, usize),
}

impl Builder<'_> {
    fn byte_offset(&mut self, char_index: usize) -> usize {
        let (at_char, at_byte) = self.cursor;
        let offset = if char_index >= at_char {
            self.text[at_byte..]
                .char_indices()
                .nth(char_index - at_char)
                .map_or(self.text.len(), |(b, _)| at_byte + b)
        } else {
            // A block mapping starts at its first key, reported after the mapping's own mark.
            self.text[..at_byte]
                .char_indices()
                .rev()
                .nth(at_char - char_index - 1)
                .map_or(0, |(b, _)| b)
        };
        self.cursor = (char_index, offset);
        offset
    }

    fn span(&mut self, mark: Marker, text: Option<(&str, TScalarStyle)>) -> Span {
        let offset = self.byte_offset(mark.index());
        let width = match text {
            Some((s, style)) if !s.contains('\n') => {
                let quotes = matches!(
                    style,
                    TScalarStyle::SingleQuoted | TScalarStyle::DoubleQuoted
                );
                s.chars().count() + if quotes { 2 } else { 0 }
            }
            _ => 1,
        };
        Span {
            line: mark.line(),
            col: mark.col() + 1,
            offset,
            width: width.max(1),
        }
    }

    /// Called for every node that is a value; returns its path, or None for a mapping key.
    fn place_value(&mut self, span: Span, scalar: Option<&str>) -> Option<YamlPath> {
        match self.frames.last_mut() {
            None => {
                // Only the first document is located: runbooks are single documents.
                if self.doc > 0 {
                    return None;
                }
                self.doc += 1;
                self.nodes.insert(
                    Vec::new(),
                    NodeSpan {
                        key: None,
                        value: span,
                    },
                );
                Some(Vec::new())
            }
            Some(Frame::Seq { path, next }) => {
                let mut p = path.clone();
                p.push(Seg::Index(*next));
                *next += 1;
                self.nodes.insert(
                    p.clone(),
                    NodeSpan {
                        key: None,
                        value: span,
                    },
                );
                Some(p)
            }
            Some(Frame::Map { path, key, first }) => match key.take() {
                None => {
                    *key = Some((scalar.unwrap_or_default().to_string(), span));
                    // A block mapping's start mark can sit past its first key: start it at the key.
                    if std::mem::take(first)
                        && let Some(node) = self.nodes.get_mut(path.as_slice())
                        && span.offset < node.value.offset
                    {
                        node.value = Span { width: 1, ..span };
                    }
                    None
                }
                Some((k, key_span)) => {
                    let mut p = path.clone();
                    p.push(Seg::Key(k));
                    self.nodes.insert(
                        p.clone(),
                        NodeSpan {
                            key: Some(key_span),
                            value: span,
                        },
                    );
                    Some(p)
                }
            },
        }
    }
}

impl MarkedEventReceiver for Builder<'_> {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(value, style, _, _) => {
                let span = self.span(mark, Some((&value, style)));
                self.place_value(span, Some(&value));
            }
            Event::Alias(_) => {
                let span = self.span(mark, None);
                self.place_value(span, Some(""));
            }
            Event::MappingStart(..) => {
                let span = self.span(mark, None);
                if let Some(path) = self.place_value(span, None) {
                    self.frames.push(Frame::Map {
                        path,
                        key: None,
                        first: true,
                    });
                } else {
                    // A complex key: locate nothing inside it.
                    self.frames.push(Frame::Map {
                        path: vec![Seg::Key("?".into())],
                        key: None,
                        first: false,
                    });
                }
            }
            Event::SequenceStart(..) => {
                let span = self.span(mark, None);
                let path = self
                    .place_value(span, None)
                    .unwrap_or_else(|| vec![Seg::Key("?".into())]);
                self.frames.push(Frame::Seq { path, next: 0 });
            }
            Event::MappingEnd | Event::SequenceEnd => {
                self.frames.pop();
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(k: &str) -> Seg {
        Seg::Key(k.into())
    }

    #[test]
    fn locates_keys_values_and_items() {
        let text = "a: 1\nsteps:\n  - id: one\n    needs: [two, three]\n";
        let loc = Locator::new(text);
        let id = loc.find(&[key("steps"), Seg::Index(0), key("id")]).unwrap();
        assert_eq!((id.key.unwrap().line, id.key.unwrap().col), (3, 5));
        assert_eq!((id.value.line, id.value.col, id.value.width), (3, 9, 3));
        let three = loc
            .find(&[key("steps"), Seg::Index(0), key("needs"), Seg::Index(1)])
            .unwrap();
        assert_eq!((three.value.line, three.value.col), (4, 18));
        assert_eq!(&text[three.value.offset..three.value.offset + 5], "three");
    }

    #[test]
    fn offsets_stay_right_after_wide_characters_and_nested_mappings() {
        let text = "a: \u{e9}t\u{e9}\nb:\n  - c: \u{fc}ber\n    d: x\n  - c: z\n";
        let loc = Locator::new(text);
        for (path, want) in [
            (vec![key("b"), Seg::Index(0), key("c")], "\u{fc}ber"),
            (vec![key("b"), Seg::Index(0), key("d")], "x"),
            (vec![key("b"), Seg::Index(1), key("c")], "z"),
        ] {
            let n = loc.find(&path).unwrap();
            assert!(text[n.value.offset..].starts_with(want), "{path:?}");
            let k = n.key.unwrap();
            assert!(
                text[k.offset..].starts_with(&format!("c: {want}"))
                    || text[k.offset..].starts_with("d:")
            );
        }
        let item = loc.find(&[key("b"), Seg::Index(1)]).unwrap();
        assert!(text[item.value.offset..].starts_with("c: z"));
    }

    #[test]
    fn falls_back_to_the_nearest_ancestor() {
        let loc = Locator::new("steps:\n  - id: x\n");
        let n = loc
            .find(&[key("steps"), Seg::Index(0), key("missing")])
            .unwrap();
        assert_eq!(n.value.line, 2);
    }

    #[test]
    fn displays_paths() {
        assert_eq!(
            display_path(&[key("steps"), Seg::Index(2), key("needs")]),
            "steps[2].needs"
        );
    }
}
