//! The typed events a run emits. The scheduler produces them; the journal, the terminal views and
//! the JSON log consume them. Secret output values never appear here in clear text.

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

/// An output value as it may be shown or stored: in clear, or sealed because it is secret.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Stored {
    /// A value that may be shown and stored as is.
    Plain(String),
    /// A secret, encrypted (base64 of nonce and ciphertext); shown as `***`.
    Sealed(String),
}

impl Stored {
    /// The value for display: the text, or `***` for a secret.
    pub fn display(&self) -> &str {
        match self {
            Stored::Plain(v) => v,
            Stored::Sealed(_) => "***",
        }
    }
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Every step succeeded.
    Succeeded,
    /// At least one step failed; steps that depend on it did not run.
    Failed,
    /// A signal stopped the run; unfinished steps can be resumed.
    Interrupted,
}

/// Why a step did not run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum SkipReason {
    /// A step it depends on failed (or was itself blocked).
    Blocked {
        /// The failed dependency.
        dependency: String,
    },
    /// It succeeded in an earlier attempt of this run; its outputs were restored.
    Restored,
}

/// How a rehearsal carried out a step that succeeded: the coverage of a rehearsal, step by step
/// (docs/output.md, "Coverage"). Recorded with the step's success in the journal, so `status`
/// of a finished, interrupted or resumed rehearsal tells it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "how")]
pub enum Rehearsed {
    /// Ran as written with real tools (kube steps: against the simulated clusters).
    Real,
    /// Ran as written; tool doubles stood in for these tools, named in the order first called.
    Double {
        /// The tools whose doubles the step called (`helm`, `istioctl`, ...).
        doubles: Vec<String>,
    },
    /// Did not run: the rehearsal applied a stand-in manifest instead.
    StandIn {
        /// The stand-in manifest, relative to the runbook.
        file: String,
        /// The context it was applied to.
        context: String,
    },
    /// Did not run; its stand-in outputs were given to the steps after it.
    Skipped {
        /// Why the rehearsal skips it.
        reason: String,
    },
}

impl Rehearsed {
    /// Whether the step ran as written (with real tools or doubles).
    pub fn ran(&self) -> bool {
        matches!(self, Rehearsed::Real | Rehearsed::Double { .. })
    }

    /// The words for people: `real`, `double: helm, istioctl`, `skipped: REASON`,
    /// `stand-in: applied FILE to CONTEXT`.
    pub fn describe(&self) -> String {
        match self {
            Rehearsed::Real => "real".to_string(),
            Rehearsed::Double { doubles } => format!("double: {}", doubles.join(", ")),
            Rehearsed::StandIn { file, context } => {
                format!("stand-in: applied {file} to {context}")
            }
            Rehearsed::Skipped { reason } => format!("skipped: {reason}"),
        }
    }
}

/// One thing that happened in a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "event")]
pub enum RunEvent {
    /// The scheduler started (or continued) the run.
    RunStarted {
        /// The run's id.
        run_id: String,
        /// Requirements of the runbook the machine did not meet, which `--ignore-requirements`
        /// went past (journaled at every start of the run).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        ignored_requirements: Vec<String>,
        /// Steps in the run.
        steps: usize,
        /// Steps that will run (the rest are restored).
        to_run: usize,
    },
    /// An attempt of a step began.
    StepStarted {
        /// Step id.
        step: String,
        /// 1 for the first attempt.
        attempt: u32,
        /// Hash of the step's definition and resolved inputs.
        fingerprint: String,
    },
    /// An attempt produced outputs that do not yet satisfy the step's `wait` condition.
    WaitPending {
        /// Step id.
        step: String,
        /// The attempt that was not yet satisfied.
        attempt: u32,
        /// What is not satisfied (never a secret value).
        reason: String,
        /// Delay before the next try, in milliseconds.
        next_in_ms: u64,
    },
    /// An attempt failed and another will follow.
    AttemptFailed {
        /// Step id.
        step: String,
        /// The failed attempt.
        attempt: u32,
        /// Why it failed.
        error: String,
        /// Delay before the next attempt, in milliseconds.
        retry_in_ms: u64,
    },
    /// A step finished and produced its outputs.
    StepSucceeded {
        /// Step id.
        step: String,
        /// Attempts used.
        attempt: u32,
        /// Produced outputs; secrets sealed.
        outputs: IndexMap<String, Stored>,
        /// From the first attempt's start to success, in milliseconds.
        duration_ms: u64,
        /// Hash of the step's definition and resolved inputs.
        fingerprint: String,
        /// In a rehearsal, how the step was carried out; absent in a run on real clusters.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        rehearsed: Option<Rehearsed>,
        /// Processes the step left running when it ended, killed then ([`left_running`]).
        #[serde(default, skip_serializing_if = "is_zero")]
        left_running: usize,
    },
    /// A step failed for good.
    StepFailed {
        /// Step id.
        step: String,
        /// Attempts used.
        attempt: u32,
        /// Why the last attempt failed.
        error: String,
        /// Whether trying again could not have helped (so retries were not spent on it).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        permanent: bool,
        /// From the first attempt's start, in milliseconds.
        duration_ms: u64,
    },
    /// A step was stopped by a signal before it finished.
    StepInterrupted {
        /// Step id.
        step: String,
        /// The attempt that was stopped.
        attempt: u32,
    },
    /// A step did not run.
    StepSkipped {
        /// Step id.
        step: String,
        /// Why.
        #[serde(flatten)]
        reason: SkipReason,
    },
    /// The run ended.
    RunFinished {
        /// How.
        outcome: Outcome,
        /// Steps that succeeded in this invocation or were restored.
        succeeded: usize,
        /// Steps that failed.
        failed: usize,
        /// Steps that did not run because a dependency failed.
        blocked: usize,
        /// Steps stopped or never started because of a signal.
        interrupted: usize,
        /// Wall time of this invocation, in milliseconds.
        duration_ms: u64,
    },
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// How a step's leftovers are told, in its log and in the live output:
/// `left 1 process running: killed`.
pub fn left_running(n: usize) -> String {
    let noun = if n == 1 { "process" } else { "processes" };
    format!("left {n} {noun} running: killed")
}

impl RunEvent {
    /// The step this event is about, if any.
    pub fn step(&self) -> Option<&str> {
        match self {
            RunEvent::StepStarted { step, .. }
            | RunEvent::WaitPending { step, .. }
            | RunEvent::AttemptFailed { step, .. }
            | RunEvent::StepSucceeded { step, .. }
            | RunEvent::StepFailed { step, .. }
            | RunEvent::StepInterrupted { step, .. }
            | RunEvent::StepSkipped { step, .. } => Some(step),
            RunEvent::RunStarted { .. } | RunEvent::RunFinished { .. } => None,
        }
    }
}

/// Where events go. The journal is a sink whose `sync` makes them durable; views ignore `sync`.
pub trait EventSink: Send {
    /// Takes one event.
    fn event(&mut self, event: &RunEvent) -> std::io::Result<()>;
    /// Makes every event taken so far durable; called before any dependant of a finished step starts.
    fn sync(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip_as_tagged_json() {
        let e = RunEvent::StepSkipped {
            step: "b".into(),
            reason: SkipReason::Blocked {
                dependency: "a".into(),
            },
        };
        let text = serde_json::to_string(&e).unwrap();
        assert_eq!(
            text,
            r#"{"event":"step_skipped","step":"b","kind":"blocked","dependency":"a"}"#
        );
        assert_eq!(serde_json::from_str::<RunEvent>(&text).unwrap(), e);
        let mut outputs = IndexMap::new();
        outputs.insert("TOKEN".to_string(), Stored::Sealed("abc".into()));
        let s = RunEvent::StepSucceeded {
            step: "a".into(),
            attempt: 1,
            outputs: outputs.clone(),
            duration_ms: 3,
            fingerprint: "f".into(),
            rehearsed: None,
            left_running: 0,
        };
        let text = serde_json::to_string(&s).unwrap();
        assert!(text.contains(r#""TOKEN":{"sealed":"abc"}"#), "{text}");
        assert!(
            !text.contains("rehearsed") && !text.contains("left_running"),
            "{text}"
        );
        assert_eq!(serde_json::from_str::<RunEvent>(&text).unwrap(), s);
        let doubled = RunEvent::StepSucceeded {
            step: "a".into(),
            attempt: 1,
            outputs,
            duration_ms: 3,
            fingerprint: "f".into(),
            rehearsed: Some(Rehearsed::Double {
                doubles: vec!["helm".into()],
            }),
            left_running: 2,
        };
        let text = serde_json::to_string(&doubled).unwrap();
        assert!(
            text.contains(r#""rehearsed":{"how":"double","doubles":["helm"]}"#),
            "{text}"
        );
        assert!(text.contains(r#""left_running":2"#), "{text}");
        assert_eq!(serde_json::from_str::<RunEvent>(&text).unwrap(), doubled);
    }
}
