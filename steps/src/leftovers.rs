//! Processes a shell step left running when its own process ended, counted, killed and
//! reported, as nextest reports leaky tests: those still in its process group (`cmd &` without
//! `wait`), and daemons that left the group (`setsid`, as `ssh-agent` does) but still carry the
//! step's mark in their environment (`MESHBOOK_RUN_ID`, `MESHBOOK_STEP` and `MESHBOOK_DRIVER`,
//! which every process a step starts inherits unless it clears its environment).

use nix::sys::signal::{Signal, kill as kill_pid, killpg};
use nix::unistd::Pid;

/// Which step's processes to look for: its process group, and for those that left it, the
/// step's mark and when the step began.
#[derive(Debug, Clone)]
pub(crate) struct Step {
    /// The step's process group.
    pub(crate) pgid: Pid,
    /// `MESHBOOK_RUN_ID=…`, `MESHBOOK_STEP=…` and `MESHBOOK_DRIVER=…`, as they appear in
    /// `/proc/PID/environ`.
    pub(crate) mark: [Vec<u8>; 3],
    /// Processes started earlier than the step (clock ticks after boot) are not the step's.
    pub(crate) since: u64,
}

impl Step {
    /// The step of run `run_id` called `step`, whose first process `leader` (its group's
    /// leader) was just started: not yet waited for, so its `/proc` entry is still there.
    pub(crate) fn started(run_id: &str, step: &str, leader: Pid) -> Step {
        let since = std::fs::read_to_string(format!("/proc/{leader}/stat"))
            .ok()
            .and_then(|s| parse_stat(&s))
            .map_or(u64::MAX, |s| s.start);
        Step {
            pgid: leader,
            mark: [
                format!("MESHBOOK_RUN_ID={run_id}").into_bytes(),
                format!("MESHBOOK_STEP={step}").into_bytes(),
                format!("MESHBOOK_DRIVER={}", driver()).into_bytes(),
            ],
            since,
        }
    }
}

/// This meshbook process, as steps' marks name it: its pid and a nonce. A run kept on a cluster
/// can be taken over while the process that lost it still runs a step; that process must kill
/// only its own step's leftovers, not those of the same step started by the new driver.
pub(crate) fn driver() -> &'static str {
    static DRIVER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DRIVER.get_or_init(|| format!("{}-{:08x}", std::process::id(), rand::random::<u32>()))
}

/// Kills what is left of the step and says how many processes there were.
pub(crate) fn kill(step: &Step) -> usize {
    let (members, escaped) = scan(step);
    // Counted first, killed regardless: where /proc cannot be read the count is 0, yet the
    // group must not outlive the step. ESRCH (an empty group) is the common case.
    let _ = killpg(step.pgid, Signal::SIGKILL);
    for pid in &escaped {
        let _ = kill_pid(*pid, Signal::SIGKILL);
    }
    members + escaped.len()
}

/// Live (not zombie) processes of the step's group, and those outside it with the step's mark.
fn scan(step: &Step) -> (usize, Vec<Pid>) {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return (0, Vec::new());
    };
    let mut members = 0;
    let mut escaped = Vec::new();
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<i32>().ok())
        else {
            continue;
        };
        let Some(stat) = std::fs::read_to_string(entry.path().join("stat"))
            .ok()
            .and_then(|s| parse_stat(&s))
        else {
            continue;
        };
        if stat.state == 'Z' {
            continue;
        }
        if stat.group == step.pgid.as_raw() {
            members += 1;
        } else if stat.start >= step.since
            && std::fs::read(entry.path().join("environ")).is_ok_and(|env| marked(&env, &step.mark))
        {
            escaped.push(Pid::from_raw(pid));
        }
    }
    (members, escaped)
}

/// Whether a `/proc/PID/environ` (NUL-separated `NAME=value`) holds every entry of `mark`.
fn marked(environ: &[u8], mark: &[Vec<u8>; 3]) -> bool {
    mark.iter().all(|m| {
        environ
            .split(|b| *b == 0)
            .any(|entry| entry == m.as_slice())
    })
}

/// What the scan needs of `/proc/PID/stat`.
#[derive(Debug, PartialEq, Eq)]
struct Stat {
    state: char,
    group: i32,
    /// Start time, clock ticks after boot.
    start: u64,
}

/// `PID (COMM) STATE PPID PGRP … STARTTIME …` (starttime is field 22), where COMM may itself
/// hold spaces and parentheses, so fields are counted from the last `)`.
fn parse_stat(stat: &str) -> Option<Stat> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    Some(Stat {
        state: fields.first()?.chars().next()?,
        group: fields.get(2)?.parse().ok()?,
        start: fields.get(19).and_then(|s| s.parse().ok()).unwrap_or(0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_give_state_group_and_start() {
        assert_eq!(
            parse_stat(
                "4242 (sleep) S 1 4240 4240 0 -1 4194304 90 0 0 0 0 0 0 0 20 0 1 0 123456 5652480"
            ),
            Some(Stat {
                state: 'S',
                group: 4240,
                start: 123456
            })
        );
        assert_eq!(
            parse_stat("17 (a (weird) name) Z 1 9 9 0").map(|s| (s.state, s.group)),
            Some(('Z', 9))
        );
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn the_mark_is_matched_entry_by_entry() {
        let mark = Step::started("r1", "ssh-key", Pid::from_raw(i32::MAX)).mark;
        let me = format!("MESHBOOK_DRIVER={}", driver());
        let environ = |entries: &str| format!("{entries}\0{me}\0").into_bytes();
        assert!(marked(
            &environ("HOME=/h\0MESHBOOK_STEP=ssh-key\0MESHBOOK_RUN_ID=r1"),
            &mark
        ));
        assert!(!marked(
            &environ("MESHBOOK_STEP=ssh-key2\0MESHBOOK_RUN_ID=r1"),
            &mark
        ));
        assert!(
            !marked(
                b"MESHBOOK_STEP=ssh-key\0MESHBOOK_RUN_ID=r1\0MESHBOOK_DRIVER=1-0\0",
                &mark
            ),
            "the same step of another meshbook process is not this one's"
        );
        assert!(!marked(b"MESHBOOK_STEP=ssh-key\0", &mark));
    }

    #[test]
    fn reports_say_how_many() {
        use meshbook_engine::events::left_running as report;
        assert_eq!(report(1), "left 1 process running: killed");
        assert_eq!(report(3), "left 3 processes running: killed");
    }
}
