//! Duplicate fields in request bodies, found as the API server's strict decoders find them.
//!
//! JSON bodies are decoded once, keeping every key in document order and marking the keys an
//! object repeats; the value keeps the last occurrence, as Go's decoder does. YAML bodies are
//! scanned for mapping keys set twice, reported with their line as `go-yaml` words it.
//! The wording and order follow the API server's field validation integration test
//! (kubernetes/kubernetes `test/integration/apiserver/field_validation_test.go`):
//! `duplicate field "spec.paused"` for JSON, `line 14: key "paused" already set in map` for
//! YAML, unknown and duplicate fields of a JSON create or update interleaved in document order.

use std::cell::RefCell;
use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};
use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::Marker;

/// One key of a JSON document, in document order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// Its path, as the strict decoder prints it (`spec.template.spec.containers[0].image`).
    pub path: String,
    /// Whether the same object already had this key.
    pub duplicate: bool,
}

/// Decodes a JSON document, the last of repeated keys winning, and lists its keys.
pub fn decode_json(body: &[u8]) -> Result<(Value, Vec<Key>), serde_json::Error> {
    let keys = RefCell::new(Vec::new());
    let mut de = serde_json::Deserializer::from_slice(body);
    let value = Node {
        path: String::new(),
        keys: &keys,
    }
    .deserialize(&mut de)?;
    de.end()?;
    Ok((value, keys.into_inner()))
}

/// The paths of the keys `keys` repeats, in document order.
pub fn duplicates(keys: &[Key]) -> impl Iterator<Item = &str> {
    keys.iter().filter(|k| k.duplicate).map(|k| k.path.as_str())
}

/// The strict decoding findings of a JSON create or update, in document order: unknown
/// fields (`unknown`, found against the schema) and repeated ones. A field both unknown and
/// repeated counts as unknown only, and nothing inside an unknown field is reported, as the
/// typed decoder skips it.
pub fn interleave(keys: &[Key], unknown: &[String]) -> Vec<String> {
    let inside = |path: &str| {
        unknown.iter().any(|u| {
            path.strip_prefix(u.as_str())
                .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('['))
        })
    };
    let mut out = Vec::new();
    let mut reported = HashSet::new();
    for k in keys {
        if inside(&k.path) {
            continue;
        }
        if unknown.contains(&k.path) {
            if reported.insert(k.path.as_str()) {
                out.push(crate::fields::warning(&k.path));
            }
        } else if k.duplicate {
            out.push(duplicate(&k.path));
        }
    }
    // Unknown fields no key names (none in practice) still count.
    out.extend(
        unknown
            .iter()
            .filter(|u| !reported.contains(u.as_str()))
            .map(|u| crate::fields::warning(u)),
    );
    out
}

/// `duplicate field "spec.paused"`.
pub fn duplicate(path: &str) -> String {
    format!("duplicate field \"{path}\"")
}

/// Orders unknown-field paths as the API server reports them after a patch: the patched
/// object is re-encoded with sorted keys before it is decoded, so its fields come in key order
/// at every level.
pub fn sort_paths(paths: &mut [String]) {
    fn segments(p: &str) -> Vec<(String, usize)> {
        p.split('.')
            .flat_map(|s| {
                let mut parts = s.split('[');
                let name = parts.next().unwrap_or_default().to_string();
                std::iter::once((name, 0)).chain(parts.map(|i| {
                    (
                        String::new(),
                        i.trim_end_matches(']').parse::<usize>().unwrap_or(0) + 1,
                    )
                }))
            })
            .collect()
    }
    paths.sort_by_key(|p| segments(p));
}

struct Node<'a> {
    path: String,
    keys: &'a RefCell<Vec<Key>>,
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(v.into())
    }
    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(Node {
            path: format!("{}[{}]", self.path, out.len()),
            keys: self.keys,
        })? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut access: A) -> Result<Value, A::Error> {
        let mut map = Map::new();
        while let Some(k) = access.next_key::<String>()? {
            let path = if self.path.is_empty() {
                k.clone()
            } else {
                format!("{}.{k}", self.path)
            };
            self.keys.borrow_mut().push(Key {
                path: path.clone(),
                duplicate: map.contains_key(&k),
            });
            let v = access.next_value_seed(Node {
                path,
                keys: self.keys,
            })?;
            map.insert(k, v);
        }
        Ok(Value::Object(map))
    }
}

/// The keys a YAML document's mappings set twice, as `line N: key "x" already set in map`
/// (the line of the repeated key), in document order. Only the first document is read; a
/// document that does not parse has none (its decoding reports the error).
pub fn yaml_duplicates(text: &str) -> Vec<String> {
    let mut scan = YamlScan::default();
    if Parser::new_from_str(text).load(&mut scan, false).is_err() {
        return Vec::new();
    }
    scan.found
}

/// The strict decoding error of YAML duplicates, one error listing every line.
pub fn yaml_error(lines: &[String]) -> String {
    format!("yaml: unmarshal errors:\n  {}", lines.join("\n  "))
}

enum Frame {
    Map {
        keys: HashSet<String>,
        expect_key: bool,
    },
    Seq,
}

#[derive(Default)]
struct YamlScan {
    stack: Vec<Frame>,
    found: Vec<String>,
}

impl YamlScan {
    /// A node ended: in a mapping, a key (scalar keys are checked) or a value.
    fn node_done(&mut self, key: Option<(String, usize)>) {
        if let Some(Frame::Map { keys, expect_key }) = self.stack.last_mut() {
            if *expect_key {
                if let Some((k, line)) = key
                    && !keys.insert(k.clone())
                {
                    self.found
                        .push(format!("line {line}: key {k:?} already set in map"));
                }
                *expect_key = false;
            } else {
                *expect_key = true;
            }
        }
    }
}

impl MarkedEventReceiver for YamlScan {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        match ev {
            Event::Scalar(s, ..) => self.node_done(Some((s, mark.line()))),
            Event::Alias(_) => self.node_done(None),
            Event::MappingStart(..) => self.stack.push(Frame::Map {
                keys: HashSet::new(),
                expect_key: true,
            }),
            Event::SequenceStart(..) => self.stack.push(Frame::Seq),
            Event::MappingEnd | Event::SequenceEnd => {
                self.stack.pop();
                self.node_done(None);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // The body of the API server's field validation test (see the module comment).
    const BODY: &str = r#"{
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "a", "name": "b", "unknownMeta": 1},
        "spec": {"unknown1": "v", "unknownDupe": "x", "unknownDupe": "y", "paused": true, "paused": false,
                 "template": {"spec": {"containers": [{"name": "c", "unknownNested": 1,
                   "imagePullPolicy": "Always", "imagePullPolicy": "Never"}]}}}}"#;

    #[test]
    fn repeated_json_keys_are_found_and_the_last_wins() {
        let (v, keys) = decode_json(BODY.as_bytes()).unwrap();
        assert_eq!(v["metadata"]["name"], "b");
        assert_eq!(v["spec"]["paused"], false);
        assert_eq!(
            duplicates(&keys).collect::<Vec<_>>(),
            vec![
                "metadata.name",
                "spec.unknownDupe",
                "spec.paused",
                "spec.template.spec.containers[0].imagePullPolicy"
            ]
        );
        let unknown: Vec<String> = [
            "metadata.unknownMeta",
            "spec.unknown1",
            "spec.unknownDupe",
            "spec.template.spec.containers[0].unknownNested",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            interleave(&keys, &unknown).join(", "),
            "duplicate field \"metadata.name\", unknown field \"metadata.unknownMeta\", unknown field \"spec.unknown1\", unknown field \"spec.unknownDupe\", duplicate field \"spec.paused\", unknown field \"spec.template.spec.containers[0].unknownNested\", duplicate field \"spec.template.spec.containers[0].imagePullPolicy\""
        );
        assert!(decode_json(b"{\"a\": 1} x").is_err());
    }

    #[test]
    fn repeated_yaml_keys_are_found_with_their_line() {
        let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: a\n  name: b\nspec:\n  paused: true\n  list:\n  - k: 1\n    k: 2\n  - {k: 1}\n  paused: false\n";
        let found = yaml_duplicates(text);
        assert_eq!(
            found,
            vec![
                "line 5: key \"name\" already set in map",
                "line 10: key \"k\" already set in map",
                "line 12: key \"paused\" already set in map"
            ]
        );
        assert_eq!(
            yaml_error(&found[..2]),
            "yaml: unmarshal errors:\n  line 5: key \"name\" already set in map\n  line 10: key \"k\" already set in map"
        );
        // serde_yaml keeps the last value, as go-yaml's lenient decoding does.
        let v: Value = serde_yaml::from_str(text).unwrap();
        assert_eq!(v["spec"]["paused"], false);
        assert!(yaml_duplicates("a: [").is_empty());
    }

    #[test]
    fn patched_paths_sort_by_key_at_every_level() {
        let mut p: Vec<String> = [
            "spec.unknown1",
            "spec.template.spec.containers[10].x",
            "spec.template.spec.containers[2].x",
            "metadata.z",
        ]
        .map(String::from)
        .to_vec();
        sort_paths(&mut p);
        assert_eq!(
            p,
            vec![
                "metadata.z",
                "spec.template.spec.containers[2].x",
                "spec.template.spec.containers[10].x",
                "spec.unknown1"
            ]
        );
    }
}
