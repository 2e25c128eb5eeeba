//! HorizontalPodAutoscalers under `autoscaling/v1`, `v2beta1` and `v2beta2` against `v2`.
//!
//! `v2beta2` has the `v2` shape. `v2beta1` writes metric targets flat (`targetAverageUtilization`,
//! `metricName`, `targetValue`; migration guide, v1.25 and v1.26 sections). `autoscaling/v1` has
//! only `targetCPUUtilizationPercentage` and keeps any other metric in the
//! `autoscaling.alpha.kubernetes.io/metrics` annotation, in the `v2beta1` form
//! (`pkg/apis/autoscaling/v1/conversion.go`). Status is written by controllers, which the
//! sandbox does not run for autoscalers, and is not converted.

use serde_json::{Map, Value, json};

use super::map_at;

const METRICS_ANNOTATION: &str = "autoscaling.alpha.kubernetes.io/metrics";

fn target(kind: &str, value: Value) -> Value {
    match kind {
        "Utilization" => json!({"type": kind, "averageUtilization": value}),
        "AverageValue" => json!({"type": kind, "averageValue": value}),
        _ => json!({"type": kind, "value": value}),
    }
}

/// The `v2` target of a `v2beta1` source with these flat target fields.
fn flat_target(src: &Map<String, Value>, utilization: &str, average: &str, value: &str) -> Value {
    if let Some(v) = src.get(utilization) {
        target("Utilization", v.clone())
    } else if let Some(v) = src.get(average) {
        target("AverageValue", v.clone())
    } else {
        target("Value", src.get(value).cloned().unwrap_or(Value::Null))
    }
}

fn metric_id(name: Option<&Value>, selector: Option<&Value>) -> Value {
    let mut m = json!({"name": name.cloned().unwrap_or(Value::Null)});
    if let Some(s) = selector {
        m["selector"] = s.clone();
    }
    m
}

/// The metric type and the key of its source (`Pods` → `pods`).
fn source(m: &Value) -> Option<(&str, &'static str)> {
    let ty = m["type"].as_str()?;
    let key = match ty {
        "Resource" => "resource",
        "Pods" => "pods",
        "Object" => "object",
        "External" => "external",
        "ContainerResource" => "containerResource",
        _ => return None,
    };
    Some((ty, key))
}

/// One `v2beta1` metric in `v2` form.
fn metric_up(m: &Value) -> Value {
    let Some((ty, key)) = source(m) else {
        return m.clone();
    };
    let Some(src) = m[key].as_object() else {
        return m.clone();
    };
    let body = match ty {
        "Resource" => json!({"name": src.get("name"),
            "target": flat_target(src, "targetAverageUtilization", "targetAverageValue", "-")}),
        "ContainerResource" => json!({"name": src.get("name"), "container": src.get("container"),
            "target": flat_target(src, "targetAverageUtilization", "targetAverageValue", "-")}),
        "Pods" => json!({"metric": metric_id(src.get("metricName"), src.get("selector")),
            "target": target("AverageValue", src.get("targetAverageValue").cloned().unwrap_or(Value::Null))}),
        "Object" => json!({"describedObject": src.get("target"),
            "metric": metric_id(src.get("metricName"), src.get("selector")),
            "target": flat_target(src, "-", "averageValue", "targetValue")}),
        _ => json!({"metric": metric_id(src.get("metricName"), src.get("metricSelector")),
            "target": flat_target(src, "-", "targetAverageValue", "targetValue")}),
    };
    json!({"type": ty, key: body})
}

/// One `v2` metric in `v2beta1` form.
fn metric_down(m: &Value) -> Value {
    let Some((ty, key)) = source(m) else {
        return m.clone();
    };
    let src = &m[key];
    let t = &src["target"];
    let mut out = Map::new();
    let mut put = |k: &str, v: &Value| {
        if !v.is_null() {
            out.insert(k.to_string(), v.clone());
        }
    };
    match ty {
        "Resource" | "ContainerResource" => {
            put("name", &src["name"]);
            put("container", &src["container"]);
            put("targetAverageUtilization", &t["averageUtilization"]);
            put("targetAverageValue", &t["averageValue"]);
        }
        "Pods" => {
            put("metricName", &src["metric"]["name"]);
            put("selector", &src["metric"]["selector"]);
            put("targetAverageValue", &t["averageValue"]);
        }
        "Object" => {
            put("target", &src["describedObject"]);
            put("metricName", &src["metric"]["name"]);
            put("selector", &src["metric"]["selector"]);
            put("targetValue", &t["value"]);
            put("averageValue", &t["averageValue"]);
        }
        _ => {
            put("metricName", &src["metric"]["name"]);
            put("metricSelector", &src["metric"]["selector"]);
            put("targetValue", &t["value"]);
            put("targetAverageValue", &t["averageValue"]);
        }
    }
    json!({"type": ty, key: out})
}

fn is_cpu_utilization(m: &Value) -> bool {
    m["type"] == "Resource"
        && m["resource"]["name"] == "cpu"
        && m["resource"]["target"]["type"] == "Utilization"
}

fn map_metrics(obj: &mut Value, f: fn(&Value) -> Value) {
    if let Some(metrics) = map_at(obj, "spec")
        .and_then(|s| s.get_mut("metrics"))
        .and_then(Value::as_array_mut)
    {
        for m in metrics.iter_mut() {
            *m = f(m);
        }
    }
}

/// An HPA written as `from` in `v2` form.
pub fn up(from: &str, obj: &mut Value) {
    match from {
        "autoscaling/v2beta1" => map_metrics(obj, metric_up),
        "autoscaling/v1" => {
            let extra: Vec<Value> = obj["metadata"]["annotations"][METRICS_ANNOTATION]
                .as_str()
                .and_then(|s| serde_json::from_str::<Vec<Value>>(s).ok())
                .unwrap_or_default();
            if let Some(a) = map_at(obj, "metadata")
                .and_then(|m| m.get_mut("annotations"))
                .and_then(Value::as_object_mut)
            {
                a.remove(METRICS_ANNOTATION);
            }
            let Some(spec) = map_at(obj, "spec") else {
                return;
            };
            let mut metrics = Vec::new();
            if let Some(cpu) = spec.remove("targetCPUUtilizationPercentage") {
                metrics.push(json!({"type": "Resource",
                    "resource": {"name": "cpu", "target": target("Utilization", cpu)}}));
            }
            metrics.extend(extra.iter().map(metric_up));
            if !metrics.is_empty() {
                spec.insert("metrics".into(), Value::Array(metrics));
            }
        }
        _ => {}
    }
}

/// A `v2` HPA in the shape of `target`.
pub fn down(target: &str, obj: &mut Value) {
    match target {
        "autoscaling/v2beta1" => map_metrics(obj, metric_down),
        "autoscaling/v1" => {
            let metrics: Vec<Value> = obj["spec"]["metrics"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let cpu = metrics.iter().find(|m| is_cpu_utilization(m));
            let others: Vec<Value> = metrics
                .iter()
                .filter(|m| !is_cpu_utilization(m))
                .map(metric_down)
                .collect();
            let cpu_target = cpu.map(|m| m["resource"]["target"]["averageUtilization"].clone());
            if let Some(spec) = map_at(obj, "spec") {
                spec.remove("metrics");
                spec.remove("behavior");
                if let Some(t) = cpu_target {
                    spec.insert("targetCPUUtilizationPercentage".into(), t);
                }
            }
            if !others.is_empty()
                && let Some(meta) = map_at(obj, "metadata")
            {
                let a = meta.entry("annotations").or_insert_with(|| json!({}));
                if let Some(a) = a.as_object_mut() {
                    a.insert(
                        METRICS_ANNOTATION.into(),
                        json!(Value::Array(others).to_string()),
                    );
                }
            }
            if let Some(status) = map_at(obj, "status") {
                let current = status
                    .remove("currentMetrics")
                    .and_then(|c| c.as_array().cloned())
                    .unwrap_or_default();
                if let Some(u) = current.iter().find_map(|m| {
                    (m["type"] == "Resource" && m["resource"]["name"] == "cpu")
                        .then(|| m["resource"]["current"]["averageUtilization"].clone())
                        .filter(|u| !u.is_null())
                }) {
                    status.insert("currentCPUUtilizationPercentage".into(), u);
                }
                status.remove("conditions");
            }
        }
        // `v2beta2` has the `v2` shape.
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of Istio 1.0/1.1's autoscalers.
    fn v2beta1() -> Value {
        json!({"apiVersion": "autoscaling/v2beta1", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "istio-pilot"},
            "spec": {"maxReplicas": 5, "minReplicas": 1,
                "scaleTargetRef": {"apiVersion": "apps/v1beta1", "kind": "Deployment", "name": "istio-pilot"},
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "targetAverageUtilization": 80}},
                            {"type": "Pods", "pods": {"metricName": "qps", "targetAverageValue": "10"}}]}})
    }

    #[test]
    fn v2beta1_round_trips_through_v2() {
        let mut h = v2beta1();
        up("autoscaling/v2beta1", &mut h);
        assert_eq!(
            h["spec"]["metrics"][0],
            json!({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}})
        );
        assert_eq!(h["spec"]["metrics"][1]["pods"]["metric"]["name"], "qps");
        assert_eq!(
            h["spec"]["metrics"][1]["pods"]["target"]["averageValue"],
            "10"
        );
        let mut back = h.clone();
        down("autoscaling/v2beta1", &mut back);
        assert_eq!(back["spec"]["metrics"], v2beta1()["spec"]["metrics"]);
    }

    #[test]
    fn v1_keeps_other_metrics_in_an_annotation() {
        let mut h = v2beta1();
        up("autoscaling/v2beta1", &mut h);
        let stored = h.clone();
        down("autoscaling/v1", &mut h);
        assert_eq!(h["spec"]["targetCPUUtilizationPercentage"], 80);
        assert!(h["spec"].get("metrics").is_none());
        let annotation = h["metadata"]["annotations"][METRICS_ANNOTATION]
            .as_str()
            .unwrap();
        assert!(annotation.contains("\"metricName\":\"qps\""));
        up("autoscaling/v1", &mut h);
        assert_eq!(h["spec"]["metrics"], stored["spec"]["metrics"]);
        assert!(
            h["metadata"]["annotations"]
                .get(METRICS_ANNOTATION)
                .is_none()
        );
    }

    #[test]
    fn object_and_external_metrics() {
        let m =
            json!({"type": "External", "external": {"metricName": "queue", "targetValue": "3"}});
        let v2 = metric_up(&m);
        assert_eq!(
            v2["external"]["target"],
            json!({"type": "Value", "value": "3"})
        );
        assert_eq!(metric_down(&v2), m);
        let o = json!({"type": "Object", "object": {"target": {"kind": "Service", "name": "s"},
                       "metricName": "rps", "targetValue": "1k"}});
        let v2 = metric_up(&o);
        assert_eq!(v2["object"]["describedObject"]["name"], "s");
        assert_eq!(metric_down(&v2), o);
    }
}
