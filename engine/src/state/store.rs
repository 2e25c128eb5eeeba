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
use crate::state::lock::{self, Holder, Refused, civil_from_days};
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
    #[error("run {id} is being driven by {}", holder.as_ref().map_or_else(|| "another meshbook process".to_string(), Holder::to_string))]
    Locked {
        /// The run's id.
        id: String,
        /// Who drives it, when it has said so.
        holder: Option<Holder>,
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
    /// A run with this id is already there (a copy is never merged into another run).
    #[error("run `{id}` is already in {dir}")]
    Exists {
        /// The run's id.
        id: String,
        /// The runs directory.
        dir: PathBuf,
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
    /// For rehearsals: the Kubernetes minor asked for with `--kube-version` (`1.32`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kube_version: Option<String>,
    /// Requirements of the runbook the machine did not meet when the run was started with
    /// `--ignore-requirements`, one line each.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored_requirements: Vec<String>,
    /// Whether the run's secrets are sealed with a key of its own (kept with the run) rather than
    /// the user's: said here, so a run whose key went missing is known to be damaged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub own_key: bool,
}

impl RunMeta {
    /// Whether the run is a rehearsal: its clusters are simulated, kept in its `sandbox` folder
    /// (the one record of it, so run.json files of every version say it).
    pub fn is_rehearsal(&self) -> bool {
        self.sandbox.is_some()
    }
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
        self.create_keyed(meta, None)
    }

    /// Creates a new run whose secrets are sealed with a key of its own, kept in the run's
    /// `key` file sealed with the user's key (`wrapped_key`), so the run can be copied to
    /// another state location without the user's key.
    pub fn create_keyed(
        &self,
        meta: RunMeta,
        wrapped_key: Option<&str>,
    ) -> Result<OpenRun, StateError> {
        let text = serde_json::to_vec_pretty(&meta).map_err(|e| StateError::Io {
            path: self.run_dir(&meta.id).meta(),
            source: io::Error::other(e),
        })?;
        let lock = self.publish(&meta.id, |building| {
            // The journal (with its header, bound to run.json) is durable before run.json
            // exists, so that a run with a run.json and no journal is known to be damaged.
            let owner = Owner {
                run_id: &meta.id,
                run_json: &text,
            };
            drop(Journal::create(&building.journal(), owner)?);
            if let Some(key) = wrapped_key {
                let path = building.key();
                fsutil::atomic_write(&path, key.as_bytes()).map_err(io_err(&path))?;
            }
            fsutil::sync_dir(building.path()).map_err(io_err(building.path()))?;
            let meta_path = building.meta();
            fsutil::atomic_write(&meta_path, &text).map_err(io_err(&meta_path))
        })?;
        let dir = self.run_dir(&meta.id);
        let owner = Owner {
            run_id: &meta.id,
            run_json: &text,
        };
        let journal = Journal::open(&dir.journal(), owner)?;
        Ok(OpenRun {
            meta,
            dir,
            journal,
            _lock: lock,
        })
    }

    /// Copies run `id` from the run directory `source` (another state dir, or a copy of a run
    /// kept elsewhere) into this one, after checking its journal against its `run.json`: the
    /// same id, the same files, byte for byte. `wrapped_key` is the run's key sealed with the
    /// user's key. Refused when this state dir already has a run `id`.
    pub fn import(
        &self,
        id: &str,
        source: &RunDir,
        wrapped_key: Option<&str>,
    ) -> Result<(), StateError> {
        if self.run_dir(id).path().exists() {
            return Err(StateError::Exists {
                id: id.to_string(),
                dir: self.runs_dir(),
            });
        }
        let meta_path = source.meta();
        let text = fs::read(&meta_path).map_err(io_err(&meta_path))?;
        let owner = Owner {
            run_id: id,
            run_json: &text,
        };
        journal::load(&source.journal(), owner)?;
        let lock = self.publish(id, |building| {
            let copy = |from: PathBuf, to: PathBuf| -> Result<(), StateError> {
                match fs::read(&from) {
                    Ok(bytes) => fsutil::atomic_write(&to, &bytes).map_err(io_err(&to)),
                    Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                    Err(source) => Err(StateError::Io { path: from, source }),
                }
            };
            copy(source.journal(), building.journal())?;
            copy(source.identities(), building.identities())?;
            if let Ok(logs) = fs::read_dir(source.logs()) {
                for log in logs.flatten() {
                    copy(log.path(), building.logs().join(log.file_name()))?;
                }
            }
            if let Some(key) = wrapped_key {
                let path = building.key();
                fsutil::atomic_write(&path, key.as_bytes()).map_err(io_err(&path))?;
            }
            let meta_path = building.meta();
            fsutil::atomic_write(&meta_path, &text).map_err(io_err(&meta_path))
        })?;
        drop(lock);
        Ok(())
    }

    /// Builds run `id`'s directory under a hidden name with `fill`, holding its lock, and
    /// renames it into place: a run is either absent or whole, and a kill midway never leaves a
    /// run directory without its `run.json`. Returns the lock, still held.
    fn publish(
        &self,
        id: &str,
        fill: impl FnOnce(&RunDir) -> Result<(), StateError>,
    ) -> Result<File, StateError> {
        let runs = self.runs_dir();
        fsutil::create_private_dir(&runs).map_err(io_err(&runs))?;
        self.sweep_creations(&runs);
        let building = RunDir::at(runs.join(format!(".{id}{CREATING}{}", std::process::id())));
        let built = (|| {
            fsutil::create_private_dir(&building.logs()).map_err(io_err(building.path()))?;
            let lock = lock(&building, id)?;
            fill(&building)?;
            fsutil::sync_dir(building.path()).map_err(io_err(building.path()))?;
            Ok(lock)
        })();
        let dir = self.run_dir(id);
        let published = built.and_then(|lock| {
            fs::rename(building.path(), dir.path()).map_err(io_err(dir.path()))?;
            fsutil::sync_dir(&runs).map_err(io_err(&runs))?;
            Ok(lock)
        });
        if published.is_err() {
            let _ = fs::remove_dir_all(building.path());
        }
        published
    }

    /// The run's own key, sealed with the user's key, when it has one (see
    /// [`StateDir::create_keyed`]).
    pub fn wrapped_key(&self, id: &str) -> Result<Option<String>, StateError> {
        let path = self.run_dir(id).key();
        match fs::read_to_string(&path) {
            Ok(text) => Ok(Some(text.trim().to_string())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(StateError::Io { path, source }),
        }
    }

    /// Removes what creations killed midway left (hidden, unlocked, untouched for a while).
    fn sweep_creations(&self, runs: &Path) {
        let Ok(entries) = fs::read_dir(runs) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            let stale = entry
                .file_name()
                .to_str()
                .is_some_and(|n| n.starts_with('.') && n.contains(CREATING))
                && lock::holder(&RunDir::at(&path).lock()).is_none()
                && entry
                    .metadata()
                    .and_then(|m| m.modified())
                    .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > STALE_CREATION));
            if stale {
                let _ = fs::remove_dir_all(&path);
            }
        }
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
            .filter(|id| valid_id(id))
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// True while some process holds run `id`'s lock.
    pub fn is_active(&self, id: &str) -> bool {
        lock::holder(&self.run_dir(id).lock()).is_some()
    }

    /// Takes run `id`'s lock without opening it for driving: a cleanup holds the lock of the run
    /// it cleans up, so that run is not driven meanwhile. Released when dropped.
    pub fn hold(&self, id: &str) -> Result<File, StateError> {
        lock(&self.run_dir(id), id)
    }

    /// The refusal a command gets for run `id` while another process drives it.
    pub fn locked(&self, id: &str) -> Option<StateError> {
        lock::holder(&self.run_dir(id).lock()).map(|holder| StateError::Locked {
            id: id.to_string(),
            holder,
        })
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
    lock::acquire(&path).map_err(|refused| match refused {
        Refused::Held(holder) => StateError::Locked {
            id: id.to_string(),
            holder,
        },
        Refused::Io(source) => StateError::Io { path, source },
    })
}

/// Marks a run directory being built: `.<id>.creating-<pid>`.
const CREATING: &str = ".creating-";

/// How old an unlocked directory being built must be to count as left by a killed creation.
const STALE_CREATION: std::time::Duration = std::time::Duration::from_secs(10);

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> StateError {
    let path = path.to_path_buf();
    move |source| StateError::Io { path, source }
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
            kube_version: None,
            ignored_requirements: Vec::new(),
            own_key: false,
        }
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
    fn a_creation_killed_midway_leaves_no_run_and_is_swept() {
        let dir = tempfile::tempdir().unwrap();
        let store = StateDir::new(dir.path());
        // What a kill between the folder and its `run.json` leaves.
        let killed = store.runs_dir().join(".20260101-000000-0002.creating-1");
        fsutil::create_private_dir(&killed.join("logs")).unwrap();
        fs::write(killed.join("run.json"), b"{").unwrap();
        assert!(store.list().unwrap().is_empty(), "it is no run");
        let ten_minutes_ago = SystemTime::now() - std::time::Duration::from_secs(600);
        File::open(&killed)
            .unwrap()
            .set_modified(ten_minutes_ago)
            .unwrap();
        let run = store.create(meta("20260101-000000-0003")).unwrap();
        assert!(!killed.exists(), "swept by the next creation");
        let names: Vec<_> = fs::read_dir(store.runs_dir())
            .unwrap()
            .flatten()
            .map(|e| e.file_name().into_string().unwrap())
            .collect();
        assert_eq!(names, ["20260101-000000-0003"], "nothing but the whole run");
        for file in [run.dir.meta(), run.dir.journal(), run.dir.lock()] {
            assert!(file.is_file(), "{}", file.display());
        }
        assert!(store.is_active("20260101-000000-0003"));
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
