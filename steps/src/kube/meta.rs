//! `kube.label` and `kube.annotate`: set (`key=value`) and remove (`key-`) labels or
//! annotations on objects chosen by name or selector, refusing to change a value without
//! `overwrite`, as kubectl does.

use indexmap::IndexMap;
use meshbook_engine::model::{KubeAnnotate, KubeLabel, OutputSpec};
use serde_json::{Map, Value};

use super::client::{ClientError, Clients};
use super::objects::{Selection, Target, name_of};
use super::request::ApiFailure;
use super::resolve::ResolveError;
use super::{Outputs, StepEnv};

/// Why labels or annotations could not be changed.
#[derive(Debug, thiserror::Error)]
pub enum MetaError {
    /// An edit is neither `key=value` nor `key-`.
    #[error("{0:?} is neither key=value nor key-")]
    BadEdit(String),
    /// A value would change without `overwrite`.
    #[error("{object}: '{key}' already has a value ({value}), and overwrite is false")]
    WouldOverwrite {
        /// The object and where.
        object: String,
        /// The key.
        key: String,
        /// The current value.
        value: String,
    },
    /// The named object does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// Nothing matches the selection.
    #[error("no {0}")]
    NothingSelected(String),
    /// The cluster could not be reached.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The resource type is unknown.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// A read or patch failed.
    #[error("cannot change {what}")]
    Api {
        /// The objects.
        what: String,
        /// The failed request.
        #[source]
        source: ApiFailure,
    },
}

/// One edit: set a key to a value, or remove it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Edit {
    /// `key=value`.
    Set(String, String),
    /// `key-`.
    Remove(String),
}

/// Parses kubectl's `key=value` / `key-` arguments.
pub fn parse_edits(edits: &[String]) -> Result<Vec<Edit>, MetaError> {
    edits
        .iter()
        .map(|e| match e.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok(Edit::Set(k.to_string(), v.to_string())),
            None if e.len() > 1 && e.ends_with('-') => {
                Ok(Edit::Remove(e[..e.len() - 1].to_string()))
            }
            _ => Err(MetaError::BadEdit(e.clone())),
        })
        .collect()
}

/// The merge patch for `field` (`labels` or `annotations`), or `None` when nothing changes.
pub fn plan_patch(
    object: &Value,
    field: &str,
    edits: &[Edit],
    overwrite: bool,
    describe: impl Fn(&str) -> String,
) -> Result<Option<Value>, MetaError> {
    let current = object["metadata"][field].as_object();
    let mut changes = Map::new();
    for edit in edits {
        match edit {
            Edit::Set(k, v) => {
                let now = current.and_then(|m| m.get(k)).and_then(Value::as_str);
                match now {
                    Some(old) if old == v => {}
                    Some(old) if !overwrite => {
                        return Err(MetaError::WouldOverwrite {
                            object: describe(name_of(object)),
                            key: k.clone(),
                            value: old.to_string(),
                        });
                    }
                    _ => {
                        changes.insert(k.clone(), Value::String(v.clone()));
                    }
                }
            }
            Edit::Remove(k) => {
                if current.is_some_and(|m| m.contains_key(k)) {
                    changes.insert(k.clone(), Value::Null);
                }
            }
        }
    }
    if changes.is_empty() {
        return Ok(None);
    }
    Ok(Some(serde_json::json!({"metadata": {field: changes}})))
}

#[allow(clippy::too_many_arguments)]
async fn edit(
    clients: &Clients,
    context: Option<&str>,
    namespace: Option<&str>,
    resource: &str,
    name: Option<&str>,
    selector: Option<&str>,
    field: &str,
    edits: &[String],
    overwrite: bool,
    env: &StepEnv,
) -> Result<Outputs, MetaError> {
    let edits = parse_edits(edits)?;
    let cluster = clients.cluster(context).await?;
    let target = Target::new(&cluster, resource, namespace).await?;
    let selection = Selection::from_fields(name, selector);
    let what = target.describe_selection(&selection);
    let fail = |e: kube::Error| MetaError::Api {
        what: what.clone(),
        source: e.into(),
    };
    let objects = match &selection {
        Selection::Name(n) => match target.get(n).await.map_err(fail)? {
            Some(o) => vec![o],
            None => return Err(MetaError::NotFound(what.clone())),
        },
        other => target.list(other).await.map_err(fail)?.0,
    };
    if objects.is_empty() {
        return Err(MetaError::NothingSelected(what));
    }
    // Check every object before changing any, so a refusal leaves all of them as they were.
    let mut patches = Vec::new();
    for o in &objects {
        let patch = plan_patch(o, field, &edits, overwrite, |n| target.describe(n))?;
        patches.push((name_of(o).to_string(), patch));
    }
    let verb = if field == "labels" {
        "labeled"
    } else {
        "annotated"
    };
    for (name, patch) in patches {
        let shown = target.resolved.object_name(&name);
        match patch {
            None => env
                .progress
                .line(&format!("{shown} not {verb} (no change)")),
            Some(p) => {
                if env.dry_run {
                    env.progress
                        .line(&format!("{shown} would be {verb} ({})", target.place()));
                } else {
                    target.merge_patch(&name, &p).await.map_err(fail)?;
                    env.progress
                        .line(&format!("{shown} {verb} ({})", target.place()));
                }
            }
        }
    }
    Ok(Outputs::new())
}

/// Runs a `kube.label` step.
pub async fn label(
    clients: &Clients,
    spec: &KubeLabel,
    _outputs: &IndexMap<String, OutputSpec>,
    env: &StepEnv,
) -> Result<Outputs, MetaError> {
    edit(
        clients,
        spec.context.as_deref(),
        spec.namespace.as_deref(),
        &spec.resource,
        spec.name.as_deref(),
        spec.selector.as_deref(),
        "labels",
        &spec.labels,
        spec.overwrite,
        env,
    )
    .await
}

/// Runs a `kube.annotate` step.
pub async fn annotate(
    clients: &Clients,
    spec: &KubeAnnotate,
    _outputs: &IndexMap<String, OutputSpec>,
    env: &StepEnv,
) -> Result<Outputs, MetaError> {
    edit(
        clients,
        spec.context.as_deref(),
        spec.namespace.as_deref(),
        &spec.resource,
        spec.name.as_deref(),
        spec.selector.as_deref(),
        "annotations",
        &spec.annotations,
        spec.overwrite,
        env,
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn edits_parse_like_kubectl() {
        let edits = parse_edits(&["istio-injection=enabled".into(), "old-".into()]).unwrap();
        assert_eq!(
            edits,
            [
                Edit::Set("istio-injection".into(), "enabled".into()),
                Edit::Remove("old".into())
            ]
        );
        assert!(parse_edits(&["bare".into()]).is_err());
        assert!(parse_edits(&["=x".into()]).is_err());
    }

    #[test]
    fn overwrite_is_needed_to_change_a_value() {
        let ns = json!({"metadata": {"name": "demo", "labels": {"istio-injection": "disabled", "old": "1"}}});
        let set = parse_edits(&["istio-injection=enabled".into()]).unwrap();
        let err = plan_patch(&ns, "labels", &set, false, |n| format!("namespace/{n}")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "namespace/demo: 'istio-injection' already has a value (disabled), and overwrite is false"
        );
        let patch = plan_patch(&ns, "labels", &set, true, |n| n.to_string()).unwrap();
        assert_eq!(
            patch,
            Some(json!({"metadata": {"labels": {"istio-injection": "enabled"}}}))
        );
        let remove = parse_edits(&["old-".into(), "absent-".into()]).unwrap();
        assert_eq!(
            plan_patch(&ns, "labels", &remove, false, |n| n.to_string()).unwrap(),
            Some(json!({"metadata": {"labels": {"old": null}}}))
        );
        let same = parse_edits(&["old=1".into()]).unwrap();
        assert_eq!(
            plan_patch(&ns, "labels", &same, false, |n| n.to_string()).unwrap(),
            None
        );
    }
}
