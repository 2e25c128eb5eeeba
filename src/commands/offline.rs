//! `meshbook validate`, `plan`, `graph` and `schema`: everything that needs no cluster (but
//! `plan --server-dry-run`, which asks the clusters without changing them).

use std::mem::ManuallyDrop;

use meshbook_engine::diag::Finding;
use meshbook_engine::plan::{self, GraphFormat};
use serde_json::json;

use crate::args::{GraphFormatArg, OutputFormat, ServerDryRun};
use crate::dry_run;
use crate::failure::{CmdResult, Failure};
use crate::output::{OutputArg, print_json};
use crate::prepare::{RunbookArgs, prepare};

/// Checks a runbook (and its params when given) and says so.
pub(crate) fn validate(args: &RunbookArgs, output: OutputArg) -> CmdResult {
    if output.json() {
        return validate_json(args);
    }
    // Left to the process's exit, as in `plan`.
    let p = ManuallyDrop::new(prepare(args, false)?);
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

/// `validate -o json`: the verdict and every problem on stdout, exit 2 when there are any (the
/// problems are on stderr for people too). A problem that has no place in a file (no such
/// runbook, an unreadable params file) has a null file, line and column.
fn validate_json(args: &RunbookArgs) -> CmdResult {
    let (verdict, result) = match prepare(args, false) {
        Ok(p) => {
            let rb = &p.validated.runbook;
            let verdict = json!({
                "valid": true,
                "file": p.source.display,
                "runbook": rb.metadata.name,
                "steps": rb.steps.len(),
                "layers": p.validated.graph.layers().len(),
                "finally": rb.finally.len(),
                "params": rb.params.len(),
                "diagnostics": [],
            });
            (verdict, Ok(()))
        }
        Err(failure) => {
            let diagnostics = match &failure {
                Failure::Diagnostics(d) => serde_json::to_value(&d.findings)?,
                Failure::Invalid(message) => serde_json::to_value([Finding {
                    file: None,
                    line: None,
                    column: None,
                    message: message.clone(),
                    suggestion: None,
                }])?,
                _ => return Err(failure),
            };
            (
                json!({ "valid": false, "diagnostics": diagnostics }),
                Err(failure),
            )
        }
    };
    print_json(&verdict)?;
    result
}

/// Prints the dry-run plan, and with `--server-dry-run` what each cluster would do with it.
pub(crate) fn plan(args: &RunbookArgs, output: OutputFormat, server: &ServerDryRun) -> CmdResult {
    // Both are left to the process's exit: freeing thousands of steps one by one is time a
    // command that ends here does not need to spend.
    let p = ManuallyDrop::new(prepare(args, true)?);
    let plan = ManuallyDrop::new(plan::plan(&p.validated, &p.params));
    let workdir = match &server.workdir {
        Some(w) => w.clone(),
        None => std::env::current_dir()?,
    };
    let linted = server
        .kube_version
        .map(|v| crate::lint::lint(&plan, &p.source, &workdir, v, true));
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
        OutputFormat::Json => match (&checked, &linted) {
            (None, None) => print_json(&*plan)?,
            (c, l) => {
                print_json(&json!({ "plan": *plan, "server_dry_run": c, "api_versions": l }))?
            }
        },
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

/// Prints the DAG; `-o json` as `{runbook, nodes: [{id, kind, layer}], edges: [{from, to}]}`.
pub(crate) fn graph(args: &RunbookArgs, format: GraphFormatArg, output: OutputArg) -> CmdResult {
    let p = prepare(args, false)?;
    if output.json() {
        let v = &p.validated;
        let steps = &v.runbook.steps;
        let order = v.graph.order();
        let nodes: Vec<_> = order
            .iter()
            .map(|&i| json!({"id": steps[i].id, "kind": steps[i].action.kind(), "layer": v.graph.layer(i) + 1}))
            .collect();
        let edges: Vec<_> = order
            .iter()
            .flat_map(|&i| {
                v.graph
                    .deps(i)
                    .iter()
                    .map(move |&d| json!({"from": steps[d].id, "to": steps[i].id}))
            })
            .collect();
        return print_json(&json!({
            "runbook": v.runbook.metadata.name,
            "nodes": nodes,
            "edges": edges,
        }));
    }
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
