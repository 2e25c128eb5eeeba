//! Resume planning: from the journal of an earlier invocation and the runbook as it is now,
//! decide for each step whether it is done (outputs restored) or must run, and say why.

use indexmap::IndexMap;
use serde::Serialize;

use crate::events::Stored;
use crate::model::Step;
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::RunEvent;
    use crate::model::{Action, OutputSpec, ShellSpec};
    use crate::state::journal::Entry;

    fn step(id: &str, script: &str, output: Option<(&str, bool)>) -> Step {
        let mut outputs = IndexMap::new();
        if let Some((name, secret)) = output {
            outputs.insert(
                name.to_string(),
                OutputSpec {
                    secret,
                    ..Default::default()
                },
            );
        }
        Step {
            id: id.into(),
            title: None,
            needs: vec![],
            timeout: None,
            retry: None,
            wait: None,
            outputs,
            sandbox: None,
            action: Action::Shell(ShellSpec::script(script)),
        }
    }

    /// a -> b -> c; a and b succeeded (b's output secret), c failed.
    fn history(steps: &[Step], deps: &[Vec<usize>], sealer: &Sealer) -> RunRecord {
        let key = sealer.fingerprint_key();
        let values: IndexMap<String, String> =
            [("P".to_string(), "1".to_string())].into_iter().collect();
        let outs: Vec<IndexMap<String, String>> = vec![
            [("A".to_string(), "va".to_string())].into_iter().collect(),
            [("B".to_string(), "vb".to_string())].into_iter().collect(),
        ];
        let mut entries = Vec::new();
        for i in 0..2 {
            let env = super::super::inputs(&values, i, |d| &deps[d], |d| outs.get(d));
            let stored = outs[i]
                .iter()
                .map(|(k, v)| {
                    let s = if i == 1 {
                        Stored::Sealed(sealer.seal(k, v))
                    } else {
                        Stored::Plain(v.clone())
                    };
                    (k.clone(), s)
                })
                .collect();
            entries.push(Entry {
                at: 1,
                event: RunEvent::StepSucceeded {
                    step: steps[i].id.clone(),
                    attempt: 1,
                    outputs: stored,
                    duration_ms: 1,
                    fingerprint: fingerprint(&key, &steps[i], &env),
                },
            });
        }
        entries.push(Entry {
            at: 2,
            event: RunEvent::StepFailed {
                step: "c".into(),
                attempt: 1,
                error: "x".into(),
                duration_ms: 1,
            },
        });
        RunRecord::replay(&entries)
    }

    fn setup() -> (Vec<Step>, Vec<Vec<usize>>, IndexMap<String, String>) {
        let steps = vec![
            step("a", "make A", Some(("A", false))),
            step("b", "make B", Some(("B", true))),
            step("c", "use", None),
        ];
        let deps = vec![vec![], vec![0], vec![1]];
        let values = [("P".to_string(), "1".to_string())].into_iter().collect();
        (steps, deps, values)
    }

    #[test]
    fn unchanged_done_steps_are_restored() {
        let (steps, deps, values) = setup();
        let sealer = Sealer::from_key([5; 32]);
        let record = history(&steps, &deps, &sealer);
        let plan = plan(&steps, &deps, &[0, 1, 2], &record, &values, &sealer, &[]);
        assert_eq!(
            plan.decisions,
            [Decision::Done, Decision::Done, Decision::Run]
        );
        assert_eq!(
            plan.restored[1].as_ref().unwrap()["B"],
            "vb",
            "secrets are opened"
        );
        assert_eq!(plan.to_run(), 1);
    }

    #[test]
    fn a_change_reruns_the_step_and_its_downstream() {
        let (mut steps, deps, values) = setup();
        let sealer = Sealer::from_key([5; 32]);
        let record = history(&steps, &deps, &sealer);
        steps[0] = step("a", "make A differently", Some(("A", false)));
        let plan = plan(&steps, &deps, &[0, 1, 2], &record, &values, &sealer, &[]);
        assert_eq!(
            plan.decisions,
            [
                Decision::Rerun(Why::Changed),
                Decision::Rerun(Why::Upstream("a".into())),
                Decision::Run
            ]
        );
        let changed_param: IndexMap<String, String> =
            [("P".to_string(), "2".to_string())].into_iter().collect();
        let steps = setup().0;
        let plan = super::plan(
            &steps,
            &deps,
            &[0, 1, 2],
            &record,
            &changed_param,
            &sealer,
            &[],
        );
        assert_eq!(
            plan.decisions[0],
            Decision::Rerun(Why::Changed),
            "inputs count"
        );
    }

    #[test]
    fn from_forces_and_a_lost_key_reruns_secret_producers() {
        let (steps, deps, values) = setup();
        let sealer = Sealer::from_key([5; 32]);
        let record = history(&steps, &deps, &sealer);
        let plan = plan(&steps, &deps, &[0, 1, 2], &record, &values, &sealer, &[1]);
        assert_eq!(
            plan.decisions[..2],
            [Decision::Done, Decision::Rerun(Why::Forced)]
        );

        // Another key changes fingerprints too, so everything looks changed: the point is that a
        // sealed value that does not open is never restored.
        let other = Sealer::from_key([6; 32]);
        let plan = super::plan(&steps, &deps, &[0, 1, 2], &record, &values, &other, &[]);
        assert!(plan.restored.iter().all(Option::is_none));
        assert!(open_all(&record.step("b").outputs, &other).is_none());
    }
}
