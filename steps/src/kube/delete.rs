//! `kube.delete`: delete objects by name or selector and (by default) wait until they are gone.

use std::time::Duration;

use indexmap::IndexMap;
use meshbook_engine::model::{KubeDelete, OutputSpec};

use super::client::{ClientError, Clients};
use super::objects::{Selection, Target, name_of};
use super::request::ApiFailure;
use super::resolve::ResolveError;
use super::wait::{Goal, WaitError, until};
use super::{Outputs, StepEnv};

/// How long a delete waits for its objects to go.
pub const GONE_TIMEOUT: Duration = Duration::from_secs(300);

/// Why a delete failed.
#[derive(Debug, thiserror::Error)]
pub enum DeleteError {
    /// The named object does not exist and `ignore_not_found` is off.
    #[error("{0} not found")]
    NotFound(String),
    /// The cluster could not be reached.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The resource type is unknown.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// A delete was refused.
    #[error("cannot delete {what}")]
    Api {
        /// The objects.
        what: String,
        /// The failed request.
        #[source]
        source: ApiFailure,
    },
    /// The objects did not go away.
    #[error(transparent)]
    Wait(#[from] WaitError),
}

/// Runs a `kube.delete` step.
pub async fn run(
    clients: &Clients,
    spec: &KubeDelete,
    _outputs: &IndexMap<String, OutputSpec>,
    env: &StepEnv,
) -> Result<Outputs, DeleteError> {
    let cluster = clients.cluster(spec.context.as_deref()).await?;
    let target = Target::new(&cluster, &spec.resource, spec.namespace.as_deref()).await?;
    let selection = Selection::from_fields(spec.name.as_deref(), spec.selector.as_deref());
    let what = target.describe_selection(&selection);
    let fail = |e: kube::Error| DeleteError::Api {
        what: what.clone(),
        source: e.into(),
    };
    let names: Vec<String> = match &selection {
        Selection::Name(n) => vec![n.clone()],
        other => target
            .list(other)
            .await
            .map_err(fail)?
            .0
            .iter()
            .map(|o| name_of(o).to_string())
            .collect(),
    };
    if env.dry_run {
        for n in &names {
            env.progress.line(&format!(
                "{} would be deleted",
                target.resolved.object_name(n)
            ));
        }
        return Ok(Outputs::new());
    }
    let mut deleted = 0;
    for n in &names {
        if target.delete(n).await.map_err(fail)? {
            deleted += 1;
            env.progress.line(&format!(
                "{} deleted ({})",
                target.resolved.object_name(n),
                target.place()
            ));
        } else if matches!(selection, Selection::Name(_)) && !spec.ignore_not_found {
            return Err(DeleteError::NotFound(what));
        }
    }
    if deleted == 0 {
        env.progress.line(&format!("nothing to delete: no {what}"));
    }
    if spec.wait && deleted > 0 {
        let goal = Goal::Deleted;
        // Only the objects deleted here: a controller may already have made replacements.
        until(
            &target,
            &selection,
            GONE_TIMEOUT,
            &env.progress,
            |objects| {
                let ours: Vec<_> = objects
                    .iter()
                    .copied()
                    .filter(|o| names.iter().any(|n| n == name_of(o)))
                    .collect();
                goal.judge(&ours, 0)
            },
        )
        .await?;
    }
    Ok(Outputs::new())
}
