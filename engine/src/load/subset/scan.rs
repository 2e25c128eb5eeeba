//! The text of the subset: lines, their indentation, and the scalars on them, each scanned as
//! libyaml (serde_yaml's parser) scans it. Anything libyaml would read another way, or refuse,
//! is a [`Doubt`].

use std::borrow::Cow;

use super::Doubt;

type Result<T> = std::result::Result<T, Doubt>;

/// The end of the text: a byte no accepted text holds (control characters are refused).
pub(super) const END: u8 = 0;

/// libyaml's simple keys end within 1024 characters of their start.
const KEY_LENGTH: usize = 1000;

/// A position in the text.
pub(super) struct Reader<'de> {
    text: &'de str,
    pub(super) pos: usize,
    /// Where the current line starts: indentation is `pos - line` once only spaces lie between.
    pub(super) line: usize,
}

/// Whether libyaml reads every character of `text` as this reader does: no control characters
/// but the line feed and the tab, no carriage return, no byte order mark, no NEL, line or
/// paragraph separators (line breaks to libyaml), no non-characters U+FFFE and U+FFFF.
fn plain_text(text: &str) -> bool {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\n' | b'\t' | 0x20..=0x7e => {}
            0x00..=0x1f | 0x7f => return false,
            // U+0080 to U+009F
            0xc2 if b[i + 1] < 0xa0 => return false,
            // U+2028, U+2029
            0xe2 if b[i + 1] == 0x80 && matches!(b[i + 2], 0xa8 | 0xa9) => return false,
            // U+FEFF, U+FFFE, U+FFFF
            0xef if matches!((b[i + 1], b[i + 2]), (0xbb, 0xbf) | (0xbf, 0xbe | 0xbf)) => {
                return false;
            }
            _ => {}
        }
        i += 1;
    }
    true
}

fn is_blankz(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | END)
}

impl<'de> Reader<'de> {
    pub(super) fn new(text: &'de str) -> Result<Self> {
        if !plain_text(text) {
            return Err(Doubt);
        }
        Ok(Reader {
            text,
            pos: 0,
            line: 0,
        })
    }

    fn at(&self, i: usize) -> u8 {
        self.text.as_bytes().get(i).copied().unwrap_or(END)
    }

    pub(super) fn peek(&self) -> u8 {
        self.at(self.pos)
    }

    pub(super) fn column(&self) -> usize {
        self.pos - self.line
    }

    /// Whether a block sequence's entry (`- ` or a lone `-`) starts here.
    pub(super) fn at_entry(&self) -> bool {
        self.peek() == b'-' && matches!(self.at(self.pos + 1), b' ' | b'\n' | END)
    }

    /// Skips the spaces on this line; a tab is refused.
    pub(super) fn blanks(&mut self) -> Result<()> {
        while self.peek() == b' ' {
            self.pos += 1;
        }
        if self.peek() == b'\t' {
            return Err(Doubt);
        }
        Ok(())
    }

    fn skip_to_break(&mut self) {
        let rest = &self.text.as_bytes()[self.pos..];
        self.pos += rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
    }

    fn next_line(&mut self) {
        if self.peek() == b'\n' {
            self.pos += 1;
            self.line = self.pos;
        }
    }

    /// Ends the line: spaces, maybe a comment after a space, then the line break or the end.
    pub(super) fn end_line(&mut self) -> Result<()> {
        self.blanks()?;
        match self.peek() {
            b'#' if self.pos == self.line || self.at(self.pos - 1) == b' ' => self.skip_to_break(),
            b'\n' | END => {}
            _ => return Err(Doubt),
        }
        self.next_line();
        Ok(())
    }

    /// From the start of a line, the next line with content (not blank, not only a comment),
    /// or the content this line has: its column, or `None` at the end of the text.
    pub(super) fn lines(&mut self) -> Result<Option<usize>> {
        loop {
            self.blanks()?;
            match self.peek() {
                END => return Ok(None),
                b'\n' => self.next_line(),
                b'#' => {
                    self.skip_to_break();
                    self.next_line();
                }
                _ => return Ok(Some(self.column())),
            }
        }
    }

    /// [`Reader::lines`], refusing a document's start or end marker.
    pub(super) fn content(&mut self) -> Result<Option<usize>> {
        let column = self.lines()?;
        if column == Some(0) && self.at_marker() {
            return Err(Doubt);
        }
        Ok(column)
    }

    /// `---` or `...` at the start of a line: a document starts or ends.
    pub(super) fn at_marker(&self) -> bool {
        let rest = &self.text.as_bytes()[self.pos..];
        (rest.starts_with(b"---") || rest.starts_with(b"...")) && is_blankz(self.at(self.pos + 3))
    }

    /// Whether a plain scalar starts here: libyaml's test, but `?` and `:` never start one
    /// (they do in some places, which the subset leaves out).
    fn plain_starts(&self) -> bool {
        match self.peek() {
            b'-' => !is_blankz(self.at(self.pos + 1)),
            b'?' | b':' | b',' | b'[' | b']' | b'{' | b'}' | b'#' | b'&' | b'*' | b'!' | b'|'
            | b'>' | b'\'' | b'"' | b'%' | b'@' | b'`' | b' ' | b'\t' | b'\n' | END => false,
            _ => true,
        }
    }

    /// A quoted or plain scalar on one line (`flow`: inside brackets or braces), and whether it
    /// is quoted.
    pub(super) fn scalar(&mut self, flow: bool) -> Result<Scalar<'de>> {
        match self.peek() {
            b'\'' => self.single_quoted().map(Scalar::Quoted),
            b'"' => self.double_quoted().map(Scalar::Quoted),
            _ if self.plain_starts() => self.plain(flow).map(Scalar::Plain),
            _ => Err(Doubt),
        }
    }

    /// Whether the scalar just read is a key: `:` and a space or the line's end follow.
    pub(super) fn key_follows(&mut self) -> Result<bool> {
        self.blanks()?;
        Ok(self.peek() == b':' && matches!(self.at(self.pos + 1), b' ' | b'\n' | END))
    }

    /// A key and its `:`, from `start`.
    pub(super) fn key(&mut self, flow: bool) -> Result<Scalar<'de>> {
        let start = self.pos;
        let key = self.scalar(flow)?;
        if !self.key_follows()? || self.pos - start > KEY_LENGTH {
            return Err(Doubt);
        }
        self.pos += 1;
        Ok(key)
    }

    /// A plain scalar: words separated by spaces, up to `: `, ` #` or the line's end, and in a
    /// flow collection up to `,[]{}` too. Left at what ended it.
    fn plain(&mut self, flow: bool) -> Result<&'de str> {
        let start = self.pos;
        let mut i = start;
        let mut end = start;
        loop {
            let word = i;
            loop {
                match self.at(i) {
                    b' ' | b'\n' | END => break,
                    b'\t' => return Err(Doubt),
                    b':' => match self.at(i + 1) {
                        b' ' | b'\n' | b'\t' | END => break,
                        b',' | b'?' | b'[' | b']' | b'{' | b'}' if flow => return Err(Doubt),
                        _ => i += 1,
                    },
                    b',' | b'[' | b']' | b'{' | b'}' if flow => break,
                    _ => i += 1,
                }
            }
            if i > word {
                end = i;
            }
            if self.at(i) != b' ' {
                break;
            }
            while self.at(i) == b' ' {
                i += 1;
            }
            match self.at(i) {
                b'\t' => return Err(Doubt),
                b'#' | b'\n' | END => break,
                _ => {}
            }
        }
        self.pos = i;
        Ok(&self.text[start..end])
    }

    /// `'...'` on one line, `''` standing for a quote.
    fn single_quoted(&mut self) -> Result<Cow<'de, str>> {
        let start = self.pos + 1;
        let (mut i, mut from) = (start, start);
        let mut owned: Option<String> = None;
        loop {
            match self.at(i) {
                b'\'' if self.at(i + 1) == b'\'' => {
                    owned
                        .get_or_insert_with(String::new)
                        .push_str(&self.text[from..=i]);
                    i += 2;
                    from = i;
                }
                b'\'' => break,
                b'\n' | b'\t' | END => return Err(Doubt),
                _ => i += 1,
            }
        }
        self.pos = i + 1;
        Ok(finish(owned, &self.text[from..i], &self.text[start..i]))
    }

    /// `"..."` on one line, with libyaml's escapes.
    fn double_quoted(&mut self) -> Result<Cow<'de, str>> {
        let start = self.pos + 1;
        let (mut i, mut from) = (start, start);
        let mut owned: Option<String> = None;
        loop {
            match self.at(i) {
                b'\\' => {
                    let (c, len) = escape(&self.text[i + 1..])?;
                    let s = owned.get_or_insert_with(String::new);
                    s.push_str(&self.text[from..i]);
                    s.push(c);
                    i += 1 + len;
                    from = i;
                }
                b'"' => break,
                b'\n' | b'\t' | END => return Err(Doubt),
                _ => i += 1,
            }
        }
        self.pos = i + 1;
        Ok(finish(owned, &self.text[from..i], &self.text[start..i]))
    }

    /// A literal (`|`) or folded (`>`) block scalar whose header is here, in a block collection
    /// at column `parent`: libyaml's `yaml_parser_scan_block_scalar`, step for step.
    pub(super) fn block_scalar(&mut self, parent: usize) -> Result<String> {
        let literal = self.peek() == b'|';
        self.pos += 1;
        let (mut keep, mut strip, mut increment) = (false, false, 0);
        for _ in 0..2 {
            match self.peek() {
                b'+' if !keep && !strip => keep = true,
                b'-' if !keep && !strip => strip = true,
                b'1'..=b'9' if increment == 0 => increment = usize::from(self.peek() - b'0'),
                _ => break,
            }
            self.pos += 1;
        }
        self.end_line()?;
        let mut indent = if increment > 0 { parent + increment } else { 0 };
        let mut text = String::new();
        let (mut leading_break, mut leading_blank) = (false, false);
        let mut trailing = self.breaks(&mut indent, parent)?;
        while self.column() == indent && self.peek() != END {
            let trailing_blank = matches!(self.peek(), b' ' | b'\t');
            if !literal && leading_break && !leading_blank && !trailing_blank {
                if trailing == 0 {
                    text.push(' ');
                }
            } else if leading_break {
                text.push('\n');
            }
            newlines(&mut text, trailing);
            leading_blank = trailing_blank;
            let start = self.pos;
            self.skip_to_break();
            text.push_str(&self.text[start..self.pos]);
            leading_break = self.peek() == b'\n';
            self.next_line();
            trailing = self.breaks(&mut indent, parent)?;
        }
        if leading_break && !strip {
            text.push('\n');
        }
        if keep {
            newlines(&mut text, trailing);
        }
        Ok(text)
    }

    /// The empty lines of a block scalar: their number, each line's indentation eaten up to
    /// `indent`, which the first line with content sets when no indicator did.
    fn breaks(&mut self, indent: &mut usize, parent: usize) -> Result<usize> {
        let (mut widest, mut count) = (0, 0);
        loop {
            while (*indent == 0 || self.column() < *indent) && self.peek() == b' ' {
                self.pos += 1;
            }
            widest = widest.max(self.column());
            if (*indent == 0 || self.column() < *indent) && self.peek() == b'\t' {
                return Err(Doubt);
            }
            if self.peek() != b'\n' {
                break;
            }
            self.next_line();
            count += 1;
        }
        if *indent == 0 {
            *indent = widest.max(parent + 1);
        }
        Ok(count)
    }
}

/// A scalar as written.
pub(super) enum Scalar<'de> {
    /// Plain: serde_yaml resolves it to a null, a boolean, a number or a string.
    Plain(&'de str),
    /// Quoted, or a block scalar: a string.
    Quoted(Cow<'de, str>),
}

fn newlines(text: &mut String, n: usize) {
    text.extend(std::iter::repeat_n('\n', n));
}

/// The scalar: borrowed from the text when nothing was unescaped.
fn finish<'de>(owned: Option<String>, rest: &str, whole: &'de str) -> Cow<'de, str> {
    match owned {
        None => Cow::Borrowed(whole),
        Some(mut s) => {
            s.push_str(rest);
            Cow::Owned(s)
        }
    }
}

/// The character an escape after `\` stands for, and the length of the escape.
fn escape(rest: &str) -> Result<(char, usize)> {
    let c = match rest.as_bytes().first() {
        Some(b'0') => '\0',
        Some(b'a') => '\x07',
        Some(b'b') => '\x08',
        Some(b't') => '\t',
        Some(b'n') => '\n',
        Some(b'v') => '\x0b',
        Some(b'f') => '\x0c',
        Some(b'r') => '\r',
        Some(b'e') => '\x1b',
        Some(b' ') => ' ',
        Some(b'"') => '"',
        Some(b'/') => '/',
        Some(b'\\') => '\\',
        Some(b'N') => '\u{85}',
        Some(b'_') => '\u{a0}',
        Some(b'L') => '\u{2028}',
        Some(b'P') => '\u{2029}',
        Some(b'x') => return hex(rest, 2),
        Some(b'u') => return hex(rest, 4),
        Some(b'U') => return hex(rest, 8),
        _ => return Err(Doubt),
    };
    Ok((c, 1))
}

/// A `\x`, `\u` or `\U` escape of `digits` hex digits: a character other than a surrogate.
fn hex(rest: &str, digits: usize) -> Result<(char, usize)> {
    let hex = rest.get(1..=digits).ok_or(Doubt)?;
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(Doubt);
    }
    let code = u32::from_str_radix(hex, 16).map_err(|_| Doubt)?;
    Ok((char::from_u32(code).ok_or(Doubt)?, 1 + digits))
}
