//! `meshbook validate`, `plan`, `graph` and `schema`: everything that needs no cluster (but
//! `plan --server-dry-run`, which asks the clusters without changing them).

use meshbook_engine::plan::{self, GraphFormat};

use crate::args::{GraphFormatArg, OutputFormat, ServerDryRun};
use crate::dry_run;
use crate::failure::{CmdResult, Failure};
use crate::prepare::{RunbookArgs, prepare};

/// Checks a runbook (and its params when given) and says so.
pub(crate) fn validate(args: &RunbookArgs) -> CmdResult {
    let p = prepare(args, false)?;
    let rb = &p.validated.runbook;
    outln!(
        "ok: {} is valid ({} steps in {} layers, {} finally, {} params)",
        p.source.display,
        rb.steps.len(),
        p.validated.graph.layers().len(),
        rb.finally.len(),
        rb.params.len()
    );
    Ok(())
}

/// Prints the dry-run plan, and with `--server-dry-run` what each cluster would do with it.
pub(crate) fn plan(args: &RunbookArgs, output: OutputFormat, server: &ServerDryRun) -> CmdResult {
    let p = prepare(args, true)?;
    let plan = plan::plan(&p.validated, &p.params);
    let workdir = match &server.workdir {
        Some(w) => w.clone(),
        None => std::env::current_dir()?,
    };
    let linted = server
        .kube_version
        .map(|v| crate::lint::lint(&plan, &p.source, &workdir, v));
    let checked = if server.server_dry_run {
        Some(dry_run::ask_clusters(
            &plan,
            server.kubeconfig.as_deref(),
            &workdir,
        )?)
    } else {
        None
    };
    match output {
        OutputFormat::Text => {
            out!("{}", plan.to_text());
            if let Some(c) = &checked {
                out!("{}", dry_run::to_text(c));
            }
            if let Some(l) = &linted {
                out!("{}", l.to_text());
            }
        }
        OutputFormat::Json => {
            let value = match (&checked, &linted) {
                (None, None) => serde_json::to_value(&plan),
                (c, l) => serde_json::to_value(
                    serde_json::json!({ "plan": plan, "server_dry_run": c, "api_versions": l }),
                ),
            };
            let json = value.and_then(|v| serde_json::to_string_pretty(&v))?;
            outln!("{json}");
        }
    }
    let rejected: Vec<&str> = checked
        .iter()
        .flatten()
        .filter(|c| c.verdict == "rejected")
        .map(|c| c.step.as_str())
        .collect();
    if let Some(l) = linted.as_ref().filter(|l| !l.refused.is_empty()) {
        return Err(Failure::StepFailed(format!(
            "Kubernetes {} would refuse {} object(s) of the runbook's manifests\n",
            l.kube_version,
            l.refused.len()
        )));
    }
    if rejected.is_empty() {
        Ok(())
    } else {
        Err(Failure::StepFailed(format!(
            "server dry run: rejected by the cluster: {}\n",
            rejected.join(", ")
        )))
    }
}

/// Prints the DAG.
pub(crate) fn graph(args: &RunbookArgs, format: GraphFormatArg) -> CmdResult {
    let p = prepare(args, false)?;
    let format = match format {
        GraphFormatArg::Dot => GraphFormat::Dot,
        GraphFormatArg::Mermaid => GraphFormat::Mermaid,
    };
    out!("{}", plan::graph_text(&p.validated, format));
    Ok(())
}

/// Prints the JSON Schema of the runbook format.
pub(crate) fn schema() -> CmdResult {
    let schema = meshbook_engine::schema::runbook_schema();
    outln!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(())
}
