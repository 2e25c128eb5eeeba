//! `/openapi/v2`: the Swagger 2.0 document of every served resource, in JSON or in the
//! protobuf encoding (gnostic's `openapi.v2.Document`) that client-go asks for.
//!
//! kubectl reads it to learn whether a kind's PATCH takes `fieldValidation` (it falls back here
//! when a group version is missing from `/openapi/v3`, and then checks the Namespace path),
//! so every path carries its operations, their query parameters and the
//! `x-kubernetes-group-version-kind` extension, as the API server publishes them.
//! Field numbers follow gnostic's `openapiv2/OpenAPIv2.proto`.

use prost::Message;
use serde_json::{Value, json};

use crate::resources::ResourceType;
use crate::schemas::Served;

/// The content type of the protobuf form (client-go asks for it as
/// `application/com.github.proto-openapi.spec.v2@v1.0+protobuf`; the answer spells the
/// version with a dot, which Go's media-type parser accepts).
pub const PROTOBUF: &str = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

#[derive(Clone, PartialEq, Message)]
struct Document {
    #[prost(string, tag = "1")]
    swagger: String,
    #[prost(message, optional, tag = "2")]
    info: Option<Info>,
    #[prost(message, optional, tag = "8")]
    paths: Option<Paths>,
    #[prost(message, optional, tag = "9")]
    definitions: Option<Definitions>,
}

#[derive(Clone, PartialEq, Message)]
struct Definitions {
    #[prost(message, repeated, tag = "1")]
    additional_properties: Vec<NamedSchema>,
}

#[derive(Clone, PartialEq, Message)]
struct NamedSchema {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    value: Option<Schema>,
}

/// gnostic's `Schema`, with the members the API's definitions use.
#[derive(Clone, PartialEq, Message)]
struct Schema {
    #[prost(string, tag = "1")]
    r#ref: String,
    #[prost(string, tag = "2")]
    format: String,
    #[prost(string, tag = "3")]
    title: String,
    #[prost(string, tag = "4")]
    description: String,
    #[prost(message, optional, tag = "5")]
    default: Option<Any>,
    #[prost(double, tag = "7")]
    maximum: f64,
    #[prost(double, tag = "9")]
    minimum: f64,
    #[prost(int64, tag = "11")]
    max_length: i64,
    #[prost(int64, tag = "12")]
    min_length: i64,
    #[prost(string, tag = "13")]
    pattern: String,
    #[prost(int64, tag = "14")]
    max_items: i64,
    #[prost(int64, tag = "15")]
    min_items: i64,
    #[prost(bool, tag = "16")]
    unique_items: bool,
    #[prost(string, repeated, tag = "19")]
    required: Vec<String>,
    #[prost(message, repeated, tag = "20")]
    r#enum: Vec<Any>,
    #[prost(message, optional, boxed, tag = "21")]
    additional_properties: Option<Box<AdditionalPropertiesItem>>,
    #[prost(message, optional, tag = "22")]
    r#type: Option<TypeItem>,
    #[prost(message, optional, tag = "23")]
    items: Option<ItemsItem>,
    #[prost(message, repeated, tag = "24")]
    all_of: Vec<Schema>,
    #[prost(message, optional, tag = "25")]
    properties: Option<Properties>,
    #[prost(bool, tag = "27")]
    read_only: bool,
    #[prost(message, optional, tag = "30")]
    example: Option<Any>,
    #[prost(message, repeated, tag = "31")]
    vendor_extension: Vec<NamedAny>,
}

#[derive(Clone, PartialEq, Message)]
struct AdditionalPropertiesItem {
    #[prost(message, optional, tag = "1")]
    schema: Option<Schema>,
    #[prost(bool, optional, tag = "2")]
    boolean: Option<bool>,
}

#[derive(Clone, PartialEq, Message)]
struct TypeItem {
    #[prost(string, repeated, tag = "1")]
    value: Vec<String>,
}

#[derive(Clone, PartialEq, Message)]
struct ItemsItem {
    #[prost(message, repeated, tag = "1")]
    schema: Vec<Schema>,
}

#[derive(Clone, PartialEq, Message)]
struct Properties {
    #[prost(message, repeated, tag = "1")]
    additional_properties: Vec<NamedSchema>,
}

fn yaml(v: &Value) -> Any {
    Any {
        yaml: serde_yaml::to_string(v).unwrap_or_default(),
    }
}

/// One JSON schema in gnostic's protobuf form.
fn schema(v: &Value) -> Schema {
    let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
    let int = |k: &str| v[k].as_i64().unwrap_or_default();
    let named = |m: &Value| {
        m.as_object()
            .map(|m| {
                m.iter()
                    .map(|(name, s)| NamedSchema {
                        name: name.clone(),
                        value: Some(schema(s)),
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    let strings = |x: &Value| -> Vec<String> {
        match x {
            Value::String(s) => vec![s.clone()],
            Value::Array(a) => a
                .iter()
                .filter_map(|s| s.as_str().map(str::to_string))
                .collect(),
            _ => vec![],
        }
    };
    Schema {
        r#ref: text("$ref"),
        format: text("format"),
        title: text("title"),
        description: text("description"),
        default: v.get("default").map(yaml),
        maximum: v["maximum"].as_f64().unwrap_or_default(),
        minimum: v["minimum"].as_f64().unwrap_or_default(),
        max_length: int("maxLength"),
        min_length: int("minLength"),
        pattern: text("pattern"),
        max_items: int("maxItems"),
        min_items: int("minItems"),
        unique_items: v["uniqueItems"] == true,
        required: strings(&v["required"]),
        r#enum: v["enum"]
            .as_array()
            .map(|a| a.iter().map(yaml).collect())
            .unwrap_or_default(),
        additional_properties: match v.get("additionalProperties") {
            Some(Value::Bool(b)) => Some(Box::new(AdditionalPropertiesItem {
                schema: None,
                boolean: Some(*b),
            })),
            Some(s @ Value::Object(_)) => Some(Box::new(AdditionalPropertiesItem {
                schema: Some(schema(s)),
                boolean: None,
            })),
            _ => None,
        },
        r#type: v.get("type").map(|t| TypeItem { value: strings(t) }),
        items: match v.get("items") {
            Some(Value::Array(a)) => Some(ItemsItem {
                schema: a.iter().map(schema).collect(),
            }),
            Some(s @ Value::Object(_)) => Some(ItemsItem {
                schema: vec![schema(s)],
            }),
            _ => None,
        },
        all_of: v["allOf"]
            .as_array()
            .map(|a| a.iter().map(schema).collect())
            .unwrap_or_default(),
        properties: v.get("properties").map(|p| Properties {
            additional_properties: named(p),
        }),
        read_only: v["readOnly"] == true,
        example: v.get("example").map(yaml),
        vendor_extension: v
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| k.starts_with("x-"))
                    .map(|(k, x)| NamedAny {
                        name: k.clone(),
                        value: Some(yaml(x)),
                    })
                    .collect()
            })
            .unwrap_or_default(),
    }
}

#[derive(Clone, PartialEq, Message)]
struct Info {
    #[prost(string, tag = "1")]
    title: String,
    #[prost(string, tag = "2")]
    version: String,
}

#[derive(Clone, PartialEq, Message)]
struct Paths {
    #[prost(message, repeated, tag = "2")]
    path: Vec<NamedPathItem>,
}

#[derive(Clone, PartialEq, Message)]
struct NamedPathItem {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    value: Option<PathItem>,
}

#[derive(Clone, PartialEq, Message)]
struct PathItem {
    #[prost(message, optional, tag = "2")]
    get: Option<Operation>,
    #[prost(message, optional, tag = "3")]
    put: Option<Operation>,
    #[prost(message, optional, tag = "5")]
    delete: Option<Operation>,
    #[prost(message, optional, tag = "8")]
    patch: Option<Operation>,
}

#[derive(Clone, PartialEq, Message)]
struct Operation {
    #[prost(string, tag = "5")]
    operation_id: String,
    #[prost(string, repeated, tag = "6")]
    produces: Vec<String>,
    #[prost(string, repeated, tag = "7")]
    consumes: Vec<String>,
    #[prost(message, repeated, tag = "8")]
    parameters: Vec<ParametersItem>,
    #[prost(message, optional, tag = "9")]
    responses: Option<Responses>,
    #[prost(message, repeated, tag = "13")]
    vendor_extension: Vec<NamedAny>,
}

// `ParametersItem`, `Parameter` and `NonBodyParameter` are oneofs in the proto; a message
// field with the member's tag is the same on the wire.
#[derive(Clone, PartialEq, Message)]
struct ParametersItem {
    #[prost(message, optional, tag = "1")]
    parameter: Option<Parameter>,
}

#[derive(Clone, PartialEq, Message)]
struct Parameter {
    #[prost(message, optional, tag = "2")]
    non_body_parameter: Option<NonBodyParameter>,
}

#[derive(Clone, PartialEq, Message)]
struct NonBodyParameter {
    #[prost(message, optional, tag = "3")]
    query_parameter_sub_schema: Option<QueryParameter>,
}

#[derive(Clone, PartialEq, Message)]
struct QueryParameter {
    #[prost(string, tag = "2")]
    r#in: String,
    #[prost(string, tag = "3")]
    description: String,
    #[prost(string, tag = "4")]
    name: String,
    #[prost(string, tag = "6")]
    r#type: String,
    #[prost(bool, tag = "20")]
    unique_items: bool,
}

#[derive(Clone, PartialEq, Message)]
struct Responses {
    #[prost(message, repeated, tag = "1")]
    response_code: Vec<NamedResponseValue>,
}

#[derive(Clone, PartialEq, Message)]
struct NamedResponseValue {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    value: Option<ResponseValue>,
}

#[derive(Clone, PartialEq, Message)]
struct ResponseValue {
    #[prost(message, optional, tag = "1")]
    response: Option<Response>,
}

#[derive(Clone, PartialEq, Message)]
struct Response {
    #[prost(string, tag = "1")]
    description: String,
}

#[derive(Clone, PartialEq, Message)]
struct NamedAny {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(message, optional, tag = "2")]
    value: Option<Any>,
}

#[derive(Clone, PartialEq, Message)]
struct Any {
    #[prost(string, tag = "2")]
    yaml: String,
}

/// The query parameters of write operations, as the API server declares them.
const WRITE_PARAMS: &[(&str, &str)] = &[
    (
        "dryRun",
        "When present, indicates that modifications should not be persisted.",
    ),
    (
        "fieldManager",
        "fieldManager is a name associated with the actor or entity that is making these changes.",
    ),
    (
        "fieldValidation",
        "fieldValidation instructs the server on how to handle objects in the request containing unknown or duplicate fields.",
    ),
];

/// One resource's item path (`/apis/apps/v1/namespaces/{namespace}/deployments/{name}`).
pub fn item_path(t: &ResourceType) -> String {
    let base = if t.group.is_empty() {
        format!("/api/{}", t.version)
    } else {
        format!("/apis/{}/{}", t.group, t.version)
    };
    if t.namespaced {
        format!("{base}/namespaces/{{namespace}}/{}/{{name}}", t.plural)
    } else {
        format!("{base}/{}/{{name}}", t.plural)
    }
}

fn operation(t: &ResourceType, verb: &str, params: &[(&str, &str)]) -> Operation {
    let gvk = format!(
        "group: \"{}\"\nkind: {}\nversion: {}\n",
        t.group, t.kind, t.version
    );
    Operation {
        operation_id: format!("{verb}{}", t.kind),
        produces: vec!["application/json".into(), "application/yaml".into()],
        consumes: if verb == "patch" {
            [
                "application/json-patch+json",
                "application/merge-patch+json",
                "application/strategic-merge-patch+json",
                "application/apply-patch+yaml",
            ]
            .map(String::from)
            .to_vec()
        } else {
            vec![]
        },
        parameters: params
            .iter()
            .map(|(name, description)| ParametersItem {
                parameter: Some(Parameter {
                    non_body_parameter: Some(NonBodyParameter {
                        query_parameter_sub_schema: Some(QueryParameter {
                            r#in: "query".into(),
                            description: description.to_string(),
                            name: name.to_string(),
                            r#type: "string".into(),
                            unique_items: true,
                        }),
                    }),
                }),
            })
            .collect(),
        responses: Some(Responses {
            response_code: vec![NamedResponseValue {
                name: "200".into(),
                value: Some(ResponseValue {
                    response: Some(Response {
                        description: "OK".into(),
                    }),
                }),
            }],
        }),
        vendor_extension: vec![
            NamedAny {
                name: "x-kubernetes-action".into(),
                value: Some(Any {
                    yaml: format!("{verb}\n"),
                }),
            },
            NamedAny {
                name: "x-kubernetes-group-version-kind".into(),
                value: Some(Any { yaml: gvk }),
            },
        ],
    }
}

fn document(types: &[ResourceType], served: Option<&Served>) -> Document {
    let mut patch_params: Vec<(&str, &str)> = WRITE_PARAMS.to_vec();
    patch_params.push((
        "force",
        "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people.",
    ));
    let mut path: Vec<NamedPathItem> = types
        .iter()
        .filter(|t| t.serves("get"))
        .map(|t| NamedPathItem {
            name: item_path(t),
            value: Some(PathItem {
                get: Some(operation(t, "get", &[])),
                put: t
                    .serves("update")
                    .then(|| operation(t, "replace", WRITE_PARAMS)),
                delete: t
                    .serves("delete")
                    .then(|| operation(t, "delete", &WRITE_PARAMS[..1])),
                patch: t
                    .serves("patch")
                    .then(|| operation(t, "patch", &patch_params)),
            }),
        })
        .collect();
    path.sort_by(|a, b| a.name.cmp(&b.name));
    path.dedup_by(|a, b| a.name == b.name);
    Document {
        swagger: "2.0".into(),
        info: Some(Info {
            title: "Kubernetes".into(),
            version: crate::discovery::GIT_VERSION.into(),
        }),
        paths: Some(Paths { path }),
        definitions: served.map(|s| Definitions {
            additional_properties: s
                .iter()
                .map(|(name, def)| NamedSchema {
                    name: name.clone(),
                    value: Some(schema(def)),
                })
                .collect(),
        }),
    }
}

/// The document in gnostic's protobuf encoding.
pub fn protobuf(types: &[ResourceType], served: &Served) -> Vec<u8> {
    document(types, Some(served)).encode_to_vec()
}

fn op_json(op: &Operation) -> Value {
    let params: Vec<Value> = op
        .parameters
        .iter()
        .filter_map(|p| {
            p.parameter
                .as_ref()?
                .non_body_parameter
                .as_ref()?
                .query_parameter_sub_schema
                .as_ref()
        })
        .map(|q| {
            json!({"name": q.name, "in": q.r#in, "type": q.r#type, "uniqueItems": q.unique_items,
                        "description": q.description})
        })
        .collect();
    let mut v = json!({"operationId": op.operation_id, "produces": op.produces, "parameters": params,
                       "responses": {"200": {"description": "OK"}}});
    if !op.consumes.is_empty() {
        v["consumes"] = json!(op.consumes);
    }
    for ext in &op.vendor_extension {
        let yaml = ext
            .value
            .as_ref()
            .map(|a| a.yaml.as_str())
            .unwrap_or_default();
        v[&ext.name] = serde_yaml::from_str::<Value>(yaml).unwrap_or(Value::Null);
    }
    v
}

/// The same document as JSON.
pub fn json(types: &[ResourceType], served: &Served) -> Value {
    let doc = document(types, None);
    let mut paths = serde_json::Map::new();
    for p in doc.paths.iter().flat_map(|p| &p.path) {
        let Some(item) = &p.value else { continue };
        let mut ops = serde_json::Map::new();
        for (verb, op) in [
            ("get", &item.get),
            ("put", &item.put),
            ("delete", &item.delete),
            ("patch", &item.patch),
        ] {
            if let Some(op) = op {
                ops.insert(verb.into(), op_json(op));
            }
        }
        paths.insert(p.name.clone(), Value::Object(ops));
    }
    json!({"swagger": doc.swagger, "info": {"title": "Kubernetes", "version": crate::discovery::GIT_VERSION},
           "paths": paths,
           "definitions": served.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<serde_json::Map<_, _>>()})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_patch_declares_field_validation_in_both_forms() {
        let types = crate::resources::builtins();
        let served = Served::new(32, &types, |_| None);
        let bytes = protobuf(&types, &served);
        let doc = Document::decode(bytes.as_slice()).unwrap();
        let spec = doc
            .definitions
            .as_ref()
            .unwrap()
            .additional_properties
            .iter()
            .find(|d| d.name == "io.k8s.api.apps.v1.DeploymentSpec")
            .and_then(|d| d.value.as_ref())
            .unwrap();
        let strategy = spec
            .properties
            .as_ref()
            .unwrap()
            .additional_properties
            .iter()
            .find(|p| p.name == "strategy")
            .and_then(|p| p.value.as_ref())
            .unwrap();
        assert_eq!(
            strategy.r#ref,
            "#/definitions/io.k8s.api.apps.v1.DeploymentStrategy"
        );
        assert!(
            strategy
                .vendor_extension
                .iter()
                .any(|e| e.name == "x-kubernetes-patch-strategy"
                    && e.value.as_ref().unwrap().yaml.trim() == "retainKeys")
        );
        assert!(spec.required.contains(&"selector".to_string()));
        let ns = doc
            .paths
            .unwrap()
            .path
            .into_iter()
            .find(|p| p.name == "/api/v1/namespaces/{name}")
            .unwrap();
        let patch = ns.value.unwrap().patch.unwrap();
        assert!(
            patch
                .vendor_extension
                .iter()
                .any(|e| e.name == "x-kubernetes-group-version-kind"
                    && e.value.as_ref().unwrap().yaml.contains("kind: Namespace"))
        );
        assert!(patch.parameters.iter().any(|p| {
            p.parameter
                .as_ref()
                .and_then(|p| p.non_body_parameter.as_ref())
                .and_then(|n| n.query_parameter_sub_schema.as_ref())
                .is_some_and(|q| q.name == "fieldValidation")
        }));
        let j = json(&types, &served);
        assert_eq!(
            j["definitions"]["io.k8s.api.apps.v1.DeploymentSpec"]["properties"]["replicas"]["type"],
            "integer"
        );
        let gvk = &j["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]["x-kubernetes-group-version-kind"];
        assert_eq!(gvk["kind"], "Deployment");
        assert_eq!(gvk["group"], "apps");
    }
}
