//! The objects a step names: a resolved type in a namespace, chosen by name or label selector,
//! read as JSON (the form JSONPath and readiness rules work on).

use std::sync::Arc;

use kube::Api;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams};
use kube::core::{DynamicObject, ObjectList};
use meshbook_engine::model::{ObjectRef, WhichRef};
use serde_json::Value;

use super::client::Cluster;
use super::error::KubeError;
use super::request::retrying;
use super::resolve::{ResolveError, Resolved};

/// Which objects of a type a step means.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Selection {
    /// One object by name.
    Name(String),
    /// Objects matching a label selector (and optionally a field selector).
    Selector {
        /// The label selector (may be empty).
        labels: String,
        /// The field selector (may be empty).
        fields: String,
    },
}

impl Selection {
    /// The objects a step's view names, narrowed by a field selector when it has one.
    pub(crate) fn of(which: WhichRef<'_>, fields: Option<&str>) -> Selection {
        let fields = fields.unwrap_or_default().to_string();
        match which {
            WhichRef::Name(n) => Selection::Name(n.to_string()),
            WhichRef::Selector(s) => Selection::Selector {
                labels: s.as_str().to_string(),
                fields,
            },
            WhichRef::All => Selection::Selector {
                labels: String::new(),
                fields,
            },
        }
    }

    /// List parameters that select exactly these objects (a name becomes a field selector).
    pub(crate) fn list_params(&self) -> ListParams {
        match self {
            Selection::Name(n) => ListParams::default().fields(&format!("metadata.name={n}")),
            Selection::Selector { labels, fields } => {
                let mut lp = ListParams::default();
                if !labels.is_empty() {
                    lp = lp.labels(labels);
                }
                if !fields.is_empty() {
                    lp = lp.fields(fields);
                }
                lp
            }
        }
    }
}

/// A resolved resource type in one namespace (or cluster-wide) of one cluster.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    /// The cluster.
    pub(crate) cluster: Arc<Cluster>,
    /// The type.
    pub(crate) resolved: Resolved,
    /// The namespace, for namespaced types.
    pub(crate) namespace: Option<String>,
}

impl Target {
    /// Resolves `resource` on `cluster`, defaulting the namespace to the context's.
    pub(crate) async fn new(
        cluster: &Arc<Cluster>,
        resource: &str,
        namespace: Option<&str>,
    ) -> Result<Target, ResolveError> {
        let resolved = cluster
            .resolver()
            .resolve(cluster.client(), cluster.context(), resource)
            .await?;
        Ok(Target::of(cluster, resolved, namespace))
    }

    /// The type and place a step's view names, and its selection (`fields` narrows a list).
    pub(crate) async fn of_view(
        clients: &super::Clients,
        view: ObjectRef<'_>,
        fields: Option<&str>,
    ) -> Result<(Target, Selection), KubeError> {
        let cluster = clients.cluster(view.context).await?;
        let target = Target::new(&cluster, view.resource, view.namespace).await?;
        Ok((target, Selection::of(view.which, fields)))
    }

    /// A target for an already resolved type.
    pub(crate) fn of(
        cluster: &Arc<Cluster>,
        resolved: Resolved,
        namespace: Option<&str>,
    ) -> Target {
        let namespace = resolved
            .namespaced
            .then(|| cluster.namespace_or_default(namespace).to_string());
        Target {
            cluster: Arc::clone(cluster),
            resolved,
            namespace,
        }
    }

    /// The dynamic API of this type in this namespace.
    pub(crate) fn api(&self) -> Api<DynamicObject> {
        let client = self.cluster.client().clone();
        match &self.namespace {
            Some(ns) => Api::namespaced_with(client, ns, &self.resolved.resource),
            None => Api::all_with(client, &self.resolved.resource),
        }
    }

    /// Where the objects are, for messages: `in namespace x of context c1`.
    pub(crate) fn place(&self) -> String {
        match &self.namespace {
            Some(ns) => format!("in namespace {ns} of context {}", self.cluster.context()),
            None => format!("in context {}", self.cluster.context()),
        }
    }

    /// kubectl's name for one object, with where it is: `deployment.apps/web in namespace x of context c1`.
    pub(crate) fn describe(&self, name: &str) -> String {
        format!("{} {}", self.resolved.object_name(name), self.place())
    }

    /// What a selection means, for messages.
    pub(crate) fn describe_selection(&self, selection: &Selection) -> String {
        match selection {
            Selection::Name(n) => self.describe(n),
            Selection::Selector { labels, fields } => {
                let mut what = format!("{} objects", self.resolved.display_name());
                if !labels.is_empty() {
                    what.push_str(&format!(" with labels {labels}"));
                }
                if !fields.is_empty() {
                    what.push_str(&format!(" with fields {fields}"));
                }
                format!("{what} {}", self.place())
            }
        }
    }

    /// Reads one object; `None` when it does not exist.
    pub(crate) async fn get(&self, name: &str) -> Result<Option<Value>, kube::Error> {
        let api = self.api();
        match retrying(|| api.get(name)).await {
            Ok(o) => Ok(Some(self.to_value(o))),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Lists the selected objects, in name order, with the list's resourceVersion.
    pub(crate) async fn list(
        &self,
        selection: &Selection,
    ) -> Result<(Vec<Value>, String), kube::Error> {
        let api = self.api();
        let lp = selection.list_params();
        let list: ObjectList<DynamicObject> = retrying(|| api.list(&lp)).await?;
        let rv = list.metadata.resource_version.clone().unwrap_or_default();
        let mut items: Vec<Value> = list.items.into_iter().map(|o| self.to_value(o)).collect();
        items.sort_by(|a, b| name_of(a).cmp(name_of(b)));
        Ok((items, rv))
    }

    /// Applies a JSON merge patch to one object and returns it.
    pub(crate) async fn merge_patch(
        &self,
        name: &str,
        patch: &Value,
    ) -> Result<Value, kube::Error> {
        let api = self.api();
        let pp = PatchParams::default();
        let body = Patch::Merge(patch);
        let o = retrying(|| api.patch(name, &pp, &body)).await?;
        Ok(self.to_value(o))
    }

    /// Deletes one object; `false` when it did not exist.
    pub(crate) async fn delete(&self, name: &str) -> Result<bool, kube::Error> {
        let api = self.api();
        let dp = DeleteParams::background();
        match retrying(|| api.delete(name, &dp)).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The object as JSON, with `apiVersion` and `kind` filled in (list items may lack them).
    pub(crate) fn to_value(&self, object: DynamicObject) -> Value {
        let mut v = serde_json::to_value(object).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut v {
            let r = &self.resolved.resource;
            map.entry("apiVersion")
                .or_insert_with(|| Value::String(r.api_version.clone()));
            map.entry("kind")
                .or_insert_with(|| Value::String(r.kind.clone()));
        }
        v
    }
}

/// An object's `metadata.name` (empty when absent).
pub(crate) fn name_of(object: &Value) -> &str {
    object["metadata"]["name"].as_str().unwrap_or_default()
}

/// An object's `metadata.resourceVersion` (empty when absent).
pub(crate) fn resource_version_of(object: &Value) -> &str {
    object["metadata"]["resourceVersion"]
        .as_str()
        .unwrap_or_default()
}

/// kubectl's `List` wrapper around list items, as `kubectl get` hands it to JSONPath.
pub(crate) fn as_list(items: Vec<Value>) -> Value {
    serde_json::json!({
        "apiVersion": "v1",
        "kind": "List",
        "metadata": {"resourceVersion": ""},
        "items": items,
    })
}
