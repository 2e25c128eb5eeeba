//! The live terminal view: an overall bar, and a spinner per active step with its attempt,
//! retry or wait state and elapsed time. Finished steps scroll above as plain lines.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};
use meshbook_engine::events::{RunEvent, SkipReason};
use meshbook_engine::state::log::{Echo, Stream};

/// The live reporter.
pub(crate) struct Tty {
    multi: MultiProgress,
    overall: ProgressBar,
    active: HashMap<String, ProgressBar>,
}

impl Tty {
    /// A live view for a run of `total` steps.
    pub(crate) fn new(total: usize) -> Tty {
        let multi = MultiProgress::new();
        let overall = multi.add(ProgressBar::new(total as u64));
        overall.set_style(
            ProgressStyle::with_template("[{elapsed_precise}] {bar:30} {pos}/{len} steps {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        overall.enable_steady_tick(Duration::from_millis(200));
        Tty {
            multi,
            overall,
            active: HashMap::new(),
        }
    }

    /// The echo for `-v`: lines printed above the live view.
    pub(crate) fn echo(&self) -> Echo {
        let multi = self.multi.clone();
        Arc::new(move |step: &str, _: Stream, line: &str| {
            let _ = multi.println(format!("{step} | {line}"));
        })
    }

    /// Prints a line above the live view.
    pub(crate) fn line(&self, text: &str) {
        let _ = self.multi.println(text);
    }

    fn spinner(&mut self, step: &str) -> &ProgressBar {
        let multi = &self.multi;
        self.active.entry(step.to_string()).or_insert_with(|| {
            let bar = multi.add(ProgressBar::new_spinner());
            bar.set_style(
                ProgressStyle::with_template("  {spinner} {prefix} {msg} [{elapsed}]")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_prefix(step.to_string());
            bar.enable_steady_tick(Duration::from_millis(120));
            bar
        })
    }

    fn close(&mut self, step: &str) {
        if let Some(bar) = self.active.remove(step) {
            bar.finish_and_clear();
            self.multi.remove(&bar);
        }
    }

    /// Updates the view for one event.
    pub(crate) fn event(&mut self, event: &RunEvent) {
        match event {
            RunEvent::StepStarted { step, attempt, .. } => {
                let msg = if *attempt > 1 {
                    format!("attempt {attempt}")
                } else {
                    String::new()
                };
                self.spinner(step).set_message(msg);
            }
            RunEvent::WaitPending {
                step,
                attempt,
                reason,
                ..
            } => {
                self.spinner(step)
                    .set_message(format!("waiting (try {attempt}): {reason}"));
            }
            RunEvent::AttemptFailed {
                step,
                attempt,
                retry_in_ms,
                ..
            } => {
                let next = super::human(Duration::from_millis(*retry_in_ms));
                self.spinner(step)
                    .set_message(format!("attempt {attempt} failed; retry in {next}"));
            }
            RunEvent::StepSucceeded { step, .. }
            | RunEvent::StepFailed { step, .. }
            | RunEvent::StepInterrupted { step, .. } => {
                self.close(step);
                self.overall.inc(1);
            }
            RunEvent::StepSkipped {
                reason: SkipReason::Restored,
                ..
            } => {
                self.overall.inc(1);
                return;
            }
            RunEvent::StepSkipped { .. } => self.overall.inc(1),
            RunEvent::RunStarted { .. } | RunEvent::RunFinished { .. } => {}
        }
        if !matches!(
            event,
            RunEvent::StepStarted { .. }
                | RunEvent::WaitPending { .. }
                | RunEvent::AttemptFailed { .. }
        ) && let Some(line) = super::describe(event)
        {
            let _ = self
                .multi
                .println(super::painted(crate::color::Stream::Stderr, &line));
        }
    }

    /// Removes the live view.
    pub(crate) fn finish(&mut self) {
        for (_, bar) in self.active.drain() {
            bar.finish_and_clear();
        }
        self.overall.finish_and_clear();
    }
}
