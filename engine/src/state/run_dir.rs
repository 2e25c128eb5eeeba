//! The layout of one run's directory: every path a run keeps, in one place.
//!
//! ```text
//! <state>/runs/<run-id>/
//!   run.json        what was run, with which params (secret ones sealed)
//!   journal.jsonl   the events, appended and synced
//!   lock            held by the process driving the run
//!   logs/<step>.log each step's output, one section per attempt
//!   tmp/            private scratch space of running steps
//!   clusters.json   the identity of each cluster the run used
//!   runbook.yaml    the runbook file's text, for a run kept on a cluster
//!   key             the run's own secrets key, sealed with the user's key (runs that have one)
//!   sandbox/        a rehearsal's simulated clusters
//! ```

use std::path::{Path, PathBuf};

/// One run's directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunDir {
    root: PathBuf,
}

impl RunDir {
    /// The run directory at `root`.
    pub fn at(root: impl Into<PathBuf>) -> RunDir {
        RunDir { root: root.into() }
    }

    /// The directory itself.
    pub fn path(&self) -> &Path {
        &self.root
    }

    /// `run.json`: what the run is.
    pub fn meta(&self) -> PathBuf {
        self.root.join("run.json")
    }

    /// The event journal.
    pub fn journal(&self) -> PathBuf {
        self.root.join("journal.jsonl")
    }

    /// The lock file.
    pub fn lock(&self) -> PathBuf {
        self.root.join("lock")
    }

    /// The folder of step logs.
    pub fn logs(&self) -> PathBuf {
        self.root.join("logs")
    }

    /// The log of one step: its id, with anything unsafe in a file name replaced.
    pub fn log(&self, step: &str) -> PathBuf {
        let safe: String = step
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        self.logs().join(format!("{safe}.log"))
    }

    /// Private scratch space for files that must not outlive a step's attempt.
    pub fn scratch(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// The identity of each cluster the run used.
    pub fn identities(&self) -> PathBuf {
        self.root.join("clusters.json")
    }

    /// The run's own secrets key, sealed with the user's key.
    pub fn key(&self) -> PathBuf {
        self.root.join("key")
    }

    /// The runbook file's text as the run was started with it (kept by state on a cluster, for
    /// machines that lack the file).
    pub fn runbook(&self) -> PathBuf {
        self.root.join("runbook.yaml")
    }

    /// A rehearsal's simulated clusters.
    pub fn sandbox(&self) -> PathBuf {
        self.root.join("sandbox")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_logs_have_safe_names() {
        let dir = RunDir::at("/s/runs/r1");
        assert_eq!(
            dir.log("gw-addr.v2"),
            Path::new("/s/runs/r1/logs/gw-addr.v2.log")
        );
        assert_eq!(dir.log("a/../b"), Path::new("/s/runs/r1/logs/a_.._b.log"));
    }
}
