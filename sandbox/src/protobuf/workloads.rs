//! Protobuf decoding of the Deployment, Service and Job bodies that `kubectl create deployment`,
//! `create service` and `create job` send (field numbers from k8s.io/api `generated.proto`).

use serde_json::{Map, Value, json};

use super::{Field, Reader, entry, object_meta, text};
use crate::status::ApiError;

type Fields<'a> = Vec<(u64, Field<'a>)>;

fn fields(b: &[u8]) -> Result<Fields<'_>, ApiError> {
    let mut r = Reader::new(b);
    let mut out = Vec::new();
    while let Some(f) = r.next()? {
        out.push(f);
    }
    Ok(out)
}

/// Sets `key` to a non-empty string field.
fn put_str(m: &mut Map<String, Value>, key: &str, x: &[u8]) -> Result<(), ApiError> {
    let t = text(x)?;
    if !t.is_empty() {
        m.insert(key.into(), json!(t));
    }
    Ok(())
}

fn push(m: &mut Map<String, Value>, key: &str, v: Value) {
    if let Value::Array(a) = m.entry(key.to_string()).or_insert_with(|| json!([])) {
        a.push(v);
    }
}

fn push_str(m: &mut Map<String, Value>, key: &str, x: &[u8]) -> Result<(), ApiError> {
    push(m, key, json!(text(x)?));
    Ok(())
}

fn string_map(m: &mut Map<String, Value>, key: &str, x: &[u8]) -> Result<(), ApiError> {
    let (k, v) = entry(x)?;
    let v = text(&v)?;
    if let Value::Object(o) = m.entry(key.to_string()).or_insert_with(|| json!({})) {
        o.insert(k, json!(v));
    }
    Ok(())
}

fn container_port(b: &[u8]) -> Result<Value, ApiError> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => put_str(&mut m, "name", x)?,
            (3, Field::Varint(v)) => {
                m.insert("containerPort".into(), json!(v));
            }
            (4, Field::Bytes(x)) => put_str(&mut m, "protocol", x)?,
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

fn container(b: &[u8]) -> Result<Value, ApiError> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => put_str(&mut m, "name", x)?,
            (2, Field::Bytes(x)) => put_str(&mut m, "image", x)?,
            (3, Field::Bytes(x)) => push_str(&mut m, "command", x)?,
            (4, Field::Bytes(x)) => push_str(&mut m, "args", x)?,
            (5, Field::Bytes(x)) => put_str(&mut m, "workingDir", x)?,
            (6, Field::Bytes(x)) => push(&mut m, "ports", container_port(x)?),
            (14, Field::Bytes(x)) => put_str(&mut m, "imagePullPolicy", x)?,
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

fn pod_spec(b: &[u8]) -> Result<Value, ApiError> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (2, Field::Bytes(x)) => push(&mut m, "containers", container(x)?),
            (3, Field::Bytes(x)) => put_str(&mut m, "restartPolicy", x)?,
            (7, Field::Bytes(x)) => string_map(&mut m, "nodeSelector", x)?,
            (8, Field::Bytes(x)) => put_str(&mut m, "serviceAccountName", x)?,
            (20, Field::Bytes(x)) => push(&mut m, "initContainers", container(x)?),
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

fn template(b: &[u8]) -> Result<Value, ApiError> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => {
                m.insert("metadata".into(), object_meta(x)?);
            }
            (2, Field::Bytes(x)) => {
                m.insert("spec".into(), pod_spec(x)?);
            }
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

fn selector(b: &[u8]) -> Result<Value, ApiError> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        if let (1, Field::Bytes(x)) = (n, f) {
            string_map(&mut m, "matchLabels", x)?;
        }
    }
    Ok(Value::Object(m))
}

fn int_or_string(b: &[u8]) -> Result<Value, ApiError> {
    let (mut is_string, mut int, mut s) = (false, 0u64, String::new());
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Varint(v)) => is_string = v == 1,
            (2, Field::Varint(v)) => int = v,
            (3, Field::Bytes(x)) => s = text(x)?,
            _ => {}
        }
    }
    Ok(if is_string { json!(s) } else { json!(int) })
}

fn service_port(b: &[u8]) -> Result<Value, ApiError> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        match (n, f) {
            (1, Field::Bytes(x)) => put_str(&mut m, "name", x)?,
            (2, Field::Bytes(x)) => put_str(&mut m, "protocol", x)?,
            (3, Field::Varint(v)) => {
                m.insert("port".into(), json!(v));
            }
            (4, Field::Bytes(x)) => {
                m.insert("targetPort".into(), int_or_string(x)?);
            }
            (5, Field::Varint(v)) if v != 0 => {
                m.insert("nodePort".into(), json!(v));
            }
            _ => {}
        }
    }
    Ok(Value::Object(m))
}

/// The `spec` of a Deployment, Service or Job.
pub(super) fn spec(kind: &str, b: &[u8]) -> Result<Value, ApiError> {
    let mut m = Map::new();
    for (n, f) in fields(b)? {
        match (kind, n, f) {
            ("Deployment", 1, Field::Varint(v)) => {
                m.insert("replicas".into(), json!(v));
            }
            ("Deployment", 2, Field::Bytes(x)) | ("Job", 4, Field::Bytes(x)) => {
                m.insert("selector".into(), selector(x)?);
            }
            ("Deployment", 3, Field::Bytes(x)) | ("Job", 6, Field::Bytes(x)) => {
                m.insert("template".into(), template(x)?);
            }
            ("Job", 1, Field::Varint(v)) => {
                m.insert("parallelism".into(), json!(v));
            }
            ("Job", 2, Field::Varint(v)) => {
                m.insert("completions".into(), json!(v));
            }
            ("Job", 7, Field::Varint(v)) => {
                m.insert("backoffLimit".into(), json!(v));
            }
            ("Service", 1, Field::Bytes(x)) => push(&mut m, "ports", service_port(x)?),
            ("Service", 2, Field::Bytes(x)) => string_map(&mut m, "selector", x)?,
            ("Service", 3, Field::Bytes(x)) => put_str(&mut m, "clusterIP", x)?,
            ("Service", 4, Field::Bytes(x)) => put_str(&mut m, "type", x)?,
            ("Service", 10, Field::Bytes(x)) => put_str(&mut m, "externalName", x)?,
            _ => {}
        }
    }
    Ok(Value::Object(m))
}
