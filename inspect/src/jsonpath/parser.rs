//! Template parser: turns a kubectl JSONPath template into a node tree.
//!
//! The grammar is client-go's hand-written scanner, reproduced decision for decision,
//! because kubectl users rely on its quirks (`[]` means `[0]`, `['a.b']` is re-read as
//! `.a.b`, `-` and `/` are part of a field name, a filter is split by a regular expression).

use super::node::{Filter, Node, Param};
use super::scan::{dict_key, is_alphanumeric, is_digit, is_terminator, slice_groups, split_filter};
use super::unquote::unquote_extend;

/// Why a template does not parse, with kubectl's wording.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseErrorKind {
    /// An action reached the end of the template or a line break before `}`.
    #[error("unclosed action")]
    UnclosedAction,
    /// `[` without `]` on the same line.
    #[error("unterminated array")]
    UnterminatedArray,
    /// `[?(` without a closing `)`.
    #[error("unterminated filter")]
    UnterminatedFilter,
    /// A filter's `)` is not followed by `]`.
    #[error("unclosed array expect ]")]
    UnclosedFilter,
    /// A quoted literal without its closing quote.
    #[error("unterminated quoted string")]
    UnterminatedQuote,
    /// A quoted literal with an invalid escape sequence.
    #[error("unquote string {0} error invalid syntax")]
    InvalidQuotedString(String),
    /// A token that starts like a number but is not one.
    #[error("cannot parse number {0}")]
    InvalidNumber(String),
    /// Four or more dots in a row.
    #[error("invalid multiple recursive descent")]
    MultipleRecursiveDescent,
    /// A character that cannot start a token inside an action.
    #[error("unrecognized character in action: {}", go_rune(*.0))]
    UnrecognizedCharacter(char),
    /// Bracket content that is neither a slice, a quoted key nor a union.
    #[error("invalid array index {0}")]
    InvalidArrayIndex(String),
    /// A slice bound that does not fit a 64-bit integer (or is a lone `-`).
    #[error("array index {0} is not a number")]
    ArrayIndexNotNumber(String),
}

/// A template that does not parse; `offset` counts characters from the template start.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}")]
pub struct ParseError {
    /// What went wrong.
    pub kind: ParseErrorKind,
    /// Character offset (not byte offset) where the problem was found, for carets.
    pub offset: usize,
}

/// Go's `%#U`: `U+002A '*'`, without the quoted character when it is not printable.
fn go_rune(c: char) -> String {
    let printable = c == ' ' || !(c.is_control() || c.is_whitespace());
    if printable {
        format!("U+{:04X} '{c}'", c as u32)
    } else {
        format!("U+{:04X}", c as u32)
    }
}

/// Parses a whole template into its top-level nodes (`Text` and `List`).
pub(crate) fn parse(template: &str) -> Result<Vec<Node>, ParseError> {
    let mut parser = Parser::new(template);
    match parser.parse_text() {
        Ok(()) => Ok(parser.root),
        Err(fail) => {
            let offset = template
                .get(..fail.at.min(template.len()))
                .map_or(0, |s| s.chars().count());
            Err(ParseError {
                kind: fail.kind,
                offset,
            })
        }
    }
}

/// A parse failure at a byte position of the parser's own input.
struct Fail {
    kind: ParseErrorKind,
    at: usize,
}

type Parsed = Result<(), Fail>;

struct Parser<'t> {
    input: &'t str,
    pos: usize,
    start: usize,
    width: usize,
    root: Vec<Node>,
}

impl<'t> Parser<'t> {
    fn new(input: &'t str) -> Self {
        Parser {
            input,
            pos: 0,
            start: 0,
            width: 0,
            root: Vec::new(),
        }
    }

    fn fail(&self, kind: ParseErrorKind) -> Fail {
        Fail { kind, at: self.pos }
    }

    fn rest(&self) -> &'t str {
        self.input.get(self.pos..).unwrap_or("")
    }

    fn next(&mut self) -> Option<char> {
        match self.rest().chars().next() {
            Some(c) => {
                self.width = c.len_utf8();
                self.pos += self.width;
                Some(c)
            }
            None => {
                self.width = 0;
                None
            }
        }
    }

    fn backup(&mut self) {
        self.pos -= self.width;
    }

    fn peek(&mut self) -> Option<char> {
        self.rest().chars().next()
    }

    fn consume(&mut self) -> &'t str {
        let text = self.input.get(self.start..self.pos).unwrap_or("");
        self.start = self.pos;
        text
    }

    /// The byte two positions back, which client-go checks for an escaping backslash.
    fn escaped(&self) -> bool {
        self.pos >= 2 && self.input.as_bytes().get(self.pos - 2) == Some(&b'\\')
    }

    fn parse_text(&mut self) -> Parsed {
        loop {
            if self.rest().starts_with('{') {
                if self.pos > self.start {
                    let text = self.consume().to_string();
                    self.root.push(Node::Text(text));
                }
                self.pos += 1;
                self.consume();
                let mut action = Vec::new();
                let result = self.parse_inside_action(&mut action);
                self.root.push(Node::List(action));
                result?;
                continue;
            }
            if self.next().is_none() {
                break;
            }
        }
        if self.pos > self.start {
            let text = self.consume().to_string();
            self.root.push(Node::Text(text));
        }
        Ok(())
    }

    /// Parses tokens until the action's closing `}`.
    fn parse_inside_action(&mut self, cur: &mut Vec<Node>) -> Parsed {
        loop {
            let rest = self.rest();
            if rest.starts_with('}') {
                self.pos += 1;
                self.consume();
                return Ok(());
            }
            if rest.starts_with("[?(") {
                self.parse_filter(cur)?;
                continue;
            }
            if rest.starts_with("..") {
                self.parse_recursive(cur)?;
                continue;
            }
            match self.next() {
                None | Some('\r' | '\n') => return Err(self.fail(ParseErrorKind::UnclosedAction)),
                Some(' ' | '@' | '$') => {
                    self.consume();
                }
                Some('[') => self.parse_array(cur)?,
                Some(quote @ ('"' | '\'')) => self.parse_quote(cur, quote)?,
                Some('.') => self.parse_field(cur),
                Some(c) if c == '+' || c == '-' || is_digit(c) => {
                    self.backup();
                    self.parse_number(cur)?;
                }
                Some(c) if is_alphanumeric(c) => {
                    self.backup();
                    self.parse_identifier(cur);
                }
                Some(c) => {
                    return Err(Fail {
                        kind: ParseErrorKind::UnrecognizedCharacter(c),
                        at: self.pos - self.width,
                    });
                }
            }
        }
    }

    fn parse_identifier(&mut self, cur: &mut Vec<Node>) {
        loop {
            let c = self.next();
            if is_terminator(c) {
                self.backup();
                break;
            }
        }
        let value = self.consume();
        cur.push(match value {
            "true" => Node::Bool(true),
            "false" => Node::Bool(false),
            _ => Node::Identifier(value.to_string()),
        });
    }

    fn parse_recursive(&mut self, cur: &mut Vec<Node>) -> Parsed {
        if matches!(cur.last(), Some(Node::Recursive)) {
            return Err(self.fail(ParseErrorKind::MultipleRecursiveDescent));
        }
        self.pos += 2;
        self.consume();
        cur.push(Node::Recursive);
        if self.peek().is_some_and(is_alphanumeric) {
            self.parse_field(cur);
        }
        Ok(())
    }

    fn parse_number(&mut self, cur: &mut Vec<Node>) -> Parsed {
        if matches!(self.peek(), Some('+' | '-')) {
            self.next();
        }
        loop {
            match self.next() {
                Some(c) if c == '.' || is_digit(c) => {}
                _ => {
                    self.backup();
                    break;
                }
            }
        }
        let value = self.consume();
        if let Ok(int) = value.parse::<i64>() {
            cur.push(Node::Int(int));
            return Ok(());
        }
        match value.parse::<f64>() {
            Ok(float) if float.is_finite() => {
                cur.push(Node::Float(float));
                Ok(())
            }
            _ => Err(self.fail(ParseErrorKind::InvalidNumber(value.to_string()))),
        }
    }

    fn parse_array(&mut self, cur: &mut Vec<Node>) -> Parsed {
        let begin = self.start;
        loop {
            match self.next() {
                None | Some('\n') => return Err(self.fail(ParseErrorKind::UnterminatedArray)),
                Some(']') => break,
                Some(_) => {}
            }
        }
        let consumed = self.consume();
        let mut text = consumed
            .get(1..consumed.len().saturating_sub(1))
            .unwrap_or("");
        if text == "*" {
            text = ":";
        }

        let parts: Vec<&str> = text.split(',').collect();
        if parts.len() > 1 {
            let mut union = Vec::with_capacity(parts.len());
            for part in parts {
                let sub = format!("[{}]", part.trim_matches(' '));
                union.push(parse_action(&sub, begin)?);
            }
            cur.push(Node::Union(union));
            return Ok(());
        }

        if let Some(key) = dict_key(text) {
            cur.extend(parse_action(&format!(".{key}"), begin)?);
            return Ok(());
        }

        let Some(groups) = slice_groups(text) else {
            return Err(Fail {
                kind: ParseErrorKind::InvalidArrayIndex(text.to_string()),
                at: begin,
            });
        };
        let mut params = [Param::default(); 3];
        for (i, group) in groups.iter().enumerate() {
            if group.is_empty() {
                if i == 1 {
                    params[1] = Param {
                        known: true,
                        value: params[0].value.wrapping_add(1),
                        derived: true,
                    };
                }
                continue;
            }
            let number = if i > 0 { &group[1..] } else { group };
            if i > 0 && number.is_empty() {
                continue;
            }
            let value = number.parse::<i64>().map_err(|_| Fail {
                kind: ParseErrorKind::ArrayIndexNotNumber(number.to_string()),
                at: begin,
            })?;
            params[i] = Param {
                known: true,
                value,
                derived: false,
            };
        }
        cur.push(Node::Array(params));
        Ok(())
    }

    fn parse_filter(&mut self, cur: &mut Vec<Node>) -> Parsed {
        let begin = self.pos;
        self.pos += 3;
        self.consume();
        let (mut opened, mut closed) = (false, false);
        let mut pair = '"';
        loop {
            match self.next() {
                None | Some('\n') => return Err(self.fail(ParseErrorKind::UnterminatedFilter)),
                Some(quote @ ('"' | '\'')) => {
                    if !opened {
                        opened = true;
                        pair = quote;
                        continue;
                    }
                    if !self.escaped() && quote == pair {
                        closed = true;
                    }
                }
                Some(')') if opened == closed => break,
                Some(_) => {}
            }
        }
        if self.next() != Some(']') {
            return Err(self.fail(ParseErrorKind::UnclosedFilter));
        }
        let consumed = self.consume();
        let text = consumed
            .get(..consumed.len().saturating_sub(2))
            .unwrap_or("");
        let filter = match split_filter(text) {
            None => Filter {
                left: parse_action(text, begin)?,
                right: Vec::new(),
                op: "exists".to_string(),
            },
            Some((left, op, right)) => Filter {
                left: parse_action(left, begin)?,
                right: parse_action(right, begin)?,
                op: op.to_string(),
            },
        };
        cur.push(Node::Filter(Box::new(filter)));
        Ok(())
    }

    fn parse_quote(&mut self, cur: &mut Vec<Node>, end: char) -> Parsed {
        loop {
            match self.next() {
                None | Some('\n') => return Err(self.fail(ParseErrorKind::UnterminatedQuote)),
                Some(c) if c == end && !self.escaped() => break,
                Some(_) => {}
            }
        }
        let begin = self.start;
        let value = self.consume();
        let text = unquote_extend(value).map_err(|()| Fail {
            kind: ParseErrorKind::InvalidQuotedString(value.to_string()),
            at: begin,
        })?;
        cur.push(Node::Text(text));
        Ok(())
    }

    fn parse_field(&mut self, cur: &mut Vec<Node>) {
        self.consume();
        while self.advance() {}
        let value = self.consume();
        if value == "*" {
            cur.push(Node::Wildcard);
        } else {
            cur.push(Node::Field(value.replace('\\', "")));
        }
    }

    /// Steps over one character of a field name; a backslash protects the next one.
    fn advance(&mut self) -> bool {
        let c = self.next();
        if c == Some('\\') {
            self.next();
        } else if is_terminator(c) {
            self.backup();
            return false;
        }
        true
    }
}

/// Parses `text` as the inside of one action (client-go's `parseAction`); errors point at `at`.
fn parse_action(text: &str, at: usize) -> Result<Vec<Node>, Fail> {
    let wrapped = format!("{{{text}}}");
    let mut parser = Parser::new(&wrapped);
    parser.parse_text().map_err(|fail| Fail {
        kind: fail.kind,
        at,
    })?;
    match parser.root.into_iter().next() {
        Some(Node::List(nodes)) => Ok(nodes),
        _ => Ok(Vec::new()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn action(template: &str) -> Vec<Node> {
        match parse(template).expect("parses").into_iter().next() {
            Some(Node::List(nodes)) => nodes,
            other => panic!("expected an action, got {other:?}"),
        }
    }

    fn index(value: i64) -> Node {
        Node::Array([
            Param {
                known: true,
                value,
                derived: false,
            },
            Param {
                known: true,
                value: value + 1,
                derived: true,
            },
            Param::default(),
        ])
    }

    #[test]
    fn empty_brackets_mean_index_zero() {
        let Node::Array(params) = index(0) else {
            unreachable!()
        };
        let unknown_start = Node::Array([Param::default(), params[1], params[2]]);
        assert_eq!(
            action("{.a[]}"),
            vec![Node::Field("a".into()), unknown_start]
        );
        assert_eq!(action("{.a[0]}"), vec![Node::Field("a".into()), index(0)]);
    }

    #[test]
    fn star_is_a_full_slice() {
        let unknown = Param::default();
        assert_eq!(
            action("{[*]}"),
            vec![Node::Array([unknown, unknown, unknown])]
        );
    }

    #[test]
    fn field_names_keep_dashes_slashes_and_escaped_dots() {
        assert_eq!(
            action(r"{.metadata.labels.kubernetes\.io/host-name}"),
            vec![
                Node::Field("metadata".into()),
                Node::Field("labels".into()),
                Node::Field("kubernetes.io/host-name".into()),
            ]
        );
    }

    #[test]
    fn quoted_key_is_reparsed_as_a_dotted_path() {
        assert_eq!(
            action("{['ca.crt']}"),
            vec![Node::Field("ca".into()), Node::Field("crt".into())]
        );
        assert_eq!(action(r"{['ca\.crt']}"), vec![Node::Field("ca.crt".into())]);
    }

    #[test]
    fn comma_makes_a_union_of_reparsed_branches() {
        assert_eq!(
            action("{['a', 'b.c']}"),
            vec![Node::Union(vec![
                vec![Node::Field("a".into())],
                vec![Node::Field("b".into()), Node::Field("c".into())],
            ])]
        );
    }

    #[test]
    fn filter_is_split_at_the_first_operator_run() {
        let nodes = action(r#"{[?(@.a<=5)]}"#);
        let Node::Filter(filter) = &nodes[0] else {
            panic!("expected a filter: {nodes:?}");
        };
        assert_eq!(filter.op, "<=");
        assert_eq!(filter.left, vec![Node::Field("a".into())]);
        assert_eq!(filter.right, vec![Node::Int(5)]);
    }

    #[test]
    fn filter_without_operator_tests_existence() {
        let nodes = action("{[?(@.z)]}");
        let Node::Filter(filter) = &nodes[0] else {
            panic!("expected a filter: {nodes:?}");
        };
        assert_eq!(filter.op, "exists");
        assert!(filter.right.is_empty());
    }

    #[test]
    fn literals_decode_go_escapes() {
        assert_eq!(action(r#"{"a\tb\n"}"#), vec![Node::Text("a\tb\n".into())]);
        assert_eq!(action(r#"{"{"}"#), vec![Node::Text("{".into())]);
        assert_eq!(
            action(r#"{'it''s'}"#),
            vec![Node::Text("it".into()), Node::Text("s".into())]
        );
    }

    #[test]
    fn parse_errors_use_kubectl_wording() {
        let cases = [
            ("{.a", "unclosed action"),
            ("{.a[0}", "unterminated array"),
            ("{[?(.price]}", "unterminated filter"),
            ("{+12.3.0}", "cannot parse number +12.3.0"),
            ("{....a}", "invalid multiple recursive descent"),
            ("{*}", "unrecognized character in action: U+002A '*'"),
            ("{\t}", "unrecognized character in action: U+0009"),
            (r#"{["a"]}"#, r#"invalid array index "a""#),
            ("{[-]}", "array index - is not a number"),
            (r#"{"\q"}"#, r#"unquote string "\q" error invalid syntax"#),
            ("{\"abc}", "unterminated quoted string"),
            ("{[?(@.a==1)x}", "unclosed array expect ]"),
            ("{.a\n}", "unclosed action"),
        ];
        for (template, message) in cases {
            let err = parse(template).expect_err(template);
            assert_eq!(err.to_string(), message, "{template}");
        }
    }

    #[test]
    fn error_offset_counts_characters() {
        let err = parse("é{*}").expect_err("star is not a token");
        assert_eq!(err.offset, 2);
    }

    #[test]
    fn keywords_and_booleans() {
        assert_eq!(
            action("{range .items[*]}"),
            vec![
                Node::Identifier("range".into()),
                Node::Field("items".into()),
                Node::Array([Param::default(); 3]),
            ]
        );
        assert_eq!(action("{true}"), vec![Node::Bool(true)]);
    }
}
