//! Writing one object as `kubectl apply` would: server-side apply (field manager `meshbook`)
//! where the server has it, else client-side apply (last-applied annotation, three-way merge
//! patch or create). Servers before 1.16 answer an apply patch with 415 Unsupported Media Type;
//! the first such answer switches the cluster to client-side apply for the rest of the run.

use kube::api::{Patch, PatchParams, PostParams};
use kube::core::DynamicObject;
use meshbook_inspect::client_apply::{
    is_empty, last_applied, three_way_merge_patch, with_last_applied,
};
use serde_json::Value;

use super::objects::{Target, resource_version_of};
use super::request::retrying;

/// The field manager of every write meshbook makes.
pub(crate) const FIELD_MANAGER: &str = "meshbook";

/// What an apply did to one object, in kubectl's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Change {
    /// It did not exist.
    Created,
    /// It changed.
    Configured,
    /// It was already as the manifest says.
    Unchanged,
}

impl Change {
    /// `created`, `configured` or `unchanged`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Change::Created => "created",
            Change::Configured => "configured",
            Change::Unchanged => "unchanged",
        }
    }

    /// What became of an object that was `before` and is `after`.
    pub(crate) fn between(before: Option<&Value>, after: &Value) -> Change {
        match before {
            None => Change::Created,
            Some(b) if resource_version_of(b) == resource_version_of(after) => Change::Unchanged,
            Some(_) => Change::Configured,
        }
    }
}

/// How to write: take over fields other managers own (server-side only), and whether the server
/// only validates.
#[derive(Debug, Clone, Copy)]
pub(crate) struct ApplyMode {
    /// Take over conflicting fields (server-side apply's `force`).
    pub(crate) force: bool,
    /// Send `dryRun=All`.
    pub(crate) dry_run: bool,
}

/// Applies `object` (named `name`) to `target`, whose live state is `before`; returns the object
/// as the server holds it afterwards (`before` itself when nothing changes).
pub(crate) async fn apply_object(
    target: &Target,
    name: &str,
    object: &Value,
    before: Option<&Value>,
    mode: ApplyMode,
) -> Result<Value, kube::Error> {
    let api = target.api();
    if target.cluster.server_side_apply() {
        let mut params = PatchParams::apply(FIELD_MANAGER);
        params.force = mode.force;
        params.dry_run = mode.dry_run;
        let body = Patch::Apply(object);
        match retrying(|| api.patch(name, &params, &body)).await {
            Ok(after) => return Ok(target.to_value(after)),
            Err(kube::Error::Api(s)) if s.code == 415 => target.cluster.lacks_server_side_apply(),
            Err(e) => return Err(e),
        }
    }
    let modified = with_last_applied(object);
    match before {
        None => {
            let params = PostParams {
                dry_run: mode.dry_run,
                field_manager: Some(FIELD_MANAGER.to_string()),
            };
            let body: DynamicObject =
                serde_json::from_value(modified).map_err(kube::Error::SerdeError)?;
            let after = retrying(|| api.create(&params, &body)).await?;
            Ok(target.to_value(after))
        }
        Some(current) => {
            let patch = three_way_merge_patch(last_applied(current).as_ref(), &modified, current);
            if is_empty(&patch) {
                return Ok(current.clone());
            }
            let params = PatchParams {
                dry_run: mode.dry_run,
                field_manager: Some(FIELD_MANAGER.to_string()),
                ..PatchParams::default()
            };
            let body = Patch::Merge(&patch);
            let after = retrying(|| api.patch(name, &params, &body)).await?;
            Ok(target.to_value(after))
        }
    }
}
