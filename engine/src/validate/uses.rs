//! What each step uses (template names and shell `$NAME`s, found by the one visitor over its
//! template fields), whether each name exists, and the dependencies that follow.

use std::collections::BTreeSet;
use std::convert::Infallible;

use indexmap::IndexMap;

use super::{Validator, key, step_path, with};
use crate::diag::Diagnostic;
use crate::graph::Graph;
use crate::locate::{Seg, YamlPath};
use crate::model::fold::Folder;
use crate::model::{Action, Grammar, Instead, Step, Templated, Written};
use crate::shellvars::{self, AMBIENT};
use crate::{suggest, template};

pub(super) struct Names<'a> {
    pub(super) producers: &'a IndexMap<String, usize>,
    pub(super) salvaged_ids: &'a BTreeSet<&'a str>,
    pub(super) salvaged_outputs: &'a BTreeSet<&'a str>,
}

/// A use of a name: the name, the text to point at, and the field it is in.
type Use = (String, String, YamlPath);

/// Collects the names every template field of a step uses, and the problems of the templates.
struct Uses {
    base: YamlPath,
    shell: bool,
    found: Vec<Use>,
    /// Names a script reads and also assigns: used when they name a value, never an error.
    maybe: BTreeSet<String>,
    errors: Vec<Diagnostic>,
}

impl Uses {
    fn visit(&mut self, at: &[Seg], text: &str) {
        let last = at.last().or(self.base.last());
        let is_script = self.shell && matches!(last, Some(Seg::Key(k)) if k == "script");
        let place = if is_script {
            template::Place::Script
        } else {
            template::Place::Field
        };
        let checked = template::check(text, place);
        let vars = if is_script {
            self.maybe.extend(shellvars::reads_of_defined(text));
            shellvars::free_variables(text)
        } else {
            Vec::new()
        };
        // The field's path is built only when there is something to point at (most fields of
        // a large runbook use no name).
        if vars.is_empty() && checked.as_ref().is_ok_and(BTreeSet::is_empty) {
            return;
        }
        let at = with(&self.base, at);
        match checked {
            Ok(names) => {
                for name in names {
                    let needle = format!("{{{{{name}");
                    self.found.push((name, needle, at.clone()));
                }
            }
            Err(problems) => {
                for p in problems {
                    let mut d = Diagnostic::at_value(at.clone(), p.message).with_needle(p.snippet);
                    d.help = p.help;
                    self.errors.push(d);
                }
            }
        }
        for u in vars {
            self.found.push((u.name, u.text, at.clone()));
        }
    }
}

impl Folder for Uses {
    type Out = Written;
    type Error = Infallible;

    fn text(&mut self, at: &[Seg], text: &str) -> Result<String, Infallible> {
        self.visit(at, text);
        Ok(String::new())
    }

    fn grammar<T: Grammar>(
        &mut self,
        at: &[Seg],
        field: &Templated<T>,
    ) -> Result<Templated<T>, Infallible> {
        self.visit(at, field.text());
        Ok(field.clone())
    }
}

/// Every name a step's templates and script use, whether or not it exists (for tests that build
/// steps by hand).
#[cfg(test)]
pub(crate) fn names_used(step: &Step) -> BTreeSet<String> {
    let mut uses = Uses {
        base: Vec::new(),
        shell: matches!(step.action, Action::Shell(_)),
        found: Vec::new(),
        maybe: BTreeSet::new(),
        errors: Vec::new(),
    };
    let Ok(_) = step.action.fold(&mut uses);
    uses.found.into_iter().map(|(name, _, _)| name).collect()
}

impl Validator<'_> {
    /// Finds what each step uses, checks every name, and returns each step's dependencies.
    pub(super) fn dependencies(
        &mut self,
        list: &str,
        steps: &[Step],
        names: &Names,
        local: &IndexMap<String, usize>,
        outer: &IndexMap<String, usize>,
    ) -> (Vec<Vec<usize>>, Vec<BTreeSet<String>>) {
        let ids: rustc_hash::FxHashMap<&str, usize> = steps
            .iter()
            .enumerate()
            .map(|(i, s)| (s.id.as_str(), i))
            .collect();
        let mut all_deps = Vec::with_capacity(steps.len());
        let mut all_uses = Vec::with_capacity(steps.len());
        for (i, step) in steps.iter().enumerate() {
            let path = step_path(list, i);
            let mut deps = BTreeSet::new();
            for (n, need) in step.needs.iter().enumerate() {
                // Built only for a mistake: a valid runbook has 100,000s of needs to go through.
                let at = || with(&path, &[key("needs"), Seg::Index(n)]);
                match ids.get(need.as_str()) {
                    Some(&j) if j == i => self.push(Diagnostic::at_value(
                        at(),
                        format!("step `{need}` needs itself"),
                    )),
                    Some(&j) => {
                        deps.insert(j);
                    }
                    None if names.salvaged_ids.contains(need.as_str()) => {}
                    None => {
                        let mut d = Diagnostic::at_value(
                            at(),
                            format!(
                                "step `{}` needs `{need}`, which is not a step in `{list}`",
                                step.id
                            ),
                        );
                        d.help = suggest::help(need, steps.iter().map(|s| s.id.as_str()));
                        self.push(d);
                    }
                }
            }
            let (uses, maybe) = self.step_uses(&path, step);
            let mut used = BTreeSet::new();
            for (name, needle, anchor) in uses {
                if self.runbook.params.contains_key(&name) {
                    used.insert(name);
                    continue;
                }
                if let Some(&j) = local.get(&name) {
                    if j == i {
                        self.push(
                            Diagnostic::at_value(
                                anchor,
                                format!("step `{}` uses its own output `{name}`", step.id),
                            )
                            .with_needle(needle),
                        );
                    } else {
                        deps.insert(j);
                    }
                    used.insert(name);
                    continue;
                }
                if outer.contains_key(&name) || names.salvaged_outputs.contains(name.as_str()) {
                    used.insert(name);
                    continue;
                }
                if needle.starts_with('$')
                    && (AMBIENT.contains(&name.as_str()) || self.env_of(step).contains(&name))
                {
                    continue;
                }
                let candidates = self
                    .runbook
                    .params
                    .keys()
                    .chain(names.producers.keys())
                    .chain(local.keys())
                    .map(String::as_str);
                let mut d = Diagnostic::at_value(
                    anchor,
                    format!(
                        "`{name}` is not a param or an output of any step (used by step `{}`)",
                        step.id
                    ),
                )
                .with_needle(needle);
                d.help = suggest::help(&name, candidates).or_else(|| {
                    Some(
                        "declare it under `params`, or as an output of the step that produces it"
                            .to_string(),
                    )
                });
                self.push(d);
            }
            // A name the script also assigns adds no edge (that could make a cycle of a valid
            // runbook); it is given when it is a param or comes from a step this one waits for.
            for name in maybe {
                let ready = local.get(&name).is_some_and(|j| deps.contains(j));
                if ready || self.runbook.params.contains_key(&name) || outer.contains_key(&name) {
                    used.insert(name);
                }
            }
            all_deps.push(deps.into_iter().collect());
            all_uses.push(used);
        }
        (all_deps, all_uses)
    }

    /// Checks the `needs` of steps that failed to read, against every id known.
    pub(super) fn salvaged_needs(&mut self, unreadable: &[crate::load::Salvaged]) {
        for s in unreadable {
            let steps = if s.list == "steps" {
                &self.runbook.steps
            } else {
                &self.runbook.finally
            };
            let known = |id: &str| {
                steps.iter().any(|x| x.id == id)
                    || unreadable
                        .iter()
                        .any(|u| u.list == s.list && u.id.as_deref() == Some(id))
            };
            for (n, need) in s.needs.iter().enumerate() {
                if !known(need) {
                    let at = with(&step_path(&s.list, s.index), &[key("needs"), Seg::Index(n)]);
                    let id = s.id.as_deref().unwrap_or("?");
                    let mut d = Diagnostic::at_value(
                        at,
                        format!(
                            "step `{id}` needs `{need}`, which is not a step in `{}`",
                            s.list
                        ),
                    );
                    d.help = suggest::help(need, steps.iter().map(|x| x.id.as_str()));
                    self.push(d);
                }
            }
        }
    }

    fn env_of(&self, step: &Step) -> BTreeSet<String> {
        match &step.action {
            Action::Shell(s) => s.env.keys().cloned().collect(),
            _ => BTreeSet::new(),
        }
    }

    /// Every name a step uses: in its kind's template fields, its `wait.until` and its stand-in;
    /// and the names its script reads but also assigns.
    fn step_uses(&mut self, path: &YamlPath, step: &Step) -> (Vec<Use>, BTreeSet<String>) {
        let mut uses = Uses {
            base: with(path, &[key(step.action.kind())]),
            shell: matches!(step.action, Action::Shell(_)),
            found: Vec::new(),
            maybe: BTreeSet::new(),
            errors: Vec::new(),
        };
        let Ok(_) = step.action.fold(&mut uses);
        uses.base = path.clone();
        uses.shell = false;
        if let Some(wait) = &step.wait {
            let Ok(_) = wait.until.fold(&mut uses, &[key("wait"), key("until")]);
        }
        if let Some(sb) = &step.sandbox {
            if let Instead::Apply { file, context } = &sb.instead {
                uses.visit(&[key("sandbox"), key("apply")], file);
                if let Some(c) = context {
                    uses.visit(&[key("sandbox"), key("context")], c);
                }
            }
            for (name, value) in &sb.outputs {
                uses.visit(&[key("sandbox"), key("outputs"), key(name)], value);
            }
        }
        self.diags.extend(uses.errors);
        (uses.found, uses.maybe)
    }

    pub(super) fn graph(
        &mut self,
        list: &str,
        steps: &[Step],
        deps: Vec<Vec<usize>>,
    ) -> Option<Graph> {
        match Graph::build(deps) {
            Ok(g) => Some(g),
            Err(cycles) => {
                for cycle in cycles {
                    let walk: Vec<&str> = cycle.iter().map(|&i| steps[i].id.as_str()).collect();
                    self.push(
                        Diagnostic::at_value(
                            with(&step_path(list, cycle[0]), &[key("id")]),
                            format!("dependency cycle: {}", walk.join(" -> ")),
                        )
                        .with_help(
                            "each arrow is a `needs` entry or a use of the next step's output",
                        ),
                    );
                }
                None
            }
        }
    }
}
