//! `meshbook plan --server-dry-run`: each cluster validates the kube steps whose inputs are
//! known (`dryRun=All`) and says what it would create or change; nothing is changed.

use std::path::Path;

use meshbook_engine::plan::{NotRendered, Plan};
use meshbook_steps::kube::Clients;
use meshbook_steps::kube::server_dry_run;
use serde::Serialize;

/// What the server said about one step.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Checked {
    /// The step id.
    pub(crate) step: String,
    /// `accepted`, `rejected`, or `not checked`.
    pub(crate) verdict: &'static str,
    /// What the server would do, object by object, or why the step was not checked.
    pub(crate) detail: Vec<String>,
}

/// Kinds that write, and so can be dry-run.
const WRITES: [&str; 6] = [
    "kube.apply",
    "kube.secret",
    "kube.label",
    "kube.annotate",
    "kube.patch",
    "kube.delete",
];

/// Sends every writing kube step with known inputs to its cluster as a dry run.
pub(crate) fn ask_clusters(
    plan: &Plan,
    kubeconfig: Option<&Path>,
    workdir: &Path,
) -> anyhow::Result<Vec<Checked>> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let clients = Clients::deferred(kubeconfig);
    let mut out = Vec::new();
    for step in &plan.steps {
        let not_checked = |why: String| Checked {
            step: step.id.clone(),
            verdict: "not checked",
            detail: vec![why],
        };
        if !WRITES.contains(&step.kind.as_str()) {
            let why = if step.kind == "shell" {
                "shell steps are not sent to a cluster"
            } else {
                "reads only"
            };
            out.push(not_checked(why.to_string()));
            continue;
        }
        let action = match &step.rendered {
            Ok(action) => action,
            Err(NotRendered::Unknown(unknown)) => {
                out.push(not_checked(format!(
                    "needs {unknown}, known only during a run"
                )));
                continue;
            }
            Err(NotRendered::Invalid(why)) => {
                out.push(not_checked(format!("cannot be rendered: {why}")));
                continue;
            }
        };
        let (mut detail, result) = runtime.block_on(server_dry_run(&clients, action, workdir));
        let verdict = match result {
            Ok(_) => "accepted",
            Err(e) => {
                detail.push(e.to_string());
                "rejected"
            }
        };
        out.push(Checked {
            step: step.id.clone(),
            verdict,
            detail,
        });
    }
    Ok(out)
}

/// The results as text for people.
pub(crate) fn to_text(results: &[Checked]) -> String {
    let mut out = String::from("\nserver dry run (dryRun=All; nothing was changed)\n");
    for r in results {
        let mark = match r.verdict {
            "accepted" => "✓",
            "rejected" => "✗",
            _ => "·",
        };
        out.push_str(&format!("  {mark} {} — {}\n", r.step, r.verdict));
        for d in &r.detail {
            out.push_str(&format!("      {d}\n"));
        }
    }
    out
}
