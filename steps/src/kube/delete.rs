//! `kube.delete`: delete objects by name or selector and (by default) wait until they are gone.

use std::time::Duration;

use indexmap::IndexMap;
use meshbook_engine::model::{KubeDelete, OutputSpec, Rendered, WaitFor};

use super::client::Clients;
use super::error::KubeError;
use super::objects::{Selection, Target, name_of};
use super::wait::judge;
use super::watch::watch_until;
use super::{Outputs, StepEnv};

/// How long a delete waits for its objects to go.
pub(crate) const GONE_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs a `kube.delete` step.
pub(crate) async fn run(
    clients: &Clients,
    spec: &KubeDelete<Rendered>,
    _outputs: &IndexMap<String, OutputSpec>,
    env: &StepEnv,
) -> Result<Outputs, KubeError> {
    let (target, selection) = Target::of_view(clients, spec.objects.view(), None).await?;
    let what = target.describe_selection(&selection);
    let fail = |e: kube::Error| KubeError::api(format!("delete {what}"), e.into());
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
            return Err(KubeError::NotFound(what));
        }
    }
    if deleted == 0 {
        env.progress.line(&format!("nothing to delete: no {what}"));
    }
    if spec.wait && deleted > 0 {
        // Only the objects deleted here: a controller may already have made replacements.
        watch_until(
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
                judge(&WaitFor::Deleted, &ours, 0)
            },
        )
        .await?;
    }
    Ok(Outputs::new())
}
