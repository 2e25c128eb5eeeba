//! Resume planning: from the journal of an earlier invocation and the runbook as it is now,
//! decide for each step whether it is done (outputs restored) or must run, and say why.

use indexmap::IndexMap;
use serde::Serialize;

use crate::model::Step;
use crate::run::events::Stored;
use crate::run::fingerprint::fingerprint;
use crate::state::replay::{RunRecord, StepState};
use crate::state::secrets::Sealer;

/// What resume does with a step.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "decision", content = "reason")]
pub enum Decision {
    /// Succeeded before with the same definition and inputs: skipped, outputs restored.
    Done,
    /// Never finished: runs.
    Run,
    /// Succeeded before but runs again.
    Rerun(Why),
}

/// Why a finished step runs again.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Why {
    /// Its definition or resolved inputs changed since.
    Changed,
    /// A step it depends on runs again.
    Upstream(String),
    /// `--from` names it or a step upstream of it.
    Forced,
    /// Its secret outputs cannot be opened with the current key.
    SecretUnreadable,
}

impl std::fmt::Display for Decision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Decision::Done => f.write_str("done (skipped, outputs restored)"),
            Decision::Run => f.write_str("run"),
            Decision::Rerun(Why::Changed) => {
                f.write_str("re-run: its definition or inputs changed")
            }
            Decision::Rerun(Why::Upstream(s)) => write!(f, "re-run: upstream `{s}` runs again"),
            Decision::Rerun(Why::Forced) => f.write_str("re-run: forced by --from"),
            Decision::Rerun(Why::SecretUnreadable) => {
                f.write_str("re-run: its secret outputs cannot be opened with the current key")
            }
        }
    }
}

/// The decisions for each step, and the outputs restored for the done ones.
#[derive(Clone, Debug)]
pub struct ResumePlan {
    /// Per step, in the runbook's order.
    pub decisions: Vec<Decision>,
    /// Per step: the restored outputs of done steps.
    pub restored: Vec<Option<IndexMap<String, String>>>,
}

impl ResumePlan {
    /// Steps that will run.
    pub fn to_run(&self) -> usize {
        self.decisions
            .iter()
            .filter(|d| **d != Decision::Done)
            .count()
    }
}

/// Plans a resume. `order` lists step indexes dependencies first; `forced` are the `--from` steps.
pub fn plan(
    steps: &[Step],
    deps: &[Vec<usize>],
    order: &[usize],
    record: &RunRecord,
    values: &IndexMap<String, String>,
    sealer: &Sealer,
    forced: &[usize],
) -> ResumePlan {
    let key = sealer.fingerprint_key();
    let mut decisions = vec![Decision::Run; steps.len()];
    let mut restored: Vec<Option<IndexMap<String, String>>> = vec![None; steps.len()];
    for &i in order {
        let step = &steps[i];
        let rec = record.step(&step.id);
        decisions[i] = if forced.contains(&i) && rec.state == StepState::Succeeded {
            Decision::Rerun(Why::Forced)
        } else if rec.state != StepState::Succeeded {
            Decision::Run
        } else if let Some(&d) = deps[i].iter().find(|&&d| decisions[d] != Decision::Done) {
            Decision::Rerun(Why::Upstream(steps[d].id.clone()))
        } else {
            let env = super::inputs(values, i, |d| &deps[d], |d| restored[d].as_ref());
            if rec.fingerprint.as_deref() != Some(&fingerprint(&key, step, &env)) {
                Decision::Rerun(Why::Changed)
            } else {
                match open_all(&rec.outputs, sealer) {
                    Some(outputs) => {
                        restored[i] = Some(outputs);
                        Decision::Done
                    }
                    None => Decision::Rerun(Why::SecretUnreadable),
                }
            }
        };
    }
    ResumePlan {
        decisions,
        restored,
    }
}

/// Opens sealed values; `None` if any does not open.
pub fn open_all(
    stored: &IndexMap<String, Stored>,
    sealer: &Sealer,
) -> Option<IndexMap<String, String>> {
    stored
        .iter()
        .map(|(k, v)| match v {
            Stored::Plain(p) => Some((k.clone(), p.clone())),
            Stored::Sealed(s) => sealer.open(k, s).ok().map(|p| (k.clone(), p)),
        })
        .collect()
}
