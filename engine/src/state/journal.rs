//! The append-only journal of a run's events: one JSON object per line, synced to disk before any
//! dependant of a finished step starts. A crash can only tear the last line; loading ignores it and
//! reopening cuts it off, so the file stays a clean sequence of lines.
//!
//! The lines are chained, so that damage is found rather than acted on: the first line is a
//! header naming the run and the digest of its `run.json`, and every line ends with
//! `"chain":"HEX"`, the SHA-256 of the previous line's chain and this line's text without it.
//! An edited value, a missing, injected or reordered line, or a journal copied from another run
//! breaks the chain at a line, which is reported with its number.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

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

/// The first line of a journal: which run it belongs to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Header {
    /// The journal format.
    journal: String,
    /// The run's id.
    run_id: String,
    /// SHA-256 of the run's `run.json` as written when the run was created.
    run_json: String,
}

const FORMAT: &str = "meshbook/v1";

/// What the chain starts from.
const SEED: &str = "meshbook journal";

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
    /// The journal is damaged: a line was changed, removed or added by something else, or the
    /// file is not this run's.
    #[error("journal {path}, line {line}: {what}")]
    Damaged {
        /// The journal file.
        path: PathBuf,
        /// 1-based line number (0: the file as a whole).
        line: usize,
        /// What is wrong.
        what: String,
    },
}

/// What a journal must match: its run's id and `run.json`.
#[derive(Clone, Copy, Debug)]
pub struct Owner<'a> {
    /// The run's id.
    pub run_id: &'a str,
    /// The bytes of the run's `run.json`.
    pub run_json: &'a [u8],
}

impl Owner<'_> {
    fn header(&self) -> Header {
        Header {
            journal: FORMAT.to_string(),
            run_id: self.run_id.to_string(),
            run_json: hex(&Sha256::digest(self.run_json)),
        }
    }
}

/// An open journal, appending.
#[derive(Debug)]
pub struct Journal {
    path: PathBuf,
    file: File,
    chain: String,
    dirty: bool,
}

impl Journal {
    /// Creates the journal of a new run (mode 0600) with its header, durable before it returns:
    /// a run whose `run.json` exists always has a journal. The caller must hold the run's lock.
    pub fn create(path: &Path, owner: Owner<'_>) -> Result<Journal, JournalError> {
        let file = fsutil::create_new_private(path).map_err(|source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        let mut journal = Journal {
            path: path.to_path_buf(),
            file,
            chain: hex(&Sha256::digest(SEED)),
            dirty: false,
        };
        journal.write(&owner.header())?;
        journal.sync()?;
        Ok(journal)
    }

    /// Opens the journal of an existing run for appending, after checking every line, and cuts
    /// off a torn last line left by a crash. The caller must hold the run's lock.
    pub fn open(path: &Path, owner: Owner<'_>) -> Result<Journal, JournalError> {
        let io_err = |source| JournalError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut file = match fsutil::open_existing_append(path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing(path)),
            Err(source) => return Err(io_err(source)),
        };
        let mut text = Vec::new();
        file.seek(SeekFrom::Start(0)).map_err(io_err)?;
        file.read_to_end(&mut text).map_err(io_err)?;
        let keep = clean_len(&text);
        let (_, chain) = verify(path, &text[..keep], owner)?;
        if keep != text.len() {
            file.set_len(keep as u64).map_err(io_err)?;
            file.sync_all().map_err(io_err)?;
        }
        Ok(Journal {
            path: path.to_path_buf(),
            file,
            chain,
            dirty: false,
        })
    }

    /// Appends one event (not yet durable: see [`Journal::sync`]).
    pub(crate) fn append(&mut self, event: &RunEvent) -> Result<(), JournalError> {
        self.write(&Entry {
            at: now_ms(),
            event: event.clone(),
        })
    }

    fn write(&mut self, record: &impl Serialize) -> Result<(), JournalError> {
        let body = serde_json::to_vec(record).map_err(|e| JournalError::Io {
            path: self.path.clone(),
            source: io::Error::other(e),
        })?;
        let chain = link(&self.chain, &body);
        let mut line = body;
        line.pop(); // the closing brace
        line.extend_from_slice(format!(r#","chain":"{chain}"}}"#).as_bytes());
        line.push(b'\n');
        // One write per line: with O_APPEND a line is never interleaved with another.
        self.file
            .write_all(&line)
            .map_err(|source| JournalError::Io {
                path: self.path.clone(),
                source,
            })?;
        self.chain = chain;
        self.dirty = true;
        Ok(())
    }

    /// Counts every appended event as durable without syncing: for a journal that is a private
    /// copy of one kept elsewhere (a run kept on a cluster), where records become durable when
    /// they are pushed, and the copy is never read back after a crash.
    pub fn durable_elsewhere(&mut self) {
        self.dirty = false;
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

/// Reads and checks every event of the journal at `path`, which must belong to `owner`; a torn
/// last line is ignored. A missing or empty journal is damage: a run's journal is created, with
/// its header, before its `run.json`.
pub fn load(path: &Path, owner: Owner<'_>) -> Result<Vec<Entry>, JournalError> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(missing(path)),
        Err(source) => {
            return Err(JournalError::Io {
                path: path.to_path_buf(),
                source,
            });
        }
    };
    Ok(verify(path, &text[..clean_len(&text)], owner)?.0)
}

fn missing(path: &Path) -> JournalError {
    JournalError::Damaged {
        path: path.to_path_buf(),
        line: 0,
        what: "missing, but the run has a run.json: its history is lost".into(),
    }
}

/// Checks the chain of whole lines `text` and returns their events and the last chain value.
fn verify(
    path: &Path,
    text: &[u8],
    owner: Owner<'_>,
) -> Result<(Vec<Entry>, String), JournalError> {
    let damaged = |line: usize, what: String| JournalError::Damaged {
        path: path.to_path_buf(),
        line,
        what,
    };
    let mut chain = hex(&Sha256::digest(SEED));
    let mut entries = Vec::new();
    let mut lines = text
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .enumerate();
    let Some((_, first)) = lines.next() else {
        return Err(damaged(
            1,
            "empty, but the run has a run.json: its history is lost".into(),
        ));
    };
    for (i, line) in std::iter::once((0, first)).chain(lines) {
        let n = i + 1;
        let Some(body) = unchained(line, &chain) else {
            let what = if i == 0 && serde_json::from_slice::<Entry>(line).is_ok() {
                "written without checksums by an older meshbook: it cannot be checked, so the run cannot be trusted; start a new run".to_string()
            } else {
                "does not match its checksum: the line was changed, or one before it was removed or added".to_string()
            };
            return Err(damaged(n, what));
        };
        chain = link(&chain, &body);
        if i == 0 {
            let header: Header = serde_json::from_slice(&body)
                .map_err(|_| damaged(n, "is not a journal header".into()))?;
            let expected = owner.header();
            if header.journal != FORMAT {
                return Err(damaged(
                    n,
                    format!("unknown journal format `{}`", header.journal),
                ));
            }
            if header.run_id != expected.run_id {
                return Err(damaged(
                    n,
                    format!(
                        "belongs to run `{}`, not `{}`",
                        header.run_id, expected.run_id
                    ),
                ));
            }
            if header.run_json != expected.run_json {
                return Err(damaged(
                    n,
                    "does not match the run's run.json, which was changed or replaced".into(),
                ));
            }
            continue;
        }
        let entry = serde_json::from_slice(&body)
            .map_err(|e| damaged(n, format!("not a meshbook event: {e}")))?;
        entries.push(entry);
    }
    Ok((entries, chain))
}

/// The text of `line` without its chain field, when that field is the link from `previous`.
fn unchained(line: &[u8], previous: &str) -> Option<Vec<u8>> {
    const TAIL: usize = r#","chain":""}"#.len() + 64;
    let split = line.len().checked_sub(TAIL)?;
    let (head, tail) = line.split_at(split);
    let chain = tail
        .strip_prefix(br#","chain":""#)?
        .strip_suffix(br#""}"#)?;
    let mut body = head.to_vec();
    body.push(b'}');
    (link(previous, &body).as_bytes() == chain).then_some(body)
}

/// The chain value of a line with text `body` after a line whose chain is `previous`.
fn link(previous: &str, body: &[u8]) -> String {
    let mut h = Sha256::new();
    h.update(previous.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Length of the prefix made of whole, readable lines: a last line that lacks its newline or
/// is not a JSON object is a torn write.
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
    if !last.is_empty() && serde_json::from_slice::<serde_json::Value>(last).is_err() {
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

    const RUN_JSON: &[u8] = br#"{"id":"r1"}"#;

    fn owner() -> Owner<'static> {
        Owner {
            run_id: "r1",
            run_json: RUN_JSON,
        }
    }

    fn started(step: &str) -> RunEvent {
        RunEvent::StepStarted {
            step: step.into(),
            attempt: 1,
            fingerprint: "f".into(),
        }
    }

    /// A journal with a header and events for steps a, b, c.
    fn written(dir: &Path) -> PathBuf {
        let path = dir.join("journal.jsonl");
        let mut j = Journal::create(&path, owner()).unwrap();
        for step in ["a", "b", "c"] {
            j.append(&started(step)).unwrap();
        }
        j.sync().unwrap();
        path
    }

    fn lines(path: &Path) -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap()
            .lines()
            .map(String::from)
            .collect()
    }

    fn save(path: &Path, lines: &[String]) {
        std::fs::write(path, lines.join("\n") + "\n").unwrap();
    }

    /// The line and message of the damage `load` reports.
    fn damage(path: &Path, owner: Owner<'_>) -> (usize, String) {
        match load(path, owner) {
            Err(JournalError::Damaged { line, what, .. }) => (line, what),
            other => panic!("not reported as damaged: {other:?}"),
        }
    }

    #[test]
    fn appends_and_loads_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path());
        let events: Vec<_> = load(&path, owner())
            .unwrap()
            .into_iter()
            .map(|e| e.event)
            .collect();
        assert_eq!(events, [started("a"), started("b"), started("c")]);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let mut j = Journal::open(&path, owner()).unwrap();
        j.append(&RunEvent::StepSkipped {
            step: "d".into(),
            reason: SkipReason::Restored,
        })
        .unwrap();
        assert_eq!(load(&path, owner()).unwrap().len(), 4);
    }

    #[test]
    fn torn_last_line_is_ignored_then_cut() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path());
        let whole = std::fs::metadata(&path).unwrap().len();
        for torn in [&br#"{"at":1,"event":"step_sta"#[..], b"{\"at\":1,\n"] {
            let mut raw = std::fs::read(&path).unwrap();
            raw.extend_from_slice(torn);
            std::fs::write(&path, &raw).unwrap();
            assert_eq!(load(&path, owner()).unwrap().len(), 3);
            let mut j = Journal::open(&path, owner()).unwrap();
            assert_eq!(std::fs::metadata(&path).unwrap().len(), whole);
            drop(j.sync());
        }
        let mut j = Journal::open(&path, owner()).unwrap();
        j.append(&started("d")).unwrap();
        assert_eq!(load(&path, owner()).unwrap().len(), 4);
    }

    #[test]
    fn an_edited_value_is_found_at_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path());
        let mut l = lines(&path);
        l[2] = l[2].replace("\"b\"", "\"x\"");
        save(&path, &l);
        assert_eq!(damage(&path, owner()).0, 3);
        // One hex digit of the chain itself.
        let mut l = lines(&written(tempfile::tempdir().unwrap().path()));
        let last = l[3].len() - 3;
        let flipped = if &l[3][last..last + 1] == "0" {
            "1"
        } else {
            "0"
        };
        l[3].replace_range(last..last + 1, flipped);
        save(&path, &l);
        assert_eq!(damage(&path, owner()).0, 4);
        assert!(Journal::open(&path, owner()).is_err());
    }

    #[test]
    fn a_missing_injected_or_moved_line_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path());
        let l = lines(&path);
        save(&path, &[l[0].clone(), l[1].clone(), l[3].clone()]);
        assert_eq!(damage(&path, owner()).0, 3, "missing line");
        save(
            &path,
            &[l[0].clone(), l[1].clone(), l[1].clone(), l[2].clone()],
        );
        assert_eq!(damage(&path, owner()).0, 3, "repeated line");
        let finished = r#"{"at":1,"event":"run_finished","outcome":"succeeded","steps":3,"succeeded":3,"failed":0,"blocked":0,"not_started":0}"#;
        save(
            &path,
            &[
                l[0].clone(),
                l[1].clone(),
                finished.to_string(),
                l[2].clone(),
            ],
        );
        assert_eq!(damage(&path, owner()).0, 3, "injected line");
        let mut appended = l.clone();
        appended.push(finished.to_string());
        save(&path, &appended);
        assert_eq!(damage(&path, owner()).0, 5, "appended line");
    }

    #[test]
    fn a_journal_of_another_run_or_none_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let path = written(dir.path());
        let other = Owner {
            run_id: "r2",
            run_json: RUN_JSON,
        };
        let (line, what) = damage(&path, other);
        assert_eq!(line, 1);
        assert!(what.contains("belongs to run `r1`"), "{what}");
        let edited = Owner {
            run_id: "r1",
            run_json: br#"{"id":"r1","params":{}}"#,
        };
        assert!(damage(&path, edited).1.contains("run.json"));
        std::fs::write(&path, "").unwrap();
        assert!(damage(&path, owner()).1.contains("empty"));
        std::fs::remove_file(&path).unwrap();
        assert!(damage(&path, owner()).1.contains("missing"));
        assert!(Journal::open(&path, owner()).is_err());
    }

    #[test]
    fn a_journal_without_checksums_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("journal.jsonl");
        let line = serde_json::to_string(&Entry {
            at: 1,
            event: started("a"),
        })
        .unwrap();
        std::fs::write(&path, format!("{line}\n{line}\n")).unwrap();
        let (line, what) = damage(&path, owner());
        assert_eq!(line, 1);
        assert!(what.contains("older meshbook"), "{what}");
    }
}
