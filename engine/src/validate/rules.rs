//! Rules that relate several parts of a runbook: param and output names, ids, and what a step's
//! kind asks of its outputs, its `wait` and its stand-in.

use std::collections::{BTreeSet, HashMap};

use indexmap::IndexMap;

use super::{Validator, key, step_path, with};
use crate::diag::Diagnostic;
use crate::locate::YamlPath;
use crate::model::{Action, Instead, RetryPolicy, Step, names};

/// The shortest pause between a wait's attempts: each attempt is a process or an API request.
const MIN_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

impl Validator<'_> {
    pub(super) fn params(&mut self) {
        for (name, spec) in &self.runbook.params {
            let path = vec![key("params"), key(name)];
            if !names::is_env_name(name) {
                self.push(
                    Diagnostic::at_key(path.clone(), format!("invalid param name `{name}`"))
                        .with_help("names become environment variables: letters, digits and `_`, not starting with a digit"),
                );
            }
            if let Some(default) = &spec.default
                && let Err(e) = spec.ty.admits(&default.0)
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

    pub(super) fn ids(&mut self, salvaged: &BTreeSet<&str>) {
        let mut seen: HashMap<&str, (String, usize)> = HashMap::new();
        for list in ["steps", "finally"] {
            let steps = if list == "steps" {
                &self.runbook.steps
            } else {
                &self.runbook.finally
            };
            for (i, step) in steps.iter().enumerate() {
                let path = with(&step_path(list, i), &[key("id")]);
                if !names::is_step_id(&step.id) {
                    self.push(
                        Diagnostic::at_value(path.clone(), format!("invalid step id `{}`", step.id))
                            .with_help(format!("ids use letters, digits, `-`, `_` and `.`, starting with a letter or digit, at most {} characters (an id names the step's files)", names::MAX_STEP_ID)),
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
    pub(super) fn outputs(
        &mut self,
        list: &str,
        steps: &[Step],
        earlier: &IndexMap<String, usize>,
    ) -> IndexMap<String, usize> {
        let mut producers: IndexMap<String, usize> = IndexMap::new();
        for (i, step) in steps.iter().enumerate() {
            for name in step.outputs.keys() {
                let path = with(&step_path(list, i), &[key("outputs"), key(name)]);
                if !names::is_env_name(name) {
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

    /// What a step's kind asks of the rest of the step.
    pub(super) fn step_rules(&mut self, path: &YamlPath, step: &Step) {
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
            Action::KubeGet(g) => {
                need(
                    !step.outputs.is_empty(),
                    "declares no outputs: a get exists to capture values",
                );
                if g.jsonpath.is_some() && step.outputs.len() > 1 {
                    self.push(Diagnostic::at_value(
                        with(&body, &[key("jsonpath")]),
                        "the step's `jsonpath` is for a single output; give each output its own `jsonpath`",
                    ));
                }
                for name in g.secret_reads(&step.outputs) {
                    if !step.outputs[name].secret {
                        self.push(Diagnostic::at_key(
                            with(path, &[key("outputs"), key(name)]),
                            format!("output `{name}` reads a Secret's data: declare it with `secret: true`"),
                        ));
                    }
                }
                for (name, out) in &step.outputs {
                    if out.jsonpath.is_none() && g.jsonpath.is_none() {
                        self.push(Diagnostic::at_key(
                            with(path, &[key("outputs"), key(name)]),
                            format!("output `{name}` has no `jsonpath` and the step has none"),
                        ));
                    }
                }
            }
            Action::KubeExec(_) => need(
                step.outputs.len() <= 1,
                "captures its output into one output at most",
            ),
            Action::KubeKubeconfig(k) => {
                need(
                    step.outputs.len() <= 1,
                    "produces one output at most (the kubeconfig)",
                );
                need(
                    !step.outputs.is_empty() || k.file.is_some(),
                    "needs an output or a `file` to put the kubeconfig in",
                );
                for name in step
                    .outputs
                    .iter()
                    .filter(|(_, o)| !o.secret)
                    .map(|(n, _)| n)
                {
                    self.push(Diagnostic::at_key(
                        with(path, &[key("outputs"), key(name)]),
                        format!("output `{name}` holds a service-account token: declare it with `secret: true`"),
                    ));
                }
            }
            _ => {}
        }
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
        if let Some(wait) = &step.wait
            && wait.interval.0 < MIN_INTERVAL
        {
            self.push(
                Diagnostic::at_value(
                    with(path, &[key("wait"), key("interval")]),
                    format!("`interval: {}` would poll without pause", wait.interval),
                )
                .with_help(format!("use at least {}ms", MIN_INTERVAL.as_millis())),
            );
        }
        if step.wait.is_some() && step.outputs.is_empty() {
            self.push(Diagnostic::at_key(
                with(path, &[key("wait")]),
                format!("step `{}` waits on its outputs but declares none", step.id),
            ));
        }
        if let Some(sb) = &step.sandbox {
            let at = with(path, &[key("sandbox")]);
            if matches!(sb.instead, Instead::Apply { context: None, .. })
                && step.action.context().is_none()
            {
                self.push(
                    Diagnostic::at_value(
                        at.clone(),
                        "this stand-in needs a `context`: the step names no cluster",
                    )
                    .with_help("write `sandbox: {apply: FILE, context: \"{{CTX}}\"}`"),
                );
            }
            for name in step.outputs.keys() {
                if !sb.outputs.contains_key(name) {
                    self.push(
                        Diagnostic::at_value(at.clone(), format!("the stand-in gives no value for output `{name}`"))
                            .with_help(format!("add `outputs: {{{name}: ...}}` to `sandbox`: the step does not run in a rehearsal")),
                    );
                }
            }
            for name in sb.outputs.keys() {
                if !step.outputs.contains_key(name) {
                    self.push(Diagnostic::at_key(
                        with(&at, &[key("outputs"), key(name)]),
                        format!("`{name}` is not an output of step `{}`", step.id),
                    ));
                }
            }
        }
    }

    fn retry(&mut self, path: YamlPath, retry: &RetryPolicy) {
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
}
