//! Semantic checks over a loaded runbook, and the dependency graph they imply. Every problem is
//! collected, each tied to the node it is about, so `meshbook validate` reports all of them at once.

use std::collections::{BTreeSet, HashMap};

use indexmap::IndexMap;

use crate::diag::Diagnostic;
use crate::graph::Graph;
use crate::load::Loaded;
use crate::locate::{Seg, YamlPath};
use crate::model::{Action, Runbook, Step, Until};
use crate::render::for_each_string;
use crate::shellvars::{self, AMBIENT};
use crate::suggest;
use crate::template;

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

/// Checks a loaded runbook. `Err` holds every problem, the loader's included.
pub fn validate(loaded: Loaded) -> Result<Validated, Vec<Diagnostic>> {
    let Loaded {
        runbook,
        unreadable,
        mut diagnostics,
    } = loaded;
    let mut v = Checker {
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
            v.step_fields(&step_path(list, i), step);
        }
    }

    let names = Names {
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

struct Names<'a> {
    producers: &'a IndexMap<String, usize>,
    salvaged_ids: &'a BTreeSet<&'a str>,
    salvaged_outputs: &'a BTreeSet<&'a str>,
}

struct Checker<'a> {
    runbook: &'a Runbook,
    diags: &'a mut Vec<Diagnostic>,
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

fn is_env_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_step_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

impl Checker<'_> {
    fn push(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    fn params(&mut self) {
        for (name, spec) in &self.runbook.params {
            let path = vec![key("params"), key(name)];
            if !is_env_name(name) {
                self.push(
                    Diagnostic::at_key(path.clone(), format!("invalid param name `{name}`"))
                        .with_help("names become environment variables: letters, digits and `_`, not starting with a digit"),
                );
            }
            if let Some(default) = &spec.default
                && let Err(e) = spec.ty.check(&default.0)
            {
                let shown = if spec.secret {
                    "the default".to_string()
                } else {
                    format!("default `{}`", default.0)
                };
                self.push(Diagnostic::at_value(
                    with(&path, &[key("default")]),
                    format!("{shown} of param `{name}` {e}"),
                ));
            }
        }
    }

    fn ids(&mut self, salvaged: &BTreeSet<&str>) {
        let mut seen: HashMap<&str, (String, usize)> = HashMap::new();
        for list in ["steps", "finally"] {
            let steps = if list == "steps" {
                &self.runbook.steps
            } else {
                &self.runbook.finally
            };
            for (i, step) in steps.iter().enumerate() {
                let path = with(&step_path(list, i), &[key("id")]);
                if !is_step_id(&step.id) {
                    self.push(
                        Diagnostic::at_value(path.clone(), format!("invalid step id `{}`", step.id))
                            .with_help("ids use letters, digits, `-`, `_` and `.`, starting with a letter or digit"),
                    );
                }
                if let Some((first_list, first)) = seen.get(step.id.as_str()) {
                    self.push(Diagnostic::at_value(
                        path,
                        format!(
                            "duplicate step id `{}`: {first_list}[{first}] has it too",
                            step.id
                        ),
                    ));
                } else if salvaged.contains(step.id.as_str()) && list == "finally" {
                    // Reported where the unreadable step is.
                } else {
                    seen.insert(&step.id, (list.to_string(), i));
                }
            }
        }
    }

    /// Checks output names and that each has one producer; returns output name → step index.
    fn outputs(
        &mut self,
        list: &str,
        steps: &[Step],
        earlier: &IndexMap<String, usize>,
    ) -> IndexMap<String, usize> {
        let mut producers: IndexMap<String, usize> = IndexMap::new();
        for (i, step) in steps.iter().enumerate() {
            for name in step.outputs.keys() {
                let path = with(&step_path(list, i), &[key("outputs"), key(name)]);
                if !is_env_name(name) {
                    self.push(
                        Diagnostic::at_key(path.clone(), format!("invalid output name `{name}`"))
                            .with_help("names become environment variables: letters, digits and `_`, not starting with a digit"),
                    );
                }
                if self.runbook.params.contains_key(name) {
                    self.push(Diagnostic::at_key(
                        path,
                        format!("output `{name}` has the name of a param"),
                    ));
                } else if let Some(&first) = producers.get(name) {
                    self.push(
                        Diagnostic::at_key(
                            path,
                            format!(
                                "output `{name}` is already produced by step `{}`",
                                steps[first].id
                            ),
                        )
                        .with_help("each output has exactly one producing step"),
                    );
                } else if let Some(&first) = earlier.get(name) {
                    self.push(Diagnostic::at_key(
                        path,
                        format!(
                            "output `{name}` is already produced by step `{}`",
                            self.runbook.steps[first].id
                        ),
                    ));
                } else {
                    producers.insert(name.clone(), i);
                }
            }
        }
        producers
    }

    /// Per-kind rules that a type alone cannot say.
    fn step_fields(&mut self, path: &YamlPath, step: &Step) {
        let kind = step.action.kind();
        let body = with(path, &[key(kind)]);
        let mut need = |ok: bool, message: &str| {
            if !ok {
                self.diags.push(Diagnostic::at_value(
                    body.clone(),
                    format!("{kind} step `{}` {message}", step.id),
                ));
            }
        };
        match &step.action {
            Action::Shell(s) => {
                need(
                    s.script.is_some() != s.argv.is_some(),
                    "needs exactly one of `script` or `argv`",
                );
                need(
                    s.argv.as_ref().is_none_or(|a| !a.is_empty()),
                    "has an empty `argv`",
                );
            }
            Action::KubeApply(a) => {
                let sources = a.manifest.is_some() as u8
                    + a.file.is_some() as u8
                    + (!a.files.is_empty()) as u8;
                need(
                    sources == 1,
                    "needs exactly one of `manifest`, `file` or `files`",
                );
            }
            Action::KubeWait(w) => {
                need(
                    w.name.is_some() != w.selector.is_some(),
                    "needs exactly one of `name` or `selector`",
                );
                let modes =
                    w.condition.is_some() as u8 + w.jsonpath.is_some() as u8 + w.deleted as u8;
                need(
                    modes <= 1,
                    "waits for one thing: set at most one of `condition`, `jsonpath` or `deleted`",
                );
                need(
                    w.jsonpath.is_some() || (w.equals.is_none() && w.matches.is_none()),
                    "uses `equals`/`matches` only with `jsonpath`",
                );
                if let Some(re) = &w.matches {
                    self.regex(with(&body, &[key("matches")]), re);
                }
                if let Some(jp) = &w.jsonpath {
                    self.jsonpath(with(&body, &[key("jsonpath")]), jp);
                }
            }
            Action::KubeGet(g) => {
                need(
                    !(g.name.is_some() && g.selector.is_some()),
                    "takes `name` or `selector`, not both",
                );
                need(
                    !step.outputs.is_empty(),
                    "declares no outputs: a get exists to capture values",
                );
                if let Some(jp) = &g.jsonpath {
                    self.jsonpath(with(&body, &[key("jsonpath")]), jp);
                    if step.outputs.len() > 1 {
                        self.push(Diagnostic::at_value(
                            with(&body, &[key("jsonpath")]),
                            "the step's `jsonpath` is for a single output; give each output its own `jsonpath`",
                        ));
                    }
                }
                for (name, out) in &step.outputs {
                    let at = with(path, &[key("outputs"), key(name)]);
                    match &out.jsonpath {
                        Some(jp) => self.jsonpath(with(&at, &[key("jsonpath")]), jp),
                        None if g.jsonpath.is_none() => self.push(Diagnostic::at_key(
                            at,
                            format!("output `{name}` has no `jsonpath` and the step has none"),
                        )),
                        None => {}
                    }
                }
            }
            Action::KubeSecret(s) => {
                need(
                    !s.from_files.is_empty() || !s.literals.is_empty(),
                    "needs `from_files` or `literals`",
                );
            }
            Action::KubeLabel(l) => {
                need(
                    l.name.is_some() != l.selector.is_some(),
                    "needs exactly one of `name` or `selector`",
                );
                self.edits(with(&body, &[key("labels")]), &l.labels);
            }
            Action::KubeAnnotate(a) => {
                need(
                    a.name.is_some() != a.selector.is_some(),
                    "needs exactly one of `name` or `selector`",
                );
                self.edits(with(&body, &[key("annotations")]), &a.annotations);
            }
            Action::KubePatch(p) => {
                need(
                    p.patch.is_some() != p.yaml_in.is_some(),
                    "needs exactly one of `patch` or `yaml_in`",
                );
            }
            Action::KubeDelete(d) => {
                need(
                    d.name.is_some() != d.selector.is_some(),
                    "needs exactly one of `name` or `selector`",
                );
            }
            Action::KubeExec(e) => {
                need(
                    e.pod.is_some() != e.selector.is_some(),
                    "needs exactly one of `pod` or `selector`",
                );
                need(!e.command.is_empty(), "has an empty `command`");
                need(e.repeat >= 1, "has `repeat: 0`");
                need(
                    step.outputs.len() <= 1,
                    "captures its output into one output at most",
                );
            }
            Action::KubeKubeconfig(k) => {
                need(
                    step.outputs.len() <= 1,
                    "produces one output at most (the kubeconfig)",
                );
                need(
                    !step.outputs.is_empty() || k.file.is_some(),
                    "needs an output or a `file` to put the kubeconfig in",
                );
            }
        }
        let selector = match &step.action {
            Action::KubeApply(a) => a.selector.as_ref(),
            Action::KubeWait(w) => w.selector.as_ref(),
            Action::KubeGet(g) => g.selector.as_ref(),
            Action::KubeLabel(l) => l.selector.as_ref(),
            Action::KubeAnnotate(a) => a.selector.as_ref(),
            Action::KubeDelete(d) => d.selector.as_ref(),
            Action::KubeExec(e) => e.selector.as_ref(),
            _ => None,
        };
        self.selector(with(&body, &[key("selector")]), selector);
        if !matches!(step.action, Action::KubeGet(_)) {
            for (name, out) in &step.outputs {
                if out.jsonpath.is_some() {
                    self.push(Diagnostic::at_key(
                        with(path, &[key("outputs"), key(name), key("jsonpath")]),
                        format!("output `{name}`: `jsonpath` belongs to kube.get steps"),
                    ));
                }
            }
        }
        if let Some(retry) = &step.retry {
            self.retry(with(path, &[key("retry")]), retry);
        }
        if let Some(wait) = &step.wait {
            if step.outputs.is_empty() {
                self.push(Diagnostic::at_key(
                    with(path, &[key("wait")]),
                    format!("step `{}` waits on its outputs but declares none", step.id),
                ));
            }
            if let Until::Matches(re) = &wait.until {
                self.regex(with(path, &[key("wait"), key("until"), key("matches")]), re);
            }
        }
        if let Some(sb) = &step.sandbox {
            let at = with(path, &[key("sandbox")]);
            if sb.apply.is_some() == sb.skip.is_some() {
                self.push(Diagnostic::at_value(
                    at.clone(),
                    "a sandbox stand-in is either `{apply: FILE}` or `{skip: REASON}`",
                ));
            } else if sb.skip.is_some() && sb.context.is_some() {
                self.push(Diagnostic::at_value(
                    at.clone(),
                    "`context` goes with `apply`, not `skip`",
                ));
            } else if sb.apply.is_some() && sb.context.is_none() && step.action.context().is_none()
            {
                self.push(
                    Diagnostic::at_value(
                        at,
                        "this stand-in needs a `context`: the step names no cluster",
                    )
                    .with_help("write `sandbox: {apply: FILE, context: \"{{CTX}}\"}`"),
                );
            }
            for name in step.outputs.keys() {
                if !sb.outputs.contains_key(name) {
                    self.push(
                        Diagnostic::at_value(with(path, &[key("sandbox")]), format!("the stand-in gives no value for output `{name}`"))
                            .with_help(format!("add `outputs: {{{name}: ...}}` to `sandbox`: the step does not run in a rehearsal")),
                    );
                }
            }
            for name in sb.outputs.keys() {
                if !step.outputs.contains_key(name) {
                    self.push(Diagnostic::at_key(
                        with(path, &[key("sandbox"), key("outputs"), key(name)]),
                        format!("`{name}` is not an output of step `{}`", step.id),
                    ));
                }
            }
        }
    }

    fn retry(&mut self, path: YamlPath, retry: &crate::model::RetryPolicy) {
        if retry.attempts == 0 {
            self.push(Diagnostic::at_value(
                with(&path, &[key("attempts")]),
                "`attempts` counts the first try: it must be at least 1",
            ));
        }
        if retry.backoff.initial > retry.backoff.max {
            self.push(Diagnostic::at_value(
                with(&path, &[key("backoff")]),
                "backoff `initial` is larger than `max`",
            ));
        }
    }

    fn regex(&mut self, path: YamlPath, re: &str) {
        if re.contains("{{") {
            return;
        }
        if let Err(e) = regex::Regex::new(re) {
            let last = e
                .to_string()
                .lines()
                .last()
                .unwrap_or_default()
                .trim()
                .to_string();
            let first = last.strip_prefix("error: ").unwrap_or(&last).to_string();
            self.push(Diagnostic::at_value(
                path,
                format!("invalid regular expression: {first}"),
            ));
        }
    }

    fn jsonpath(&mut self, path: YamlPath, text: &str) {
        if text.contains("{{") {
            return;
        }
        if let Err(e) = meshbook_inspect::jsonpath::JsonPath::parse(text) {
            self.push(Diagnostic::at_value(
                path,
                format!("invalid kubectl JSONPath `{text}`: {e}"),
            ));
        }
    }

    fn selector(&mut self, path: YamlPath, selector: Option<&String>) {
        if let Some(text) = selector.filter(|t| !t.contains("{{"))
            && let Err(e) = meshbook_inspect::labels::Selector::parse(text)
        {
            self.push(Diagnostic::at_value(path, e.to_string()));
        }
    }

    fn edits(&mut self, path: YamlPath, edits: &[String]) {
        if edits.is_empty() {
            self.push(Diagnostic::at_value(
                path.clone(),
                "nothing to change: give `key=value` or `key-` entries",
            ));
        }
        for (i, e) in edits.iter().enumerate() {
            let ok = match e.split_once('=') {
                Some((k, _)) => !k.is_empty(),
                None => e.len() > 1 && e.ends_with('-'),
            };
            if !ok && !e.contains("{{") {
                self.push(
                    Diagnostic::at_value(
                        with(&path, &[Seg::Index(i)]),
                        format!("`{e}` is neither `key=value` nor `key-`"),
                    )
                    .with_help("write `key=value` to set, `key-` to remove"),
                );
            }
        }
    }

    /// Finds what each step uses, checks every name, and returns each step's dependencies.
    fn dependencies(
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
                let at = with(&path, &[key("needs"), Seg::Index(n)]);
                match ids.get(need.as_str()) {
                    Some(&j) if j == i => self.push(Diagnostic::at_value(
                        at,
                        format!("step `{need}` needs itself"),
                    )),
                    Some(&j) => {
                        deps.insert(j);
                    }
                    None if names.salvaged_ids.contains(need.as_str()) => {}
                    None => {
                        let mut d = Diagnostic::at_value(
                            at,
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
            let uses = self.step_uses(&path, step);
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
            all_deps.push(deps.into_iter().collect());
            all_uses.push(used);
        }
        (all_deps, all_uses)
    }

    /// Checks the `needs` of steps that failed to read, against every id known.
    fn salvaged_needs(&mut self, unreadable: &[crate::load::Salvaged]) {
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

    /// Every name a step uses: `(name, text to point at, path of the field)`.
    fn step_uses(&mut self, path: &YamlPath, step: &Step) -> Vec<(String, String, YamlPath)> {
        let mut found = Vec::new();
        let mut errors = Vec::new();
        let raw = serde_json::to_value(&step.action).unwrap_or_default();
        let is_shell = matches!(step.action, Action::Shell(_));
        let mut visit = |p: &[Seg], text: &str| {
            let at = with(path, p);
            let is_script = is_shell && p.len() == 2 && p[1] == key("script");
            match template::references(text) {
                Ok(refs) => {
                    for r in refs {
                        if is_script && r.raw {
                            errors.push(
                                Diagnostic::at_value(
                                    at.clone(),
                                    format!(
                                        "`{{{{{}}}}}` splices a value into a script unquoted",
                                        r.name
                                    ),
                                )
                                .with_needle(format!("{{{{{}", r.name))
                                .with_help(format!(
                                    "use `${}` (the step's environment has it) or `{{{{sh {}}}}}`",
                                    r.name, r.name
                                )),
                            );
                        }
                        let needle = format!("{{{{{}", r.name);
                        found.push((r.name, needle, at.clone()));
                    }
                }
                Err(e) => errors.push(Diagnostic::at_value(at.clone(), e.to_string())),
            }
            if is_script {
                for u in shellvars::free_variables(text) {
                    found.push((u.name, u.text, at.clone()));
                }
            }
        };
        for_each_string(&raw, &mut Vec::new(), &mut visit);
        if let Some(sb) = &step.sandbox {
            let wrapped = serde_json::json!({ "sandbox": sb });
            for_each_string(&wrapped, &mut Vec::new(), &mut visit);
        }
        if let Some(wait) = &step.wait
            && let Until::Equals(text) | Until::Matches(text) = &wait.until
        {
            visit(&[key("wait"), key("until")], text);
        }
        self.diags.extend(errors);
        found
    }

    fn graph(&mut self, list: &str, steps: &[Step], deps: Vec<Vec<usize>>) -> Option<Graph> {
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
