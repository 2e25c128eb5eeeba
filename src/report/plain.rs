//! Plain lines on stdout, one per event: for logs, pipes and CI.

use std::io::Write;
use std::sync::Arc;

use meshbook_engine::events::RunEvent;
use meshbook_engine::run::executor::{Echo, Stream};

/// The plain reporter.
pub struct Plain {
    verbose: bool,
}

impl Plain {
    /// A plain reporter; with `verbose`, step output is echoed as `step | line`.
    pub fn new(verbose: bool) -> Plain {
        Plain { verbose }
    }

    /// The echo for `-v`.
    pub fn echo(&self) -> Option<Echo> {
        self.verbose.then(|| {
            Arc::new(|step: &str, _: Stream, line: &str| {
                let _ = writeln!(std::io::stdout().lock(), "{step} | {line}");
            }) as Echo
        })
    }

    /// Writes the event's line.
    pub fn event(&mut self, event: &RunEvent) -> std::io::Result<()> {
        if let Some(line) = super::describe(event) {
            // A closed stdout (a pipe to `head`) must not stop the run.
            let _ = writeln!(std::io::stdout().lock(), "{line}");
        }
        Ok(())
    }
}
