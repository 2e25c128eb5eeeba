//! A reader for the plain YAML runbooks are written in, straight into serde: block mappings
//! and sequences by indentation, `- key: value` items, one-line flow collections, plain and
//! quoted one-line scalars, literal and folded block scalars, comments, a leading `---`. It
//! streams over the text, borrowing every scalar it does not have to unescape, where serde_yaml
//! has libyaml scan and parse the whole document into stored events first.
//!
//! Each scalar and each structure is read exactly as libyaml reads it, and a plain scalar is
//! resolved as serde_yaml resolves it; anything else (tabs outside block scalars, anchors,
//! aliases, tags, `?` keys, scalars over several lines, flow collections over several lines,
//! directives, a second document, unusual indentation, characters libyaml reads as line
//! breaks) is a [`Doubt`], and the runbook is read by serde_yaml instead. Read through
//! [`Strict`], it gives the model exactly what a `Value` tree of the text would.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, forward_to_deserialize_any};

use super::strict::{Strict, Strings};

mod resolve;
mod scan;
#[cfg(test)]
mod tests;

use resolve::{Resolved, is_null, resolve};
use scan::{END, Reader, Scalar};

/// The text is outside the subset, or the model refused what it read: serde_yaml reads it.
#[derive(Debug)]
pub(super) struct Doubt;

impl fmt::Display for Doubt {
    fn fmt(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("not read by the subset reader")
    }
}

impl std::error::Error for Doubt {}

impl de::Error for Doubt {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Doubt
    }
}

type Result<T> = std::result::Result<T, Doubt>;

/// Nesting deeper than this is left to serde_yaml (whose limit is 128).
const DEPTH: usize = 64;

/// `T` read from `text`, if the text is in the subset and `T` takes it.
pub(super) fn from_str<'de, T: Deserialize<'de>>(text: &'de str) -> Option<T> {
    let mut reader = Reader::new(text).ok()?;
    let root = root(&mut reader).ok()?;
    let node = Node {
        reader: &mut reader,
        value: root,
        depth: 0,
    };
    let value = T::deserialize(Strict::with(node, Strings::Exact)).ok()?;
    reader.content().ok()?.is_none().then_some(value)
}

/// A node as far as its first line tells.
enum Value<'de> {
    /// No value at all: a null.
    Empty,
    Scalar(Scalar<'de>),
    /// A block mapping at this column, left at its first key.
    Map(usize),
    /// A block sequence at this column, left at its first `-`.
    Seq(usize),
    /// A flow mapping or sequence (`{`, `[`), left at its bracket; `outer` ends a line.
    Flow {
        map: bool,
        outer: bool,
    },
}

/// The document: a block mapping, after a `---` maybe.
fn root<'de>(r: &mut Reader<'de>) -> Result<Value<'de>> {
    if r.lines()? == Some(0) && r.at_marker() {
        if r.peek() != b'-' {
            return Err(Doubt);
        }
        r.pos += 3;
        r.end_line()?;
    }
    let column = r.content()?.ok_or(Doubt)?;
    map_below(r, column)
}

/// A block mapping whose first key is here, at `column`.
fn map_below<'de>(r: &mut Reader<'de>, column: usize) -> Result<Value<'de>> {
    let start = r.pos;
    r.key(false)?;
    r.pos = start;
    Ok(Value::Map(column))
}

/// The value after a key's `:` (`in_map`) or an entry's `-`, in a block collection at `parent`.
fn block_value<'de>(r: &mut Reader<'de>, parent: usize, in_map: bool) -> Result<Value<'de>> {
    r.blanks()?;
    match r.peek() {
        b'\n' | b'#' | END => {
            r.end_line()?;
            return below(r, parent, in_map);
        }
        b'[' | b'{' => {
            return Ok(Value::Flow {
                map: r.peek() == b'{',
                outer: true,
            });
        }
        b'|' | b'>' => {
            return Ok(Value::Scalar(Scalar::Quoted(Cow::Owned(
                r.block_scalar(parent)?,
            ))));
        }
        _ => {}
    }
    let start = r.pos;
    let scalar = r.scalar(false)?;
    if r.key_follows()? {
        // `- key: value` starts a mapping; `key: key: value` is a mistake.
        if in_map {
            return Err(Doubt);
        }
        r.pos = start;
        return Ok(Value::Map(r.column()));
    }
    r.end_line()?;
    Ok(Value::Scalar(scalar))
}

/// A value on the lines below its key or `-`: a block collection indented more than `parent`
/// (a mapping's sequence may be indented as much), or nothing.
fn below<'de>(r: &mut Reader<'de>, parent: usize, in_map: bool) -> Result<Value<'de>> {
    let Some(column) = r.content()? else {
        return Ok(Value::Empty);
    };
    if r.at_entry() && (column > parent || (column == parent && in_map)) {
        Ok(Value::Seq(column))
    } else if column > parent {
        map_below(r, column)
    } else {
        Ok(Value::Empty)
    }
}

/// A node to deserialize.
struct Node<'a, 'de> {
    reader: &'a mut Reader<'de>,
    value: Value<'de>,
    depth: usize,
}

impl Node<'_, '_> {
    /// The depth of the collection this node is.
    fn deeper(&self) -> Result<usize> {
        Some(self.depth + 1).filter(|&d| d <= DEPTH).ok_or(Doubt)
    }
}

/// A mapping's visit, and then a check that the visitor read all of it.
fn visit_map<'de, A: MapAccess<'de, Error = Doubt>, V: Visitor<'de>>(
    mut map: A,
    visitor: V,
) -> Result<V::Value> {
    let value = visitor.visit_map(&mut map)?;
    match map.next_key::<IgnoredAny>()? {
        None => Ok(value),
        Some(_) => Err(Doubt),
    }
}

/// A sequence's visit, and then a check that the visitor read all of it.
fn visit_seq<'de, A: SeqAccess<'de, Error = Doubt>, V: Visitor<'de>>(
    mut seq: A,
    visitor: V,
) -> Result<V::Value> {
    let value = visitor.visit_seq(&mut seq)?;
    match seq.next_element::<IgnoredAny>()? {
        None => Ok(value),
        Some(_) => Err(Doubt),
    }
}

fn visit_text<'de, V: Visitor<'de>>(text: Cow<'de, str>, visitor: V) -> Result<V::Value> {
    match text {
        Cow::Borrowed(s) => visitor.visit_borrowed_str(s),
        Cow::Owned(s) => visitor.visit_string(s),
    }
}

impl<'de> Deserializer<'de> for Node<'_, 'de> {
    type Error = Doubt;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.value {
            Value::Empty => visitor.visit_unit(),
            Value::Scalar(Scalar::Plain(s)) => match resolve(s) {
                Resolved::Null => visitor.visit_unit(),
                Resolved::Bool(b) => visitor.visit_bool(b),
                Resolved::U64(n) => visitor.visit_u64(n),
                Resolved::I64(n) => visitor.visit_i64(n),
                Resolved::U128(n) => visitor.visit_u128(n),
                Resolved::I128(n) => visitor.visit_i128(n),
                Resolved::F64(f) => visitor.visit_f64(f),
                Resolved::Str => visitor.visit_borrowed_str(s),
            },
            Value::Scalar(Scalar::Quoted(text)) => visit_text(text, visitor),
            Value::Map(indent) => {
                let depth = self.deeper()?;
                let map = BlockMap {
                    reader: self.reader,
                    indent,
                    depth,
                };
                visit_map(map, visitor)
            }
            Value::Seq(indent) => {
                let depth = self.deeper()?;
                let seq = BlockSeq {
                    reader: self.reader,
                    indent,
                    depth,
                };
                visit_seq(seq, visitor)
            }
            Value::Flow { map, outer } => {
                let depth = self.deeper()?;
                self.reader.pos += 1;
                let flow = Flow {
                    reader: self.reader,
                    outer,
                    depth,
                    state: State::First,
                };
                if map {
                    visit_map(flow, visitor)
                } else {
                    visit_seq(flow, visitor)
                }
            }
        }
    }

    /// Only what a `Value` tree holds as a string: see [`Strings::Exact`].
    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.value {
            Value::Scalar(Scalar::Plain(s)) if resolve(s) == Resolved::Str => {
                visitor.visit_borrowed_str(s)
            }
            Value::Scalar(Scalar::Quoted(text)) => visit_text(text, visitor),
            _ => Err(Doubt),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.value {
            Value::Empty => visitor.visit_none(),
            Value::Scalar(Scalar::Plain(s)) if is_null(s) => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char bytes byte_buf unit
        unit_struct newtype_struct seq tuple tuple_struct map struct enum ignored_any
    }
}

/// `seed` read from the node `value` at `reader`.
fn read<'de, S: DeserializeSeed<'de>>(
    seed: S,
    reader: &mut Reader<'de>,
    value: Value<'de>,
    depth: usize,
) -> Result<S::Value> {
    seed.deserialize(Node {
        reader,
        value,
        depth,
    })
}

/// The entries of a block mapping at column `indent`.
struct BlockMap<'a, 'de> {
    reader: &'a mut Reader<'de>,
    indent: usize,
    depth: usize,
}

impl<'de> MapAccess<'de> for BlockMap<'_, 'de> {
    type Error = Doubt;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        match self.reader.content()? {
            Some(column) if column == self.indent => {}
            Some(column) if column > self.indent => return Err(Doubt),
            _ => return Ok(None),
        }
        let key = self.reader.key(false)?;
        read(seed, self.reader, Value::Scalar(key), self.depth).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        let value = block_value(self.reader, self.indent, true)?;
        read(seed, self.reader, value, self.depth)
    }
}

/// The entries of a block sequence at column `indent`.
struct BlockSeq<'a, 'de> {
    reader: &'a mut Reader<'de>,
    indent: usize,
    depth: usize,
}

impl<'de> SeqAccess<'de> for BlockSeq<'_, 'de> {
    type Error = Doubt;

    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>> {
        match self.reader.content()? {
            Some(column) if column == self.indent && self.reader.at_entry() => {}
            Some(column) if column > self.indent => return Err(Doubt),
            // Less indented, or a mapping's next key after its unindented sequence.
            _ => return Ok(None),
        }
        self.reader.pos += 1;
        let value = block_value(self.reader, self.indent, false)?;
        read(seed, self.reader, value, self.depth).map(Some)
    }
}

/// Where a flow collection is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    First,
    Next,
    Closed,
}

/// The entries of a flow mapping or sequence on one line.
struct Flow<'a, 'de> {
    reader: &'a mut Reader<'de>,
    outer: bool,
    depth: usize,
    state: State,
}

impl<'de> Flow<'_, 'de> {
    /// Goes to the next entry, if there is one before `close`.
    fn entry(&mut self, close: u8) -> Result<bool> {
        let r = &mut *self.reader;
        if self.state == State::Closed {
            return Ok(false);
        }
        r.blanks()?;
        if r.peek() == close {
            r.pos += 1;
            self.state = State::Closed;
            if self.outer {
                r.end_line()?;
            }
            return Ok(false);
        }
        if self.state == State::Next {
            if r.peek() != b',' {
                return Err(Doubt);
            }
            r.pos += 1;
            r.blanks()?;
            if r.peek() == close {
                return Err(Doubt);
            }
        }
        self.state = State::Next;
        Ok(true)
    }

    /// A scalar or a nested collection.
    fn node<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value> {
        let value = match self.reader.peek() {
            b'[' | b'{' => Value::Flow {
                map: self.reader.peek() == b'{',
                outer: false,
            },
            _ => Value::Scalar(self.reader.scalar(true)?),
        };
        read(seed, self.reader, value, self.depth)
    }
}

impl<'de> SeqAccess<'de> for Flow<'_, 'de> {
    type Error = Doubt;

    fn next_element_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<Option<S::Value>> {
        if !self.entry(b']')? {
            return Ok(None);
        }
        self.node(seed).map(Some)
    }
}

impl<'de> MapAccess<'de> for Flow<'_, 'de> {
    type Error = Doubt;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        if !self.entry(b'}')? {
            return Ok(None);
        }
        let key = self.reader.key(true)?;
        // A space after the `:`.
        if self.reader.peek() != b' ' {
            return Err(Doubt);
        }
        self.reader.blanks()?;
        read(seed, self.reader, Value::Scalar(key), self.depth).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        if matches!(self.reader.peek(), b',' | b'}') {
            // `{key: }`: a null.
            return read(seed, self.reader, Value::Empty, self.depth);
        }
        self.node(seed)
    }
}
