//! `meshbook plan --server-dry-run`: each cluster validates the kube steps whose inputs are
//! known (`dryRun=All`) and says what it would create or change; nothing is changed.

use std::path::Path;

use meshbook_engine::model::Action;
use meshbook_engine::plan::Plan;
use meshbook_steps::kube::client::Clients;
use meshbook_steps::kube::executor::dispatch;
use meshbook_steps::kube::{Progress, StepEnv};
use serde::Serialize;

/// What the server said about one step.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    /// The step id.
    pub step: String,
    /// `accepted`, `rejected`, or `not checked`.
    pub verdict: &'static str,
    /// What the server would do, object by object, or why the step was not checked.
    pub detail: Vec<String>,
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
pub fn check(
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
        let fields = step.fields.to_string();
        if let Some(start) = fields.find('⟨') {
            let rest = &fields[start..];
            let end = rest.find('⟩').map_or(rest.len(), |e| e + '⟩'.len_utf8());
            out.push(not_checked(format!(
                "needs {}, known only during a run",
                &rest[..end]
            )));
            continue;
        }
        let action: Action =
            serde_json::from_value(serde_json::json!({ step.kind.clone(): step.fields.clone() }))?;
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        let env = StepEnv {
            workdir: workdir.to_path_buf(),
            progress: Progress::to(move |l| {
                sink.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .push(l.to_string())
            }),
            dry_run: true,
        };
        let result = runtime.block_on(dispatch(&clients, &action, &Default::default(), &env));
        let mut detail = lines.lock().map(|l| l.clone()).unwrap_or_default();
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
pub fn to_text(results: &[Checked]) -> String {
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
