//! The dry-run plan: every step in dependency order, grouped in layers, with each field rendered
//! where its values are known and `⟨NAME from STEP⟩` where only a run can know them.

use std::fmt::Write as _;

use serde::Serialize;

use crate::model::{SandboxStandIn, Until, ValueType};
use crate::params::ParamValues;
use crate::render::render_value;
use crate::template::Renderer;
use crate::validate::Validated;

/// The plan of a run, in the order the steps can run.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The runbook's name.
    pub runbook: String,
    /// The runbook's title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Param values (secret ones masked).
    pub params: indexmap::IndexMap<String, String>,
    /// Number of layers: steps of one layer can run side by side.
    pub layers: usize,
    /// Every step, in topological order.
    pub steps: Vec<PlannedStep>,
    /// The cleanup steps `meshbook cleanup` would run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub finally: Vec<PlannedStep>,
}

/// One step of the plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedStep {
    /// The step id.
    pub id: String,
    /// The step kind key.
    pub kind: String,
    /// The step's title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The layer, from 1.
    pub layer: usize,
    /// Every step this one waits for: `needs` and the producers of the outputs it uses.
    pub needs: Vec<String>,
    /// The kind's fields, rendered.
    pub fields: serde_json::Value,
    /// What the step produces.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<PlannedOutput>,
    /// Retry and wait policies in words (`3 attempts, backoff 1s..30s`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// What a sandbox rehearsal does instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxStandIn>,
}

/// A declared output in the plan.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedOutput {
    /// The output name.
    pub name: String,
    /// Its type.
    #[serde(rename = "type")]
    pub ty: ValueType,
    /// Whether its value is secret.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

/// The text a plan shows in place of a value only a run can know.
pub fn placeholder(output: &str, producer: &str) -> String {
    format!("⟨{output} from {producer}⟩")
}

/// The text shown in place of a secret value.
pub fn masked(name: &str) -> String {
    format!("⟨secret {name}⟩")
}

/// Builds the plan of `validated` with `params` (missing params show as `⟨NAME⟩`).
pub fn plan(validated: &Validated, params: &ParamValues) -> Plan {
    let rb = &validated.runbook;
    let mut data = serde_json::Map::new();
    let mut shown_params = indexmap::IndexMap::new();
    for (name, spec) in &rb.params {
        let value = match params.get(name) {
            Some(_) if spec.secret => masked(name),
            Some(v) => v.clone(),
            None => format!("⟨{name}⟩"),
        };
        shown_params.insert(name.clone(), value.clone());
        data.insert(name.clone(), value.into());
    }
    for (name, &i) in &validated.producers {
        data.insert(name.clone(), placeholder(name, &rb.steps[i].id).into());
    }
    for step in &rb.finally {
        for name in step.outputs.keys() {
            data.insert(name.clone(), placeholder(name, &step.id).into());
        }
    }
    let data = serde_json::Value::Object(data);
    let renderer = Renderer::new();
    let planned = |steps: &[crate::model::Step], graph: &crate::graph::Graph| -> Vec<PlannedStep> {
        graph
            .order()
            .iter()
            .map(|&i| {
                let step = &steps[i];
                let raw = serde_json::to_value(&step.action).unwrap_or_default();
                let fields = raw
                    .as_object()
                    .and_then(|m| m.values().next())
                    .cloned()
                    .unwrap_or_default();
                PlannedStep {
                    id: step.id.clone(),
                    kind: step.action.kind().to_string(),
                    title: step.title.clone(),
                    layer: graph.layer(i) + 1,
                    needs: graph.deps(i).iter().map(|&d| steps[d].id.clone()).collect(),
                    fields: with_shell_values(
                        step,
                        render_lenient(&renderer, &fields, &data),
                        &data,
                    ),
                    outputs: step
                        .outputs
                        .iter()
                        .map(|(n, o)| PlannedOutput {
                            name: n.clone(),
                            ty: o.ty,
                            secret: o.secret,
                        })
                        .collect(),
                    policies: policies(step, &rb.defaults),
                    sandbox: step.sandbox.clone(),
                }
            })
            .collect()
    };
    Plan {
        runbook: rb.metadata.name.clone(),
        title: rb.metadata.title.clone(),
        params: shown_params,
        layers: validated.graph.layers().len(),
        steps: planned(&rb.steps, &validated.graph),
        finally: planned(&rb.finally, &validated.finally_graph),
    }
}

/// Shows a script with the values its `$NAME`s will have, so a plan reads like what runs.
fn with_shell_values(
    step: &crate::model::Step,
    mut fields: serde_json::Value,
    data: &serde_json::Value,
) -> serde_json::Value {
    if matches!(step.action, crate::model::Action::Shell(_))
        && let Some(serde_json::Value::String(script)) = fields.get_mut("script")
    {
        *script = crate::shellvars::substitute(script, |name| {
            data.get(name).and_then(|v| v.as_str()).map(str::to_string)
        });
    }
    fields
}

/// Renders each string on its own, keeping a string's template text when it cannot render yet
/// (a helper such as `b64dec` applied to a placeholder).
fn render_lenient(
    renderer: &Renderer,
    value: &serde_json::Value,
    data: &serde_json::Value,
) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::String(_) => render_value(renderer, value, data).unwrap_or_else(|_| value.clone()),
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| render_lenient(renderer, v, data))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), render_lenient(renderer, v, data)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn policies(step: &crate::model::Step, defaults: &crate::model::Defaults) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(t) = step.timeout.or(defaults.timeout) {
        out.push(format!("timeout {t}"));
    }
    if let Some(r) = step.retry_policy(defaults)
        && r.attempts > 1
    {
        out.push(format!(
            "{} attempts, backoff {}..{}",
            r.attempts, r.backoff.initial, r.backoff.max
        ));
    }
    if let Some(w) = &step.wait {
        let until = match &w.until {
            Until::NonEmpty => "nonempty".to_string(),
            Until::Equals(x) => format!("equals {x:?}"),
            Until::Matches(x) => format!("matches /{x}/"),
        };
        out.push(format!(
            "wait until {until}, every {}, up to {}",
            w.interval, w.timeout
        ));
    }
    out
}

impl Plan {
    /// The plan as text for people: layer by layer, fields as YAML.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let title = self
            .title
            .as_deref()
            .map(|t| format!(" — {t}"))
            .unwrap_or_default();
        let _ = writeln!(out, "Plan for {}{title}", self.runbook);
        let _ = writeln!(out, "{} steps in {} layers", self.steps.len(), self.layers);
        if !self.params.is_empty() {
            let _ = writeln!(out, "params:");
            for (k, v) in &self.params {
                let _ = writeln!(out, "  {k} = {v}");
            }
        }
        let mut layer = 0;
        for step in &self.steps {
            if step.layer != layer {
                layer = step.layer;
                let _ = writeln!(out, "\nlayer {layer}");
            }
            write_step(&mut out, step);
        }
        if !self.finally.is_empty() {
            let _ = writeln!(out, "\nfinally (run by `meshbook cleanup`)");
            for step in &self.finally {
                write_step(&mut out, step);
            }
        }
        out
    }
}

fn write_step(out: &mut String, step: &PlannedStep) {
    let title = step
        .title
        .as_deref()
        .map(|t| format!(" — {t}"))
        .unwrap_or_default();
    let _ = writeln!(out, "  ● {} [{}]{title}", step.id, step.kind);
    if !step.needs.is_empty() {
        let _ = writeln!(out, "      needs: {}", step.needs.join(", "));
    }
    let yaml = serde_yaml::to_string(&step.fields).unwrap_or_default();
    for line in yaml.lines() {
        let _ = writeln!(out, "      {line}");
    }
    if !step.outputs.is_empty() {
        let outs: Vec<String> = step
            .outputs
            .iter()
            .map(|o| {
                format!(
                    "{} ({}{})",
                    o.name,
                    o.ty,
                    if o.secret { ", secret" } else { "" }
                )
            })
            .collect();
        let _ = writeln!(out, "      → outputs: {}", outs.join(", "));
    }
    for p in &step.policies {
        let _ = writeln!(out, "      ↻ {p}");
    }
    if let Some(sb) = &step.sandbox {
        if let Some(f) = &sb.apply {
            let _ = writeln!(out, "      ⧉ sandbox: applies {f} instead");
        }
        if let Some(r) = &sb.skip {
            let _ = writeln!(out, "      ⧉ sandbox: skipped ({r})");
        }
    }
}

/// The graph as Graphviz dot or Mermaid text.
pub fn graph_text(validated: &Validated, format: GraphFormat) -> String {
    let steps = &validated.runbook.steps;
    let mut out = String::new();
    let label = |i: usize| format!("{}\\n{}", steps[i].id, steps[i].action.kind());
    match format {
        GraphFormat::Dot => {
            let _ = writeln!(out, "digraph \"{}\" {{", validated.runbook.metadata.name);
            let _ = writeln!(out, "  rankdir=LR;\n  node [shape=box];");
            for &i in validated.graph.order() {
                let _ = writeln!(out, "  \"{}\" [label=\"{}\"];", steps[i].id, label(i));
            }
            for &i in validated.graph.order() {
                for &d in validated.graph.deps(i) {
                    let _ = writeln!(out, "  \"{}\" -> \"{}\";", steps[d].id, steps[i].id);
                }
            }
            out.push_str("}\n");
        }
        GraphFormat::Mermaid => {
            out.push_str("flowchart LR\n");
            let node = |i: usize| format!("s{i}");
            for &i in validated.graph.order() {
                let _ = writeln!(
                    out,
                    "  {}[\"{}<br/><small>{}</small>\"]",
                    node(i),
                    steps[i].id,
                    steps[i].action.kind()
                );
            }
            for &i in validated.graph.order() {
                for &d in validated.graph.deps(i) {
                    let _ = writeln!(out, "  {} --> {}", node(d), node(i));
                }
            }
        }
    }
    out
}

/// Output formats of `meshbook graph`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GraphFormat {
    /// Graphviz.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}
