//! Just enough protobuf decoding for the bodies `kubectl create <generator>` sends (1.32+):
//! the `k8s\0` envelope and Namespace, Secret, ConfigMap, ServiceAccount, RoleBinding,
//! ClusterRoleBinding, Deployment, Service and Job objects.

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::status::ApiError;

mod workloads;

const MAGIC: &[u8] = b"k8s\0";

struct Reader<'a> {
    b: &'a [u8],
    i: usize,
}

enum Field<'a> {
    Varint(u64),
    Bytes(&'a [u8]),
}

fn bad() -> ApiError {
    ApiError::bad_request("the protobuf body could not be decoded")
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8]) -> Self {
        Reader { b, i: 0 }
    }

    fn varint(&mut self) -> Result<u64, ApiError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let byte = *self.b.get(self.i).ok_or_else(bad)?;
            self.i += 1;
            v |= u64::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(bad())
    }

    fn next(&mut self) -> Result<Option<(u64, Field<'a>)>, ApiError> {
        if self.i >= self.b.len() {
            return Ok(None);
        }
        let tag = self.varint()?;
        let field = match tag & 7 {
            0 => Field::Varint(self.varint()?),
            2 => {
                let len = usize::try_from(self.varint()?).map_err(|_| bad())?;
                let end = self
                    .i
                    .checked_add(len)
                    .filter(|e| *e <= self.b.len())
                    .ok_or_else(bad)?;
                let s = &self.b[self.i..end];
                self.i = end;
                Field::Bytes(s)
            }
            1 => {
                self.i += 8;
                Field::Varint(0)
            }
            5 => {
                self.i += 4;
                Field::Varint(0)
            }
            _ => return Err(bad()),
        };
        Ok(Some((tag >> 3, field)))
    }
}

fn text(b: &[u8]) -> Result<String, ApiError> {
    String::from_utf8(b.to_vec()).map_err(|_| bad())
}

/// A map entry message {1: key, 2: value}.
fn entry(b: &[u8]) -> Result<(String, Vec<u8>), ApiError> {
    let mut r = Reader::new(b);
    let (mut k, mut v) = (String::new(), Vec::new());
    while let Some((n, f)) = r.next()? {
        match (n, f) {
            (1, Field::Bytes(x)) => k = text(x)?,
            (2, Field::Bytes(x)) => v = x.to_vec(),
            _ => {}
        }
    }
    Ok((k, v))
}

fn object_meta(b: &[u8]) -> Result<Value, ApiError> {
    let mut r = Reader::new(b);
    let mut m = Map::new();
    let mut labels = Map::new();
    let mut annotations = Map::new();
    while let Some((n, f)) = r.next()? {
        let Field::Bytes(x) = f else { continue };
        match n {
            1 => {
                m.insert("name".into(), json!(text(x)?));
            }
            2 => {
                m.insert("generateName".into(), json!(text(x)?));
            }
            3 => {
                m.insert("namespace".into(), json!(text(x)?));
            }
            11 => {
                let (k, v) = entry(x)?;
                labels.insert(k, json!(text(&v)?));
            }
            12 => {
                let (k, v) = entry(x)?;
                annotations.insert(k, json!(text(&v)?));
            }
            _ => {}
        }
    }
    m.retain(|_, v| v.as_str().is_some_and(|s| !s.is_empty()));
    if !labels.is_empty() {
        m.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        m.insert("annotations".into(), Value::Object(annotations));
    }
    Ok(Value::Object(m))
}

/// A message whose fields 1..n are strings, named by `names`.
fn strings(b: &[u8], names: &[&str]) -> Result<Value, ApiError> {
    let mut r = Reader::new(b);
    let mut m = Map::new();
    while let Some((n, f)) = r.next()? {
        if let (Field::Bytes(x), Some(name)) = (f, names.get((n as usize).wrapping_sub(1))) {
            let t = text(x)?;
            if !t.is_empty() {
                m.insert((*name).to_string(), json!(t));
            }
        }
    }
    Ok(Value::Object(m))
}

fn decode_object(kind: &str, raw: &[u8]) -> Result<Value, ApiError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut obj = Map::new();
    let mut data = Map::new();
    let mut binary = Map::new();
    let mut subjects = Vec::new();
    let mut r = Reader::new(raw);
    while let Some((n, f)) = r.next()? {
        match (kind, n, f) {
            (_, 1, Field::Bytes(x)) => {
                obj.insert("metadata".into(), object_meta(x)?);
            }
            ("Secret", 2, Field::Bytes(x)) => {
                let (k, v) = entry(x)?;
                data.insert(k, json!(b64.encode(v)));
            }
            ("Secret", 3, Field::Bytes(x)) => {
                obj.insert("type".into(), json!(text(x)?));
            }
            ("Secret", 4, Field::Bytes(x)) => {
                let (k, v) = entry(x)?;
                data.insert(k, json!(b64.encode(v)));
            }
            ("Secret" | "ConfigMap", 5 | 4, Field::Varint(v)) => {
                obj.insert("immutable".into(), json!(v != 0));
            }
            ("ConfigMap", 2, Field::Bytes(x)) => {
                let (k, v) = entry(x)?;
                data.insert(k, json!(text(&v)?));
            }
            ("ConfigMap", 3, Field::Bytes(x)) => {
                let (k, v) = entry(x)?;
                binary.insert(k, json!(b64.encode(v)));
            }
            ("Deployment" | "Service" | "Job", 2, Field::Bytes(x)) => {
                obj.insert("spec".into(), workloads::spec(kind, x)?);
            }
            ("ClusterRoleBinding" | "RoleBinding", 2, Field::Bytes(x)) => {
                subjects.push(strings(x, &["kind", "apiGroup", "name", "namespace"])?);
            }
            ("ClusterRoleBinding" | "RoleBinding", 3, Field::Bytes(x)) => {
                obj.insert("roleRef".into(), strings(x, &["apiGroup", "kind", "name"])?);
            }
            _ => {}
        }
    }
    if !data.is_empty() {
        obj.insert("data".into(), Value::Object(data));
    }
    if !binary.is_empty() {
        obj.insert("binaryData".into(), Value::Object(binary));
    }
    if !subjects.is_empty() {
        obj.insert("subjects".into(), Value::Array(subjects));
    }
    Ok(Value::Object(obj))
}

/// Decodes a `k8s\0`-framed protobuf body into the equivalent JSON object.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let rest = body.strip_prefix(MAGIC).ok_or_else(bad)?;
    let mut r = Reader::new(rest);
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), &[][..]);
    while let Some((n, f)) = r.next()? {
        match (n, f) {
            (1, Field::Bytes(x)) => {
                let mut t = Reader::new(x);
                while let Some((n, f)) = t.next()? {
                    match (n, f) {
                        (1, Field::Bytes(y)) => api_version = text(y)?,
                        (2, Field::Bytes(y)) => kind = text(y)?,
                        _ => {}
                    }
                }
            }
            (2, Field::Bytes(x)) => raw = x,
            _ => {}
        }
    }
    if !matches!(
        kind.as_str(),
        "Namespace"
            | "Secret"
            | "ConfigMap"
            | "ServiceAccount"
            | "ClusterRoleBinding"
            | "RoleBinding"
            | "Deployment"
            | "Service"
            | "Job"
    ) {
        return Err(ApiError::unsupported_media(format!(
            "the sandbox cannot decode protobuf for kind {kind:?}; send JSON"
        )));
    }
    let mut obj = decode_object(&kind, raw)?;
    obj["apiVersion"] = json!(api_version);
    obj["kind"] = json!(kind);
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_namespace_as_kubectl_sends_it() {
        let mut b = b"k8s\0".to_vec();
        b.extend([0x0a, 0x0f, 0x0a, 0x02]);
        b.extend(b"v1");
        b.extend([0x12, 0x09]);
        b.extend(b"Namespace");
        b.extend([0x12, 0x1c, 0x0a, 0x14, 0x0a, 0x04]);
        b.extend(b"demo");
        b.extend([
            0x12, 0x00, 0x1a, 0x00, 0x22, 0x00, 0x2a, 0x00, 0x32, 0x00, 0x38, 0x00, 0x42, 0x00,
        ]);
        b.extend([0x12, 0x00, 0x1a, 0x02, 0x0a, 0x00]);
        b.extend([0x1a, 0x00, 0x22, 0x00]);
        let v = decode(&b).unwrap();
        assert_eq!(v["kind"], "Namespace");
        assert_eq!(v["metadata"]["name"], "demo");
    }

    #[test]
    fn rejects_garbage() {
        assert!(decode(b"nope").is_err());
        assert!(decode(b"k8s\0\x0a\xff").is_err());
    }
}
