//! The dry-run plan: every step in dependency order, grouped in layers, with each field rendered
//! where its values are known and `⟨NAME from STEP⟩` where only a run can know them.

use std::fmt::Write as _;

use serde::Serialize;

use crate::model::{Action, Command, Instead, Rendered, SandboxStandIn, Step, Until, ValueType};
use crate::render::{Lenient, Render};
use crate::template::Renderer;
use crate::validate::{List, Validated};
use crate::values::Values;

/// The plan of a run, in the order the steps can run.
#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    /// The runbook's name.
    pub runbook: String,
    /// The runbook's title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// What the runbook needs: Kubernetes and tool version ranges.
    #[serde(skip_serializing_if = "crate::model::Requires::is_empty")]
    pub requires: crate::model::Requires,
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
    /// The kind's fields, rendered where their values are known.
    #[serde(serialize_with = "kind_body")]
    pub fields: Action,
    /// What the step produces.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub outputs: Vec<PlannedOutput>,
    /// Retry and wait policies in words (`3 attempts, backoff 1s..30s`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policies: Vec<String>,
    /// What a sandbox rehearsal does instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxStandIn>,
    /// The action as a run would render it: what a server-side dry run sends.
    #[serde(skip)]
    pub rendered: Result<Action<Rendered>, NotRendered>,
}

/// Why a planned step has no rendered action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotRendered {
    /// It uses a value only a run can know; this is how the plan shows it (`⟨X from s⟩`).
    Unknown(String),
    /// Its templates do not render, or what they render to does not parse.
    Invalid(String),
}

fn kind_body<S: serde::Serializer>(action: &Action, s: S) -> Result<S::Ok, S::Error> {
    action.body().serialize(s)
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
pub(crate) fn placeholder(output: &str, producer: &str) -> String {
    format!("⟨{output} from {producer}⟩")
}

/// The text shown in place of a secret value.
pub fn masked(name: &str) -> String {
    format!("⟨secret {name}⟩")
}

/// Builds the plan of `validated` with `params` (missing params show as `⟨NAME⟩`).
pub fn plan(validated: &Validated, params: &Values) -> Plan {
    let rb = &validated.runbook;
    let mut data = serde_json::Map::new();
    let mut unknown = std::collections::HashSet::new();
    let mut shown_params = indexmap::IndexMap::new();
    for (name, spec) in &rb.params {
        let value = match params.get(name) {
            Some(v) if !spec.secret => v.to_string(),
            Some(_) => masked(name),
            None => format!("⟨{name}⟩"),
        };
        if spec.secret || !params.contains(name) {
            unknown.insert(name.as_str());
        }
        shown_params.insert(name.clone(), value.clone());
        data.insert(name.clone(), value.into());
    }
    for (name, &i) in &validated.producers {
        data.insert(name.clone(), placeholder(name, &rb.steps[i].id).into());
        unknown.insert(name);
    }
    for step in &rb.finally {
        for name in step.outputs.keys() {
            data.insert(name.clone(), placeholder(name, &step.id).into());
            unknown.insert(name);
        }
    }
    let data = serde_json::Value::Object(data);
    let renderer = Renderer::new();
    let planned = |list: List| -> Vec<PlannedStep> {
        let list = validated.list(list);
        list.graph
            .order()
            .iter()
            .map(|&i| {
                let step = &list.steps[i];
                let mut lenient = Lenient {
                    renderer: &renderer,
                    data: &data,
                };
                let Ok(fields) = step.action.fold(&mut lenient);
                let rendered = match list.uses[i].iter().find(|n| unknown.contains(n.as_str())) {
                    Some(name) => Err(NotRendered::Unknown(
                        data[name].as_str().unwrap_or(name).to_string(),
                    )),
                    None => Render::new(&renderer, &data)
                        .action(&step.action)
                        .map_err(|e| NotRendered::Invalid(e.to_string())),
                };
                PlannedStep {
                    id: step.id.clone(),
                    kind: step.action.kind().to_string(),
                    title: step.title.clone(),
                    layer: list.graph.layer(i) + 1,
                    needs: list
                        .graph
                        .deps(i)
                        .iter()
                        .map(|&d| list.steps[d].id.clone())
                        .collect(),
                    fields: with_shell_values(fields, &data),
                    outputs: step
                        .outputs
                        .iter()
                        .map(|(n, o)| PlannedOutput {
                            name: n.clone(),
                            ty: o.ty,
                            secret: o.secret,
                        })
                        .collect(),
                    policies: policies(step, &rb.defaults, &mut lenient),
                    sandbox: step.sandbox.clone(),
                    rendered,
                }
            })
            .collect()
    };
    Plan {
        runbook: rb.metadata.name.clone(),
        title: rb.metadata.title.clone(),
        requires: rb.requires.clone(),
        params: shown_params,
        layers: validated.graph.layers().len(),
        steps: planned(List::Steps),
        finally: planned(List::Finally),
    }
}

/// Shows a script with the values its `$NAME`s will have, so a plan reads like what runs.
fn with_shell_values(mut action: Action, data: &serde_json::Value) -> Action {
    if let Action::Shell(shell) = &mut action
        && let Command::Script(script) = &mut shell.command
    {
        *script = crate::shellvars::substitute(script, |name| {
            data.get(name).and_then(|v| v.as_str()).map(str::to_string)
        });
    }
    action
}

/// The step's retry, timeout and wait policies in words, each saying what it bounds (as the
/// scheduler applies them): the step's `timeout` ends one attempt, `wait.timeout` the whole wait
/// from the first attempt's start, and a `kube.wait`'s own `timeout` its watch within an attempt,
/// unless the step's timeout ends the attempt first. Templates in `wait.until` are shown as
/// everywhere else in the plan.
fn policies(step: &Step, defaults: &crate::model::Defaults, lenient: &mut Lenient) -> Vec<String> {
    let mut out = Vec::new();
    let timeout = step.timeout.or(defaults.timeout);
    if let Action::KubeWait(wait) = &step.action {
        let own = match wait.timeout {
            Some(_) => "its timeout",
            None => "its default timeout",
        };
        let patience = wait.patience();
        out.push(match timeout {
            Some(t) if t < patience => format!(
                "timeout {t} per attempt: it ends kube.wait before {own} {patience}"
            ),
            Some(t) => format!(
                "kube.wait gives up after {patience} ({own}; the step's timeout {t} per attempt is longer)"
            ),
            None => format!("kube.wait gives up after {patience} ({own})"),
        });
    } else if let (Some(t), None) = (timeout, &step.wait) {
        out.push(format!("timeout {t} per attempt"));
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
        let Ok(until) = w.until.fold(lenient, &[]);
        let until = match &until {
            Until::NonEmpty => "nonempty".to_string(),
            Until::Equals(x) => format!("equals {x:?}"),
            Until::Matches(x) => format!("matches /{}/", x.text()),
        };
        let mut line = format!(
            "wait until {until}, every {}: gives up {} after the first attempt starts",
            w.interval, w.timeout
        );
        if let (Some(t), false) = (timeout, matches!(step.action, Action::KubeWait(_))) {
            line.push_str(&format!(", each attempt within the step's timeout {t}"));
        }
        out.push(line);
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
        if !self.requires.is_empty() {
            let _ = writeln!(out, "requires:");
            for line in self.requires.lines() {
                let _ = writeln!(out, "  {line}");
            }
        }
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
    let yaml = serde_yaml::to_string(&step.fields.body())
        .unwrap_or_else(|e| format!("(cannot be shown: {e})\n"));
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
    match step.sandbox.as_ref().map(|sb| &sb.instead) {
        Some(Instead::Apply { file, .. }) => {
            // Stand-in files are read beside the runbook, not from the working directory.
            let _ = writeln!(out, "      ⧉ sandbox: applies the runbook's {file} instead");
        }
        Some(Instead::Skip(reason)) => {
            let _ = writeln!(out, "      ⧉ sandbox: skipped ({reason})");
        }
        None => {}
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
