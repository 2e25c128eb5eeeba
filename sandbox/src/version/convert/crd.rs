//! CustomResourceDefinitions under `apiextensions.k8s.io/v1beta1` against `v1`.
//!
//! As `apiextensions-apiserver/pkg/apis/apiextensions/{v1beta1,v1}` convert and default: a
//! v1beta1 `spec.version` becomes the only entry of `spec.versions`; the top-level `validation`,
//! `subresources` and `additionalPrinterColumns` are copied into every version (`schema`,
//! `subresources`, `additionalPrinterColumns` with `JSONPath` renamed `jsonPath`); `scope`
//! defaults to `Namespaced`, `preserveUnknownFields` to true, `conversion` to `None`, and the
//! webhook conversion settings move under `conversion.webhook`. Read back as v1beta1, `version`
//! is the first version's name and per-version fields that are identical in every version are
//! hoisted to the top level again.

use serde_json::{Map, Value, json};

use super::{default, each_object, map_at, rename};

fn columns_to_v1(columns: &mut Value) {
    for c in columns.as_array_mut().into_iter().flatten() {
        if let Some(c) = c.as_object_mut() {
            rename(c, "JSONPath", "jsonPath");
        }
    }
}

fn columns_to_v1beta1(columns: &mut Value) {
    for c in columns.as_array_mut().into_iter().flatten() {
        if let Some(c) = c.as_object_mut() {
            rename(c, "jsonPath", "JSONPath");
        }
    }
}

/// A v1beta1 CRD in v1 form.
pub fn up(obj: &mut Value) {
    let Some(spec) = map_at(obj, "spec") else {
        return;
    };
    default(spec, "scope", json!("Namespaced"));
    default(spec, "preserveUnknownFields", json!(true));
    let version = spec.remove("version");
    if spec
        .get("versions")
        .and_then(Value::as_array)
        .is_none_or(|v| v.is_empty())
        && let Some(name) = version.filter(Value::is_string)
    {
        spec.insert(
            "versions".into(),
            json!([{"name": name, "served": true, "storage": true}]),
        );
    }
    let validation = spec.remove("validation");
    let subresources = spec.remove("subresources");
    let mut columns = spec.remove("additionalPrinterColumns");
    if let Some(c) = columns.as_mut() {
        columns_to_v1(c);
    }
    for v in each_object(spec, "versions") {
        if let Some(s) = &validation {
            v.insert("schema".into(), s.clone());
        }
        if let Some(s) = &subresources {
            v.insert("subresources".into(), s.clone());
        }
        if let Some(c) = &columns {
            v.insert("additionalPrinterColumns".into(), c.clone());
        }
        if let Some(c) = v.get_mut("additionalPrinterColumns") {
            columns_to_v1(c);
        }
    }
    conversion_up(spec);
}

fn conversion_up(spec: &mut Map<String, Value>) {
    default(spec, "conversion", json!({"strategy": "None"}));
    let Some(conv) = spec.get_mut("conversion").and_then(Value::as_object_mut) else {
        return;
    };
    let client = conv.remove("webhookClientConfig");
    let review = conv.remove("conversionReviewVersions");
    if client.is_some() || review.is_some() {
        let mut webhook = Map::new();
        if let Some(c) = client {
            webhook.insert("clientConfig".into(), c);
        }
        let review = review.unwrap_or_else(|| json!(["v1beta1"]));
        webhook.insert("conversionReviewVersions".into(), review);
        conv.insert("webhook".into(), Value::Object(webhook));
    }
}

/// A v1 CRD in v1beta1 form.
pub fn down(obj: &mut Value) {
    let Some(spec) = map_at(obj, "spec") else {
        return;
    };
    let versions: Vec<Map<String, Value>> = spec
        .get("versions")
        .and_then(Value::as_array)
        .map(|vs| vs.iter().filter_map(|v| v.as_object().cloned()).collect())
        .unwrap_or_default();
    let Some(first) = versions.first() else {
        return;
    };
    if let Some(name) = first.get("name") {
        spec.insert("version".into(), name.clone());
    }
    for (per_version, top) in [
        ("subresources", "subresources"),
        ("schema", "validation"),
        ("additionalPrinterColumns", "additionalPrinterColumns"),
    ] {
        let value = first.get(per_version);
        if versions.iter().all(|v| v.get(per_version) == value) {
            if let Some(v) = value {
                spec.insert(top.into(), v.clone());
            }
            for v in each_object(spec, "versions") {
                v.remove(per_version);
            }
        }
    }
    if let Some(c) = spec.get_mut("additionalPrinterColumns") {
        columns_to_v1beta1(c);
    }
    for v in each_object(spec, "versions") {
        if let Some(c) = v.get_mut("additionalPrinterColumns") {
            columns_to_v1beta1(c);
        }
    }
    if let Some(conv) = spec.get_mut("conversion").and_then(Value::as_object_mut)
        && let Some(Value::Object(mut webhook)) = conv.remove("webhook")
    {
        if let Some(c) = webhook.remove("clientConfig") {
            conv.insert("webhookClientConfig".into(), c);
        }
        if let Some(r) = webhook.remove("conversionReviewVersions") {
            conv.insert("conversionReviewVersions".into(), r);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The shape of Istio 1.1's CRDs.
    fn istio_1_1() -> Value {
        json!({"apiVersion": "apiextensions.k8s.io/v1beta1", "kind": "CustomResourceDefinition",
            "metadata": {"name": "virtualservices.networking.istio.io"},
            "spec": {"group": "networking.istio.io", "version": "v1alpha3",
                "names": {"kind": "VirtualService", "plural": "virtualservices"},
                "validation": {"openAPIV3Schema": {"properties": {"spec": {"type": "object"}}}},
                "additionalPrinterColumns": [{"name": "Gateways", "type": "string", "JSONPath": ".spec.gateways"}]}})
    }

    #[test]
    fn v1beta1_becomes_per_version_fields() {
        let mut c = istio_1_1();
        up(&mut c);
        let spec = &c["spec"];
        assert_eq!(spec["scope"], "Namespaced");
        assert_eq!(spec["preserveUnknownFields"], true);
        assert_eq!(spec["conversion"], json!({"strategy": "None"}));
        assert!(spec.get("version").is_none() && spec.get("validation").is_none());
        let v = &spec["versions"][0];
        assert_eq!(
            (v["name"].clone(), v["served"].clone(), v["storage"].clone()),
            (json!("v1alpha3"), json!(true), json!(true))
        );
        assert_eq!(
            v["schema"]["openAPIV3Schema"]["properties"]["spec"]["type"],
            "object"
        );
        assert_eq!(
            v["additionalPrinterColumns"][0]["jsonPath"],
            ".spec.gateways"
        );
        // And back: identical per-version fields are hoisted, the version restored.
        down(&mut c);
        let spec = &c["spec"];
        assert_eq!(spec["version"], "v1alpha3");
        assert_eq!(spec["validation"], istio_1_1()["spec"]["validation"]);
        assert_eq!(
            spec["additionalPrinterColumns"][0]["JSONPath"],
            ".spec.gateways"
        );
        assert!(spec["versions"][0].get("schema").is_none());
    }

    #[test]
    fn differing_versions_keep_their_own_schemas_and_webhooks_move() {
        let mut c = json!({"spec": {"group": "g", "scope": "Cluster",
            "versions": [{"name": "v2", "served": true, "storage": true, "schema": {"a": 1}},
                         {"name": "v1", "served": true, "storage": false, "schema": {"a": 2}}],
            "conversion": {"strategy": "Webhook", "webhook": {"clientConfig": {"url": "https://x"},
                                                          "conversionReviewVersions": ["v1"]}}}});
        down(&mut c);
        assert_eq!(c["spec"]["version"], "v2");
        assert!(c["spec"].get("validation").is_none());
        assert_eq!(c["spec"]["versions"][1]["schema"], json!({"a": 2}));
        assert_eq!(
            c["spec"]["conversion"]["webhookClientConfig"]["url"],
            "https://x"
        );
        up(&mut c);
        assert_eq!(
            c["spec"]["conversion"]["webhook"]["clientConfig"]["url"],
            "https://x"
        );
        assert_eq!(c["spec"]["scope"], "Cluster");
    }
}
