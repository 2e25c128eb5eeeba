//! The other kinds whose versions differ in shape or defaults (migration guide, "notable
//! changes"); every kind not handled here has the same shape in all its versions.
//!
//! - Ingress `v1beta1` (`extensions`, `networking.k8s.io`): `backend` is `defaultBackend`,
//!   `serviceName`/`servicePort` are `service.name` and `service.port.number|name`, and `pathType`
//!   defaults to `ImplementationSpecific`.
//! - PodDisruptionBudget `policy/v1beta1`: an empty selector selects no pod, stored as a selector
//!   that matches nothing (`pkg/apis/policy/v1beta1/conversion.go`).
//! - EndpointSlice `discovery.k8s.io/v1beta1`: `topology` holds the node name and zone that
//!   `v1` has as `nodeName` and `zone`; the rest is `deprecatedTopology`.
//! - Event `events.k8s.io`: the same objects as core `v1` Events, with `regarding`, `note`,
//!   `reportingController` and `deprecated*` names for the core fields.
//! - Webhook configurations `admissionregistration.k8s.io/v1beta1`: other defaults
//!   (`failurePolicy: Ignore`, `matchPolicy: Exact`, 30 s, `sideEffects: Unknown`,
//!   `admissionReviewVersions: [v1beta1]`).
//! - CertificateSigningRequest `v1beta1`: `signerName` defaults to `kubernetes.io/legacy-unknown`.
//! - PriorityLevelConfiguration `v1beta1`/`v1beta2`: `assuredConcurrencyShares` is
//!   `nominalConcurrencyShares` in `v1beta3` and `v1`.

use serde_json::{Map, Value, json};

use super::{default, each_object, map_at, map_path, rename};

const MATCH_NONE_KEY: &str = "pdb.kubernetes.io/deprecated-v1beta1-empty-selector-match";

fn match_none() -> Value {
    json!({"matchExpressions": [{"key": MATCH_NONE_KEY, "operator": "Exists"}]})
}

/// Core `v1` Event field → `events.k8s.io` field.
const EVENT_FIELDS: &[(&str, &str)] = &[
    ("involvedObject", "regarding"),
    ("message", "note"),
    ("source", "deprecatedSource"),
    ("firstTimestamp", "deprecatedFirstTimestamp"),
    ("lastTimestamp", "deprecatedLastTimestamp"),
    ("count", "deprecatedCount"),
    ("reportingComponent", "reportingController"),
];

fn backend_up(b: &mut Map<String, Value>) {
    let name = b.remove("serviceName");
    let port = b.remove("servicePort");
    if name.is_none() && port.is_none() {
        return;
    }
    let port = match port {
        Some(Value::String(s)) => match s.parse::<u64>() {
            Ok(n) => json!({"number": n}),
            Err(_) => json!({"name": s}),
        },
        Some(n @ Value::Number(_)) => json!({"number": n}),
        _ => json!({}),
    };
    b.insert("service".into(), json!({"name": name, "port": port}));
}

fn backend_down(b: &mut Map<String, Value>) {
    let Some(Value::Object(service)) = b.remove("service") else {
        return;
    };
    if let Some(name) = service.get("name") {
        b.insert("serviceName".into(), name.clone());
    }
    let port = &service.get("port").cloned().unwrap_or(Value::Null);
    if let Some(n) = port.get("number") {
        b.insert("servicePort".into(), n.clone());
    } else if let Some(n) = port.get("name") {
        b.insert("servicePort".into(), n.clone());
    }
}

fn ingress(obj: &mut Value, up: bool) {
    let Some(spec) = map_at(obj, "spec") else {
        return;
    };
    let (convert, from, to): (fn(&mut Map<String, Value>), _, _) = if up {
        (backend_up, "backend", "defaultBackend")
    } else {
        (backend_down, "defaultBackend", "backend")
    };
    rename(spec, from, to);
    if let Some(b) = spec.get_mut(to).and_then(Value::as_object_mut) {
        convert(b);
    }
    for rule in each_object(spec, "rules") {
        let Some(http) = rule.get_mut("http").and_then(Value::as_object_mut) else {
            continue;
        };
        for path in each_object(http, "paths") {
            if up {
                default(path, "pathType", json!("ImplementationSpecific"));
            }
            if let Some(b) = path.get_mut("backend").and_then(Value::as_object_mut) {
                convert(b);
            }
        }
    }
}

fn endpoint_slice(obj: &mut Value, up: bool) {
    let Some(obj) = obj.as_object_mut() else {
        return;
    };
    for ep in each_object(obj, "endpoints") {
        if up {
            let Some(Value::Object(mut topology)) = ep.remove("topology") else {
                continue;
            };
            if let Some(n) = topology.remove("kubernetes.io/hostname") {
                ep.insert("nodeName".into(), n);
            }
            if let Some(z) = topology.remove("topology.kubernetes.io/zone") {
                ep.insert("zone".into(), z);
            }
            if !topology.is_empty() {
                ep.insert("deprecatedTopology".into(), Value::Object(topology));
            }
        } else {
            let mut topology = match ep.remove("deprecatedTopology") {
                Some(Value::Object(t)) => t,
                _ => Map::new(),
            };
            if let Some(n) = ep.remove("nodeName") {
                topology.insert("kubernetes.io/hostname".into(), n);
            }
            if let Some(z) = ep.remove("zone") {
                topology.insert("topology.kubernetes.io/zone".into(), z);
            }
            if !topology.is_empty() {
                ep.insert("topology".into(), Value::Object(topology));
            }
        }
    }
}

fn event(obj: &mut Value, to_core: bool) {
    let Some(m) = obj.as_object_mut() else {
        return;
    };
    for (core, events) in EVENT_FIELDS {
        if to_core {
            rename(m, events, core);
        } else {
            rename(m, core, events);
        }
    }
}

fn webhook_defaults(obj: &mut Value, mutating: bool) {
    let Some(obj) = obj.as_object_mut() else {
        return;
    };
    for w in each_object(obj, "webhooks") {
        default(w, "failurePolicy", json!("Ignore"));
        default(w, "matchPolicy", json!("Exact"));
        default(w, "timeoutSeconds", json!(30));
        default(w, "sideEffects", json!("Unknown"));
        default(w, "admissionReviewVersions", json!(["v1beta1"]));
        default(w, "namespaceSelector", json!({}));
        default(w, "objectSelector", json!({}));
        if mutating {
            default(w, "reinvocationPolicy", json!("Never"));
        }
    }
}

/// An object of `kind` written as `from` in its newest shape.
pub fn up(kind: &str, from: &str, obj: &mut Value) {
    match kind {
        "Ingress" => ingress(obj, true),
        "PodDisruptionBudget" => {
            if let Some(spec) = map_at(obj, "spec")
                && spec
                    .get("selector")
                    .and_then(Value::as_object)
                    .is_some_and(|s| {
                        s.values().all(|v| {
                            v.as_object().is_some_and(Map::is_empty)
                                || v.as_array().is_some_and(Vec::is_empty)
                        })
                    })
            {
                spec.insert("selector".into(), match_none());
            }
        }
        "EndpointSlice" => endpoint_slice(obj, true),
        "Event" => event(obj, true),
        "MutatingWebhookConfiguration" => webhook_defaults(obj, true),
        "ValidatingWebhookConfiguration" => webhook_defaults(obj, false),
        "CertificateSigningRequest" => {
            if let Some(spec) = map_at(obj, "spec") {
                default(spec, "signerName", json!("kubernetes.io/legacy-unknown"));
            }
        }
        "PriorityLevelConfiguration"
            if from.ends_with("/v1beta1") || from.ends_with("/v1beta2") =>
        {
            if let Some(limited) = map_path(obj, &["spec", "limited"]) {
                rename(
                    limited,
                    "assuredConcurrencyShares",
                    "nominalConcurrencyShares",
                );
            }
        }
        _ => {}
    }
}

/// A stored object of `kind` in the shape of `target`.
pub fn down(kind: &str, target: &str, obj: &mut Value) {
    match kind {
        "Ingress" => ingress(obj, false),
        "PodDisruptionBudget" => {
            if let Some(spec) = map_at(obj, "spec")
                && spec.get("selector") == Some(&match_none())
            {
                spec.insert("selector".into(), json!({}));
            }
        }
        "EndpointSlice" => endpoint_slice(obj, false),
        "Event" => event(obj, false),
        "PriorityLevelConfiguration"
            if target.ends_with("/v1beta1") || target.ends_with("/v1beta2") =>
        {
            if let Some(limited) = map_path(obj, &["spec", "limited"]) {
                rename(
                    limited,
                    "nominalConcurrencyShares",
                    "assuredConcurrencyShares",
                );
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ingress_backends() {
        let v1beta1 = json!({"spec": {"backend": {"serviceName": "default", "servicePort": 80},
            "rules": [{"host": "a", "http": {"paths": [
                {"path": "/", "backend": {"serviceName": "web", "servicePort": "http"}}]}}]}});
        let mut i = v1beta1.clone();
        up("Ingress", "extensions/v1beta1", &mut i);
        assert_eq!(
            i["spec"]["defaultBackend"],
            json!({"service": {"name": "default", "port": {"number": 80}}})
        );
        let path = &i["spec"]["rules"][0]["http"]["paths"][0];
        assert_eq!(path["backend"]["service"]["port"], json!({"name": "http"}));
        assert_eq!(path["pathType"], "ImplementationSpecific");
        down("Ingress", "extensions/v1beta1", &mut i);
        assert_eq!(i["spec"]["backend"], v1beta1["spec"]["backend"]);
        assert_eq!(
            i["spec"]["rules"][0]["http"]["paths"][0]["backend"],
            v1beta1["spec"]["rules"][0]["http"]["paths"][0]["backend"]
        );
    }

    #[test]
    fn pdb_empty_selector_selects_nothing() {
        let mut p = json!({"spec": {"minAvailable": 1, "selector": {}}});
        up("PodDisruptionBudget", "policy/v1beta1", &mut p);
        assert_eq!(
            p["spec"]["selector"]["matchExpressions"][0]["key"],
            MATCH_NONE_KEY
        );
        down("PodDisruptionBudget", "policy/v1beta1", &mut p);
        assert_eq!(p["spec"]["selector"], json!({}));
        let mut p = json!({"spec": {"selector": {"matchLabels": {"app": "a"}}}});
        up("PodDisruptionBudget", "policy/v1beta1", &mut p);
        assert_eq!(p["spec"]["selector"], json!({"matchLabels": {"app": "a"}}));
    }

    #[test]
    fn endpoint_slice_topology_and_events() {
        let mut s = json!({"endpoints": [{"addresses": ["10.0.0.1"], "topology":
            {"kubernetes.io/hostname": "n1", "topology.kubernetes.io/zone": "z", "rack": "r1"}}]});
        up("EndpointSlice", "discovery.k8s.io/v1beta1", &mut s);
        let ep = &s["endpoints"][0];
        assert_eq!(
            (ep["nodeName"].clone(), ep["zone"].clone()),
            (json!("n1"), json!("z"))
        );
        assert_eq!(ep["deprecatedTopology"], json!({"rack": "r1"}));
        down("EndpointSlice", "discovery.k8s.io/v1beta1", &mut s);
        assert_eq!(
            s["endpoints"][0]["topology"]["kubernetes.io/hostname"],
            "n1"
        );
        assert_eq!(s["endpoints"][0]["topology"]["rack"], "r1");

        let mut e = json!({"regarding": {"kind": "Pod"}, "note": "pulled", "reason": "Pulled",
                           "reportingController": "kubelet"});
        up("Event", "events.k8s.io/v1", &mut e);
        assert_eq!(e["involvedObject"]["kind"], "Pod");
        assert_eq!(e["message"], "pulled");
        assert_eq!(e["reportingComponent"], "kubelet");
        down("Event", "events.k8s.io/v1", &mut e);
        assert_eq!(e["note"], "pulled");
        assert!(e.get("message").is_none());
    }

    #[test]
    fn defaults_of_old_versions() {
        let mut w = json!({"webhooks": [{"name": "a.b.c", "clientConfig": {}}]});
        up(
            "MutatingWebhookConfiguration",
            "admissionregistration.k8s.io/v1beta1",
            &mut w,
        );
        assert_eq!(w["webhooks"][0]["failurePolicy"], "Ignore");
        assert_eq!(w["webhooks"][0]["timeoutSeconds"], 30);
        assert_eq!(w["webhooks"][0]["reinvocationPolicy"], "Never");
        let mut c = json!({"spec": {"request": "x"}});
        up(
            "CertificateSigningRequest",
            "certificates.k8s.io/v1beta1",
            &mut c,
        );
        assert_eq!(c["spec"]["signerName"], "kubernetes.io/legacy-unknown");
        let mut p = json!({"spec": {"limited": {"assuredConcurrencyShares": 5}}});
        up(
            "PriorityLevelConfiguration",
            "flowcontrol.apiserver.k8s.io/v1beta2",
            &mut p,
        );
        assert_eq!(p["spec"]["limited"]["nominalConcurrencyShares"], 5);
        down(
            "PriorityLevelConfiguration",
            "flowcontrol.apiserver.k8s.io/v1beta1",
            &mut p,
        );
        assert_eq!(p["spec"]["limited"]["assuredConcurrencyShares"], 5);
    }
}
