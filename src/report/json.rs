//! JSON lines on stdout: every event as one object, `{"at": ms, "event": kind, ...}`, the same
//! shape as the journal. Step output (`-v`) goes to stderr as plain text so stdout stays JSON.

use std::io::Write;
use std::sync::Arc;

use meshbook_engine::events::RunEvent;
use meshbook_engine::run::executor::{Echo, Stream};
use meshbook_engine::state::journal::{Entry, now_ms};

/// The JSON reporter.
pub struct Json {
    verbose: bool,
}

impl Json {
    /// A JSON reporter.
    pub fn new(verbose: bool) -> Json {
        Json { verbose }
    }

    /// The echo for `-v`, on stderr.
    pub fn echo(&self) -> Option<Echo> {
        self.verbose.then(|| {
            Arc::new(|step: &str, _: Stream, line: &str| {
                let _ = writeln!(std::io::stderr().lock(), "{step} | {line}");
            }) as Echo
        })
    }

    /// Writes the event as one JSON line.
    pub fn event(&mut self, event: &RunEvent) -> std::io::Result<()> {
        let entry = Entry {
            at: now_ms(),
            event: event.clone(),
        };
        if let Ok(text) = serde_json::to_string(&entry) {
            let _ = writeln!(std::io::stdout().lock(), "{text}");
        }
        Ok(())
    }
}
