//! The state dir: every run's directory (laid out by [`RunDir`]) under `<state>/runs/`, created,
//! opened under its lock, listed, and read back.

use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use indexmap::IndexMap;
use serde::{Deserialize, Serialize};

use crate::events::Stored;
use crate::state::fsutil;
use crate::state::journal::{self, Entry, Journal, JournalError, Owner};
use crate::state::run_dir::RunDir;

/// Why the state dir could not be used.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A file or directory could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// No run has this id.
    #[error("no run `{id}` in {dir}")]
    NoSuchRun {
        /// The id asked for.
        id: String,
        /// The runs directory searched.
        dir: PathBuf,
    },
    /// Another process holds the run's lock.
    #[error("run `{id}` is being driven by another meshbook process")]
    Locked {
        /// The run's id.
        id: String,
    },
    /// `run.json` is missing while the run's journal is there.
    #[error("{path}: missing, but the run has a journal: the run's description is lost")]
    MissingMeta {
        /// The missing file.
        path: PathBuf,
    },
    /// `run.json` is unreadable.
    #[error("{path}: not a meshbook run description: {source}")]
    BadMeta {
        /// The file.
        path: PathBuf,
        /// The parse error.
        #[source]
        source: serde_json::Error,
    },
    /// The journal is unreadable.
    #[error(transparent)]
    Journal(#[from] JournalError),
}

impl StateError {
    /// True when the run's files were changed, removed or added by something other than
    /// meshbook: nothing may be done from them.
    pub fn is_damage(&self) -> bool {
        matches!(
            self,
            StateError::MissingMeta { .. }
                | StateError::BadMeta { .. }
                | StateError::Journal(JournalError::Damaged { .. })
        )
    }
}

/// What a run is for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum RunKind {
    /// The runbook's steps.
    Steps,
    /// The runbook's `finally` steps, for an earlier run.
    Cleanup {
        /// The run being cleaned up.
        of: String,
    },
}

/// What a run is: written once when it is created, read on resume and status.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunMeta {
    /// The run's id.
    pub id: String,
    /// Steps or cleanup.
    pub kind: RunKind,
    /// The runbook file (absolute), read again on resume.
    pub runbook: PathBuf,
    /// The runbook's `metadata.name`.
    pub name: String,
    /// The working directory steps run in.
    pub workdir: PathBuf,
    /// Resolved params; secret ones sealed.
    pub params: IndexMap<String, Stored>,
    /// For cleanup runs: the outputs of the run being cleaned up; secret ones sealed.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub inputs: IndexMap<String, Stored>,
    /// Milliseconds since the Unix epoch.
    pub created_at: u64,
    /// SHA-256 of the runbook's text when the run was created (the journal's header binds it
    /// through `run.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook_digest: Option<String>,
    /// The kubeconfig the run was started with (`--kubeconfig`), used again on resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<PathBuf>,
    /// For rehearsals: the folder of the simulated clusters the run drives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<PathBuf>,
}

/// A state dir: the root of every run's directory.
#[derive(Clone, Debug)]
pub struct StateDir {
    root: PathBuf,
}

/// A run opened for driving: its lock is held until this is dropped.
#[derive(Debug)]
pub struct OpenRun {
    /// What the run is.
    pub meta: RunMeta,
    /// Its directory.
    pub dir: RunDir,
    /// Its journal, open for appending.
    pub journal: Journal,
    _lock: File,
}

impl StateDir {
    /// The state dir at `root` (created when a run is).
    pub fn new(root: impl Into<PathBuf>) -> StateDir {
        // Absolute, because steps run in another directory and get paths under the root
        // (`$MESHBOOK_OUTPUT`, logs).
        let root = root.into();
        StateDir {
            root: std::path::absolute(&root).unwrap_or(root),
        }
    }

    /// The directory holding every run.
    pub fn runs_dir(&self) -> PathBuf {
        self.root.join("runs")
    }

    /// The directory of run `id`.
    pub fn run_dir(&self, id: &str) -> RunDir {
        RunDir::at(self.runs_dir().join(id))
    }

    /// Creates a new run (directory, `run.json`, journal) and returns it locked.
    pub fn create(&self, meta: RunMeta) -> Result<OpenRun, StateError> {
        let dir = self.run_dir(&meta.id);
        let io_err = |path: &Path| {
            let path = path.to_path_buf();
            move |source| StateError::Io { path, source }
        };
        fsutil::create_private_dir(&dir.logs()).map_err(io_err(dir.path()))?;
        let lock = lock(&dir, &meta.id)?;
        let meta_path = dir.meta();
        let text = serde_json::to_vec_pretty(&meta).map_err(|e| StateError::Io {
            path: meta_path.clone(),
            source: io::Error::other(e),
        })?;
        // The journal (with its header, bound to run.json) is durable before run.json exists, so
        // that a run with a run.json and no journal is known to be damaged.
        let owner = Owner {
            run_id: &meta.id,
            run_json: &text,
        };
        let journal = Journal::create(&dir.journal(), owner)?;
        fsutil::sync_dir(dir.path()).map_err(io_err(dir.path()))?;
        fsutil::atomic_write(&meta_path, &text).map_err(io_err(&meta_path))?;
        fsutil::sync_dir(&self.runs_dir()).map_err(io_err(&self.runs_dir()))?;
        Ok(OpenRun {
            meta,
            dir,
            journal,
            _lock: lock,
        })
    }

    /// Opens run `id` for driving, taking its lock.
    pub fn open(&self, id: &str) -> Result<OpenRun, StateError> {
        let (meta, text) = self.read_meta_text(id)?;
        let dir = self.run_dir(id);
        let lock = lock(&dir, id)?;
        let owner = Owner {
            run_id: id,
            run_json: &text,
        };
        let journal = Journal::open(&dir.journal(), owner)?;
        let scratch = dir.scratch();
        // Output files of steps killed mid-run may hold secret values: they go now.
        if scratch.exists() {
            fs::remove_dir_all(&scratch).map_err(|source| StateError::Io {
                path: scratch,
                source,
            })?;
        }
        Ok(OpenRun {
            meta,
            dir,
            journal,
            _lock: lock,
        })
    }

    /// Reads `run.json` of run `id`.
    pub fn read_meta(&self, id: &str) -> Result<RunMeta, StateError> {
        Ok(self.read_meta_text(id)?.0)
    }

    /// Reads `run.json` of run `id`, parsed and as bytes.
    fn read_meta_text(&self, id: &str) -> Result<(RunMeta, Vec<u8>), StateError> {
        let missing = || StateError::NoSuchRun {
            id: id.to_string(),
            dir: self.runs_dir(),
        };
        if !valid_id(id) {
            return Err(missing());
        }
        let dir = self.run_dir(id);
        let path = dir.meta();
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                if has_events(&dir) {
                    return Err(StateError::MissingMeta { path });
                }
                return Err(missing());
            }
            Err(source) => return Err(StateError::Io { path, source }),
        };
        match serde_json::from_slice(&text) {
            Ok(meta) => Ok((meta, text)),
            Err(source) => Err(StateError::BadMeta { path, source }),
        }
    }

    /// The events of run `id` so far, checked against its `run.json`.
    pub fn history(&self, id: &str) -> Result<Vec<Entry>, StateError> {
        let (_, text) = self.read_meta_text(id)?;
        let owner = Owner {
            run_id: id,
            run_json: &text,
        };
        Ok(journal::load(&self.run_dir(id).journal(), owner)?)
    }

    /// Every run's id, oldest first (ids sort by creation time).
    pub fn list(&self) -> Result<Vec<String>, StateError> {
        let dir = self.runs_dir();
        let entries = match fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(source) => return Err(StateError::Io { path: dir, source }),
        };
        let mut ids: Vec<String> = entries
            .filter_map(Result::ok)
            // A run whose run.json was lost still shows, as damaged.
            .filter(|e| {
                let dir = RunDir::at(e.path());
                dir.meta().is_file() || has_events(&dir)
            })
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// True while some process holds run `id`'s lock.
    pub fn is_active(&self, id: &str) -> bool {
        match File::open(self.run_dir(id).lock()) {
            Ok(f) => matches!(f.try_lock_shared(), Err(fs::TryLockError::WouldBlock)),
            Err(_) => false,
        }
    }
}

/// Whether a run's journal holds events beyond its header: a journal with only its header and
/// no `run.json` is a run whose creation was cut short, before anything ran.
fn has_events(dir: &RunDir) -> bool {
    fs::read(dir.journal()).is_ok_and(|text| text.iter().filter(|b| **b == b'\n').count() > 1)
}

fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

fn lock(dir: &RunDir, id: &str) -> Result<File, StateError> {
    let path = dir.lock();
    let file = fsutil::open_append(&path).map_err(|source| StateError::Io {
        path: path.clone(),
        source,
    })?;
    // An OS lock, not a pid file: it is released when the process dies, even by kill -9.
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(StateError::Locked { id: id.to_string() }),
        Err(fs::TryLockError::Error(source)) => Err(StateError::Io { path, source }),
    }
}

/// The digest a run keeps of its runbook's text: SHA-256, in hex.
pub fn runbook_digest(text: &str) -> String {
    use sha2::{Digest, Sha256};
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new run id: UTC time of creation and a random suffix, e.g. `20260314-091502-7f3a`.
pub fn new_run_id() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let t = secs % 86_400;
    format!(
        "{y:04}{m:02}{d:02}-{:02}{:02}{:02}-{:04x}",
        t / 3600,
        t % 3600 / 60,
        t % 60,
        rand::random::<u16>()
    )
}

/// Days since 1970-01-01 to a (year, month, day) date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(id: &str) -> RunMeta {
        RunMeta {
            id: id.into(),
            kind: RunKind::Steps,
            runbook: "/rb.yaml".into(),
            name: "rb".into(),
            workdir: "/w".into(),
            params: IndexMap::new(),
            inputs: IndexMap::new(),
            created_at: 0,
            runbook_digest: None,
            kubeconfig: None,
            sandbox: None,
        }
    }

    #[test]
    fn dates_convert() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_797), (2024, 3, 15));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
    }

    #[test]
    fn run_ids_sort_by_time_and_are_valid() {
        let id = new_run_id();
        assert_eq!(id.len(), 20, "{id}");
        assert!(valid_id(&id));
    }

    #[test]
    fn create_lock_open_and_list() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateDir::new(dir.path());
        let run = store.create(meta("20260101-000000-0001")).unwrap();
        assert!(matches!(
            store.open("20260101-000000-0001"),
            Err(StateError::Locked { .. })
        ));
        assert!(store.is_active("20260101-000000-0001"));
        drop(run);
        assert!(!store.is_active("20260101-000000-0001"));
        let again = store.open("20260101-000000-0001").unwrap();
        assert_eq!(again.meta, meta("20260101-000000-0001"));
        store.create(meta("20250101-000000-0001")).unwrap();
        assert_eq!(
            store.list().unwrap(),
            ["20250101-000000-0001", "20260101-000000-0001"]
        );
        assert!(matches!(
            store.open("nope"),
            Err(StateError::NoSuchRun { .. })
        ));
        assert!(matches!(
            store.read_meta("../x"),
            Err(StateError::NoSuchRun { .. })
        ));
    }

    #[test]
    fn a_creation_cut_short_is_no_run_and_a_lost_run_json_is_damage() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateDir::new(dir.path());
        let id = "20260101-000000-0001";
        let mut run = store.create(meta(id)).unwrap();
        let run_json = store.run_dir(id).meta();
        std::fs::rename(&run_json, dir.path().join("kept")).unwrap();
        // Killed between the journal's header and run.json: nothing ran, there is no run.
        assert!(matches!(
            store.read_meta(id),
            Err(StateError::NoSuchRun { .. })
        ));
        assert!(store.list().unwrap().is_empty());
        run.journal
            .append(&crate::events::RunEvent::StepSkipped {
                step: "a".into(),
                reason: crate::events::SkipReason::Restored,
            })
            .unwrap();
        let err = store.read_meta(id).unwrap_err();
        assert!(
            matches!(err, StateError::MissingMeta { .. }) && err.is_damage(),
            "{err}"
        );
        assert_eq!(store.list().unwrap(), [id]);
        std::fs::rename(dir.path().join("kept"), &run_json).unwrap();
        assert_eq!(store.history(id).unwrap().len(), 1);
    }
}
