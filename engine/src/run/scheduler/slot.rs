//! Everything the dispatcher keeps about one step.

use tokio::time::Instant;

use crate::model::{Rendered, Until};
use crate::run::executor::Permanence;
use crate::values::Values;

/// Where a step stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// Some dependency has not succeeded yet.
    Waiting,
    /// Queued for a free slot.
    Ready,
    /// An attempt is running.
    Running,
    /// Waiting for a retry or the next try of its `wait.until`.
    Delayed,
    /// Done (or restored).
    Succeeded,
    /// Failed for good.
    Failed,
    /// A dependency failed.
    Blocked,
    /// Stopped by a signal.
    Interrupted,
}

/// One step's bookkeeping.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) state: State,
    /// Dependencies that have not succeeded yet.
    pub(super) waiting_on: usize,
    pub(super) attempts: u32,
    /// Failed attempts, for the retry policy (a `wait.until` not met is not a failure).
    pub(super) failures: u32,
    pub(super) first_start: Option<Instant>,
    /// Of the latest attempt.
    pub(super) fingerprint: String,
    /// The values the latest attempt saw: what its events mask.
    pub(super) values: Values,
    /// The step's `wait.until`, rendered for the latest attempt.
    pub(super) until: Option<Until<Rendered>>,
    /// The last error, once failed for good.
    pub(super) error: Option<(String, Permanence)>,
}

impl Slot {
    /// A slot for a step to run, or one an earlier invocation finished (its outputs restored).
    pub(super) fn new(restored: Option<Values>) -> Slot {
        Slot {
            state: if restored.is_some() {
                State::Succeeded
            } else {
                State::Waiting
            },
            waiting_on: 0,
            attempts: 0,
            failures: 0,
            first_start: None,
            fingerprint: String::new(),
            values: Values::new(),
            until: None,
            error: None,
        }
    }

    /// Milliseconds since the first attempt started.
    pub(super) fn elapsed_ms(&self) -> u64 {
        self.first_start
            .map_or(0, |t| t.elapsed().as_millis() as u64)
    }
}
