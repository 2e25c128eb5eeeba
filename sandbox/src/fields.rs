//! Unknown fields: found and dropped against the type's schema, as the API server's decoding
//! does (a built-in type's Go struct has no place for them; a custom resource's structural
//! schema prunes them), and reported as `fieldValidation` asks.

use serde_json::Value;

use crate::status::ApiError;

/// How a write treats unknown fields (`fieldValidation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Validation {
    /// Dropped silently.
    Ignore,
    /// Dropped, with a warning for each (the API server's default).
    Warn,
    /// The request fails.
    Strict,
}

impl Validation {
    /// Reads the `fieldValidation` query value.
    pub fn parse(v: Option<&str>) -> Result<Self, ApiError> {
        match v.unwrap_or("Warn") {
            "Ignore" => Ok(Validation::Ignore),
            "" | "Warn" => Ok(Validation::Warn),
            "Strict" => Ok(Validation::Strict),
            other => Err(ApiError::bad_request(format!(
                "fieldValidation: Unsupported value: \"{other}\": supported values: \"Ignore\", \"Strict\", \"Warn\""
            ))),
        }
    }
}

/// A schema and the definitions its `$ref`s name.
pub struct Schema<'a> {
    /// The root schema.
    pub root: &'a Value,
    /// Resolves a definition name.
    pub lookup: &'a dyn Fn(&str) -> Option<&'a Value>,
}

impl<'a> Schema<'a> {
    /// Follows `$ref` (also wrapped in a one-element `allOf`) to the schema it names.
    pub fn resolve(&self, mut s: &'a Value) -> &'a Value {
        for _ in 0..32 {
            let target = match (s.get("$ref"), s.get("allOf")) {
                (Some(Value::String(r)), _) => r,
                (None, Some(Value::Array(all))) if all.len() == 1 => match all[0].get("$ref") {
                    Some(Value::String(r)) => r,
                    _ => return s,
                },
                _ => return s,
            };
            match (self.lookup)(target.rsplit('/').next().unwrap_or(target)) {
                Some(next) => s = next,
                None => return s,
            }
        }
        s
    }

    /// Removes the fields of `obj` that the schema does not declare and returns their paths
    /// (`spec.template.spec.containers[0].foo`), in document order.
    pub fn prune(&self, obj: &mut Value) -> Vec<String> {
        let mut found = Vec::new();
        self.walk(self.root, obj, String::new(), &mut found);
        found
    }

    fn walk(&self, s: &'a Value, v: &mut Value, path: String, found: &mut Vec<String>) {
        let s = self.resolve(s);
        match v {
            Value::Object(map) => {
                let props = s.get("properties").and_then(Value::as_object);
                let extra = s.get("additionalProperties");
                let keep_unknown = s["x-kubernetes-preserve-unknown-fields"] == true
                    || extra == Some(&Value::Bool(true))
                    // A schema that declares nothing about its fields is free-form
                    // (RawExtension, FieldsV1, JSON).
                    || (props.is_none() && !extra.is_some_and(Value::is_object));
                let embedded = s["x-kubernetes-embedded-resource"] == true;
                let keys: Vec<String> = map.keys().cloned().collect();
                for k in keys {
                    let sub = format!("{path}{}{k}", if path.is_empty() { "" } else { "." });
                    let child = props
                        .and_then(|p| p.get(&k))
                        .or_else(|| extra.filter(|e| e.is_object()));
                    match child {
                        Some(c) => {
                            if let Some(x) = map.get_mut(&k) {
                                self.walk(c, x, sub, found);
                            }
                        }
                        None if keep_unknown
                            || (embedded
                                && matches!(k.as_str(), "apiVersion" | "kind" | "metadata")) => {}
                        None => {
                            map.remove(&k);
                            found.push(sub);
                        }
                    }
                }
            }
            Value::Array(items) => {
                if let Some(item) = s.get("items").filter(|i| i.is_object()) {
                    for (i, x) in items.iter_mut().enumerate() {
                        self.walk(item, x, format!("{path}[{i}]"), found);
                    }
                }
            }
            _ => {}
        }
    }
}

/// The warning text the API server sends for one unknown field.
pub fn warning(path: &str) -> String {
    format!("unknown field \"{path}\"")
}

/// What strict decoding found in a request body: YAML keys set twice (one error listing
/// every line, as `go-yaml` reports them) and the other findings (unknown and duplicate
/// fields), each its own error.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Findings {
    /// `line N: key "x" already set in map`, in document order.
    pub yaml: Vec<String>,
    /// `unknown field "a.b"` or `duplicate field "a.b"`, in the order they are reported.
    pub rest: Vec<String>,
}

impl Findings {
    /// Unknown fields only.
    pub fn unknown(paths: &[String]) -> Findings {
        Findings {
            yaml: Vec::new(),
            rest: paths.iter().map(|p| warning(p)).collect(),
        }
    }

    /// Whether there is nothing to report.
    pub fn is_empty(&self) -> bool {
        self.yaml.is_empty() && self.rest.is_empty()
    }

    /// `strict decoding error: ...`, the message of a `Strict` request's failure.
    pub fn message(&self) -> String {
        let yaml = (!self.yaml.is_empty()).then(|| crate::strict::yaml_error(&self.yaml));
        let all: Vec<String> = yaml.into_iter().chain(self.rest.iter().cloned()).collect();
        format!("strict decoding error: {}", all.join(", "))
    }

    /// One `Warning` per finding, for a `Warn` request.
    pub fn warnings(&self) -> Vec<String> {
        self.yaml.iter().chain(&self.rest).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn prune_deployment(mut obj: Value) -> (Value, Vec<String>) {
        let defs = crate::schemas::builtin(32);
        let lookup = |n: &str| defs.get(n);
        let schema = Schema {
            root: defs.get("io.k8s.api.apps.v1.Deployment").unwrap(),
            lookup: &lookup,
        };
        let found = schema.prune(&mut obj);
        (obj, found)
    }

    #[test]
    fn unknown_fields_are_found_in_order_and_dropped() {
        let (obj, found) = prune_deployment(json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "x", "labels": {"any": "key"}, "bogus": 1},
            "spec": {"replicas": 1, "foo": true, "selector": {"matchLabels": {"a": "b"}},
                     "template": {"metadata": {"labels": {"a": "b"}},
                                  "spec": {"containers": [{"name": "c", "image": "i", "imagePolicy": "x",
                                                           "resources": {"limits": {"cpu": "1"}}}]}}}}));
        assert_eq!(
            found,
            vec![
                "metadata.bogus",
                "spec.foo",
                "spec.template.spec.containers[0].imagePolicy"
            ]
        );
        assert!(obj["spec"].get("foo").is_none());
        assert_eq!(obj["metadata"]["labels"]["any"], "key");
        assert_eq!(
            obj["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]["cpu"],
            "1"
        );
        assert_eq!(
            Findings::unknown(&found[..2]).message(),
            "strict decoding error: unknown field \"metadata.bogus\", unknown field \"spec.foo\""
        );
    }

    #[test]
    fn preserved_and_embedded_fields_stay() {
        let root = json!({"type": "object", "properties": {
            "spec": {"type": "object", "properties": {"size": {"type": "integer"},
                      "free": {"type": "object", "x-kubernetes-preserve-unknown-fields": true},
                      "obj": {"type": "object", "x-kubernetes-embedded-resource": true,
                              "properties": {"spec": {"type": "object"}}}}}}});
        let lookup = |_: &str| None;
        let schema = Schema {
            root: &root,
            lookup: &lookup,
        };
        let mut v = json!({"spec": {"size": 1, "colour": "red", "free": {"a": {"b": 1}},
                                    "obj": {"apiVersion": "v1", "kind": "X", "spec": {}, "other": 1}}});
        assert_eq!(schema.prune(&mut v), vec!["spec.colour", "spec.obj.other"]);
        assert_eq!(v["spec"]["free"]["a"]["b"], 1);
        assert_eq!(v["spec"]["obj"]["kind"], "X");
    }

    #[test]
    fn field_validation_values() {
        assert_eq!(Validation::parse(None).unwrap(), Validation::Warn);
        assert_eq!(
            Validation::parse(Some("Strict")).unwrap(),
            Validation::Strict
        );
        assert_eq!(Validation::parse(Some("bogus")).unwrap_err().code, 400);
    }
}
