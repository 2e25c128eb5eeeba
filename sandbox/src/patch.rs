//! Patch formats: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and strategic merge patch.

use serde_json::{Map, Value};

/// Why a patch could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum PatchError {
    /// The patch document has the wrong shape.
    #[error("invalid patch: {0}")]
    Invalid(String),
    /// A JSON patch `test` operation failed.
    #[error("json patch test operation failed at {0}")]
    TestFailed(String),
}

/// Applies an RFC 7386 merge patch.
pub fn merge_patch(target: &Value, patch: &Value) -> Value {
    let Value::Object(p) = patch else {
        return patch.clone();
    };
    let mut out = match target {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    for (k, v) in p {
        if v.is_null() {
            out.remove(k);
        } else {
            let merged = merge_patch(out.get(k).unwrap_or(&Value::Null), v);
            out.insert(k.clone(), merged);
        }
    }
    Value::Object(out)
}

fn unescape(tok: &str) -> String {
    tok.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(ptr: &str) -> Result<Vec<String>, PatchError> {
    if ptr.is_empty() {
        return Ok(vec![]);
    }
    let rest = ptr
        .strip_prefix('/')
        .ok_or_else(|| PatchError::Invalid(format!("bad JSON pointer {ptr:?}")))?;
    Ok(rest.split('/').map(unescape).collect())
}

fn parent_mut<'a>(doc: &'a mut Value, toks: &[String]) -> Result<&'a mut Value, PatchError> {
    let mut cur = doc;
    for t in toks {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(t)
                .ok_or_else(|| PatchError::Invalid(format!("path segment {t:?} not found")))?,
            Value::Array(a) => {
                let i: usize = t
                    .parse()
                    .map_err(|_| PatchError::Invalid(format!("bad array index {t:?}")))?;
                a.get_mut(i)
                    .ok_or_else(|| PatchError::Invalid(format!("array index {i} out of range")))?
            }
            _ => return Err(PatchError::Invalid(format!("cannot descend into {t:?}"))),
        };
    }
    Ok(cur)
}

fn add(doc: &mut Value, ptr: &str, value: Value) -> Result<(), PatchError> {
    let toks = split_pointer(ptr)?;
    let Some((last, parents)) = toks.split_last() else {
        *doc = value;
        return Ok(());
    };
    match parent_mut(doc, parents)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
            } else {
                let i: usize = last
                    .parse()
                    .map_err(|_| PatchError::Invalid(format!("bad array index {last:?}")))?;
                if i > a.len() {
                    return Err(PatchError::Invalid(format!("array index {i} out of range")));
                }
                a.insert(i, value);
            }
        }
        _ => return Err(PatchError::Invalid(format!("cannot add at {ptr:?}"))),
    }
    Ok(())
}

fn remove(doc: &mut Value, ptr: &str) -> Result<Value, PatchError> {
    let toks = split_pointer(ptr)?;
    let Some((last, parents)) = toks.split_last() else {
        return Err(PatchError::Invalid(
            "cannot remove the whole document".into(),
        ));
    };
    match parent_mut(doc, parents)? {
        Value::Object(m) => m
            .remove(last)
            .ok_or_else(|| PatchError::Invalid(format!("path {ptr:?} not found"))),
        Value::Array(a) => {
            let i: usize = last
                .parse()
                .map_err(|_| PatchError::Invalid(format!("bad array index {last:?}")))?;
            if i >= a.len() {
                return Err(PatchError::Invalid(format!("array index {i} out of range")));
            }
            Ok(a.remove(i))
        }
        _ => Err(PatchError::Invalid(format!("cannot remove at {ptr:?}"))),
    }
}

fn get(doc: &Value, ptr: &str) -> Result<Value, PatchError> {
    let toks = split_pointer(ptr)?;
    let mut d = doc.clone();
    Ok(parent_mut(&mut d, &toks)?.clone())
}

/// Applies an RFC 6902 JSON patch.
pub fn json_patch(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let ops = patch
        .as_array()
        .ok_or_else(|| PatchError::Invalid("a JSON patch must be an array".into()))?;
    let mut doc = target.clone();
    for op in ops {
        let path = op["path"]
            .as_str()
            .ok_or_else(|| PatchError::Invalid("operation without path".into()))?;
        match op["op"].as_str().unwrap_or_default() {
            "add" => add(&mut doc, path, op["value"].clone())?,
            "remove" => {
                remove(&mut doc, path)?;
            }
            "replace" => {
                remove(&mut doc, path)?;
                add(&mut doc, path, op["value"].clone())?;
            }
            "move" => {
                let from = op["from"].as_str().unwrap_or_default();
                let v = remove(&mut doc, from)?;
                add(&mut doc, path, v)?;
            }
            "copy" => {
                let from = op["from"].as_str().unwrap_or_default();
                let v = get(&doc, from)?;
                add(&mut doc, path, v)?;
            }
            "test" => {
                if get(&doc, path)? != op["value"] {
                    return Err(PatchError::TestFailed(path.to_string()));
                }
            }
            other => return Err(PatchError::Invalid(format!("unknown operation {other:?}"))),
        }
    }
    Ok(doc)
}

/// The merge key of a list field, following the Kubernetes built-in types.
pub(crate) fn merge_key(field: &str, items: &[&Value]) -> Option<&'static str> {
    let has = |k: &str| items.iter().any(|i| i.get(k).is_some());
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "hostAliases"
        | "secrets" => Some("name"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "conditions" => Some("type"),
        "ports" if has("containerPort") => Some("containerPort"),
        "ports" if has("port") => Some("port"),
        "ownerReferences" => Some("uid"),
        "finalizers" => None,
        _ => None,
    }
}

/// Applies a strategic merge patch for the common cases: maps merge, `null` deletes, lists of
/// known kinds merge by key, `$patch: delete|replace`, `$setElementOrder/`, `$retainKeys` and
/// `$deleteFromPrimitiveList/`. Other lists are replaced, as the API server does for atomic lists.
pub fn strategic_merge(target: &Value, patch: &Value) -> Result<Value, PatchError> {
    let Value::Object(p) = patch else {
        return Ok(patch.clone());
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut r = p.clone();
        r.remove("$patch");
        return Ok(Value::Object(r));
    }
    let mut out = match target {
        Value::Object(m) => m.clone(),
        _ => Map::new(),
    };
    if let Some(keep) = p.get("$retainKeys").and_then(Value::as_array) {
        let keep: Vec<&str> = keep.iter().filter_map(Value::as_str).collect();
        out.retain(|k, _| keep.contains(&k.as_str()));
    }
    for (k, v) in p {
        if k == "$retainKeys" || k == "$patch" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(cur)), Some(del)) = (out.get_mut(field), v.as_array()) {
                cur.retain(|x| !del.contains(x));
            }
            continue;
        }
        if v.is_null() {
            out.remove(k);
            continue;
        }
        let merged = match (out.get(k), v) {
            (Some(cur @ Value::Object(_)), Value::Object(_)) => strategic_merge(cur, v)?,
            (Some(Value::Array(cur)), Value::Array(items)) => {
                let refs: Vec<&Value> = items.iter().chain(cur.iter()).collect();
                match merge_key(k, &refs) {
                    Some(mk) => {
                        merge_list(cur, items, mk, p.get(&format!("$setElementOrder/{k}")))?
                    }
                    None => Value::Array(items.clone()),
                }
            }
            (_, Value::Object(m)) => {
                // New map: drop directives so they are not stored.
                strategic_merge(&Value::Object(Map::new()), &Value::Object(m.clone()))?
            }
            (_, Value::Array(items)) => Value::Array(
                items
                    .iter()
                    .filter(|i| i.get("$patch").is_none())
                    .cloned()
                    .collect(),
            ),
            _ => v.clone(),
        };
        out.insert(k.clone(), merged);
    }
    Ok(Value::Object(out))
}

fn merge_list(
    cur: &[Value],
    items: &[Value],
    key: &str,
    order: Option<&Value>,
) -> Result<Value, PatchError> {
    let mut out: Vec<Value> = cur.to_vec();
    if items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"))
    {
        return Ok(Value::Array(
            items
                .iter()
                .filter(|i| i.get("$patch").is_none())
                .cloned()
                .collect(),
        ));
    }
    for item in items {
        let id = item.get(key).cloned().unwrap_or(Value::Null);
        let pos = out.iter().position(|x| x.get(key) == Some(&id));
        if item.get("$patch").and_then(Value::as_str) == Some("delete") {
            if let Some(i) = pos {
                out.remove(i);
            }
            continue;
        }
        match pos {
            Some(i) => out[i] = strategic_merge(&out[i], item)?,
            None => out.push(strategic_merge(&Value::Object(Map::new()), item)?),
        }
    }
    if let Some(Value::Array(order)) = order {
        let ids: Vec<&Value> = order.iter().filter_map(|o| o.get(key)).collect();
        // Elements named in the order list come first, in that order; the rest keep theirs.
        let mut sorted: Vec<Value> = ids
            .iter()
            .filter_map(|id| out.iter().find(|x| x.get(key) == Some(id)).cloned())
            .collect();
        sorted.extend(
            out.iter()
                .filter(|x| !x.get(key).is_some_and(|k| ids.contains(&k)))
                .cloned(),
        );
        out = sorted;
    }
    Ok(Value::Array(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_sets_and_deletes() {
        let t = json!({"a": 1, "b": {"c": 2, "d": 3}});
        let r = merge_patch(&t, &json!({"a": null, "b": {"c": 5}}));
        assert_eq!(r, json!({"b": {"c": 5, "d": 3}}));
    }

    #[test]
    fn json_patch_ops() {
        let t = json!({"a": [1, 2], "m": {"x~y": 1}});
        let r = json_patch(
            &t,
            &json!([
                {"op": "add", "path": "/a/-", "value": 3},
                {"op": "replace", "path": "/m/x~0y", "value": 2},
                {"op": "test", "path": "/a/0", "value": 1},
                {"op": "remove", "path": "/a/1"}
            ]),
        )
        .unwrap();
        assert_eq!(r, json!({"a": [1, 3], "m": {"x~y": 2}}));
        assert!(json_patch(&t, &json!([{"op": "test", "path": "/a/0", "value": 9}])).is_err());
    }

    #[test]
    fn strategic_merges_containers_by_name() {
        let t = json!({"spec": {"containers": [
            {"name": "a", "image": "a:1", "ports": [{"containerPort": 80}]},
            {"name": "b", "image": "b:1"}]}});
        let p = json!({"spec": {
            "$setElementOrder/containers": [{"name": "b"}, {"name": "a"}],
            "containers": [{"name": "a", "image": "a:2"}]}});
        let r = strategic_merge(&t, &p).unwrap();
        assert_eq!(r["spec"]["containers"][0]["name"], "b");
        assert_eq!(r["spec"]["containers"][1]["image"], "a:2");
        assert_eq!(r["spec"]["containers"][1]["ports"][0]["containerPort"], 80);
        let d = strategic_merge(
            &r,
            &json!({"spec": {"containers": [{"name": "b", "$patch": "delete"}]}}),
        )
        .unwrap();
        assert_eq!(d["spec"]["containers"].as_array().unwrap().len(), 1);
    }

    #[test]
    fn strategic_replaces_unkeyed_lists() {
        let t = json!({"args": ["a", "b"]});
        assert_eq!(
            strategic_merge(&t, &json!({"args": ["c"]})).unwrap(),
            json!({"args": ["c"]})
        );
    }
}
