//! Deletion: finalizers, namespace contents and owner-reference cascades.

use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::util::{name_of, namespace_of, now_rfc3339, uid_of};

/// How dependents of a deleted object are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// Dependents are deleted too.
    Cascade,
    /// Dependents lose their owner reference and stay.
    Orphan,
}

impl Propagation {
    /// Reads `propagationPolicy` (`Orphan`, `Background`, `Foreground`) or the legacy `orphanDependents`.
    pub fn parse(policy: Option<&str>, orphan: Option<bool>) -> Self {
        match (policy, orphan) {
            (Some("Orphan"), _) | (None, Some(true)) => Propagation::Orphan,
            _ => Propagation::Cascade,
        }
    }
}

fn has_finalizers(obj: &Value) -> bool {
    obj["metadata"]["finalizers"]
        .as_array()
        .is_some_and(|f| !f.is_empty())
}

/// Deletes an object, honouring finalizers (marks it terminating instead) and cascading to
/// dependents. Returns the object if it was only marked, `None` if it is gone.
pub fn delete(
    cluster: &Cluster,
    key: &str,
    ns: &str,
    name: &str,
    how: Propagation,
) -> Option<Value> {
    let cur = cluster.store.get(key, ns, name)?;
    if has_finalizers(&cur) {
        if cur["metadata"]["deletionTimestamp"].is_string() {
            return Some(cur);
        }
        let marked = cluster.store.modify::<()>(key, ns, name, false, |c| {
            let mut c = c.clone();
            c["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
            c["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            Ok(c)
        });
        return marked.ok().map(|(v, _)| v);
    }
    if key == "namespaces" {
        // Terminating first, so controllers stop creating objects in it; then empty it,
        // repeating in case a controller raced the first pass.
        let _ = cluster.store.modify::<()>(key, "", name, false, |c| {
            let mut c = c.clone();
            c["metadata"]["deletionTimestamp"] = json!(now_rfc3339());
            c["status"]["phase"] = json!("Terminating");
            Ok(c)
        });
        for _ in 0..10 {
            let left = cluster.store.select_all(|o| namespace_of(o) == name);
            if left.is_empty() {
                break;
            }
            for (k, obj) in left {
                cluster.store.delete(&k, name, name_of(&obj));
            }
        }
    }
    let gone = cluster.store.delete(key, ns, name)?;
    cascade(cluster, uid_of(&gone), how);
    None
}

/// Completes the deletion of a terminating object whose finalizers are all removed.
pub fn finish_if_released(cluster: &Cluster, key: &str, obj: &Value) {
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
    if owner_uid.is_empty() {
        return;
    }
    let owned = cluster.store.select_all(|o| {
        o["metadata"]["ownerReferences"]
            .as_array()
            .is_some_and(|refs| refs.iter().any(|r| r["uid"] == owner_uid))
    });
    for (k, obj) in owned {
        let (ns, name) = (namespace_of(&obj).to_string(), name_of(&obj).to_string());
        match how {
            Propagation::Cascade => {
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
