//! Server-side apply field ownership: which fields each apply manager set (kept in
//! `metadata.managedFields` as FieldsV1), removal of fields a manager stopped applying, and
//! conflicts when two managers apply different values to one field.

use std::collections::BTreeSet;

use serde_json::{Map, Value, json};

use crate::status::ApiError;
use crate::util::now_rfc3339;

/// A field path in FieldsV1 segments: `f:spec`, `k:{"name":"main"}`, `.` (the list item itself).
type Path = Vec<String>;

/// The fields an applied configuration sets.
pub fn fields_of(applied: &Value) -> BTreeSet<Path> {
    let mut out = BTreeSet::new();
    let Some(top) = applied.as_object() else {
        return out;
    };
    let mut prefix = Vec::new();
    for (k, v) in top {
        match k.as_str() {
            "apiVersion" | "kind" | "status" => {}
            "metadata" => {
                for mk in ["labels", "annotations"] {
                    if let Some(m) = v.get(mk) {
                        prefix.push("f:metadata".to_string());
                        prefix.push(format!("f:{mk}"));
                        walk(m, &mut prefix, &mut out);
                        prefix.clear();
                    }
                }
            }
            _ => {
                prefix.push(format!("f:{k}"));
                walk_field(k, v, &mut prefix, &mut out);
                prefix.pop();
            }
        }
    }
    out
}

fn walk(v: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                prefix.push(format!("f:{k}"));
                walk_field(k, child, prefix, out);
                prefix.pop();
            }
        }
        _ => {
            out.insert(prefix.clone());
        }
    }
}

fn walk_field(name: &str, v: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) {
    let Value::Array(items) = v else {
        return walk(v, prefix, out);
    };
    let refs: Vec<&Value> = items.iter().collect();
    let key =
        crate::patch::merge_key(name, &refs).filter(|k| items.iter().all(|i| i.get(*k).is_some()));
    match key {
        Some(k) if !items.is_empty() => {
            for item in items {
                prefix.push(format!("k:{}", json!({k: item[k]})));
                prefix.push(".".to_string());
                out.insert(prefix.clone());
                prefix.pop();
                walk(item, prefix, out);
                prefix.pop();
            }
        }
        _ => {
            out.insert(prefix.clone());
        }
    }
}

fn key_matches(seg: &str, item: &Value) -> bool {
    seg.strip_prefix("k:")
        .and_then(|k| serde_json::from_str::<Map<String, Value>>(k).ok())
        .is_some_and(|want| want.iter().all(|(k, v)| item.get(k) == Some(v)))
}

/// The value at a path, if present.
fn value_at<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    let Some((seg, rest)) = path.split_first() else {
        return Some(v);
    };
    if seg == "." {
        return Some(v);
    }
    let next = match seg.strip_prefix("f:") {
        Some(f) => v.get(f)?,
        None => v.as_array()?.iter().find(|i| key_matches(seg, i))?,
    };
    value_at(next, rest)
}

fn remove_at(v: &mut Value, path: &[String]) {
    match path {
        [] => {}
        [seg] => {
            if let (Some(f), Some(m)) = (seg.strip_prefix("f:"), v.as_object_mut()) {
                m.remove(f);
            }
        }
        [seg, dot] if dot == "." => {
            if let Some(a) = v.as_array_mut() {
                a.retain(|i| !key_matches(seg, i));
            }
        }
        [seg, rest @ ..] => {
            let next = match seg.strip_prefix("f:") {
                Some(f) => v.get_mut(f),
                None => v
                    .as_array_mut()
                    .and_then(|a| a.iter_mut().find(|i| key_matches(seg, i))),
            };
            if let Some(n) = next {
                remove_at(n, rest);
            }
        }
    }
}

/// FieldsV1 (a trie of segments) from paths.
fn encode(paths: &BTreeSet<Path>) -> Value {
    let mut root = Map::new();
    for p in paths {
        let mut cur = &mut root;
        for seg in p {
            let entry = cur.entry(seg.clone()).or_insert_with(|| json!({}));
            match entry {
                Value::Object(m) => cur = m,
                _ => break,
            }
        }
    }
    Value::Object(root)
}

fn decode(v: &Value, prefix: &mut Path, out: &mut BTreeSet<Path>) {
    let Some(m) = v.as_object() else { return };
    for (seg, child) in m {
        prefix.push(seg.clone());
        if child.as_object().is_none_or(Map::is_empty) {
            out.insert(prefix.clone());
        } else {
            decode(child, prefix, out);
        }
        prefix.pop();
    }
}

struct Entry {
    manager: String,
    api_version: String,
    fields: BTreeSet<Path>,
    raw: Value,
}

fn entries(obj: &Value) -> Vec<Entry> {
    obj["metadata"]["managedFields"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|e| {
                    let mut fields = BTreeSet::new();
                    decode(&e["fieldsV1"], &mut Vec::new(), &mut fields);
                    Entry {
                        manager: e["manager"].as_str().unwrap_or_default().to_string(),
                        api_version: e["apiVersion"].as_str().unwrap_or_default().to_string(),
                        fields,
                        raw: e.clone(),
                    }
                })
                .collect()
        })
        .unwrap_or_default()
}

fn display(path: &[String]) -> String {
    path.iter()
        .filter(|s| *s != ".")
        .map(|s| match s.strip_prefix("f:") {
            Some(f) => format!(".{f}"),
            None => {
                let inner = s.trim_start_matches("k:");
                let kv = serde_json::from_str::<Map<String, Value>>(inner)
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| format!("{k}={v}"))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .unwrap_or_default();
                format!("[{kv}]")
            }
        })
        .collect()
}

fn entry_json(manager: &str, api_version: &str, fields: &BTreeSet<Path>) -> Value {
    json!({"manager": manager, "operation": "Apply", "apiVersion": api_version, "time": now_rfc3339(),
           "fieldsType": "FieldsV1", "fieldsV1": encode(fields)})
}

/// managedFields for an object created by an apply.
pub fn on_create(obj: &mut Value, applied: &Value, manager: &str, api_version: &str) {
    obj["metadata"]["managedFields"] =
        json!([entry_json(manager, api_version, &fields_of(applied))]);
}

/// Settles ownership for an apply of `applied` by `manager` onto `cur`, whose merge with the
/// applied configuration is `merged`: reports conflicts (unless `force`), removes fields the
/// manager no longer applies and nobody else owns, and records the new ownership.
pub fn on_apply(
    cur: &Value,
    merged: &mut Value,
    applied: &Value,
    manager: &str,
    api_version: &str,
    force: bool,
) -> Result<(), ApiError> {
    let mine = fields_of(applied);
    let mut all = entries(cur);
    let mut conflicts: Vec<(String, String, Path)> = Vec::new();
    for e in all.iter().filter(|e| e.manager != manager) {
        for p in e.fields.intersection(&mine) {
            // Owning a list item (`.`) claims its presence, not a value: only leaves conflict.
            if p.last().is_some_and(|s| s == ".") {
                continue;
            }
            if value_at(cur, p) != value_at(applied, p) {
                conflicts.push((e.manager.clone(), e.api_version.clone(), p.clone()));
            }
        }
    }
    if !conflicts.is_empty() && !force {
        return Err(conflict_error(&conflicts));
    }
    for (m, _, p) in &conflicts {
        if let Some(e) = all.iter_mut().find(|e| &e.manager == m) {
            e.fields.remove(p);
        }
    }
    let previous = all
        .iter()
        .find(|e| e.manager == manager && e.raw["operation"] == "Apply")
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    let others: BTreeSet<Path> = all
        .iter()
        .filter(|e| e.manager != manager)
        .flat_map(|e| e.fields.iter().cloned())
        .collect();
    // Deepest paths first, so list items go after their fields.
    let mut dropped: Vec<&Path> = previous
        .difference(&mine)
        .filter(|p| !others.contains(*p))
        .collect();
    dropped.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for p in dropped {
        remove_at(merged, p);
    }
    let unchanged = previous == mine;
    let mut out: Vec<Value> = all
        .iter()
        .filter(|e| !(e.manager == manager && e.raw["operation"] == "Apply") || unchanged)
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut r = e.raw.clone();
            r["fieldsV1"] = encode(&e.fields);
            r
        })
        .collect();
    // The same fields applied again leave the entry (and its time) as it was, so an apply
    // that changes nothing is a no-op; anything else records the manager's new set.
    if !unchanged || !out.iter().any(|e| e["manager"] == manager) {
        out.push(entry_json(manager, api_version, &mine));
    }
    merged["metadata"]["managedFields"] = Value::Array(out);
    Ok(())
}

/// Records a create, update or patch (not an apply) by `manager`: it owns every field whose
/// value it set or changed, taking them from other managers without conflict, as the API
/// server's field manager does. A write that changes no field leaves managedFields alone.
pub fn on_update(cur: Option<&Value>, new: &mut Value, manager: &str, api_version: &str) {
    let empty = Value::Null;
    let old = cur.unwrap_or(&empty);
    let changed: BTreeSet<Path> = fields_of(new)
        .into_iter()
        .filter(|p| value_at(new, p) != value_at(old, p))
        .collect();
    let mut all = entries(old);
    if changed.is_empty() {
        return;
    }
    for e in all.iter_mut().filter(|e| e.manager != manager) {
        e.fields.retain(|p| !changed.contains(p));
    }
    let mut mine: BTreeSet<Path> = all
        .iter()
        .find(|e| e.manager == manager && e.raw["operation"] == "Update")
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    mine.extend(changed);
    let mut out: Vec<Value> = all
        .iter()
        .filter(|e| !(e.manager == manager && e.raw["operation"] == "Update"))
        .filter(|e| !e.fields.is_empty())
        .map(|e| {
            let mut r = e.raw.clone();
            r["fieldsV1"] = encode(&e.fields);
            r
        })
        .collect();
    let mut entry = entry_json(manager, api_version, &mine);
    entry["operation"] = json!("Update");
    out.push(entry);
    new["metadata"]["managedFields"] = Value::Array(out);
}

fn conflict_error(conflicts: &[(String, String, Path)]) -> ApiError {
    let n = conflicts.len();
    let message = if n == 1 {
        let (m, av, p) = &conflicts[0];
        format!(
            "Apply failed with 1 conflict: conflict with \"{m}\" using {av}: {}",
            display(p)
        )
    } else {
        let lines: Vec<String> = conflicts
            .iter()
            .map(|(m, av, p)| format!("conflict with \"{m}\" using {av}: {}", display(p)))
            .collect();
        format!("Apply failed with {n} conflicts: {}", lines.join("\n"))
    };
    let causes: Vec<Value> = conflicts
        .iter()
        .map(|(m, av, p)| json!({"reason": "FieldManagerConflict",
                                 "message": format!("conflict with \"{m}\" using {av}"), "field": display(p)}))
        .collect();
    let mut e = ApiError::conflict_message(message);
    e.details = Some(Box::new(json!({"causes": causes})));
    e
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deploy(replicas: u64, image: &str, extra_env: bool) -> Value {
        let mut env = vec![json!({"name": "A", "value": "1"})];
        if extra_env {
            env.push(json!({"name": "B", "value": "2"}));
        }
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": {"app": "d"}},
               "spec": {"replicas": replicas, "template": {"spec": {"containers": [
                   {"name": "main", "image": image, "env": env}]}}}})
    }

    #[test]
    fn paths_use_keys_for_merge_lists() {
        let f = fields_of(&deploy(1, "x", false));
        let has = |p: &[&str]| f.contains(&p.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        assert!(has(&["f:spec", "f:replicas"]));
        assert!(has(&["f:metadata", "f:labels", "f:app"]));
        assert!(has(&[
            "f:spec",
            "f:template",
            "f:spec",
            "f:containers",
            r#"k:{"name":"main"}"#,
            "."
        ]));
        let mut round = BTreeSet::new();
        decode(&encode(&f), &mut Vec::new(), &mut round);
        assert_eq!(round, f);
    }

    #[test]
    fn dropped_fields_are_removed_and_conflicts_reported() {
        let first = deploy(1, "x", true);
        let mut cur = first.clone();
        on_create(&mut cur, &first, "a", "apps/v1");
        let second = deploy(1, "x", false);
        let mut merged = crate::patch::strategic_merge(&cur, &second).unwrap();
        on_apply(&cur, &mut merged, &second, "a", "apps/v1", false).unwrap();
        let env = merged["spec"]["template"]["spec"]["containers"][0]["env"]
            .as_array()
            .unwrap();
        assert_eq!(env.len(), 1, "env B was dropped: {merged}");

        let other = deploy(3, "x", false);
        let mut m2 = crate::patch::strategic_merge(&merged, &other).unwrap();
        let err = on_apply(&merged, &mut m2, &other, "b", "apps/v1", false).unwrap_err();
        assert_eq!(err.code, 409);
        assert_eq!(
            err.message,
            "Apply failed with 1 conflict: conflict with \"a\" using apps/v1: .spec.replicas"
        );
        on_apply(&merged, &mut m2, &other, "b", "apps/v1", true).unwrap();
        assert_eq!(m2["metadata"]["managedFields"].as_array().unwrap().len(), 2);
    }
}
