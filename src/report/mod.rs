//! Run reporters: sinks for the scheduler's events. A live view on a terminal, plain lines
//! otherwise, JSON lines for machines. None of them ever shows a secret value: outputs arrive
//! sealed and are shown as `***`.

mod json;
mod plain;
mod tty;

use std::io::IsTerminal;
use std::time::Duration;

use clap::ValueEnum;
use meshbook_engine::events::{EventSink, RunEvent, SkipReason, Stored};
use meshbook_engine::run::executor::Echo;

/// How a run reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum LogFormat {
    /// A live view on a terminal, plain lines otherwise.
    #[default]
    Auto,
    /// Plain lines, one per event.
    Plain,
    /// One JSON object per event.
    Json,
}

/// The chosen reporter.
pub enum Reporter {
    /// Plain lines.
    Plain(plain::Plain),
    /// JSON lines.
    Json(json::Json),
    /// The live terminal view.
    Tty(tty::Tty),
}

impl Reporter {
    /// Picks a reporter for `format`; `total` is the number of steps, `verbose` echoes step output.
    pub fn new(format: LogFormat, total: usize, verbose: bool) -> Reporter {
        match format {
            LogFormat::Json => Reporter::Json(json::Json::new(verbose)),
            LogFormat::Plain => Reporter::Plain(plain::Plain::new(verbose)),
            LogFormat::Auto if std::io::stdout().is_terminal() => {
                Reporter::Tty(tty::Tty::new(total, verbose))
            }
            LogFormat::Auto => Reporter::Plain(plain::Plain::new(verbose)),
        }
    }

    /// The live echo of step output, with `-v`.
    pub fn echo(&self) -> Option<Echo> {
        match self {
            Reporter::Plain(p) => p.echo(),
            Reporter::Json(j) => j.echo(),
            Reporter::Tty(t) => t.echo(),
        }
    }

    /// Prints a line that is not an event (a plan, a notice), keeping the live view intact.
    pub fn line(&self, text: &str) {
        match self {
            Reporter::Tty(t) => t.line(text),
            Reporter::Json(_) => eprintln!("{text}"),
            Reporter::Plain(_) => outln!("{text}"),
        }
    }

    /// Ends the live view.
    pub fn finish(&mut self) {
        if let Reporter::Tty(t) = self {
            t.finish();
        }
    }
}

impl EventSink for Reporter {
    fn event(&mut self, event: &RunEvent) -> std::io::Result<()> {
        match self {
            Reporter::Plain(p) => p.event(event),
            Reporter::Json(j) => j.event(event),
            Reporter::Tty(t) => t.event(event),
        }
    }
}

/// A short human duration: `340ms`, `2.5s`, `3m05s`.
pub fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms}ms")
    } else if ms < 60_000 {
        format!("{:.1}s", d.as_secs_f64())
    } else {
        format!("{}m{:02}s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// The line describing an event for people, or `None` for events not worth a line.
pub fn describe(event: &RunEvent) -> Option<String> {
    let ms = |m: &u64| human(Duration::from_millis(*m));
    Some(match event {
        RunEvent::RunStarted {
            run_id,
            steps,
            to_run,
        } => {
            format!("run {run_id}: {to_run} of {steps} steps to run")
        }
        RunEvent::StepStarted {
            step, attempt: 1, ..
        } => format!("start  {step}"),
        RunEvent::StepStarted { step, attempt, .. } => format!("start  {step} (attempt {attempt})"),
        RunEvent::WaitPending {
            step,
            reason,
            next_in_ms,
            ..
        } => {
            format!("wait   {step}: {reason}; next try in {}", ms(next_in_ms))
        }
        RunEvent::AttemptFailed {
            step,
            attempt,
            error,
            retry_in_ms,
        } => {
            format!(
                "retry  {step}: attempt {attempt} failed: {error}; next attempt in {}",
                ms(retry_in_ms)
            )
        }
        RunEvent::StepSucceeded {
            step,
            outputs,
            duration_ms,
            ..
        } => {
            let mut line = format!("done   {step} ({})", ms(duration_ms));
            if !outputs.is_empty() {
                let shown: Vec<String> = outputs
                    .iter()
                    .map(|(k, v)| format!("{k}={}", short(v)))
                    .collect();
                line.push_str(&format!(": {}", shown.join(" ")));
            }
            line
        }
        RunEvent::StepFailed {
            step,
            attempt,
            error,
            ..
        } => {
            let tries = if *attempt == 1 {
                String::new()
            } else {
                format!(" after {attempt} attempts")
            };
            format!("FAILED {step}{tries}: {error}")
        }
        RunEvent::StepInterrupted { step, .. } => format!("stop   {step}: interrupted"),
        RunEvent::StepSkipped {
            step,
            reason: SkipReason::Blocked { dependency },
        } => {
            format!("skip   {step}: `{dependency}` did not succeed")
        }
        RunEvent::StepSkipped {
            reason: SkipReason::Restored,
            ..
        }
        | RunEvent::RunFinished { .. } => {
            return None;
        }
    })
}

/// An output value for one line: secrets masked, long or multi-line values shortened.
pub fn short(v: &Stored) -> String {
    let text = v.display();
    let first = text.lines().next().unwrap_or_default();
    if first.chars().count() > 60 || text.contains('\n') {
        let cut: String = first.chars().take(57).collect();
        format!("{cut}...")
    } else {
        first.to_string()
    }
}
