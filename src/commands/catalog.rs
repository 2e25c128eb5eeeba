//! `meshbook list` and `meshbook show`: what runbooks exist and what one of them holds.

use std::fmt::Write as _;

use meshbook_engine::model::{Instead, Step};
use meshbook_engine::validate::Validated;
use serde_json::{Value, json};

use crate::failure::CmdResult;
use crate::output::{OutputArg, print_json};
use crate::prepare::{RunbookArgs, validate_source};
use crate::source;

/// Prints every runbook a name can reach: name, title, source, location.
pub(crate) fn list(output: OutputArg) -> CmdResult {
    let listed = source::list();
    if output.json() {
        let runbooks: Vec<Value> = listed
            .iter()
            .map(|l| {
                let meta = meshbook_engine::load::load(&l.text)
                    .ok()
                    .map(|x| x.runbook.metadata);
                json!({
                    "name": l.name,
                    "title": meta.as_ref().and_then(|m| m.title.clone()),
                    "source": meta.as_ref().and_then(|m| m.source.clone()),
                    "location": l.location,
                    "readable": meta.is_some(),
                })
            })
            .collect();
        return print_json(&json!({ "runbooks": runbooks }));
    }
    if listed.is_empty() {
        outln!("no runbooks found (built-in, ./runbooks, $MESHBOOK_PATH)");
        return Ok(());
    }
    let width = listed.iter().map(|l| l.name.len()).max().unwrap_or(0);
    for l in listed {
        let meta = meshbook_engine::load::load(&l.text)
            .ok()
            .map(|x| x.runbook.metadata);
        let title = meta
            .as_ref()
            .and_then(|m| m.title.clone())
            .unwrap_or_else(|| "(unreadable runbook)".into());
        outln!("{:width$}  {title}", l.name);
        if let Some(src) = meta.as_ref().and_then(|m| m.source.clone()) {
            outln!("{:width$}  source: {src}", "");
        }
        if l.location != "built-in" {
            outln!("{:width$}  in {}", "", l.location);
        }
    }
    Ok(())
}

/// Prints a runbook's params, steps and outputs.
pub(crate) fn show(args: &RunbookArgs, output: OutputArg) -> CmdResult {
    let source = source::resolve(&args.runbook)
        .map_err(|e| crate::failure::Failure::Invalid(format!("{e:#}")))?;
    let v = validate_source(&source)?;
    if output.json() {
        return print_json(&show_json(&v));
    }
    let rb = &v.runbook;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}{}",
        rb.metadata.name,
        rb.metadata
            .title
            .as_deref()
            .map(|t| format!(" — {t}"))
            .unwrap_or_default()
    );
    if let Some(s) = &rb.metadata.source {
        let _ = writeln!(out, "source: {s}");
    }
    if let Some(d) = &rb.metadata.description {
        let _ = writeln!(out, "\n{}", d.trim_end());
    }
    let _ = writeln!(out, "\nparams:");
    for (name, p) in &rb.params {
        let default = match (&p.default, p.secret) {
            (Some(_), true) => " = ⟨secret⟩".to_string(),
            (Some(d), false) => format!(" = {}", d.0),
            (None, _) => " (required)".into(),
        };
        let desc = p
            .description
            .as_deref()
            .map(|d| format!("  {d}"))
            .unwrap_or_default();
        let _ = writeln!(out, "  {name}: {}{default}{desc}", p.ty);
    }
    let _ = writeln!(
        out,
        "\nsteps ({} in {} layers):",
        rb.steps.len(),
        v.graph.layers().len()
    );
    for &i in v.graph.order() {
        let s = &rb.steps[i];
        let outs: Vec<&str> = s.outputs.keys().map(String::as_str).collect();
        let outs = if outs.is_empty() {
            String::new()
        } else {
            format!(" → {}", outs.join(", "))
        };
        let stand_in = match s.sandbox.as_ref().map(|sb| &sb.instead) {
            Some(Instead::Apply { file, .. }) => format!("  [sandbox: {file}]"),
            Some(Instead::Skip(_)) => "  [sandbox: skip]".into(),
            None => String::new(),
        };
        let _ = writeln!(
            out,
            "  {:<3} {} ({}){outs}{stand_in}",
            v.graph.layer(i) + 1,
            s.id,
            s.action.kind()
        );
    }
    if !rb.finally.is_empty() {
        let _ = writeln!(out, "\nfinally (meshbook cleanup):");
        for s in &rb.finally {
            let _ = writeln!(out, "  {} ({})", s.id, s.action.kind());
        }
    }
    out!("{out}");
    Ok(())
}

/// `show -o json`: the runbook's metadata, params (secret defaults withheld), steps in plan
/// order with their layer, dependencies, outputs and stand-in, and the `finally` steps.
fn show_json(v: &Validated) -> Value {
    let rb = &v.runbook;
    let params: Vec<Value> = rb
        .params
        .iter()
        .map(|(name, p)| {
            json!({
                "name": name,
                "type": p.ty.to_string(),
                "required": p.default.is_none(),
                "default": if p.secret { None } else { p.default.as_ref().map(|d| d.0.clone()) },
                "secret": p.secret,
                "description": p.description,
            })
        })
        .collect();
    let step = |s: &Step| {
        let outputs: Vec<Value> = s
            .outputs
            .iter()
            .map(|(name, o)| json!({"name": name, "type": o.ty.to_string(), "secret": o.secret}))
            .collect();
        let sandbox = match s.sandbox.as_ref().map(|sb| &sb.instead) {
            Some(Instead::Apply { file, context }) => json!({"apply": file, "context": context}),
            Some(Instead::Skip(reason)) => json!({"skip": reason}),
            None => Value::Null,
        };
        json!({
            "id": s.id,
            "kind": s.action.kind(),
            "title": s.title,
            "outputs": outputs,
            "sandbox": sandbox,
        })
    };
    let steps: Vec<Value> = v
        .graph
        .order()
        .iter()
        .map(|&i| {
            let mut s = step(&rb.steps[i]);
            s["layer"] = (v.graph.layer(i) + 1).into();
            s["needs"] = v
                .graph
                .deps(i)
                .iter()
                .map(|&d| Value::from(rb.steps[d].id.clone()))
                .collect();
            s
        })
        .collect();
    json!({
        "name": rb.metadata.name,
        "title": rb.metadata.title,
        "source": rb.metadata.source,
        "description": rb.metadata.description,
        "params": params,
        "layers": v.graph.layers().len(),
        "steps": steps,
        "finally": rb.finally.iter().map(step).collect::<Vec<_>>(),
    })
}
