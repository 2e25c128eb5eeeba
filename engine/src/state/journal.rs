//! The append-only journal of a run's events: one JSON object per line, synced to disk before any
//! dependant of a finished step starts. A crash can only tear the last line; loading ignores it and
//! reopening cuts it off, so the file stays a clean sequence of lines.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::events::{EventSink, RunEvent};
use crate::state::fsutil;

/// A journal line: when, and what.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// Milliseconds since the Unix epoch.
    pub at: u64,
    /// The event.
    #[serde(flatten)]
    pub event: RunEvent,
}

/// Why a journal could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The file could not be opened, read or written.
    #[error("journal {path}: {source}")]
    Io {
        /// The journal file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A line before the last one is not an event: the file was changed by something else.
    #[error("journal {path}, line {line}: not a meshbook event: {source}")]
    Corrupt {
        /// The journal file.
        path: PathBuf,
        /// 1-based line number.
        line: usize,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
}

/// An open journal, appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    dirty: bool,
}

impl Journal {
    /// Opens (creating, mode 0600) the journal at `path` for appending, first cutting off a torn
    /// last line left by a crash. The caller must hold the run's lock.
    pub fn open(path: &Path) -> Result<Journal, JournalError> {
        let io_err = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = fsutil::open_append(path).map_err(io_err)?;
        let mut text = Vec::new();
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        file.read_to_end(&mut text).map_err(io_err)?;
        let keep = clean_len(&text);
        if keep != text.len() {
            file.set_len(keep as u64).map_err(io_err)?;
            file.sync_all().map_err(io_err)?;
        }
        Ok(Journal {
            path: path.to_path_buf(),
            file,
            dirty: false,
        })
    }

    /// Appends one event (not yet durable: see [`Journal::sync`]).
    pub(crate) fn append(&mut self, event: &RunEvent) -> Result<(), JournalError> {
        let entry = Entry {
            at: now_ms(),
            event: event.clone(),
        };
        let mut line = serde_json::to_vec(&entry).map_err(|e| JournalError::Io {
            path: self.path.clone(),
            source: io::Error::other(e),
        })?;
        line.push(b'\n');
        // One write per line: with O_APPEND a line is never interleaved with another.
        self.file
            .write_all(&line)
            .map_err(|source| JournalError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.dirty = true;
        Ok(())
    }

    /// Makes every appended event durable.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        if self.dirty {
            self.file.sync_data().map_err(|source| JournalError::Io {
                path: self.path.clone(),
                source,
            })?;
            self.dirty = false;
        }
        Ok(())
    }
}

impl EventSink for Journal {
    fn event(&mut self, event: &RunEvent) -> io::Result<()> {
        self.append(event).map_err(io::Error::other)
    }
    fn sync(&mut self) -> io::Result<()> {
        Journal::sync(self).map_err(io::Error::other)
    }
}

/// Reads every event of the journal at `path`; a missing file is an empty journal and a torn
/// last line is ignored.
pub fn load(path: &Path) -> Result<Vec<Entry>, JournalError> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(JournalError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    parse(&text[..clean_len(&text)]).map_err(|(line, source)| JournalError::Corrupt {
        path: path.to_path_buf(),
        line,
        source,
    })
}

fn parse(text: &[u8]) -> Result<Vec<Entry>, (usize, serde_json::Error)> {
    text.split(|b| *b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.is_empty())
        .map(|(i, l)| serde_json::from_slice(l).map_err(|e| (i + 1, e)))
        .collect()
}

/// Length of the prefix made of whole, readable lines: a last line that lacks its newline or
/// does not parse is a torn write.
fn clean_len(text: &[u8]) -> usize {
    let complete = text.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
    let body = &text[..complete];
    // A crash between write and newline cannot happen (one write per line), but a partial write
    // of a line that happens to end in a newline byte is still unreadable: drop it too.
    let last_start = body[..body.len().saturating_sub(1)]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    let last = &body[last_start..];
    if !last.is_empty() && serde_json::from_slice::<Entry>(last).is_err() {
        return last_start;
    }
    complete
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::{RunEvent, SkipReason};
    use std::os::unix::fs::PermissionsExt;

    fn started(step: &str) -> RunEvent {
        RunEvent::StepStarted {
            step: step.into(),
            attempt: 1,
            fingerprint: "f".into(),
        }
    }

    #[test]
    fn appends_and_loads_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut j = Journal::open(&path).unwrap();
        j.append(&started("a")).unwrap();
        j.append(&RunEvent::StepSkipped {
            step: "b".into(),
            reason: SkipReason::Restored,
        })
        .unwrap();
        j.sync().unwrap();
        let events: Vec<_> = load(&path).unwrap().into_iter().map(|e| e.event).collect();
        assert_eq!(events.len(), 2);
        assert_eq!(events[0], started("a"));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
    }

    #[test]
    fn torn_last_line_is_ignored_then_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut j = Journal::open(&path).unwrap();
        j.append(&started("a")).unwrap();
        drop(j);
        let mut raw = std::fs::read(&path).unwrap();
        let whole = raw.len();
        raw.extend_from_slice(br#"{"at":1,"event":"step_sta"#);
        std::fs::write(&path, &raw).unwrap();
        assert_eq!(load(&path).unwrap().len(), 1);

        let mut j = Journal::open(&path).unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len() as usize, whole);
        j.append(&started("b")).unwrap();
        assert_eq!(load(&path).unwrap().len(), 2);
    }

    #[test]
    fn torn_line_with_newline_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let mut j = Journal::open(&path).unwrap();
        j.append(&started("a")).unwrap();
        drop(j);
        let mut raw = std::fs::read(&path).unwrap();
        raw.extend_from_slice(b"{\"at\":1,\n");
        std::fs::write(&path, &raw).unwrap();
        assert_eq!(load(&path).unwrap().len(), 1);
    }

    #[test]
    fn garbage_in_the_middle_is_reported_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let line = serde_json::to_string(&Entry {
            at: 1,
            event: started("a"),
        })
        .unwrap();
        std::fs::write(&path, format!("{line}\nnot json\n{line}\n")).unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(err.contains("line 2"), "{err}");
    }

    #[test]
    fn missing_journal_is_empty() {
        let dir = tempfile::tempdir().unwrap();
        assert!(load(&dir.path().join("none")).unwrap().is_empty());
    }
}
