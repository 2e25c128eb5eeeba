//! Conversion between the versions of a kind, as the API server converts: an object written
//! under an old version gets that version's defaults and is stored in its kind's storage form;
//! a stored object read under an old version is shown in that version's shape.
//!
//! Each kind converts between an old version and its newest stable version (the storage form
//! of every kind here); kinds whose versions have the same shape only change `apiVersion`.
//! Sources: the migration guide's "notable changes" and the Kubernetes conversion and defaulting
//! code of each group (`pkg/apis/<group>/<version>/{conversion,defaults}.go`).

mod apps;
mod crd;
mod hpa;
mod misc;

use serde_json::{Map, Value, json};

use super::registry;
use crate::resources::ResourceType;

/// The storage apiVersion of the addressed type's kind, unless it is the addressed one.
fn storage_version(rt: &ResourceType) -> Option<String> {
    registry::storage_of(&rt.group, &rt.kind)
        .map(ResourceType::api_version)
        .filter(|hub| *hub != rt.api_version())
}

/// Turns `obj`, written under the addressed type `rt`, into its kind's storage form (applying
/// the addressed version's defaults first).
pub fn to_storage(rt: &ResourceType, obj: &mut Value) {
    let Some(hub) = storage_version(rt) else {
        return;
    };
    if !obj.is_object() {
        return;
    }
    up(&rt.kind, &rt.api_version(), obj);
    obj["apiVersion"] = json!(hub);
}

/// Shows a stored object, or every item of a list of them, as the addressed type `rt`. Anything
/// else (a `Status`, a subresource's `Scale`) is left as it is.
pub fn to_served(rt: &ResourceType, mut v: Value) -> Value {
    if storage_version(rt).is_none() {
        return v;
    }
    let target = rt.api_version();
    if let Some(items) = v.get_mut("items").and_then(Value::as_array_mut) {
        for item in items.iter_mut() {
            down(&rt.kind, &target, item);
        }
    } else {
        down(&rt.kind, &target, &mut v);
    }
    v
}

/// One stored object of `kind` as `target`.
fn down(kind: &str, target: &str, obj: &mut Value) {
    let Some(from) = obj["apiVersion"].as_str().map(str::to_string) else {
        return;
    };
    if from == target || obj["kind"] != kind {
        return;
    }
    match kind {
        "Deployment" | "DaemonSet" | "ReplicaSet" | "StatefulSet" => apps::down(kind, obj),
        "CustomResourceDefinition" => crd::down(obj),
        "HorizontalPodAutoscaler" => hpa::down(target, obj),
        _ => misc::down(kind, target, obj),
    }
    obj["apiVersion"] = json!(target);
}

/// One object written as `from` into its kind's newest shape.
fn up(kind: &str, from: &str, obj: &mut Value) {
    match kind {
        "Deployment" | "DaemonSet" | "ReplicaSet" | "StatefulSet" => apps::up(kind, from, obj),
        "CustomResourceDefinition" => crd::up(obj),
        "HorizontalPodAutoscaler" => hpa::up(from, obj),
        _ => misc::up(kind, from, obj),
    }
}

/// The map at `key` of `v`, if `v` is an object holding an object there.
fn map_at<'a>(v: &'a mut Value, key: &str) -> Option<&'a mut Map<String, Value>> {
    v.get_mut(key).and_then(Value::as_object_mut)
}

/// The map at a path of keys, if every step is an object.
fn map_path<'a>(v: &'a mut Value, path: &[&str]) -> Option<&'a mut Map<String, Value>> {
    let mut cur = v;
    for k in path {
        cur = cur.get_mut(*k)?;
    }
    cur.as_object_mut()
}

/// Moves `m[from]` to `m[to]` (keeping `m[to]` when `from` is absent).
fn rename(m: &mut Map<String, Value>, from: &str, to: &str) {
    if let Some(v) = m.remove(from) {
        m.insert(to.to_string(), v);
    }
}

/// Sets `m[key]` unless it holds a value.
fn default(m: &mut Map<String, Value>, key: &str, value: Value) {
    if m.get(key).is_none_or(Value::is_null) {
        m.insert(key.to_string(), value);
    }
}

/// The objects of the array at `key`, for editing in place.
fn each_object<'a>(
    m: &'a mut Map<String, Value>,
    key: &str,
) -> impl Iterator<Item = &'a mut Map<String, Value>> {
    m.get_mut(key)
        .and_then(Value::as_array_mut)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object_mut)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::{KubeVersion, registry::served_types};

    fn rt(av: &str, kind: &str) -> ResourceType {
        served_types(KubeVersion::new(13))
            .into_iter()
            .chain(served_types(KubeVersion::new(20)))
            .find(|t| t.api_version() == av && t.kind == kind)
            .unwrap_or_else(|| panic!("{av} {kind}"))
    }

    #[test]
    fn storage_versions_are_the_newest_stable_ones_the_conversions_expect() {
        for (av, kind, hub) in [
            ("extensions/v1beta1", "Deployment", "apps/v1"),
            (
                "apiextensions.k8s.io/v1beta1",
                "CustomResourceDefinition",
                "apiextensions.k8s.io/v1",
            ),
            (
                "autoscaling/v2beta1",
                "HorizontalPodAutoscaler",
                "autoscaling/v2",
            ),
            (
                "autoscaling/v1",
                "HorizontalPodAutoscaler",
                "autoscaling/v2",
            ),
            ("extensions/v1beta1", "Ingress", "networking.k8s.io/v1"),
            ("policy/v1beta1", "PodDisruptionBudget", "policy/v1"),
            (
                "discovery.k8s.io/v1beta1",
                "EndpointSlice",
                "discovery.k8s.io/v1",
            ),
            ("events.k8s.io/v1beta1", "Event", "v1"),
            (
                "admissionregistration.k8s.io/v1beta1",
                "MutatingWebhookConfiguration",
                "admissionregistration.k8s.io/v1",
            ),
            (
                "certificates.k8s.io/v1beta1",
                "CertificateSigningRequest",
                "certificates.k8s.io/v1",
            ),
            (
                "flowcontrol.apiserver.k8s.io/v1beta1",
                "PriorityLevelConfiguration",
                "flowcontrol.apiserver.k8s.io/v1",
            ),
        ] {
            assert_eq!(
                storage_version(&rt(av, kind)).as_deref(),
                Some(hub),
                "{av} {kind}"
            );
        }
        assert_eq!(storage_version(&rt("apps/v1", "Deployment")), None);
    }

    #[test]
    fn lists_and_statuses() {
        let ext = rt("extensions/v1beta1", "Deployment");
        let list = json!({"kind": "DeploymentList", "apiVersion": "extensions/v1beta1",
            "items": [{"apiVersion": "apps/v1", "kind": "Deployment", "spec": {}}]});
        let out = to_served(&ext, list);
        assert_eq!(out["items"][0]["apiVersion"], "extensions/v1beta1");
        let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Success"});
        assert_eq!(to_served(&ext, status.clone()), status);
        let scale =
            json!({"kind": "Scale", "apiVersion": "autoscaling/v1", "spec": {"replicas": 2}});
        assert_eq!(to_served(&ext, scale.clone()), scale);
        // Malformed client bodies are left alone rather than panicking.
        let mut weird = json!("a string");
        to_storage(&ext, &mut weird);
        assert_eq!(weird, json!("a string"));
        let mut weird = json!({"spec": "not a map", "metadata": 3});
        to_storage(&ext, &mut weird);
        assert_eq!(weird["apiVersion"], "apps/v1");
    }
}
