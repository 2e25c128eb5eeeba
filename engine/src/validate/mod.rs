//! Semantic checks over a loaded runbook, and the dependency graph they imply. Every problem is
//! collected, each tied to the node it is about, so `meshbook validate` reports all of them at once.
//! What a type can say is said when loading (see `model`); what is left here relates several
//! parts of a runbook: names, outputs, the kind of a step with its outputs, and dependencies.

mod rules;
pub(crate) mod uses;

use std::collections::BTreeSet;

use indexmap::IndexMap;

use crate::diag::Diagnostic;
use crate::graph::Graph;
use crate::load::Loaded;
use crate::locate::{Seg, YamlPath};
use crate::model::{Runbook, Step};

/// A runbook that passed every check, with the graphs of its steps and of its `finally` steps.
#[derive(Debug, Clone)]
pub struct Validated {
    /// The runbook.
    pub runbook: Runbook,
    /// Dependencies among `runbook.steps`.
    pub graph: Graph,
    /// Dependencies among `runbook.finally`.
    pub finally_graph: Graph,
    /// For each step, the params and outputs it uses (by templates or `$NAME`).
    pub uses: Vec<BTreeSet<String>>,
    /// For each `finally` step, the params and outputs it uses.
    pub finally_uses: Vec<BTreeSet<String>>,
    /// Output name to the index of the step producing it.
    pub producers: IndexMap<String, usize>,
}

/// The two lists of steps a runbook has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum List {
    /// `steps`: what `run` does.
    Steps,
    /// `finally`: what `cleanup` does.
    Finally,
}

/// One list of steps with its graph and what each step uses: what a run drives.
#[derive(Clone, Copy, Debug)]
pub struct StepList<'a> {
    /// The steps.
    pub steps: &'a [Step],
    /// Their dependencies.
    pub graph: &'a Graph,
    /// For each step, the params and outputs it uses.
    pub uses: &'a [BTreeSet<String>],
}

impl Validated {
    /// The steps of one list, with their graph and uses.
    pub fn list(&self, list: List) -> StepList<'_> {
        match list {
            List::Steps => StepList {
                steps: &self.runbook.steps,
                graph: &self.graph,
                uses: &self.uses,
            },
            List::Finally => StepList {
                steps: &self.runbook.finally,
                graph: &self.finally_graph,
                uses: &self.finally_uses,
            },
        }
    }
}

/// Checks a loaded runbook. `Err` holds every problem, the loader's included.
pub fn validate(loaded: Loaded) -> Result<Validated, Vec<Diagnostic>> {
    let Loaded {
        runbook,
        unreadable,
        mut diagnostics,
    } = loaded;
    let mut v = Validator {
        runbook: &runbook,
        diags: &mut diagnostics,
    };
    v.params();
    let salvaged_ids: BTreeSet<&str> = unreadable.iter().filter_map(|s| s.id.as_deref()).collect();
    let salvaged_outputs: BTreeSet<&str> = unreadable
        .iter()
        .flat_map(|s| s.outputs.iter().map(String::as_str))
        .collect();
    v.ids(&salvaged_ids);
    let producers = v.outputs("steps", &runbook.steps, &IndexMap::new());
    let finally_producers = v.outputs("finally", &runbook.finally, &producers);
    for (list, steps) in [("steps", &runbook.steps), ("finally", &runbook.finally)] {
        for (i, step) in steps.iter().enumerate() {
            v.step_rules(&step_path(list, i), step);
        }
    }

    let names = uses::Names {
        producers: &producers,
        salvaged_ids: &salvaged_ids,
        salvaged_outputs: &salvaged_outputs,
    };
    let (deps, uses) = v.dependencies(
        "steps",
        &runbook.steps,
        &names,
        &producers,
        &IndexMap::new(),
    );
    let (fdeps, fuses) = v.dependencies(
        "finally",
        &runbook.finally,
        &names,
        &finally_producers,
        &producers,
    );
    v.salvaged_needs(&unreadable);
    let graph = v.graph("steps", &runbook.steps, deps);
    let finally_graph = v.graph("finally", &runbook.finally, fdeps);
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    Ok(Validated {
        runbook,
        graph: graph.unwrap_or_default(),
        finally_graph: finally_graph.unwrap_or_default(),
        uses,
        finally_uses: fuses,
        producers,
    })
}

struct Validator<'a> {
    runbook: &'a Runbook,
    diags: &'a mut Vec<Diagnostic>,
}

impl Validator<'_> {
    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }
}

fn step_path(list: &str, i: usize) -> YamlPath {
    vec![Seg::Key(list.into()), Seg::Index(i)]
}

fn with(path: &YamlPath, segs: &[Seg]) -> YamlPath {
    let mut p = path.clone();
    p.extend_from_slice(segs);
    p
}

fn key(k: &str) -> Seg {
    Seg::Key(k.to_string())
}
