//! `kube.label` and `kube.annotate`: set (`key=value`) and remove (`key-`) labels or
//! annotations on objects chosen by name or selector, refusing to change a value without
//! `overwrite`, as kubectl does.

use indexmap::IndexMap;
use meshbook_engine::model::{Edit, MetaEdits, OutputSpec, Rendered};
use serde_json::{Map, Value};

use super::client::Clients;
use super::error::KubeError;
use super::objects::{Selection, Target, name_of};
use super::{Outputs, StepEnv};

/// What is edited: the metadata field and the verb for progress lines.
#[derive(Clone, Copy)]
pub(crate) enum Field {
    /// `metadata.labels`.
    Labels,
    /// `metadata.annotations`.
    Annotations,
}

impl Field {
    fn key(self) -> &'static str {
        match self {
            Field::Labels => "labels",
            Field::Annotations => "annotations",
        }
    }

    fn verb(self) -> &'static str {
        match self {
            Field::Labels => "labeled",
            Field::Annotations => "annotated",
        }
    }
}

/// The merge patch for `field`, or `None` when nothing changes.
fn plan_patch(
    object: &Value,
    field: Field,
    edits: &[Edit],
    overwrite: bool,
    describe: impl Fn(&str) -> String,
) -> Result<Option<Value>, KubeError> {
    let current = object["metadata"][field.key()].as_object();
    let mut changes = Map::new();
    for edit in edits {
        let now = current.and_then(|m| m.get(&edit.key));
        match (&edit.value, now.and_then(Value::as_str)) {
            (Some(v), Some(old)) if old == v => {}
            (Some(_), Some(old)) if !overwrite => {
                return Err(KubeError::WouldOverwrite {
                    object: describe(name_of(object)),
                    key: edit.key.clone(),
                    value: old.to_string(),
                });
            }
            (Some(v), _) => {
                changes.insert(edit.key.clone(), Value::String(v.clone()));
            }
            (None, _) if now.is_some() => {
                changes.insert(edit.key.clone(), Value::Null);
            }
            (None, _) => {}
        }
    }
    if changes.is_empty() {
        return Ok(None);
    }
    Ok(Some(
        serde_json::json!({"metadata": {field.key(): changes}}),
    ))
}

/// Runs a `kube.label` (with `Field::Labels`) or `kube.annotate` step.
pub(crate) async fn run(
    clients: &Clients,
    spec: &MetaEdits<Rendered>,
    field: Field,
    _outputs: &IndexMap<String, OutputSpec>,
    env: &StepEnv,
) -> Result<Outputs, KubeError> {
    let (target, selection) = Target::of_view(clients, spec.objects.view(), None).await?;
    let what = target.describe_selection(&selection);
    let fail = |e: kube::Error| KubeError::api(format!("change {what}"), e.into());
    let objects = match &selection {
        Selection::Name(n) => match target.get(n).await.map_err(fail)? {
            Some(o) => vec![o],
            None => return Err(KubeError::NotFound(what.clone())),
        },
        other => target.list(other).await.map_err(fail)?.0,
    };
    if objects.is_empty() {
        return Err(KubeError::NothingSelected(what));
    }
    // Check every object before changing any, so a refusal leaves all of them as they were.
    let mut patches = Vec::new();
    for o in &objects {
        let patch = plan_patch(o, field, &spec.edits, spec.overwrite, |n| {
            target.describe(n)
        })?;
        patches.push((name_of(o).to_string(), patch));
    }
    let verb = field.verb();
    for (name, patch) in patches {
        let shown = target.resolved.object_name(&name);
        match patch {
            None => env
                .progress
                .line(&format!("{shown} not {verb} (no change)")),
            Some(_) if env.dry_run => env
                .progress
                .line(&format!("{shown} would be {verb} ({})", target.place())),
            Some(p) => {
                target.merge_patch(&name, &p).await.map_err(fail)?;
                env.progress
                    .line(&format!("{shown} {verb} ({})", target.place()));
            }
        }
    }
    Ok(Outputs::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshbook_engine::model::Grammar;
    use serde_json::json;

    fn edits(texts: &[&str]) -> Vec<Edit> {
        texts.iter().map(|t| Edit::parse(t).unwrap()).collect()
    }

    #[test]
    fn overwrite_is_needed_to_change_a_value() {
        let ns = json!({"metadata": {"name": "demo", "labels": {"istio-injection": "disabled", "old": "1"}}});
        let set = edits(&["istio-injection=enabled"]);
        let labels = Field::Labels;
        let err = plan_patch(&ns, labels, &set, false, |n| format!("namespace/{n}")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "namespace/demo: 'istio-injection' already has a value (disabled), and overwrite is false"
        );
        let patch = plan_patch(&ns, labels, &set, true, |n| n.to_string()).unwrap();
        assert_eq!(
            patch,
            Some(json!({"metadata": {"labels": {"istio-injection": "enabled"}}}))
        );
        let remove = edits(&["old-", "absent-"]);
        assert_eq!(
            plan_patch(&ns, labels, &remove, false, |n| n.to_string()).unwrap(),
            Some(json!({"metadata": {"labels": {"old": null}}}))
        );
        let same = edits(&["old=1"]);
        assert_eq!(
            plan_patch(&ns, labels, &same, false, |n| n.to_string()).unwrap(),
            None
        );
    }
}
