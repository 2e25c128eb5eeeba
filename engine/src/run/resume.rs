//! Resume planning: from the journal of an earlier invocation and the runbook as it is now,
//! decide for each step whether it is done (outputs restored) or must run, and say why.

use serde::Serialize;

use crate::run::fingerprint::fingerprint;
use crate::state::replay::{RunRecord, StepState};
use crate::state::secrets::Sealer;
use crate::validate::StepList;
use crate::values::Values;

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
pub struct ResumeDecisions {
    /// Per step, in the runbook's order.
    pub decisions: Vec<Decision>,
    /// Per step: the restored outputs of done steps.
    pub restored: Vec<Option<Values>>,
}

impl ResumeDecisions {
    /// Steps that will run.
    pub fn to_run(&self) -> usize {
        self.decisions
            .iter()
            .filter(|d| **d != Decision::Done)
            .count()
    }
}

/// Plans a resume of `list` with `values` (params, and for cleanup the outputs cleaned up);
/// `forced` are the `--from` steps.
pub fn decide(
    list: StepList<'_>,
    record: &RunRecord,
    values: &Values,
    sealer: &Sealer,
    forced: &[usize],
) -> ResumeDecisions {
    let key = sealer.fingerprint_key();
    let steps = list.steps;
    let mut decisions = vec![Decision::Run; steps.len()];
    let mut restored: Vec<Option<Values>> = vec![None; steps.len()];
    let mut known = values.clone();
    for &i in list.graph.order() {
        let step = &steps[i];
        let rec = record.step(&step.id);
        decisions[i] = if forced.contains(&i) && rec.state == StepState::Succeeded {
            Decision::Rerun(Why::Forced)
        } else if rec.state != StepState::Succeeded {
            Decision::Run
        } else if let Some(&d) = list
            .graph
            .deps(i)
            .iter()
            .find(|&&d| decisions[d] != Decision::Done)
        {
            Decision::Rerun(Why::Upstream(steps[d].id.clone()))
        } else {
            let used = known.only(&list.uses[i]);
            if rec.fingerprint.as_deref() != Some(&fingerprint(&key, step, &used)) {
                Decision::Rerun(Why::Changed)
            } else {
                match Values::open(&rec.outputs, sealer) {
                    Ok(outputs) => {
                        known.extend(outputs.clone());
                        restored[i] = Some(outputs);
                        Decision::Done
                    }
                    Err(_) => Decision::Rerun(Why::SecretUnreadable),
                }
            }
        };
    }
    ResumeDecisions {
        decisions,
        restored,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{RunEvent, Stored};
    use crate::model::ValueType;
    use crate::run::testkit::{Steps, output, step, unit, values};
    use crate::state::journal::Entry;

    /// a -> b -> c; a uses the param `P`; a and b succeeded (b's output secret), c failed.
    fn setup() -> Steps {
        Steps::new(vec![
            unit(
                output(step("a", "make A from $P"), "A", ValueType::String, false),
                &[],
            ),
            unit(
                output(step("b", "make B from $A"), "B", ValueType::String, true),
                &[0],
            ),
            unit(step("c", "use $B"), &[1]),
        ])
    }

    fn history(steps: &Steps, sealer: &Sealer) -> RunRecord {
        let key = sealer.fingerprint_key();
        let list = steps.list();
        let mut known = values(&[("P", "1"), ("Q", "1")]);
        let mut entries = Vec::new();
        for (i, (name, value, secret)) in [("A", "va", false), ("B", "vb", true)]
            .into_iter()
            .enumerate()
        {
            let used = known.only(&list.uses[i]);
            let mut out = Values::new();
            out.insert(name, value, secret);
            entries.push(Entry {
                at: 1,
                event: RunEvent::StepSucceeded {
                    step: list.steps[i].id.clone(),
                    attempt: 1,
                    outputs: out.store(sealer),
                    duration_ms: 1,
                    fingerprint: fingerprint(&key, &list.steps[i], &used),
                    rehearsed: None,
                    left_running: 0,
                },
            });
            known.extend(out);
        }
        entries.push(Entry {
            at: 2,
            event: RunEvent::StepFailed {
                step: "c".into(),
                attempt: 1,
                error: "x".into(),
                permanent: false,
                duration_ms: 1,
            },
        });
        RunRecord::replay(&entries)
    }

    #[test]
    fn unchanged_done_steps_are_restored() {
        let steps = setup();
        let sealer = Sealer::from_key([5; 32]);
        let record = history(&steps, &sealer);
        let params = values(&[("P", "1"), ("Q", "1")]);
        let decided = decide(steps.list(), &record, &params, &sealer, &[]);
        assert_eq!(
            decided.decisions,
            [Decision::Done, Decision::Done, Decision::Run]
        );
        let b = decided.restored[1].as_ref().unwrap();
        assert_eq!(b.get("B"), Some("vb"), "secrets are opened");
        assert_eq!(b.secrets(), ["vb"], "and stay secret");
        assert_eq!(decided.to_run(), 1);
    }

    #[test]
    fn a_change_reruns_the_step_and_its_downstream() {
        let mut steps = setup();
        let sealer = Sealer::from_key([5; 32]);
        let record = history(&steps, &sealer);
        let params = values(&[("P", "1"), ("Q", "1")]);
        steps.steps_mut()[0] = output(
            step("a", "make A differently from $P"),
            "A",
            ValueType::String,
            false,
        );
        let decided = decide(steps.list(), &record, &params, &sealer, &[]);
        assert_eq!(
            decided.decisions,
            [
                Decision::Rerun(Why::Changed),
                Decision::Rerun(Why::Upstream("a".into())),
                Decision::Run
            ]
        );
        let steps = setup();
        let changed_param = values(&[("P", "2"), ("Q", "1")]);
        let decided = super::decide(steps.list(), &record, &changed_param, &sealer, &[]);
        assert_eq!(
            decided.decisions[0],
            Decision::Rerun(Why::Changed),
            "inputs count"
        );
        let unused_changed = values(&[("P", "1"), ("Q", "2")]);
        let decided = super::decide(steps.list(), &record, &unused_changed, &sealer, &[]);
        assert_eq!(
            decided.decisions,
            [Decision::Done, Decision::Done, Decision::Run],
            "a value no step uses changes nothing"
        );
    }

    #[test]
    fn from_forces_and_a_lost_key_reruns_secret_producers() {
        let steps = setup();
        let sealer = Sealer::from_key([5; 32]);
        let record = history(&steps, &sealer);
        let params = values(&[("P", "1"), ("Q", "1")]);
        let decided = decide(steps.list(), &record, &params, &sealer, &[1]);
        assert_eq!(
            decided.decisions[..2],
            [Decision::Done, Decision::Rerun(Why::Forced)]
        );

        // Another key changes fingerprints too, so everything looks changed: the point is that a
        // sealed value that does not open is never restored.
        let other = Sealer::from_key([6; 32]);
        let decided = super::decide(steps.list(), &record, &params, &other, &[]);
        assert!(decided.restored.iter().all(Option::is_none));
        assert!(Values::open(&record.step("b").outputs, &other).is_err());
        assert!(matches!(&record.step("b").outputs["B"], Stored::Sealed(_)));
    }
}
