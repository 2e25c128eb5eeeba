//! Workloads under `extensions/v1beta1`, `apps/v1beta1` and `apps/v1beta2` against `apps/v1`.
//!
//! The shapes are the same; what differs is defaulting (migration guide, v1.16 section, and
//! `pkg/apis/{extensions,apps}/<version>/defaults.go`): the old versions default the selector and
//! the object's labels from the pod template, `extensions/v1beta1` keeps every old ReplicaSet and
//! has no progress deadline (both MaxInt32) and surges one pod at a time, `apps/v1beta1` keeps two
//! old ReplicaSets, and DaemonSets and StatefulSets update `OnDelete`. `spec.rollbackTo` is gone
//! in `apps/v1`; a DaemonSet's `spec.templateGeneration` lives on as an annotation.

use serde_json::{Value, json};

use super::{default, map_at};

const MAX_INT32: i64 = 2_147_483_647;
const TEMPLATE_GENERATION: &str = "deprecated.daemonset.template.generation";

/// Selector and labels from the pod template, as the pre-`apps/v1` versions default them.
fn selector_and_labels_from_template(obj: &mut Value) {
    let labels = obj["spec"]["template"]["metadata"]["labels"].clone();
    if labels.as_object().is_none_or(|l| l.is_empty()) {
        return;
    }
    if let Some(spec) = map_at(obj, "spec") {
        default(spec, "selector", json!({"matchLabels": labels}));
    }
    if let Some(meta) = map_at(obj, "metadata")
        && meta
            .get("labels")
            .and_then(Value::as_object)
            .is_none_or(|l| l.is_empty())
    {
        meta.insert("labels".into(), labels);
    }
}

fn rolling_update(
    obj: &mut Value,
    strategy_key: &str,
    max_unavailable: Value,
    max_surge: Option<Value>,
) {
    let Some(spec) = map_at(obj, "spec") else {
        return;
    };
    default(spec, strategy_key, json!({}));
    let Some(strategy) = spec.get_mut(strategy_key).and_then(Value::as_object_mut) else {
        return;
    };
    default(strategy, "type", json!("RollingUpdate"));
    if strategy.get("type") == Some(&json!("RollingUpdate")) {
        default(strategy, "rollingUpdate", json!({}));
        if let Some(ru) = strategy
            .get_mut("rollingUpdate")
            .and_then(Value::as_object_mut)
        {
            default(ru, "maxUnavailable", max_unavailable);
            if let Some(surge) = max_surge {
                default(ru, "maxSurge", surge);
            }
        }
    }
}

fn on_delete(obj: &mut Value) {
    if let Some(spec) = map_at(obj, "spec") {
        default(spec, "updateStrategy", json!({"type": "OnDelete"}));
    }
}

/// An object written as `from` (an old workload version) in `apps/v1` form.
pub fn up(kind: &str, from: &str, obj: &mut Value) {
    let old_defaults = matches!(from, "extensions/v1beta1" | "apps/v1beta1");
    if old_defaults {
        selector_and_labels_from_template(obj);
    }
    match (kind, from) {
        ("Deployment", "extensions/v1beta1") => {
            rolling_update(obj, "strategy", json!(1), Some(json!(1)));
            if let Some(spec) = map_at(obj, "spec") {
                default(spec, "progressDeadlineSeconds", json!(MAX_INT32));
                default(spec, "revisionHistoryLimit", json!(MAX_INT32));
            }
        }
        ("Deployment", "apps/v1beta1") => {
            if let Some(spec) = map_at(obj, "spec") {
                default(spec, "revisionHistoryLimit", json!(2));
            }
        }
        ("DaemonSet", "extensions/v1beta1") => {
            on_delete(obj);
            let generation = map_at(obj, "spec").and_then(|s| s.remove("templateGeneration"));
            if let Some(g) = generation.filter(|g| g.is_i64() || g.is_u64())
                && let Some(meta) = map_at(obj, "metadata")
            {
                default(meta, "annotations", json!({}));
                if let Some(a) = meta.get_mut("annotations").and_then(Value::as_object_mut) {
                    a.insert(TEMPLATE_GENERATION.into(), json!(g.to_string()));
                }
            }
        }
        ("StatefulSet", "apps/v1beta1") => on_delete(obj),
        _ => {}
    }
    if let Some(spec) = map_at(obj, "spec") {
        spec.remove("rollbackTo");
    }
}

/// An `apps/v1` object in an old workload version's shape.
pub fn down(kind: &str, obj: &mut Value) {
    if kind != "DaemonSet" {
        return;
    }
    let generation = obj["metadata"]["annotations"][TEMPLATE_GENERATION]
        .as_str()
        .and_then(|g| g.parse::<i64>().ok());
    if let (Some(g), Some(spec)) = (generation, map_at(obj, "spec")) {
        spec.insert("templateGeneration".into(), json!(g));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Value {
        json!({"apiVersion": "x", "kind": "Deployment", "metadata": {"name": "web"},
               "spec": {"template": {"metadata": {"labels": {"app": "web"}},
                                     "spec": {"containers": [{"name": "c", "image": "nginx"}]}},
                        "rollbackTo": {"revision": 1}}})
    }

    #[test]
    fn extensions_deployments_get_their_own_defaults() {
        let mut d = deployment();
        up("Deployment", "extensions/v1beta1", &mut d);
        assert_eq!(
            d["spec"]["selector"],
            json!({"matchLabels": {"app": "web"}})
        );
        assert_eq!(d["metadata"]["labels"], json!({"app": "web"}));
        assert_eq!(d["spec"]["progressDeadlineSeconds"], MAX_INT32);
        assert_eq!(d["spec"]["revisionHistoryLimit"], MAX_INT32);
        assert_eq!(
            d["spec"]["strategy"],
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 1}})
        );
        assert!(d["spec"].get("rollbackTo").is_none());
    }

    #[test]
    fn apps_v1beta1_and_v1beta2() {
        let mut d = deployment();
        up("Deployment", "apps/v1beta1", &mut d);
        assert_eq!(d["spec"]["revisionHistoryLimit"], 2);
        assert!(d["spec"]["selector"].is_object());
        assert!(
            d["spec"].get("strategy").is_none(),
            "left to the apps/v1 defaults"
        );
        let mut d = deployment();
        up("Deployment", "apps/v1beta2", &mut d);
        assert!(
            d["spec"].get("selector").is_none(),
            "apps/v1beta2 requires a selector"
        );
        let mut s = json!({"spec": {"template": {"metadata": {"labels": {"a": "b"}}}}});
        up("StatefulSet", "apps/v1beta1", &mut s);
        assert_eq!(s["spec"]["updateStrategy"], json!({"type": "OnDelete"}));
    }

    #[test]
    fn daemonset_template_generation_round_trips() {
        let mut ds = json!({"metadata": {"name": "d", "labels": {"x": "y"}},
            "spec": {"templateGeneration": 3, "template": {"metadata": {"labels": {"app": "d"}}}}});
        up("DaemonSet", "extensions/v1beta1", &mut ds);
        assert_eq!(ds["metadata"]["annotations"][TEMPLATE_GENERATION], "3");
        assert_eq!(
            ds["metadata"]["labels"],
            json!({"x": "y"}),
            "own labels are kept"
        );
        assert_eq!(ds["spec"]["updateStrategy"]["type"], "OnDelete");
        assert!(ds["spec"].get("templateGeneration").is_none());
        down("DaemonSet", &mut ds);
        assert_eq!(ds["spec"]["templateGeneration"], 3);
    }
}
