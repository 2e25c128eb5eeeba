//! A run's lock: an OS lock (`flock`) on its `lock` file, which also says who holds it (PID,
//! host, since when), so a refused command can name the process driving the run.
//!
//! The kernel releases the lock when the holder dies, even by `kill -9`, so a crashed run never
//! stays locked: what the file says is only believed while the lock is actually held.

use std::fs::{self, File};
use std::io::{self, Seek, Write};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::state::fsutil;

/// The process holding a run's lock.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// Its process id.
    pub pid: u32,
    /// The host it runs on.
    pub host: String,
    /// When it took the lock, in milliseconds since the Unix epoch.
    pub since_ms: u64,
    /// For a lock that lapses unless renewed (a Kubernetes Lease): when it does, in
    /// milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<u64>,
}

impl Holder {
    /// This process, now.
    fn me() -> Holder {
        Holder {
            pid: std::process::id(),
            host: hostname(),
            since_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64),
            until_ms: None,
        }
    }
}

impl std::fmt::Display for Holder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} on {} since {}",
            self.pid,
            self.host,
            utc(self.since_ms)
        )?;
        match self.until_ms {
            Some(until) => write!(
                f,
                " (its lease runs until {} unless renewed; then the run can be taken over)",
                utc(until)
            ),
            None => Ok(()),
        }
    }
}

/// Why a lock was not taken.
#[derive(Debug)]
pub(crate) enum Refused {
    /// Another process holds it (`None`: it has not said who yet).
    Held(Option<Holder>),
    /// The lock file could not be opened or locked.
    Io(io::Error),
}

/// Takes the lock at `path` (created 0600), writing this process into it.
pub(crate) fn acquire(path: &Path) -> Result<File, Refused> {
    let mut file = fsutil::open_append(path).map_err(Refused::Io)?;
    match file.try_lock() {
        Ok(()) => {}
        Err(fs::TryLockError::WouldBlock) => return Err(Refused::Held(read(path))),
        Err(fs::TryLockError::Error(e)) => return Err(Refused::Io(e)),
    }
    // Append mode writes at the end whatever the position: the old holder is cut off first.
    let line = serde_json::to_string(&Holder::me()).map_err(|e| Refused::Io(e.into()))?;
    file.set_len(0).map_err(Refused::Io)?;
    file.rewind().map_err(Refused::Io)?;
    writeln!(file, "{line}").map_err(Refused::Io)?;
    Ok(file)
}

/// Who holds the lock at `path`, if someone does.
pub(crate) fn holder(path: &Path) -> Option<Option<Holder>> {
    let file = File::open(path).ok()?;
    match file.try_lock_shared() {
        Err(fs::TryLockError::WouldBlock) => Some(read(path)),
        _ => None,
    }
}

fn read(path: &Path) -> Option<Holder> {
    serde_json::from_str(fs::read_to_string(path).ok()?.trim()).ok()
}

/// The host name the kernel reports (`uname -n`).
pub fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "an unknown host".to_string())
}

/// `ms` since the epoch as `YYYY-MM-DD HH:MM:SS UTC`.
pub fn utc(ms: u64) -> String {
    let secs = ms / 1000;
    let (y, m, d) = civil_from_days((secs / 86_400) as i64);
    let t = secs % 86_400;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        t / 3600,
        t % 3600 / 60,
        t % 60
    )
}

pub(crate) use meshbook_inspect::calendar::civil_from_days;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_convert() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(19_797), (2024, 3, 15));
        assert_eq!(civil_from_days(11_016), (2000, 2, 29));
        assert_eq!(utc(1_710_495_302_000), "2024-03-15 09:35:02 UTC");
    }

    #[test]
    fn the_holder_is_named_while_and_only_while_it_holds() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lock");
        let held = acquire(&path).unwrap();
        let who = holder(&path).expect("held").expect("named");
        assert_eq!(who.pid, std::process::id());
        assert!(
            matches!(acquire(&path), Err(Refused::Held(Some(h))) if h == who),
            "a second taker is told who holds it"
        );
        drop(held);
        assert_eq!(holder(&path), None, "a released lock names no one");
        let again = acquire(&path).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap().lines().count(), 1);
        drop(again);
    }
}
