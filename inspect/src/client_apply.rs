//! Client-side apply, as `kubectl apply` did it before server-side apply (and still does by
//! default): the object is created with its manifest recorded in the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation; later applies send a
//! three-way merge patch computed from that record (original), the new manifest (modified) and
//! the live object (current).
//!
//! The patch is a JSON merge patch (RFC 7386), as kubectl sends for custom resources
//! (`jsonmergepatch.CreateThreeWayJSONMergePatch`): fields the manifest no longer has but the
//! last apply set are deleted, fields whose value differs from the live object are set, and
//! fields other writers added are left alone. Lists are replaced whole.

use serde_json::{Map, Value};

/// The annotation in which the last applied manifest is kept.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The object to write: the manifest with its own JSON (without status, resourceVersion or a
/// previous record) in the last-applied annotation.
pub fn with_last_applied(manifest: &Value) -> Value {
    let mut record = manifest.clone();
    if let Some(m) = record.as_object_mut() {
        m.remove("status");
    }
    if let Some(meta) = record["metadata"].as_object_mut() {
        meta.remove("resourceVersion");
        if let Some(Value::Object(notes)) = meta.get_mut("annotations") {
            notes.remove(LAST_APPLIED);
            if notes.is_empty() {
                meta.remove("annotations");
            }
        }
    }
    let text = record.to_string();
    let mut modified = manifest.clone();
    if !modified["metadata"]["annotations"].is_object() {
        modified["metadata"]["annotations"] = Value::Object(Map::new());
    }
    modified["metadata"]["annotations"][LAST_APPLIED] = Value::String(text);
    modified
}

/// The manifest a live object was last applied from, if it records one.
pub fn last_applied(current: &Value) -> Option<Value> {
    current["metadata"]["annotations"][LAST_APPLIED]
        .as_str()
        .and_then(|t| serde_json::from_str(t).ok())
}

/// The merge patch that takes `current` to `modified` (built by [`with_last_applied`]), deleting
/// what `original` set and `modified` no longer has. An empty object means nothing changes.
pub fn three_way_merge_patch(original: Option<&Value>, modified: &Value, current: &Value) -> Value {
    let mut patch = changes(current, modified);
    if let Some(original) = original {
        add_deletions(&mut patch, original, modified);
    }
    Value::Object(patch)
}

/// Whether a patch from [`three_way_merge_patch`] changes nothing.
pub fn is_empty(patch: &Value) -> bool {
    patch.as_object().is_none_or(Map::is_empty)
}

/// The fields of `modified` that `current` lacks or holds differently.
fn changes(current: &Value, modified: &Value) -> Map<String, Value> {
    let mut out = Map::new();
    let Some(modified) = modified.as_object() else {
        return out;
    };
    for (key, want) in modified {
        match (current.get(key), want) {
            // Equal, or a list whose items the server only filled in (defaults): nothing to do.
            (Some(have), _) if covers(have, want) => {}
            (Some(have @ Value::Object(_)), Value::Object(_)) => {
                let inner = changes(have, want);
                if !inner.is_empty() {
                    out.insert(key.clone(), Value::Object(inner));
                }
            }
            // A null in a merge patch deletes: a field set to null in the manifest is absent.
            (None, Value::Null) => {}
            _ => {
                out.insert(key.clone(), want.clone());
            }
        }
    }
    out
}

/// Whether `have` holds everything `want` says (and perhaps more, as server defaults).
fn covers(have: &Value, want: &Value) -> bool {
    match (have, want) {
        (Value::Object(h), Value::Object(w)) => w.iter().all(|(k, v)| {
            h.get(k).is_some_and(|hv| covers(hv, v)) || v.is_null() && !h.contains_key(k)
        }),
        (Value::Array(h), Value::Array(w)) => {
            h.len() == w.len() && h.iter().zip(w).all(|(a, b)| covers(a, b))
        }
        _ => have == want,
    }
}

/// Nulls for the fields `original` set and `modified` dropped, merged into `patch`.
fn add_deletions(patch: &mut Map<String, Value>, original: &Value, modified: &Value) {
    let Some(original) = original.as_object() else {
        return;
    };
    for (key, was) in original {
        match modified.get(key) {
            None => {
                patch.insert(key.clone(), Value::Null);
            }
            Some(now @ Value::Object(_)) if was.is_object() => {
                let mut inner = match patch.remove(key) {
                    Some(Value::Object(m)) => m,
                    _ => Map::new(),
                };
                add_deletions(&mut inner, was, now);
                if !inner.is_empty() {
                    patch.insert(key.clone(), Value::Object(inner));
                }
            }
            Some(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cm(data: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data})
    }

    #[test]
    fn the_record_is_the_manifest_itself() {
        let m = with_last_applied(&cm(json!({"a": "1"})));
        assert_eq!(last_applied(&m), Some(cm(json!({"a": "1"}))));
        // Applying a live object again does not nest records.
        let again = with_last_applied(&m);
        assert_eq!(again, m);
    }

    #[test]
    fn unchanged_manifests_give_an_empty_patch() {
        let modified = with_last_applied(&cm(json!({"a": "1"})));
        let mut live = modified.clone();
        live["metadata"]["uid"] = json!("u");
        live["metadata"]["resourceVersion"] = json!("7");
        let patch = three_way_merge_patch(last_applied(&live).as_ref(), &modified, &live);
        assert!(is_empty(&patch), "{patch}");
    }

    #[test]
    fn dropped_fields_are_deleted_and_others_writes_kept() {
        let first = with_last_applied(&cm(json!({"a": "1", "b": "2"})));
        let mut live = first.clone();
        live["data"]["other"] = json!("set by someone else");
        let modified = with_last_applied(&cm(json!({"a": "10"})));
        let patch = three_way_merge_patch(last_applied(&live).as_ref(), &modified, &live);
        assert_eq!(patch["data"], json!({"a": "10", "b": null}));
        assert!(patch["data"].get("other").is_none());
        assert_eq!(
            last_applied(&json!({"metadata": patch["metadata"]})),
            Some(cm(json!({"a": "10"})))
        );
    }

    #[test]
    fn without_a_record_nothing_is_deleted() {
        let live = cm(json!({"a": "1", "b": "2"}));
        let modified = with_last_applied(&cm(json!({"a": "1"})));
        let patch = three_way_merge_patch(None, &modified, &live);
        assert!(patch.get("data").is_none(), "{patch}");
        assert!(patch["metadata"]["annotations"][LAST_APPLIED].is_string());
    }

    #[test]
    fn lists_the_server_only_filled_in_are_unchanged() {
        let manifest = json!({"spec": {"containers": [{"name": "web", "image": "nginx"}]}});
        let modified = with_last_applied(&manifest);
        let mut live = modified.clone();
        live["spec"]["containers"][0]["imagePullPolicy"] = json!("Always");
        let patch = three_way_merge_patch(last_applied(&live).as_ref(), &modified, &live);
        assert!(is_empty(&patch), "{patch}");
        let newer = with_last_applied(
            &json!({"spec": {"containers": [{"name": "web", "image": "nginx:2"}]}}),
        );
        let patch = three_way_merge_patch(last_applied(&live).as_ref(), &newer, &live);
        assert_eq!(patch["spec"]["containers"][0]["image"], "nginx:2");
    }

    #[test]
    fn lists_are_replaced_whole() {
        let live = with_last_applied(&json!({"spec": {"ports": [{"port": 80}, {"port": 81}]}}));
        let modified = with_last_applied(&json!({"spec": {"ports": [{"port": 80}]}}));
        let patch = three_way_merge_patch(last_applied(&live).as_ref(), &modified, &live);
        assert_eq!(patch["spec"], json!({"ports": [{"port": 80}]}));
    }
}
