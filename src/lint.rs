//! `plan --kube-version X`: which objects a cluster of that minor would refuse because it does not
//! serve their apiVersion, in every manifest whose content is known before the run — inline
//! manifests, files that exist, and sandbox stand-ins — by step, file and line (what pluto and
//! kubent report, offline). Manifests that earlier steps write (`helm template > F`) are listed
//! as not checked.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use meshbook_engine::model::{Action, Instead, Manifests};
use meshbook_engine::plan::{NotRendered, Plan, PlannedStep};
use meshbook_inspect::labels::Selector;
use meshbook_inspect::manifest_lint::{self, Finding};
use meshbook_sandbox::KubeVersion;
use serde::{Deserialize, Serialize};

use crate::source::RunbookSource;

/// One object the target minor would refuse.
#[derive(Debug, Serialize)]
pub(crate) struct Refused {
    /// The step that applies it.
    pub(crate) step: String,
    /// `FILE:LINE` of the object (`manifest of step S:LINE` for inline manifests).
    pub(crate) at: String,
    /// What is wrong and what to use instead.
    pub(crate) message: String,
    /// The apiVersion to use instead, when the target serves the kind at all.
    pub(crate) use_instead: Option<String>,
}

/// What the check found.
#[derive(Debug, Serialize)]
pub(crate) struct Linted {
    /// The minor checked.
    pub(crate) kube_version: String,
    /// Every refused object, in plan order.
    pub(crate) refused: Vec<Refused>,
    /// Steps whose manifests are known only when the run gets there, and why.
    pub(crate) not_checked: Vec<(String, String)>,
}

/// Checks every manifest of `plan` against `target`; relative files start at `workdir`, stand-ins
/// (beside the runbook) too when `stand_ins`.
pub(crate) fn lint(
    plan: &Plan,
    source: &RunbookSource,
    workdir: &Path,
    target: KubeVersion,
    stand_ins: bool,
) -> Linted {
    let mut out = Linted {
        kube_version: target.to_string(),
        refused: Vec::new(),
        not_checked: Vec::new(),
    };
    for step in plan.steps.iter().chain(&plan.finally) {
        let selector = match &step.rendered {
            Ok(Action::KubeApply(a)) => a.selector.as_ref(),
            _ => None,
        };
        let mut check = |origin: &str, text: &str| {
            let chosen = selector.map(|s| selected(text, s));
            for f in manifest_lint::lint(text, target) {
                let key = (
                    f.object.kind.clone(),
                    f.object.name.clone().unwrap_or_default(),
                );
                if chosen.as_ref().is_none_or(|c| c.contains(&key)) {
                    out.refused.push(refused(&step.id, origin, f));
                }
            }
        };
        match manifests(step) {
            Some(Ok(Manifests::Inline(text))) => {
                check(&format!("manifest of step {}", step.id), text)
            }
            Some(Ok(Manifests::File(f))) => {
                check_file(step, workdir, f, &mut check, &mut out.not_checked)
            }
            Some(Ok(Manifests::Files(files))) => {
                for f in files {
                    check_file(step, workdir, f, &mut check, &mut out.not_checked);
                }
            }
            Some(Err(NotRendered::Unknown(why) | NotRendered::Invalid(why))) => {
                out.not_checked.push((step.id.clone(), why.clone()))
            }
            None => {}
        }
        if let Some(Instead::Apply { file, .. }) = step
            .sandbox
            .as_ref()
            .filter(|_| stand_ins)
            .map(|s| &s.instead)
        {
            match source.read_sibling(file) {
                Ok(text) => check(&format!("stand-in {file}"), &text),
                Err(e) => out.not_checked.push((step.id.clone(), format!("{e:#}"))),
            }
        }
    }
    out
}

/// What the clusters of a real run would refuse: each `kube.apply` step's manifests checked at
/// the Kubernetes minor its context answered with (`clusters`), with that context. Steps on the
/// kubeconfig's current context (no `context:`) and manifests made during the run are not
/// checked here; the run meets those as it goes.
pub(crate) fn at_clusters(
    plan: &Plan,
    source: &RunbookSource,
    workdir: &Path,
    clusters: &BTreeMap<String, KubeVersion>,
) -> Vec<(Refused, String, KubeVersion)> {
    let context_of = |id: &str| {
        plan.steps
            .iter()
            .chain(&plan.finally)
            .find(|s| s.id == id)
            .and_then(|s| match &s.rendered {
                Ok(Action::KubeApply(a)) => a.place.context.clone(),
                _ => None,
            })
    };
    let versions: BTreeSet<KubeVersion> = clusters.values().copied().collect();
    let mut out = Vec::new();
    for v in versions {
        for r in lint(plan, source, workdir, v, false).refused {
            match context_of(&r.step) {
                Some(ctx) if clusters.get(&ctx) == Some(&v) => out.push((r, ctx, v)),
                _ => {}
            }
        }
    }
    out
}

/// The manifests a `kube.apply` step applies, as rendered, or why they are not known yet.
fn manifests(step: &PlannedStep) -> Option<Result<&Manifests, &NotRendered>> {
    match &step.rendered {
        Ok(Action::KubeApply(a)) => Some(Ok(&a.manifests)),
        Ok(_) => None,
        Err(e) if step.kind == "kube.apply" => Some(Err(e)),
        Err(_) => None,
    }
}

/// The (kind, name) of the objects a `kube.apply` selector keeps (`kubectl apply -l`).
fn selected(text: &str, selector: &Selector) -> Vec<(String, String)> {
    serde_yaml::Deserializer::from_str(text)
        .filter_map(|doc| serde_json::Value::deserialize(doc).ok())
        .flat_map(|v| match v["items"].as_array() {
            Some(items) if v["kind"].as_str().is_some_and(|k| k.ends_with("List")) => items.clone(),
            _ => vec![v],
        })
        .filter(|o| selector.matches(o))
        .map(|o| {
            let text = |v: &serde_json::Value| v.as_str().unwrap_or_default().to_string();
            (text(&o["kind"]), text(&o["metadata"]["name"]))
        })
        .collect()
}

fn check_file(
    step: &PlannedStep,
    workdir: &Path,
    file: &str,
    check: &mut impl FnMut(&str, &str),
    not_checked: &mut Vec<(String, String)>,
) {
    let paths = match meshbook_steps::kube::manifest_files(
        workdir,
        std::slice::from_ref(&file.to_string()),
    ) {
        Ok(paths) => paths,
        Err(e) => return not_checked.push((step.id.clone(), format!("{e} before the run"))),
    };
    for (_, path) in paths {
        match std::fs::read_to_string(&path) {
            Ok(text) => check(&path.display().to_string(), &text),
            Err(_) => not_checked.push((
                step.id.clone(),
                format!("{} does not exist before the run", path.display()),
            )),
        }
    }
}

fn refused(step: &str, origin: &str, f: Finding) -> Refused {
    Refused {
        step: step.to_string(),
        at: format!("{origin}:{}", f.object.line),
        message: f.message(),
        use_instead: f.use_instead.clone(),
    }
}

impl Linted {
    /// The findings for people.
    pub(crate) fn to_text(&self) -> String {
        let mut out = format!(
            "\napiVersions at Kubernetes {}: {} object(s) refused\n",
            self.kube_version,
            self.refused.len()
        );
        for r in &self.refused {
            out.push_str(&format!("  {}: {}: {}\n", r.step, r.at, r.message));
        }
        if !self.not_checked.is_empty() {
            out.push_str("not checked (known only when the run gets there):\n");
            for (step, why) in &self.not_checked {
                out.push_str(&format!("  {step}: {why}\n"));
            }
        }
        out
    }
}
