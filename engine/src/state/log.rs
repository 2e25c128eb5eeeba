//! One step's log: its file (one section per attempt, private to the owner), with every secret
//! value the step can see masked, and each line echoed live to a viewer when one is watching.
//! The shell and kube executors both write through it.
//!
//! The file is created when the first thing is written to it: a step that prints nothing and
//! succeeds has no log (creating a file per trivial step was a third of its cost), while an
//! attempt that fails always has its section, so the log a failure names exists.

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
    /// The file once opened, shared by every copy of this log.
    file: Arc<Mutex<Section>>,
}

/// The state of the log file: opened on the first write, with the header of the attempt
/// written before that attempt's first text.
#[derive(Debug, Default)]
struct Section {
    file: Option<File>,
    /// The attempt begun last, and whether its header is in the file yet.
    attempt: Option<(u32, bool)>,
    /// The first error writing the file, kept so that lost output is not silent.
    error: Option<String>,
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
            file: Arc::default(),
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

    /// Begins the section of one attempt, headed `==> STEP attempt N` once something is written
    /// to it (the file, 0600, and its folder, 0700, are created then). Beginning the same
    /// attempt again continues its section.
    pub fn begin(&self, attempt: u32) -> Lines {
        if let Ok(mut section) = self.file.lock()
            && section.attempt.is_none_or(|(a, _)| a != attempt)
        {
            section.attempt = Some((attempt, false));
        }
        Lines { log: self.clone() }
    }

    /// Writes `text` to the current section, opening the file and writing the section's header
    /// first when needed. An error is kept (see [`Lines::error`]).
    fn write(&self, text: &[u8]) {
        let Ok(mut section) = self.file.lock() else {
            return;
        };
        if let Err(e) = self.write_to(&mut section, text) {
            section
                .error
                .get_or_insert_with(|| format!("{}: {e}", self.path.display()));
        }
    }

    fn write_to(&self, section: &mut Section, text: &[u8]) -> io::Result<()> {
        let file = match &mut section.file {
            Some(file) => file,
            None => section.file.insert(self.open()?),
        };
        if let Some((attempt, false)) = section.attempt {
            // One write per header: with O_APPEND it is never split by another writer.
            file.write_all(format!("==> {} attempt {attempt}\n", self.step).as_bytes())?;
            section.attempt = Some((attempt, true));
        }
        if !text.is_empty() {
            file.write_all(text)?;
        }
        Ok(())
    }

    fn open(&self) -> io::Result<File> {
        let open = || {
            OpenOptions::new()
                .create(true)
                .append(true)
                .mode(0o600)
                .open(&self.path)
        };
        // The folder exists but for the first log of a run: trying first saves two calls.
        match (open(), self.path.parent()) {
            (Err(e), Some(dir)) if e.kind() == io::ErrorKind::NotFound => {
                fsutil::create_private_dir(dir)?;
                open()
            }
            (file, _) => file,
        }
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
}

impl Lines {
    /// Writes one line (a newline is added when missing): masked, kept and echoed.
    pub fn line(&self, stream: Stream, line: &str) {
        let shown = self.log.mask(line);
        if shown.ends_with('\n') {
            self.log.write(shown.as_bytes());
        } else {
            self.log.write(format!("{shown}\n").as_bytes());
        }
        self.log.echo(stream, &shown);
    }

    /// Writes text as it came (several lines, perhaps no final newline), masked, not echoed.
    pub fn raw(&self, text: &str) {
        self.log.write(self.log.mask(text).as_bytes());
    }

    /// Writes bytes as they came, not echoed: kept byte for byte unless there are secrets to
    /// mask (then read as UTF-8, as lines are).
    pub fn bytes(&self, bytes: &[u8]) {
        if self.log.is_masking() {
            self.raw(&String::from_utf8_lossy(bytes));
        } else {
            self.log.write(bytes);
        }
    }

    /// Makes sure the section exists, even with nothing in it: a failed attempt's log is
    /// named in the failure, so it must be there.
    pub fn keep(&self) -> Result<(), String> {
        self.log.write(b"");
        self.error()
    }

    /// The first error writing the log, if any: output that could not be kept.
    pub fn error(&self) -> Result<(), String> {
        match self.log.file.lock() {
            Ok(section) => section.error.clone().map_or(Ok(()), Err),
            Err(_) => Err(format!(
                "{}: the log's lock is poisoned",
                self.log.path.display()
            )),
        }
    }

    /// The same section, masking `more` secrets too (values the step produced).
    pub fn masking(&self, more: impl IntoIterator<Item = String>) -> Lines {
        Lines {
            log: self.log.masking(more),
        }
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
        let lines = log.begin(1);
        assert!(!path.exists(), "nothing written yet, no file");
        lines.line(Stream::Stdout, "token hunter2");
        lines.line(Stream::Stderr, "warning\n");
        log.begin(2).raw("plain hunter2 text\n");
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

    #[test]
    fn a_silent_attempt_leaves_no_file_and_a_kept_one_its_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/s.log");
        let log = StepLog::new(path.clone(), "s", None, Vec::new());
        log.begin(1);
        assert!(!path.exists());
        let second = log.begin(2);
        second.keep().unwrap();
        // Kept twice, or begun again, the section is not headed twice.
        second.keep().unwrap();
        log.begin(2).bytes(b"out\xff\n");
        log.begin(3).bytes(b"");
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"==> s attempt 2\nout\xff\n==> s attempt 3\n"
        );
    }

    #[test]
    fn output_that_cannot_be_kept_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        // The log's folder is a file: the log cannot be created.
        std::fs::write(dir.path().join("logs"), "").unwrap();
        let lines = StepLog::new(dir.path().join("logs/s.log"), "s", None, Vec::new()).begin(1);
        assert_eq!(lines.error(), Ok(()));
        lines.line(Stream::Stdout, "lost");
        let error = lines.error().unwrap_err();
        assert!(error.contains("logs/s.log"), "{error}");
        assert!(lines.keep().is_err());
    }

    #[test]
    fn bytes_are_masked_when_there_are_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.log");
        let log = StepLog::new(path.clone(), "s", None, vec!["hunter2".into()]);
        log.begin(1).bytes(b"pw hunter2\n");
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "==> s attempt 1\npw ***\n"
        );
    }
}
