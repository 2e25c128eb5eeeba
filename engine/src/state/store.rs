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
use crate::state::journal::{self, Entry, Journal, JournalError};
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
    /// The kubeconfig the run was started with (`--kubeconfig`), used again on resume.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubeconfig: Option<PathBuf>,
    /// For rehearsals: the folder of the simulated clusters the run drives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<PathBuf>,
    /// For rehearsals: the Kubernetes minor asked for with `--kube-version` (`1.32`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_version: Option<String>,
    /// Requirements of the runbook the machine did not meet when the run was started with
    /// `--ignore-requirements`, one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_requirements: Vec<String>,
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
        fsutil::atomic_write(&meta_path, &text).map_err(io_err(&meta_path))?;
        fsutil::sync_dir(&self.runs_dir()).map_err(io_err(&self.runs_dir()))?;
        let journal = Journal::open(&dir.journal())?;
        // The journal's directory entry must survive a crash too, or resume finds no history.
        fsutil::sync_dir(dir.path()).map_err(io_err(dir.path()))?;
        Ok(OpenRun {
            meta,
            dir,
            journal,
            _lock: lock,
        })
    }

    /// Opens run `id` for driving, taking its lock.
    pub fn open(&self, id: &str) -> Result<OpenRun, StateError> {
        let meta = self.read_meta(id)?;
        let dir = self.run_dir(id);
        let lock = lock(&dir, id)?;
        let journal = Journal::open(&dir.journal())?;
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
        let missing = || StateError::NoSuchRun {
            id: id.to_string(),
            dir: self.runs_dir(),
        };
        if !valid_id(id) {
            return Err(missing());
        }
        let path = self.run_dir(id).meta();
        let text = match fs::read(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(missing());
            }
            Err(source) => return Err(StateError::Io { path, source }),
        };
        serde_json::from_slice(&text).map_err(|source| StateError::BadMeta { path, source })
    }

    /// The events of run `id` so far.
    pub fn history(&self, id: &str) -> Result<Vec<Entry>, StateError> {
        Ok(journal::load(&self.run_dir(id).journal())?)
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
            .filter(|e| e.path().join("run.json").is_file())
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
            kubeconfig: None,
            sandbox: None,
            kube_version: None,
            ignored_requirements: Vec::new(),
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
}
