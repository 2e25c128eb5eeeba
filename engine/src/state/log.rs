//! One step's log: its file (one section per attempt, private to the owner), with every secret
//! value the step can see masked, and each line echoed live to a viewer when one is watching.
//! The shell and kube executors both write through it.

use std::borrow::Cow;
use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::mask::mask;
use crate::state::fsutil;

/// Which stream a line of step output came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Receives a step's output lines as they appear (for `-v`): step id, stream, line.
pub type Echo = Arc<dyn Fn(&str, Stream, &str) + Send + Sync>;

/// Where one step's output goes.
#[derive(Clone)]
pub struct StepLog {
    path: PathBuf,
    step: String,
    echo: Option<Echo>,
    secrets: Arc<[String]>,
}

impl std::fmt::Debug for StepLog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StepLog")
            .field("path", &self.path)
            .field("echo", &self.echo.is_some())
            .field("secrets", &self.secrets.len())
            .finish()
    }
}

impl StepLog {
    /// The log of `step` at `path`, masking `secrets`, echoing to `echo` when set.
    pub fn new(path: PathBuf, step: &str, echo: Option<Echo>, secrets: Vec<String>) -> StepLog {
        StepLog {
            path,
            step: step.to_string(),
            echo,
            secrets: secrets.into(),
        }
    }

    /// The log file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Whether someone watches the lines live.
    pub fn is_echoed(&self) -> bool {
        self.echo.is_some()
    }

    /// Whether lines must be masked before they are kept or shown.
    pub fn is_masking(&self) -> bool {
        !self.secrets.is_empty()
    }

    /// The same log, masking `more` secrets too (values the step produced).
    pub fn masking(&self, more: impl IntoIterator<Item = String>) -> StepLog {
        let mut secrets: Vec<String> = self.secrets.to_vec();
        secrets.extend(more.into_iter().filter(|s| !s.trim().is_empty()));
        StepLog {
            secrets: secrets.into(),
            ..self.clone()
        }
    }

    /// A copy that echoes nothing (output that must not be shown live).
    pub fn unechoed(&self) -> StepLog {
        StepLog {
            echo: None,
            ..self.clone()
        }
    }

    /// `text` with the secrets masked.
    pub(crate) fn mask<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.secrets.is_empty() {
            Cow::Borrowed(text)
        } else {
            Cow::Owned(mask(text, &self.secrets))
        }
    }

    /// Opens the log for one attempt: its folder (0700) and file (0600) are created, and a
    /// `==> STEP attempt N` header starts the attempt's section.
    pub fn begin(&self, attempt: u32) -> io::Result<Lines> {
        if let Some(dir) = self.path.parent() {
            fsutil::create_private_dir(dir)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(&self.path)?;
        writeln!(file, "==> {} attempt {attempt}", self.step)?;
        Ok(Lines {
            log: self.clone(),
            file: Arc::new(Mutex::new(file)),
        })
    }

    /// Echoes one (already masked) line.
    fn echo(&self, stream: Stream, line: &str) {
        if let Some(echo) = &self.echo {
            echo(&self.step, stream, line.trim_end_matches(['\n', '\r']));
        }
    }
}

/// An attempt's section of a step log, open for writing.
#[derive(Clone)]
pub struct Lines {
    log: StepLog,
    file: Arc<Mutex<File>>,
}

impl Lines {
    /// Writes one line (a newline is added when missing): masked, kept and echoed.
    pub fn line(&self, stream: Stream, line: &str) {
        let shown = self.log.mask(line);
        if let Ok(mut f) = self.file.lock() {
            let _ = f.write_all(shown.as_bytes());
            if !shown.ends_with('\n') {
                let _ = f.write_all(b"\n");
            }
        }
        self.log.echo(stream, &shown);
    }

    /// Writes text as it came (several lines, perhaps no final newline), masked, not echoed.
    pub fn raw(&self, text: &str) {
        if let Ok(mut f) = self.file.lock() {
            let _ = f.write_all(self.log.mask(text).as_bytes());
        }
    }

    /// The same section, masking `more` secrets too (values the step produced).
    pub fn masking(&self, more: impl IntoIterator<Item = String>) -> Lines {
        Lines {
            log: self.log.masking(more),
            file: Arc::clone(&self.file),
        }
    }

    /// A handle on the file, for a child process to write to directly (nothing to mask or echo).
    pub fn file(&self) -> io::Result<File> {
        self.file
            .lock()
            .map_err(|_| io::Error::other("the log's lock is poisoned"))?
            .try_clone()
    }

    /// The log these lines belong to.
    pub fn log(&self) -> &StepLog {
        &self.log
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn attempts_are_sections_lines_are_masked_and_echoed() {
        let dir = tempfile::tempdir().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&seen);
        let echo: Echo = Arc::new(move |step: &str, stream: Stream, line: &str| {
            sink.lock()
                .unwrap()
                .push(format!("{step} {stream:?} {line}"))
        });
        let path = dir.path().join("logs/s.log");
        let log = StepLog::new(path.clone(), "s", Some(echo), vec!["hunter2".into()]);
        let lines = log.begin(1).unwrap();
        lines.line(Stream::Stdout, "token hunter2");
        lines.line(Stream::Stderr, "warning\n");
        log.begin(2).unwrap().raw("plain hunter2 text\n");
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "==> s attempt 1\ntoken ***\nwarning\n==> s attempt 2\nplain *** text\n"
        );
        assert_eq!(
            *seen.lock().unwrap(),
            ["s Stdout token ***", "s Stderr warning"]
        );
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!((mode(&path), mode(path.parent().unwrap())), (0o600, 0o700));
    }
}
