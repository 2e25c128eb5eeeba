//! Deletion: finalizers, namespace contents and owner-reference cascades.

use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::util::{name_of, namespace_of, now_rfc3339, uid_of};

/// How dependents of a deleted object are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Dependents are deleted too (in the background).
    Cascade,
    /// Dependents are deleted first; the owner stays, terminating with the
    /// `foregroundDeletion` finalizer, until they are gone.
    Foreground,
    /// Dependents lose their owner reference and stay.
    Orphan,
}

impl Propagation {
    /// Reads `propagationPolicy` (`Orphan`, `Background`, `Foreground`) or the legacy `orphanDependents`.
    pub fn parse(policy: Option<&str>, orphan: Option<bool>) -> Self {
        match (policy, orphan) {
            (Some("Orphan"), _) | (None, Some(true)) => Propagation::Orphan,
            (Some("Foreground"), _) => Propagation::Foreground,
            _ => Propagation::Cascade,
        }
    }
}

fn has_finalizers(obj: &Value) -> bool {
    obj["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty())
}

/// The finalizer that holds an owner deleted in the foreground until its dependents are gone.
pub const FOREGROUND: &str = "foregroundDeletion";

fn dependents(cluster: &Cluster, owner_uid: &str) -> Vec<(String, Value)> {
    if owner_uid.is_empty() {
        return Vec::new();
    }
    cluster.store.select_all(|o| {
        o["metadata"]["ownerReferences"]
            .as_array()
            .is_some_and(|refs| refs.iter().any(|r| r["uid"] == owner_uid))
    })
}

/// Marks an object terminating (`deletionTimestamp`), adding `finalizer` if given.
fn mark(
    cluster: &Cluster,
    key: &str,
    ns: &str,
    name: &str,
    finalizer: Option<&str>,
) -> Option<Value> {
    cluster
        .store
        .modify::<()>(key, ns, name, false, |c| {
            let mut c = c.clone();
            if !c["metadata"]["deletionTimestamp"].is_string() {
                c["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
                c["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            }
            if let Some(f) = finalizer {
                let list = c["metadata"]
                    .as_object_mut()
                    .map(|m| m.entry("finalizers").or_insert_with(|| json!([])));
                if let Some(Value::Array(a)) = list
                    && !a.iter().any(|x| x == f)
                {
                    a.push(json!(f));
                }
            }
            if key == "namespaces" {
                c["status"]["phase"] = json!("Terminating");
            }
            Ok(c)
        })
        .ok()
        .map(|(v, _)| v)
}

/// Deletes an object as the API server does: an object with finalizers, a namespace (whose
/// contents the namespace controller removes first) and an owner deleted in the foreground
/// are only marked terminating, and returned; anything else is removed, its dependents
/// deleted or orphaned. Returns the object if it was only marked, `None` if it is gone.
pub fn delete(
    cluster: &Cluster,
    key: &str,
    ns: &str,
    name: &str,
    how: Propagation,
) -> Option<Value> {
    let cur = cluster.store.get(key, ns, name)?;
    if key == "namespaces" {
        return mark(cluster, key, ns, name, None);
    }
    if how == Propagation::Foreground && !dependents(cluster, uid_of(&cur)).is_empty() {
        // The garbage collector (the controllers) releases the owner once its dependents
        // are gone; the answer is the owner as it stands now, terminating.
        let marked = mark(cluster, key, ns, name, Some(FOREGROUND))?;
        cascade(cluster, uid_of(&cur), Propagation::Cascade);
        return Some(marked);
    }
    if has_finalizers(&cur) {
        if cur["metadata"]["deletionTimestamp"].is_string() {
            return Some(cur);
        }
        return mark(cluster, key, ns, name, None);
    }
    let gone = cluster.store.delete(key, ns, name)?;
    cascade(cluster, uid_of(&gone), how);
    None
}

/// Releases an owner deleted in the foreground once none of its dependents is left.
pub fn finish_foreground(cluster: &Cluster, key: &str, owner: &Value) {
    let held = owner["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| f.iter().any(|x| x == FOREGROUND));
    if !held || !dependents(cluster, uid_of(owner)).is_empty() {
        return;
    }
    let released =
        cluster
            .store
            .modify::<()>(key, namespace_of(owner), name_of(owner), false, |c| {
                let mut c = c.clone();
                if let Some(f) = c["metadata"]["finalizers"].as_array_mut() {
                    f.retain(|x| x != FOREGROUND);
                }
                Ok(c)
            });
    if let Ok((obj, _)) = released {
        finish_if_released(cluster, key, &obj);
    }
}

/// The namespace controller's work for a terminating namespace: deletes what it holds, and the
/// namespace itself once it is empty (objects held by finalizers keep it terminating).
pub fn finish_namespace(cluster: &Cluster, name: &str) {
    let Some(ns) = cluster.store.get("namespaces", "", name) else {
        return;
    };
    if !ns["metadata"]["deletionTimestamp"].is_string() {
        return;
    }
    for _ in 0..10 {
        let left = cluster.store.select_all(|o| namespace_of(o) == name);
        let live: Vec<_> = left
            .iter()
            .filter(|(_, o)| !o["metadata"]["deletionTimestamp"].is_string())
            .collect();
        if live.is_empty() {
            if left.is_empty() && !has_finalizers(&ns) {
                cluster.store.delete("namespaces", "", name);
            }
            return;
        }
        for (k, obj) in live {
            delete(cluster, k, name, name_of(obj), Propagation::Cascade);
        }
    }
}

/// Completes the deletion of a terminating object whose finalizers are all removed.
pub fn finish_if_released(cluster: &Cluster, key: &str, obj: &Value) {
    if key == "namespaces" {
        finish_namespace(cluster, name_of(obj));
        return;
    }
    if obj["metadata"]["deletionTimestamp"].is_string() && !has_finalizers(obj) {
        delete(
            cluster,
            key,
            namespace_of(obj),
            name_of(obj),
            Propagation::Cascade,
        );
    }
}

fn cascade(cluster: &Cluster, owner_uid: &str, how: Propagation) {
    for (k, obj) in dependents(cluster, owner_uid) {
        let (ns, name) = (namespace_of(&obj).to_string(), name_of(&obj).to_string());
        match how {
            Propagation::Cascade | Propagation::Foreground => {
                delete(cluster, &k, &ns, &name, Propagation::Cascade);
            }
            Propagation::Orphan => {
                let _ = cluster.store.modify::<()>(&k, &ns, &name, false, |c| {
                    let mut c = c.clone();
                    if let Some(refs) = c["metadata"]["ownerReferences"].as_array_mut() {
                        refs.retain(|r| r["uid"] != owner_uid);
                        if refs.is_empty()
                            && let Some(m) = c["metadata"].as_object_mut()
                        {
                            m.remove("ownerReferences");
                        }
                    }
                    Ok(c)
                });
            }
        }
    }
}
