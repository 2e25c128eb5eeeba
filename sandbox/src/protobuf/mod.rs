//! Protobuf request bodies (`application/vnd.kubernetes.protobuf`), as kubectl 1.32+ sends for
//! `kubectl create <generator>` and client-go programs send for any built-in kind: the `k8s\0`
//! envelope (a `runtime.Unknown`) holds the object's kind and its bytes, which decode with the
//! kube-rs project's generated bindings (`k8s-pb`) into the equivalent JSON object.

use prost::Message;
use serde_json::{Map, Value, json};

use crate::status::ApiError;

mod generated;
mod json;

const MAGIC: &[u8] = b"k8s\0";

fn bad(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("the protobuf body could not be decoded: {e}"))
}

/// Decodes a `k8s\0`-framed protobuf body into the equivalent JSON object.
pub fn decode(body: &[u8]) -> Result<Value, ApiError> {
    let rest = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| bad("it does not start with the k8s envelope"))?;
    let unknown = k8s_pb::apimachinery::pkg::runtime::Unknown::decode(rest).map_err(bad)?;
    let meta = unknown.type_meta.unwrap_or_default();
    let api_version = meta.api_version.unwrap_or_default();
    let kind = meta.kind.unwrap_or_default();
    let raw = unknown.raw.unwrap_or_default();
    let Some(decoded) = generated::decode(&api_version, &kind, &raw) else {
        // As the API server answers for a kind it has no protobuf form of (custom resources).
        return Err(ApiError::unsupported_media(format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml (no protobuf form of {kind} in {api_version:?})"
        )));
    };
    let fields = match decoded.map_err(bad)? {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    // TypeMeta travels in the envelope; the JSON form starts with it.
    let mut obj = Map::new();
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    obj.extend(fields);
    Ok(Value::Object(obj))
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_pb::api::apps::v1 as apps;
    use k8s_pb::api::core::v1 as core;
    use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
    use k8s_pb::apimachinery::pkg::runtime::{TypeMeta, Unknown};

    /// Frames `raw` as client-go does.
    fn envelope(api_version: &str, kind: &str, raw: Vec<u8>) -> Vec<u8> {
        let mut b = MAGIC.to_vec();
        Unknown {
            type_meta: Some(TypeMeta {
                api_version: Some(api_version.into()),
                kind: Some(kind.into()),
            }),
            raw: Some(raw),
            content_encoding: Some(String::new()),
            content_type: Some(String::new()),
        }
        .encode(&mut b)
        .unwrap();
        b
    }

    #[test]
    fn decodes_namespace_as_kubectl_sends_it() {
        // The bytes kubectl 1.32 sent for `kubectl create namespace demo`.
        let mut b = b"k8s\0".to_vec();
        b.extend([0x0a, 0x0f, 0x0a, 0x02]);
        b.extend(b"v1");
        b.extend([0x12, 0x09]);
        b.extend(b"Namespace");
        b.extend([0x12, 0x1c, 0x0a, 0x14, 0x0a, 0x04]);
        b.extend(b"demo");
        b.extend([
            0x12, 0x00, 0x1a, 0x00, 0x22, 0x00, 0x2a, 0x00, 0x32, 0x00, 0x38, 0x00, 0x42, 0x00,
        ]);
        b.extend([0x12, 0x00, 0x1a, 0x02, 0x0a, 0x00]);
        b.extend([0x1a, 0x00, 0x22, 0x00]);
        let v = decode(&b).unwrap();
        // Go's JSON form: empty strings and the zero generation dropped, empty structs kept,
        // the zero creation time null.
        assert_eq!(
            v,
            json!({"apiVersion": "v1", "kind": "Namespace",
                   "metadata": {"name": "demo", "creationTimestamp": null}, "spec": {}, "status": {}})
        );
    }

    #[test]
    fn decodes_nested_types_with_their_json_names_and_zero_rules() {
        let deploy = apps::Deployment {
            metadata: Some(meta::ObjectMeta {
                name: Some("web".into()),
                labels: [("app".to_string(), "web".to_string())].into(),
                ..Default::default()
            }),
            spec: Some(apps::DeploymentSpec {
                // An explicit zero of a pointer field with a non-zero default stays.
                replicas: Some(0),
                min_ready_seconds: Some(0),
                template: Some(core::PodTemplateSpec {
                    metadata: None,
                    spec: Some(core::PodSpec {
                        containers: vec![core::Container {
                            name: Some("main".into()),
                            image: Some("nginx".into()),
                            stdin: Some(false),
                            ports: vec![core::ContainerPort {
                                container_port: Some(80),
                                host_port: Some(0),
                                host_ip: Some(String::new()),
                                ..Default::default()
                            }],
                            ..Default::default()
                        }],
                        host_network: Some(false),
                        ..Default::default()
                    }),
                }),
                ..Default::default()
            }),
            status: None,
        };
        let v = decode(&envelope("apps/v1", "Deployment", deploy.encode_to_vec())).unwrap();
        assert_eq!(v["metadata"]["labels"]["app"], "web");
        assert_eq!(v["spec"]["replicas"], 0);
        assert!(v["spec"].get("minReadySeconds").is_none());
        let c = &v["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(
            c,
            &json!({"name": "main", "image": "nginx", "ports": [{"containerPort": 80}]})
        );
        assert!(v["spec"]["template"]["spec"].get("hostNetwork").is_none());

        let svc = core::Service {
            spec: Some(core::ServiceSpec {
                cluster_ip: Some("10.0.0.1".into()),
                ports: vec![core::ServicePort {
                    port: Some(80),
                    target_port: Some(k8s_pb::apimachinery::pkg::util::intstr::IntOrString {
                        r#type: Some(1),
                        int_val: Some(0),
                        str_val: Some("http".into()),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            ..Default::default()
        };
        let v = decode(&envelope("v1", "Service", svc.encode_to_vec())).unwrap();
        assert_eq!(v["spec"]["clusterIP"], "10.0.0.1");
        assert_eq!(v["spec"]["ports"][0]["targetPort"], "http");

        let secret = core::Secret {
            data: [("a".to_string(), b"hi".to_vec())].into(),
            ..Default::default()
        };
        let v = decode(&envelope("v1", "Secret", secret.encode_to_vec())).unwrap();
        assert_eq!(v["data"]["a"], "aGk=");
    }

    #[test]
    fn unknown_kinds_and_garbage_are_refused() {
        assert_eq!(decode(b"nope").unwrap_err().code, 400);
        assert_eq!(decode(b"k8s\0\x0a\xff").unwrap_err().code, 400);
        let e = decode(&envelope("example.com/v1", "Widget", vec![])).unwrap_err();
        assert_eq!(e.code, 415);
    }
}
