//! A rehearsal's coverage: how each step was carried out — as written with real tools, as
//! written with tool doubles (named), replaced by a stand-in manifest, or skipped (and why) — and
//! the share that ran. It is read from the journal, where each success records how it was
//! rehearsed, so the closing report of a rehearsal and `status` (of a finished, interrupted or
//! resumed run) say the same.

use meshbook_engine::events::Rehearsed;
use meshbook_engine::state::replay::{StepRecord, StepState};
use serde_json::json;

/// How one step of a rehearsal fared.
enum Fate<'a> {
    /// It succeeded, carried out this way.
    Rehearsed(&'a Rehearsed),
    /// It succeeded before its journal recorded how (a rehearsal of an earlier meshbook).
    Unrecorded,
    /// It has not succeeded (yet): pending, failed, blocked, interrupted...
    NotRun(StepState),
}

impl<'a> Fate<'a> {
    fn of(record: &'a StepRecord) -> Fate<'a> {
        match (&record.rehearsed, record.state) {
            (Some(how), StepState::Succeeded) => Fate::Rehearsed(how),
            (None, StepState::Succeeded) => Fate::Unrecorded,
            (_, state) => Fate::NotRun(state),
        }
    }

    fn describe(&self) -> String {
        match self {
            Fate::Rehearsed(how) => how.describe(),
            Fate::Unrecorded => "done (how it ran was not recorded)".to_string(),
            Fate::NotRun(state) => format!("not run ({})", state.name()),
        }
    }
}

/// The coverage of a rehearsal's steps, in runbook order.
pub(crate) struct Coverage<'a> {
    steps: Vec<(&'a str, Fate<'a>)>,
}

impl<'a> Coverage<'a> {
    /// The coverage of `steps` (each step's id and what the journal says of it).
    pub(crate) fn new(steps: &'a [(String, StepRecord)]) -> Coverage<'a> {
        Coverage {
            steps: steps
                .iter()
                .map(|(id, r)| (id.as_str(), Fate::of(r)))
                .collect(),
        }
    }

    fn rehearsed(&self) -> impl Iterator<Item = (&'a str, &'a Rehearsed)> + '_ {
        self.steps.iter().filter_map(|(id, f)| match f {
            Fate::Rehearsed(how) => Some((*id, *how)),
            _ => None,
        })
    }

    fn ran(&self) -> usize {
        self.rehearsed().filter(|(_, how)| how.ran()).count()
    }

    fn with_doubles(&self) -> usize {
        self.rehearsed()
            .filter(|(_, how)| matches!(how, Rehearsed::Double { .. }))
            .count()
    }

    /// One line: `3 of 4 steps ran (1 with doubles); 1 skipped: verify (needs real traffic)`.
    pub(crate) fn summary(&self) -> String {
        let mut out = format!(
            "{} of {} steps ran ({} with doubles)",
            self.ran(),
            self.steps.len(),
            self.with_doubles()
        );
        let mut part = |what: &str, items: Vec<String>| {
            if !items.is_empty() {
                out.push_str(&format!("; {} {what}: {}", items.len(), items.join(", ")));
            }
        };
        let listed = |pick: fn(&Fate<'_>) -> Option<String>| -> Vec<String> {
            self.steps
                .iter()
                .filter_map(|(id, f)| pick(f).map(|why| format!("{id} ({why})")))
                .collect()
        };
        part(
            "skipped",
            listed(|f| match f {
                Fate::Rehearsed(Rehearsed::Skipped { reason }) => Some(reason.clone()),
                _ => None,
            }),
        );
        part(
            "replaced by a stand-in",
            listed(|f| match f {
                Fate::Rehearsed(Rehearsed::StandIn { file, context }) => {
                    Some(format!("applied {file} to {context}"))
                }
                _ => None,
            }),
        );
        part(
            "not run",
            listed(|f| match f {
                Fate::NotRun(state) => Some(state.name().to_string()),
                _ => None,
            }),
        );
        part(
            "done without a record of how",
            listed(|f| matches!(f, Fate::Unrecorded).then(|| "an earlier meshbook".to_string())),
        );
        out
    }

    /// The closing report's lines: the summary, then each step as `  ID → HOW`.
    pub(crate) fn report(&self) -> String {
        let mut out = format!("coverage: {}\n", self.summary());
        for (id, fate) in &self.steps {
            out.push_str(&format!("  {id} → {}\n", fate.describe()));
        }
        out
    }

    /// `status -o json`'s `coverage` (docs/output.md).
    pub(crate) fn json(&self) -> serde_json::Value {
        let mut doubles: Vec<&str> = Vec::new();
        for (_, how) in self.rehearsed() {
            if let Rehearsed::Double { doubles: tools } = how {
                for tool in tools {
                    if !doubles.contains(&tool.as_str()) {
                        doubles.push(tool);
                    }
                }
            }
        }
        let skipped: Vec<serde_json::Value> = self
            .rehearsed()
            .filter_map(|(id, how)| match how {
                Rehearsed::Skipped { reason } => Some(json!({"step": id, "reason": reason})),
                _ => None,
            })
            .collect();
        let stand_ins: Vec<serde_json::Value> = self
            .rehearsed()
            .filter_map(|(id, how)| match how {
                Rehearsed::StandIn { file, context } => {
                    Some(json!({"step": id, "file": file, "context": context}))
                }
                _ => None,
            })
            .collect();
        let not_run: Vec<&str> = self
            .steps
            .iter()
            .filter(|(_, f)| !matches!(f, Fate::Rehearsed(_)))
            .map(|(id, _)| *id)
            .collect();
        json!({
            "steps": self.steps.len(),
            "ran": self.ran(),
            "with_doubles": self.with_doubles(),
            "doubles": doubles,
            "skipped": skipped,
            "stand_ins": stand_ins,
            "not_run": not_run,
            "summary": self.summary(),
        })
    }
}

/// The state `status` shows for a step: a success the rehearsal did not run says how it stood
/// in (`skipped`, `stand-in`) rather than `done`.
pub(crate) fn state_word(record: &StepRecord) -> &'static str {
    match (&record.rehearsed, record.state) {
        (Some(Rehearsed::Skipped { .. }), StepState::Succeeded) => "skipped",
        (Some(Rehearsed::StandIn { .. }), StepState::Succeeded) => "stand-in",
        (_, state) => state.name(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(state: StepState, rehearsed: Option<Rehearsed>) -> StepRecord {
        StepRecord {
            state,
            rehearsed,
            ..StepRecord::default()
        }
    }

    #[test]
    fn counts_what_ran_and_names_what_did_not() {
        let steps = vec![
            (
                "a".to_string(),
                record(StepState::Succeeded, Some(Rehearsed::Real)),
            ),
            (
                "b".to_string(),
                record(
                    StepState::Succeeded,
                    Some(Rehearsed::Double {
                        doubles: vec!["helm".into(), "istioctl".into()],
                    }),
                ),
            ),
            (
                "c".to_string(),
                record(
                    StepState::Succeeded,
                    Some(Rehearsed::Skipped {
                        reason: "needs traffic".into(),
                    }),
                ),
            ),
            (
                "d".to_string(),
                record(
                    StepState::Succeeded,
                    Some(Rehearsed::StandIn {
                        file: "sandbox/cp.yaml".into(),
                        context: "c1".into(),
                    }),
                ),
            ),
            ("e".to_string(), record(StepState::Failed, None)),
        ];
        let coverage = Coverage::new(&steps);
        assert_eq!(
            coverage.summary(),
            "2 of 5 steps ran (1 with doubles); 1 skipped: c (needs traffic); \
             1 replaced by a stand-in: d (applied sandbox/cp.yaml to c1); 1 not run: e (failed)"
        );
        let report = coverage.report();
        assert!(
            report.contains("  b → double: helm, istioctl\n"),
            "{report}"
        );
        assert!(report.contains("  e → not run (failed)\n"), "{report}");
        let json = coverage.json();
        assert_eq!(json["ran"], 2);
        assert_eq!(json["doubles"], json!(["helm", "istioctl"]));
        assert_eq!(
            json["skipped"],
            json!([{"step": "c", "reason": "needs traffic"}])
        );
        assert_eq!(json["not_run"], json!(["e"]));
        assert_eq!(state_word(&steps[2].1), "skipped");
        assert_eq!(state_word(&steps[1].1), "done");
    }
}
