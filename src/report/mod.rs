//! Run reporters: sinks for the scheduler's events. A live view on a terminal, plain lines
//! otherwise, JSON lines for machines. None of them ever shows a secret value: outputs arrive
//! sealed and are shown as `***`.

mod tty;

use std::io::{IsTerminal, Write as _};
use std::sync::Arc;
use std::time::Duration;

use clap::ValueEnum;

use crate::color::{self, Paint};
use meshbook_engine::events::{EventSink, Rehearsed, RunEvent, SkipReason, Stored};
use meshbook_engine::state::journal::{Entry, now_ms};
use meshbook_engine::state::log::{Echo, Stream};

/// How a run reports progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub(crate) enum LogFormat {
    /// A live view on a terminal, plain lines otherwise.
    #[default]
    Auto,
    /// Plain lines, one per event.
    Plain,
    /// One JSON object per event.
    Json,
}

/// How events are shown.
enum Style {
    /// Plain lines on stdout: for logs, pipes and CI.
    Plain,
    /// JSON lines on stdout, the journal's shape; step output (`-v`) goes to stderr so stdout
    /// stays JSON.
    Json,
    /// The live terminal view.
    Tty(tty::Tty),
}

/// The reporter of a run: a sink for its events, and the viewer of step output with `-v`.
pub(crate) struct Reporter {
    style: Style,
    verbose: bool,
}

impl Reporter {
    /// Picks a reporter for `format`; `total` is the number of steps, `verbose` echoes step output.
    pub(crate) fn new(format: LogFormat, total: usize, verbose: bool) -> Reporter {
        let style = match format {
            LogFormat::Json => Style::Json,
            LogFormat::Plain => Style::Plain,
            // The live view draws on stderr: with either stream redirected, plain lines instead.
            LogFormat::Auto
                if std::io::stdout().is_terminal() && std::io::stderr().is_terminal() =>
            {
                Style::Tty(tty::Tty::new(total))
            }
            LogFormat::Auto => Style::Plain,
        };
        Reporter { style, verbose }
    }

    /// The live echo of step output, with `-v`, as `step | line`.
    pub(crate) fn echo(&self) -> Option<Echo> {
        if !self.verbose {
            return None;
        }
        Some(match &self.style {
            Style::Tty(t) => t.echo(),
            Style::Plain => Arc::new(|step: &str, _: Stream, line: &str| {
                let _ = writeln!(std::io::stdout().lock(), "{step} | {line}");
            }),
            Style::Json => Arc::new(|step: &str, _: Stream, line: &str| {
                let _ = writeln!(std::io::stderr().lock(), "{step} | {line}");
            }),
        })
    }

    /// Prints a line that is not an event (a plan, a notice), keeping the live view intact.
    pub(crate) fn line(&self, text: &str) {
        match &self.style {
            Style::Tty(t) => t.line(text),
            Style::Json => {
                let _ = writeln!(std::io::stderr().lock(), "{text}");
            }
            Style::Plain => outln!("{text}"),
        }
    }

    /// Ends the live view.
    pub(crate) fn finish(&mut self) {
        if let Style::Tty(t) = &mut self.style {
            t.finish();
        }
    }
}

impl EventSink for Reporter {
    fn event(&mut self, event: &RunEvent) -> std::io::Result<()> {
        // A closed stdout (a pipe to `head`) must not stop the run: write errors are ignored.
        match &mut self.style {
            Style::Tty(t) => t.event(event),
            Style::Plain => {
                if let Some(line) = describe(event) {
                    outln!("{}", painted(color::Stream::Stdout, &line));
                }
            }
            Style::Json => {
                let entry = Entry {
                    at: now_ms(),
                    event: event.clone(),
                };
                if let Ok(text) = serde_json::to_string(&entry) {
                    outln!("{text}");
                }
            }
        }
        Ok(())
    }
}

/// A short human duration: `340ms`, `2.5s`, `3m05s`.
pub(crate) fn human(d: Duration) -> String {
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
pub(crate) fn describe(event: &RunEvent) -> Option<String> {
    let ms = |m: &u64| human(Duration::from_millis(*m));
    Some(match event {
        RunEvent::RunStarted {
            run_id,
            steps,
            to_run,
            ignored_requirements,
        } => {
            let mut line = format!("run {run_id}: {to_run} of {steps} steps to run");
            for r in ignored_requirements {
                line.push_str(&format!("\n  ignoring requirement: {r}"));
            }
            line
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
            rehearsed,
            left_running,
            ..
        } => {
            let shown: Vec<String> = outputs
                .iter()
                .map(|(k, v)| format!("{k}={}", short(v)))
                .collect();
            let shown = shown.join(" ");
            let took = ms(duration_ms);
            // A rehearsal's step that did not run as written never reads as plain `done`.
            let (line, outputs_are) = match rehearsed {
                Some(Rehearsed::Skipped { reason }) => {
                    (format!("skipped {step}: {reason}"), "; stand-in outputs: ")
                }
                Some(Rehearsed::StandIn { file, context }) => (
                    format!("stand-in {step} ({took}): applied {file} to {context} instead"),
                    "; stand-in outputs: ",
                ),
                Some(Rehearsed::Double { doubles }) => (
                    format!("done   {step} ({took}, double: {})", doubles.join(", ")),
                    ": ",
                ),
                Some(Rehearsed::Real) | None => (format!("done   {step} ({took})"), ": "),
            };
            let line = match left_running {
                0 => line,
                n => format!("{line} [{}]", meshbook_engine::events::left_running(*n)),
            };
            if shown.is_empty() {
                line
            } else {
                format!("{line}{outputs_are}{shown}")
            }
        }
        RunEvent::StepFailed {
            step,
            attempt,
            error,
            permanent,
            ..
        } => {
            let tries = if *attempt == 1 {
                String::new()
            } else {
                format!(" after {attempt} attempts")
            };
            let kind = if *permanent {
                " [permanent: not retried]"
            } else {
                ""
            };
            format!("FAILED {step}{tries}: {error}{kind}")
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

/// An event's line with its first word (`done`, `FAILED`, `retry`, ...) coloured when `stream`
/// is.
pub(crate) fn painted(stream: color::Stream, line: &str) -> String {
    let (word, rest) = line.split_at(line.find(' ').unwrap_or(line.len()));
    let paint = match word {
        "done" => Paint::Green,
        "FAILED" => Paint::Red,
        "retry" | "wait" | "skip" | "skipped" | "stand-in" | "stop" => Paint::Yellow,
        _ => return line.to_string(),
    };
    format!("{}{rest}", color::paint(stream, paint, word))
}

/// An output value for one line: secrets masked, long or multi-line values shortened.
pub(crate) fn short(v: &Stored) -> String {
    let text = v.display();
    let first = text.lines().next().unwrap_or_default();
    if first.chars().count() > 60 || text.contains('\n') {
        let cut: String = first.chars().take(57).collect();
        format!("{cut}...")
    } else {
        first.to_string()
    }
}
