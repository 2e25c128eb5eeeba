//! A deserializer that accepts only what the collecting path would: it wraps the YAML
//! deserializer so that reading the text straight into the model never succeeds where reading it
//! through a [`serde_yaml::Value`] would fail, or would give something else.
//!
//! Read directly, serde_yaml is more lenient than through a `Value`: a string field takes any
//! scalar (`id: 123`, `title: true`), a map keeps the last of duplicate keys, a tag (`!x`) is
//! dropped or read as an enum. Here every node is first resolved as the `Value` tree would
//! resolve it (serde_yaml's `deserialize_any`), and then only what a `Value` of that type would
//! give the type asked for is passed on. Anything doubtful (a tag, a non-string key, a null where
//! a list or mapping is expected) is refused: the caller then reads the text the collecting way,
//! which reports it exactly.

use std::borrow::Cow;
use std::collections::HashSet;
use std::fmt;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    Visitor,
};

/// A deserializer that passes on only what a `Value` tree of the same text would.
pub(super) struct Strict<D> {
    de: D,
    strings: Strings,
}

/// How the wrapped deserializer's strings are told from scalars a `Value` tree makes something
/// else.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Strings {
    /// serde_yaml on a text with tags: every scalar is resolved as the `Value` tree would.
    Resolved,
    /// serde_yaml on a text without tags (no `!` at all): a scalar is then its text and nothing
    /// else, so a string is taken as read unless serde_yaml would make it a null, boolean or
    /// number, which skips resolving every string against those.
    Untagged,
    /// The wrapped deserializer's `deserialize_str` gives only what a `Value` tree holds as a
    /// string, quoted `"12"` included.
    Exact,
}

impl<'de, D: Deserializer<'de>> Strict<D> {
    /// Reads `text` through serde_yaml's `de`.
    pub(super) fn new(de: D, text: &str) -> Self {
        let strings = if text.contains('!') {
            Strings::Resolved
        } else {
            Strings::Untagged
        };
        Strict::with(de, strings)
    }

    /// Reads through `de`, whose strings are told apart as `strings` says.
    pub(super) fn with(de: D, strings: Strings) -> Self {
        Strict { de, strings }
    }
}

/// Whether serde_yaml reads an untagged scalar with this text as a string, not as a null
/// (`~`, `null`), a boolean (`true`, `False`) or a number (`12`, `0x1F`, `-.inf`, `1e3`, `.5`):
/// every number starts with a digit, a sign or a dot. A quoted `"12"` is a string too, but
/// `deserialize_str` does not say it was quoted: it is refused, and read the collecting way.
pub(super) fn surely_string(v: &str) -> bool {
    !matches!(
        v.as_bytes().first(),
        None | Some(b'0'..=b'9' | b'+' | b'-' | b'.')
    ) && !matches!(
        v,
        "~" | "null" | "Null" | "NULL" | "true" | "True" | "TRUE" | "false" | "False" | "FALSE"
    )
}

/// Which of `deserialize_any`'s answers a request takes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Want {
    /// Anything but a tag.
    Any,
    Str,
    Bool,
    Number,
    Unit,
    Seq,
    Map,
    /// A unit variant, named by a string.
    Variant,
}

/// The error that sends a runbook to the collecting path, which says what is wrong.
fn refused<E: de::Error>() -> E {
    E::custom("not read directly")
}

impl<'de, D: Deserializer<'de>> Strict<D> {
    fn want<V: Visitor<'de>>(self, want: Want, visitor: V) -> Result<V::Value, D::Error> {
        let strings = self.strings;
        self.de.deserialize_any(Only {
            want,
            visitor,
            strings,
        })
    }

    fn string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        match self.strings {
            Strings::Resolved => self.want(Want::Str, visitor),
            Strings::Untagged => self.de.deserialize_str(Plain(visitor)),
            Strings::Exact => self.de.deserialize_str(visitor),
        }
    }
}

macro_rules! wanting {
    ($want:ident: $($method:ident)*) => {
        $(fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.want(Want::$want, visitor)
        })*
    };
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for Strict<D> {
    type Error = D::Error;

    wanting!(Any: deserialize_any);

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.string(visitor)
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.string(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        self.string(visitor)
    }
    wanting!(Bool: deserialize_bool);
    wanting!(Number: deserialize_i8 deserialize_i16 deserialize_i32 deserialize_i64 deserialize_i128
        deserialize_u8 deserialize_u16 deserialize_u32 deserialize_u64 deserialize_u128
        deserialize_f32 deserialize_f64);
    wanting!(Unit: deserialize_unit);
    wanting!(Seq: deserialize_seq);
    wanting!(Map: deserialize_map);

    fn deserialize_char<V: Visitor<'de>>(self, _: V) -> Result<V::Value, D::Error> {
        Err(refused())
    }

    fn deserialize_bytes<V: Visitor<'de>>(self, _: V) -> Result<V::Value, D::Error> {
        Err(refused())
    }

    fn deserialize_byte_buf<V: Visitor<'de>>(self, _: V) -> Result<V::Value, D::Error> {
        Err(refused())
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        // serde_yaml's test for null is the one that makes a `Value::Null`.
        let strings = self.strings;
        self.de.deserialize_option(Optional { visitor, strings })
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.want(Want::Unit, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value, D::Error> {
        self.want(Want::Seq, v)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.want(Want::Seq, visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.want(Want::Map, visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.want(Want::Variant, visitor)
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
        // What is ignored is still checked: a `Value` tree refuses its duplicate keys too.
        self.want(Want::Any, de::IgnoredAny)?;
        visitor.visit_unit()
    }
}

/// Passes on `visitor` the answers `want` takes, every node below wrapped again.
struct Only<V> {
    want: Want,
    visitor: V,
    strings: Strings,
}

impl<V> Only<V> {
    fn takes<E: de::Error>(&self, what: Want) -> Result<(), E> {
        if self.want == what || self.want == Want::Any {
            Ok(())
        } else {
            Err(refused())
        }
    }
}

macro_rules! numbers {
    ($($method:ident($ty:ty))*) => {
        $(fn $method<E: de::Error>(self, v: $ty) -> Result<Self::Value, E> {
            self.takes(Want::Number)?;
            self.visitor.$method(v)
        })*
    };
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Only<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.visitor.expecting(f)
    }

    numbers!(visit_i64(i64) visit_u64(u64) visit_i128(i128) visit_u128(u128) visit_f64(f64));

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        self.takes(Want::Bool)?;
        self.visitor.visit_bool(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if self.want == Want::Variant {
            return self.visitor.visit_enum(v.into_deserializer());
        }
        self.takes(Want::Str)?;
        self.visitor.visit_str(v)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        if self.want == Want::Variant {
            return self.visitor.visit_enum(v.into_deserializer());
        }
        self.takes(Want::Str)?;
        self.visitor.visit_borrowed_str(v)
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        self.visit_str(&v)
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        self.takes(Want::Unit)?;
        self.visitor.visit_unit()
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        // An empty document: a `Value::Null`.
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        self.takes(Want::Seq)?;
        self.visitor.visit_seq(StrictSeq {
            seq,
            strings: self.strings,
        })
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        self.takes(Want::Map)?;
        self.visitor.visit_map(StrictMap {
            map,
            keys: Keys::default(),
            strings: self.strings,
        })
    }

    fn visit_enum<A: EnumAccess<'de>>(self, _: A) -> Result<Self::Value, A::Error> {
        // A tagged node (`!x ...`): a `Value::Tagged`, which the model reads only in odd ways.
        Err(refused())
    }
}

/// A string as serde_yaml's `deserialize_str` reads it from an untagged text: passed on if it
/// is surely a string.
struct Plain<V>(V);

impl<'de, V: Visitor<'de>> Visitor<'de> for Plain<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.0.expecting(f)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        if !surely_string(v) {
            return Err(refused());
        }
        self.0.visit_str(v)
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        if !surely_string(v) {
            return Err(refused());
        }
        self.0.visit_borrowed_str(v)
    }
}

/// `deserialize_option`'s answer, the value inside wrapped again.
struct Optional<V> {
    visitor: V,
    strings: Strings,
}

impl<'de, V: Visitor<'de>> Visitor<'de> for Optional<V> {
    type Value = V::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        self.visitor.expecting(f)
    }

    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        self.visitor.visit_none()
    }

    fn visit_some<D: Deserializer<'de>>(self, de: D) -> Result<Self::Value, D::Error> {
        self.visitor.visit_some(Strict::with(de, self.strings))
    }
}

/// A seed whose deserializer is wrapped.
struct StrictSeed<S> {
    seed: S,
    strings: Strings,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for StrictSeed<S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<S::Value, D::Error> {
        self.seed.deserialize(Strict::with(de, self.strings))
    }
}

struct StrictSeq<A> {
    seq: A,
    strings: Strings,
}

impl<'de, A: SeqAccess<'de>> SeqAccess<'de> for StrictSeq<A> {
    type Error = A::Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, A::Error> {
        self.seq.next_element_seed(StrictSeed {
            seed,
            strings: self.strings,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.seq.size_hint()
    }
}

/// A mapping whose keys must be strings, each once (a `Value::Mapping` refuses a repeated key).
struct StrictMap<'de, A> {
    map: A,
    keys: Keys<'de>,
    strings: Strings,
}

impl<'de, A: MapAccess<'de>> MapAccess<'de> for StrictMap<'de, A> {
    type Error = A::Error;

    fn next_key_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, A::Error> {
        self.map.next_key_seed(KeySeed {
            seed,
            keys: &mut self.keys,
            strings: self.strings,
        })
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, A::Error> {
        self.map.next_value_seed(StrictSeed {
            seed,
            strings: self.strings,
        })
    }

    fn size_hint(&self) -> Option<usize> {
        self.map.size_hint()
    }
}

/// The keys of one mapping so far, borrowed from the text where the deserializer lends them.
/// Most mappings have a few keys, searched in a list; a long one (`params`, `outputs`) moves
/// them to a set, so that no mapping costs the square of its size.
#[derive(Default)]
struct Keys<'de> {
    few: Vec<Cow<'de, str>>,
    many: HashSet<Cow<'de, str>>,
}

impl<'de> Keys<'de> {
    const FEW: usize = 16;

    /// Whether `key` is new, remembering it.
    fn insert(&mut self, key: Cow<'de, str>) -> bool {
        if self.few.contains(&key) || self.many.contains(&key) {
            return false;
        }
        if self.few.len() < Self::FEW {
            self.few.push(key);
        } else {
            self.many.insert(key);
        }
        true
    }
}

struct KeySeed<'k, 'de, S> {
    seed: S,
    keys: &'k mut Keys<'de>,
    strings: Strings,
}

impl<'de, S: DeserializeSeed<'de>> DeserializeSeed<'de> for KeySeed<'_, 'de, S> {
    type Value = S::Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<S::Value, D::Error> {
        let KeySeed {
            seed,
            keys,
            strings,
        } = self;
        let visitor = KeyVisitor { seed, keys };
        match strings {
            Strings::Resolved => d.deserialize_any(visitor),
            Strings::Untagged => d.deserialize_str(Plain(visitor)),
            Strings::Exact => d.deserialize_str(visitor),
        }
    }
}

/// Takes a string key once, and hands it to the seed.
struct KeyVisitor<'k, 'de, S> {
    seed: S,
    keys: &'k mut Keys<'de>,
}

impl<'de, S: DeserializeSeed<'de>> Visitor<'de> for KeyVisitor<'_, 'de, S> {
    type Value = S::Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string key")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<S::Value, E> {
        if !self.keys.insert(Cow::Borrowed(v)) {
            return Err(refused());
        }
        self.seed
            .deserialize(de::value::BorrowedStrDeserializer::new(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<S::Value, E> {
        if !self.keys.insert(Cow::Owned(v.to_string())) {
            return Err(refused());
        }
        self.seed.deserialize(de::value::StrDeserializer::new(v))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<S::Value, E> {
        self.visit_str(&v)
    }
}

#[cfg(test)]
mod tests {
    use super::surely_string;

    /// Whatever `surely_string` lets through, serde_yaml's `Value` holds as a string.
    #[test]
    fn what_is_surely_a_string_is_one_to_serde_yaml() {
        let alphabet: Vec<char> = "0123456789+-._xobeEinfaNIlut~ ".chars().collect();
        let mut texts: Vec<String> = alphabet.iter().map(|c| c.to_string()).collect();
        for a in &alphabet {
            for b in &alphabet {
                texts.push(format!("{a}{b}"));
                texts.push(format!("{a}{b}5"));
            }
        }
        let words = [
            "null", "Null", "NULL", "~", "true", "True", "TRUE", "false", "False", "FALSE", "inf",
            "nan", "NaN", "infinity", "yes", "no", "on", "off", "y", "n", "0x1F", "0o17", "0b1",
            "1e3", "1_000", ".inf", "-.Inf", "+.INF", ".nan", "1.5", "s1", "true1",
        ];
        texts.extend(words.iter().map(|w| w.to_string()));
        let mut strings = 0;
        for text in texts {
            let Ok(value) = serde_yaml::from_str::<serde_yaml::Value>(&format!("k: {text}\n"))
            else {
                continue;
            };
            // The scalar's text as the parser reads it: a plain scalar is trimmed.
            let read = &value["k"];
            if surely_string(text.trim()) {
                assert!(read.is_string(), "{text:?} is {read:?}");
                strings += 1;
            }
        }
        assert!(strings > 300, "{strings}");
    }
}
