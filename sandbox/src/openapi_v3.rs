//! `/openapi/v3`: a root listing every group version with a content hash, and one OpenAPI 3.0
//! document per group version with its paths and the schemas they use, as the API server
//! publishes them.
//!
//! kubectl reads them to decide whether the server validates fields (the PATCH operation
//! declares `fieldValidation`), to build strategic merge patches (the PATCH request body
//! accepts `application/strategic-merge-patch+json` only for built-in kinds; custom resources
//! then get merge patches) and for `kubectl explain`.

use serde_json::{Map, Value, json};

use crate::cluster::Cluster;
use crate::resources::ResourceType;
use crate::schemas::{self, Served};
use crate::util::short_hash;

/// The definitions a cluster serves: its minor's built-ins and its CRDs' schemas.
pub fn served(cluster: &Cluster, types: &[ResourceType]) -> Served {
    Served::new(cluster.minor(), types, |t| {
        cluster.store.get(
            "customresourcedefinitions.apiextensions.k8s.io",
            "",
            &format!("{}.{}", t.plural, t.group),
        )
    })
}

/// `api/v1` or `apis/apps/v1`.
pub fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

/// Rewrites Swagger 2.0 schema references into OpenAPI 3 ones; a reference with siblings
/// (a description) is wrapped in `allOf`, as the API server's v3 documents do.
pub fn to_v3(v: &Value) -> Value {
    match v {
        Value::Object(m) => {
            let mut out = Map::new();
            let reference = m.get("$ref").and_then(Value::as_str).map(|r| {
                json!(format!(
                    "#/components/schemas/{}",
                    r.rsplit('/').next().unwrap_or(r)
                ))
            });
            for (k, x) in m {
                if k != "$ref" {
                    out.insert(k.clone(), to_v3(x));
                }
            }
            match reference {
                Some(r) if out.is_empty() => json!({"$ref": r}),
                Some(r) => {
                    out.insert("allOf".into(), json!([{"$ref": r}]));
                    Value::Object(out)
                }
                None => Value::Object(out),
            }
        }
        Value::Array(a) => Value::Array(a.iter().map(to_v3).collect()),
        other => other.clone(),
    }
}

fn reference(name: &str) -> Value {
    json!({"$ref": format!("#/components/schemas/{name}")})
}

fn query(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

fn ok(schema: &Value) -> Value {
    json!({"200": {"description": "OK", "content": {
        "application/json": {"schema": schema}, "application/yaml": {"schema": schema},
        "application/vnd.kubernetes.protobuf": {"schema": schema}}}})
}

/// The OpenAPI v3 document of one group version, or `None` when nothing is served there.
pub fn document(
    served: &Served,
    types: &[ResourceType],
    group: &str,
    version: &str,
) -> Option<Value> {
    let mine: Vec<&ResourceType> = types
        .iter()
        .filter(|t| t.group == group && t.version == version)
        .collect();
    if mine.is_empty() {
        return None;
    }
    let mut paths = Map::new();
    let mut roots = vec![
        "io.k8s.apimachinery.pkg.apis.meta.v1.Status".to_string(),
        "io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions".to_string(),
        "io.k8s.apimachinery.pkg.apis.meta.v1.Patch".to_string(),
        "io.k8s.apimachinery.pkg.apis.meta.v1.WatchEvent".to_string(),
    ];
    for t in mine {
        let def = served.of_type(t).map(str::to_string);
        let list = def.as_ref().map(|d| format!("{d}List"));
        let object = def
            .as_deref()
            .map(reference)
            .unwrap_or_else(|| json!({"type": "object"}));
        let list_schema = list
            .as_deref()
            .filter(|l| served.get(l).is_some())
            .map(reference)
            .unwrap_or_else(|| json!({"type": "object"}));
        roots.extend(def.clone());
        roots.extend(list.filter(|l| served.get(l).is_some()));
        let gvk = json!({"group": t.group, "version": t.version, "kind": t.kind});
        let writes = [
            query("dryRun"),
            query("fieldManager"),
            query("fieldValidation"),
        ];
        let mut patch_types = vec![
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml",
        ];
        if t.builtin {
            patch_types.push("application/strategic-merge-patch+json");
        }
        let patch_body: Map<String, Value> = patch_types
            .iter()
            .map(|ct| {
                (
                    ct.to_string(),
                    json!({"schema": reference("io.k8s.apimachinery.pkg.apis.meta.v1.Patch")}),
                )
            })
            .collect();
        let op = |action: &str, id: &str, params: Vec<Value>, body: Option<Value>, resp: &Value| {
            let mut o = json!({"operationId": format!("{id}{}", t.kind), "x-kubernetes-action": action,
                               "x-kubernetes-group-version-kind": gvk, "parameters": params,
                               "responses": ok(resp)});
            if let Some(b) = body {
                o["requestBody"] = b;
            }
            o
        };
        let json_body = json!({"content": {"*/*": {"schema": object}}, "required": true});
        let base = format!("/{}", gv_path(group, version));
        let collection = if t.namespaced {
            format!("{base}/namespaces/{{namespace}}/{}", t.plural)
        } else {
            format!("{base}/{}", t.plural)
        };
        let mut patch_params = writes.to_vec();
        patch_params.push(query("force"));
        let status = reference("io.k8s.apimachinery.pkg.apis.meta.v1.Status");
        if t.serves("get") {
            paths.insert(
                collection.clone(),
                json!({
                    "get": op("list", "list", vec![query("labelSelector"), query("fieldSelector"), query("limit"), query("continue")], None, &list_schema),
                    "post": op("post", "create", writes.to_vec(), Some(json_body.clone()), &object),
                    "delete": op("deletecollection", "deletecollection", vec![query("labelSelector")], None, &status),
                }),
            );
            paths.insert(
                format!("{collection}/{{name}}"),
                json!({
                    "get": op("get", "read", vec![], None, &object),
                    "put": op("put", "replace", writes.to_vec(), Some(json_body.clone()), &object),
                    "patch": op("patch", "patch", patch_params.clone(), Some(json!({"content": patch_body, "required": true})), &object),
                    "delete": op("delete", "delete", vec![query("dryRun")], None, &object),
                }),
            );
            if t.status_sub {
                paths.insert(
                    format!("{collection}/{{name}}/status"),
                    json!({
                        "get": op("get", "readStatus", vec![], None, &object),
                        "put": op("put", "replaceStatus", writes.to_vec(), Some(json_body), &object),
                        "patch": op("patch", "patchStatus", patch_params, Some(json!({"content": patch_body, "required": true})), &object),
                    }),
                );
            }
        } else {
            paths.insert(
                collection,
                json!({"post": op("post", "create", writes.to_vec(), Some(json_body), &object)}),
            );
        }
    }
    let mut components = Map::new();
    for name in schemas::closure(served, roots) {
        if let Some(def) = served.get(&name) {
            components.insert(name, to_v3(def));
        }
    }
    Some(json!({"openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": crate::discovery::GIT_VERSION},
        "paths": paths,
        "components": {"schemas": components,
                       "securitySchemes": {"BearerToken": {"type": "apiKey", "description": "Bearer Token authentication", "name": "authorization", "in": "header"}}}}))
}

/// `GET /openapi/v3`: every group version with the hash of its document.
pub fn root(served: &Served, types: &[ResourceType]) -> Value {
    let mut gvs: Vec<(String, String)> = types
        .iter()
        .map(|t| (t.group.clone(), t.version.clone()))
        .collect();
    gvs.sort();
    gvs.dedup();
    let mut paths = Map::new();
    for (g, v) in gvs {
        if let Some(doc) = document(served, types, &g, &v) {
            let p = gv_path(&g, &v);
            paths.insert(
                p.clone(),
                json!({"serverRelativeURL": format!("/openapi/v3/{p}?hash={}", short_hash(&doc))}),
            );
        }
    }
    json!({"paths": paths})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::builtins;

    fn builtin_served() -> Served {
        Served::new(32, &builtins(), |_| None)
    }

    #[test]
    fn group_version_documents_carry_their_schemas() {
        let types = builtins();
        let served = builtin_served();
        let doc = document(&served, &types, "apps", "v1").unwrap();
        let schemas = &doc["components"]["schemas"];
        let deploy = &schemas["io.k8s.api.apps.v1.Deployment"];
        assert_eq!(
            deploy["x-kubernetes-group-version-kind"][0]["kind"],
            "Deployment"
        );
        assert_eq!(
            deploy["properties"]["spec"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.api.apps.v1.DeploymentSpec"
        );
        // Referenced definitions come along: the pod template's containers.
        assert!(schemas["io.k8s.api.core.v1.Container"]["properties"]["image"].is_object());
        let patch =
            &doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"];
        assert!(
            patch["requestBody"]["content"]["application/strategic-merge-patch+json"].is_object()
        );
        assert!(
            patch["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        let root = root(&served, &types);
        assert!(
            root["paths"]["apis/apps/v1"]["serverRelativeURL"]
                .as_str()
                .unwrap()
                .contains("hash=")
        );
    }

    #[test]
    fn custom_resources_get_their_crd_schema_and_no_strategic_merge() {
        let crd = json!({"spec": {"group": "example.com", "scope": "Namespaced",
            "names": {"plural": "widgets", "kind": "Widget"},
            "versions": [{"name": "v1", "served": true, "storage": true, "schema": {"openAPIV3Schema": {
                "type": "object", "properties": {"spec": {"type": "object", "description": "The widget.",
                    "properties": {"size": {"type": "integer", "description": "How big."}}}}}}}]}});
        let mut types = builtins();
        types.extend(crate::resources::from_crd(&crd));
        let served = Served::new(32, &types, |_| Some(crd.clone()));
        let doc = document(&served, &types, "example.com", "v1").unwrap();
        let w = &doc["components"]["schemas"]["com.example.v1.Widget"];
        assert_eq!(
            w["properties"]["spec"]["properties"]["size"]["type"],
            "integer"
        );
        assert_eq!(
            w["properties"]["metadata"]["allOf"][0]["$ref"],
            "#/components/schemas/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"
        );
        assert!(
            doc["components"]["schemas"]["io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"]
                .is_object()
        );
        let patch =
            &doc["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"];
        assert!(
            patch["requestBody"]["content"]["application/strategic-merge-patch+json"].is_null()
        );
        assert!(patch["requestBody"]["content"]["application/merge-patch+json"].is_object());
    }
}
