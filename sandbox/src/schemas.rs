//! The Kubernetes API's OpenAPI definitions, one set per Kubernetes minor, embedded compressed
//! (`sandbox/schemas/definitions.json.z`, made by `sandbox/schemas/generate.py`, which names
//! its source), and the definitions a cluster's CRDs add.
//!
//! One registry feeds `/openapi/v2`, `/openapi/v3`, field validation and pruning, so a kind is
//! described, validated and explained the same way everywhere.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::sync::{Arc, Mutex, OnceLock};

use serde_json::{Map, Value, json};

use crate::resources::ResourceType;

/// The compressed definitions of every embedded minor.
const DATA: &[u8] = include_bytes!("../schemas/definitions.json.z");

/// The definition every object's `metadata` refers to.
pub const OBJECT_META: &str = "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta";

struct Pool {
    defs: Vec<Arc<Value>>,
    versions: BTreeMap<u32, BTreeMap<String, usize>>,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| {
        let mut text = Vec::new();
        // The data is compiled in and checked by the tests: a failure here is a build defect.
        flate2::read::ZlibDecoder::new(DATA)
            .read_to_end(&mut text)
            .expect("embedded definitions decompress");
        let mut doc: Value = serde_json::from_slice(&text).expect("embedded definitions parse");
        let defs = match doc["pool"].take() {
            Value::Array(a) => a.into_iter().map(Arc::new).collect(),
            _ => Vec::new(),
        };
        let versions = doc["versions"]
            .as_object()
            .map(|vs| {
                vs.iter()
                    .filter_map(|(v, names)| {
                        let minor = v.strip_prefix("1.")?.parse().ok()?;
                        let names = names
                            .as_object()?
                            .iter()
                            .filter_map(|(n, i)| Some((n.clone(), i.as_u64()? as usize)))
                            .collect();
                        Some((minor, names))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Pool { defs, versions }
    })
}

/// The Kubernetes minors whose definitions are embedded.
#[cfg(test)]
pub fn minors() -> Vec<u32> {
    pool().versions.keys().copied().collect()
}

/// The definitions of one Kubernetes minor: every built-in type, by its OpenAPI name
/// (`io.k8s.api.apps.v1.Deployment`), with the kinds it describes.
pub struct Definitions {
    names: BTreeMap<String, Arc<Value>>,
    by_kind: HashMap<(String, String, String), String>,
}

impl Definitions {
    /// One definition by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.names.get(name).map(|v| v.as_ref())
    }

    /// Every definition, by name.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.names.iter().map(|(k, v)| (k, v.as_ref()))
    }

    /// The name of the definition of a kind, if this minor has it.
    pub fn of_kind(&self, group: &str, version: &str, kind: &str) -> Option<&str> {
        self.by_kind
            .get(&(group.to_string(), version.to_string(), kind.to_string()))
            .map(String::as_str)
    }
}

fn gvks(def: &Value) -> Vec<(String, String, String)> {
    def["x-kubernetes-group-version-kind"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|g| {
                    let s = |k: &str| g[k].as_str().unwrap_or_default().to_string();
                    (s("group"), s("version"), s("kind"))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The built-in definitions of `minor`, or of the nearest embedded minor.
pub fn builtin(minor: u32) -> Arc<Definitions> {
    static CACHE: OnceLock<Mutex<HashMap<u32, Arc<Definitions>>>> = OnceLock::new();
    let pool = pool();
    let chosen = pool
        .versions
        .keys()
        .copied()
        .min_by_key(|m| m.abs_diff(minor))
        .unwrap_or(minor);
    let mut cache = CACHE
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    Arc::clone(cache.entry(chosen).or_insert_with(|| {
        let mut names = BTreeMap::new();
        let mut by_kind = HashMap::new();
        for (name, i) in pool.versions.get(&chosen).into_iter().flatten() {
            let Some(def) = pool.defs.get(*i) else {
                continue;
            };
            for gvk in gvks(def) {
                // A kind listed by several definitions (the List and DeleteOptions share
                // theirs) belongs to the one named after it.
                let own = name.rsplit('.').next() == Some(gvk.2.as_str());
                if own || !by_kind.contains_key(&gvk) {
                    by_kind.insert(gvk, name.clone());
                }
            }
            names.insert(name.clone(), Arc::clone(def));
        }
        Arc::new(Definitions { names, by_kind })
    }))
}

/// The OpenAPI name a custom resource's definition gets: the group's labels reversed, then
/// version and kind (`com.example.v1.Widget` for `example.com/v1` `Widget`), as the API
/// server names them.
pub fn custom_name(group: &str, version: &str, kind: &str) -> String {
    let mut parts: Vec<&str> = group.split('.').collect();
    parts.reverse();
    format!("{}.{version}.{kind}", parts.join("."))
}

/// The schema of one served version of a CRD, as the API server publishes it: the CRD's
/// `openAPIV3Schema` with the standard `apiVersion`, `kind` and `metadata` fields and the
/// group-version-kind extension. `None` when the version has no schema.
pub fn custom_schema(crd: &Value, t: &ResourceType) -> Option<Value> {
    let version = crd["spec"]["versions"]
        .as_array()?
        .iter()
        .find(|v| v["name"] == t.version.as_str())?;
    let mut schema = version["schema"]["openAPIV3Schema"].clone();
    let obj = schema.as_object_mut()?;
    let props = obj
        .entry("properties")
        .or_insert_with(|| json!({}))
        .as_object_mut()?;
    props.insert(
        "apiVersion".into(),
        json!({"type": "string", "description": "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#resources"}),
    );
    props.insert(
        "kind".into(),
        json!({"type": "string", "description": "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#types-kinds"}),
    );
    props.insert(
        "metadata".into(),
        json!({"$ref": format!("#/definitions/{OBJECT_META}"),
               "description": "Standard object's metadata. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata"}),
    );
    obj.insert("type".into(), json!("object"));
    obj.insert(
        "x-kubernetes-group-version-kind".into(),
        json!([{"group": t.group, "version": t.version, "kind": t.kind}]),
    );
    Some(schema)
}

/// The definitions a cluster serves: the built-in ones of its minor plus one per custom
/// resource version (and its list), named as the API server names them.
pub struct Served {
    /// The built-in definitions.
    pub builtin: Arc<Definitions>,
    /// Definitions of custom resources, by name.
    pub custom: Map<String, Value>,
    custom_kinds: HashMap<(String, String, String), String>,
}

impl Served {
    /// The built-in definitions of `minor` and those of the custom types in `types`, read
    /// from their CRDs with `crd_of`.
    pub fn new(
        minor: u32,
        types: &[ResourceType],
        crd_of: impl Fn(&ResourceType) -> Option<Value>,
    ) -> Served {
        let mut custom = Map::new();
        let mut custom_kinds = HashMap::new();
        for t in types.iter().filter(|t| !t.builtin) {
            let Some(schema) = crd_of(t).and_then(|crd| custom_schema(&crd, t)) else {
                continue;
            };
            let name = custom_name(&t.group, &t.version, &t.kind);
            let list = json!({"type": "object", "required": ["items"],
                "description": format!("{}List is a list of {}", t.kind, t.kind),
                "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
                    "items": {"type": "array", "items": {"$ref": format!("#/definitions/{name}")}},
                    "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ListMeta"}},
                "x-kubernetes-group-version-kind": [{"group": t.group, "version": t.version, "kind": format!("{}List", t.kind)}]});
            custom_kinds.insert(
                (t.group.clone(), t.version.clone(), t.kind.clone()),
                name.clone(),
            );
            custom.insert(format!("{name}List"), list);
            custom.insert(name, schema);
        }
        Served {
            builtin: builtin(minor),
            custom,
            custom_kinds,
        }
    }

    /// One definition by name.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.custom.get(name).or_else(|| self.builtin.get(name))
    }

    /// The definition name of a served type, if there is one.
    pub fn of_type(&self, t: &ResourceType) -> Option<&str> {
        let key = (t.group.clone(), t.version.clone(), t.kind.clone());
        match self.custom_kinds.get(&key) {
            Some(n) => Some(n.as_str()),
            None if t.builtin => self.builtin.of_kind(&t.group, &t.version, &t.kind),
            None => None,
        }
    }

    /// Every definition, built-in first.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &Value)> {
        self.builtin.iter().chain(self.custom.iter())
    }
}

/// The definition names `roots` refer to, directly or through others, roots included.
pub fn closure(served: &Served, roots: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut seen: std::collections::BTreeSet<String> = Default::default();
    let mut todo: Vec<String> = roots.into_iter().collect();
    while let Some(name) = todo.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(def) = served.get(&name) {
            refs(def, &mut |r| {
                if !seen.contains(r) {
                    todo.push(r.to_string());
                }
            });
        }
    }
    seen.into_iter().collect()
}

/// Calls `f` with the definition name of every `$ref` in `v`.
pub fn refs(v: &Value, f: &mut impl FnMut(&str)) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                match (k.as_str(), x) {
                    ("$ref", Value::String(r)) => f(r.rsplit('/').next().unwrap_or(r)),
                    _ => refs(x, f),
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|x| refs(x, f)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_minor_is_embedded_with_its_kinds() {
        let minors = minors();
        assert_eq!(minors.first(), Some(&9));
        assert_eq!(minors.last(), Some(&33));
        let d = builtin(32);
        let name = d.of_kind("apps", "v1", "Deployment").unwrap();
        assert_eq!(name, "io.k8s.api.apps.v1.Deployment");
        let spec = d.get("io.k8s.api.apps.v1.DeploymentSpec").unwrap();
        assert_eq!(spec["properties"]["replicas"]["type"], "integer");
        assert_eq!(
            d.get("io.k8s.api.core.v1.PodSpec").unwrap()["properties"]["containers"]["x-kubernetes-patch-merge-key"],
            "name"
        );
        // Older minors have the kinds they had: 1.15 still served extensions/v1beta1 Deployments.
        assert!(
            builtin(15)
                .of_kind("extensions", "v1beta1", "Deployment")
                .is_some()
        );
        assert!(
            builtin(32)
                .of_kind("extensions", "v1beta1", "Deployment")
                .is_none()
        );
        // A minor that is not embedded gets the nearest one.
        assert!(Arc::ptr_eq(&builtin(40), &builtin(33)));
    }

    #[test]
    fn custom_resources_are_named_after_their_reversed_group() {
        assert_eq!(
            custom_name("example.com", "v1", "Widget"),
            "com.example.v1.Widget"
        );
    }
}
