//! Processes a shell step left running when its own process ended, counted, killed and
//! reported, as nextest reports leaky tests: those still in its process group (`cmd &` without
//! `wait`), and daemons that left the group (`setsid`, as `ssh-agent` does) but still carry the
//! step's mark in their environment (`MESHBOOK_RUN_ID`, `MESHBOOK_STEP` and `MESHBOOK_DRIVER`,
//! which every process a step starts inherits unless it clears its environment).
//!
//! Both kinds were started after the step's first process, so only processes whose ids the
//! kernel handed out since then are read: ids are given out in increasing order, wrapping at
//! `pid_max` (the kernel's `idr_alloc_cyclic`), and `/proc/sys/kernel/ns_last_pid` is the last
//! one given. Reading every process's `/proc` files after every step cost more than a trivial
//! step itself.

use std::sync::LazyLock;
use std::time::{Duration, Instant};

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
    /// When the step's first process was started, to know whether process ids could have
    /// wrapped around since.
    pub(crate) started: Instant,
}

/// The moment a step is about to start its first process: everything the step starts is later.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Start {
    /// Clock ticks after boot, as `/proc/PID/stat` gives a process's start (rounded down).
    ticks: u64,
    at: Instant,
}

impl Start {
    /// Now, taken before the step's first process is started.
    pub(crate) fn now() -> Start {
        let boot = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
        let nanos = (boot.tv_sec as u64)
            .saturating_mul(1_000_000_000)
            .saturating_add(boot.tv_nsec as u64);
        let per_tick = 1_000_000_000 / rustix::param::clock_ticks_per_second().max(1);
        Start {
            ticks: nanos / per_tick,
            at: Instant::now(),
        }
    }
}

impl Step {
    /// The step of run `run_id` called `step`, begun at `start`, whose first process `leader`
    /// (its group's leader) is running.
    pub(crate) fn started(run_id: &str, step: &str, leader: Pid, start: Start) -> Step {
        Step {
            pgid: leader,
            mark: [
                format!("MESHBOOK_RUN_ID={run_id}").into_bytes(),
                format!("MESHBOOK_STEP={step}").into_bytes(),
                format!("MESHBOOK_DRIVER={}", driver()).into_bytes(),
            ],
            since: start.ticks,
            started: start.at,
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

/// Once per run and process, before the run's first shell step: kills the processes that steps
/// of run `run_id` started under another driver that is gone (`kill -9` of meshbook leaves a
/// running step's processes behind), so that a step run again does not race its own earlier
/// attempt (a key generation still writing its file). Only a driver holding the run's lock runs
/// steps, so any other driver's processes are left over. Returns how many there were.
pub(crate) fn kill_orphans_once(run_id: &str) -> usize {
    static SWEPT: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());
    {
        let mut swept = SWEPT.lock().unwrap_or_else(|e| e.into_inner());
        if swept.iter().any(|r| r == run_id) {
            return 0;
        }
        swept.push(run_id.to_string());
    }
    let run = format!("MESHBOOK_RUN_ID={run_id}").into_bytes();
    let ours = format!("MESHBOOK_DRIVER={}", driver()).into_bytes();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    let me = std::process::id() as i32;
    let orphans: Vec<Pid> = entries
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()))
        .filter(|&pid| pid != me)
        .filter(|pid| {
            std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|env| {
                let mut entries = env.split(|b| *b == 0);
                let mut of_run = false;
                let mut other_driver = false;
                for entry in entries.by_ref() {
                    of_run |= entry == run.as_slice();
                    other_driver |=
                        entry.starts_with(b"MESHBOOK_DRIVER=") && entry != ours.as_slice();
                }
                of_run && other_driver
            })
        })
        .map(Pid::from_raw)
        .collect();
    for pid in &orphans {
        let _ = kill_pid(*pid, Signal::SIGKILL);
    }
    // SIGKILL is asynchronous: wait (briefly) until they are gone before the step starts.
    let deadline = Instant::now() + Duration::from_secs(2);
    while Instant::now() < deadline
        && orphans.iter().any(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat"))
                .ok()
                .and_then(|s| parse_stat(&s))
                .is_some_and(|s| s.state != 'Z')
        })
    {
        std::thread::sleep(Duration::from_millis(5));
    }
    orphans.len()
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
    let leader = step.pgid.as_raw();
    let window = || Window::since(leader, step.started.elapsed());
    // No process started anywhere since the step's own: it left nothing.
    if window().is_some_and(|w| w.newest == leader) {
        return (0, Vec::new());
    }
    let (pids, window) = match window() {
        // A few ids handed out since: probed one by one, cheaper than listing /proc.
        Some(w) if w.newest > leader && w.newest - leader <= PROBED => {
            ((leader + 1..=w.newest).collect(), Some(w))
        }
        _ => {
            let Ok(entries) = std::fs::read_dir("/proc") else {
                return (0, Vec::new());
            };
            let pids: Vec<i32> = entries
                .flatten()
                .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse().ok()))
                .collect();
            // Taken after the listing, so every process listed that started later than the
            // leader is in it.
            (pids, window())
        }
    };
    let mut members = 0;
    let mut escaped = Vec::new();
    for pid in pids {
        if window.is_some_and(|w| !w.holds(pid)) {
            continue;
        }
        let dir = format!("/proc/{pid}");
        let Some(stat) = std::fs::read_to_string(format!("{dir}/stat"))
            .ok()
            .and_then(|s| parse_stat(&s))
        else {
            continue;
        };
        if stat.state == 'Z' {
            continue;
        }
        if stat.group == leader {
            members += 1;
        } else if stat.start >= step.since
            && std::fs::read(format!("{dir}/environ")).is_ok_and(|env| marked(&env, &step.mark))
        {
            escaped.push(Pid::from_raw(pid));
        }
    }
    (members, escaped)
}

/// Up to this many ids handed out since the step began are probed rather than listed.
const PROBED: i32 = 64;

/// The process ids handed out after a step's first process: `(leader, newest]`, wrapping at
/// `pid_max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Window {
    leader: i32,
    newest: i32,
}

/// Fewer nanoseconds than the kernel takes to hand out one process (or thread) id, with room to
/// spare: creating a process costs tens of microseconds, and ids come from one allocator under
/// one lock (`pidmap_lock`), so no machine makes a million a second. A step shorter than this
/// times the ids there are cannot have seen them wrap around past its leader.
const NANOS_PER_PID: u64 = 1_000;

impl Window {
    /// The window for a step whose leader started `elapsed` ago; `None` when it cannot be known
    /// (no `/proc/sys/kernel`, or ids may have wrapped past the leader): every process counts.
    fn since(leader: i32, elapsed: Duration) -> Option<Window> {
        static PID_MAX: LazyLock<Option<u64>> = LazyLock::new(|| read_number("pid_max"));
        let pid_max = (*PID_MAX)?;
        // Wrapping ids restart above the 300 the kernel reserves.
        let wrap = Duration::from_nanos(pid_max.saturating_sub(300).saturating_mul(NANOS_PER_PID));
        if elapsed >= wrap {
            return None;
        }
        let newest = i32::try_from(read_number("ns_last_pid")?).ok()?;
        Some(Window { leader, newest })
    }

    /// Whether `pid` was handed out after the leader's.
    fn holds(&self, pid: i32) -> bool {
        if self.leader <= self.newest {
            self.leader < pid && pid <= self.newest
        } else {
            pid > self.leader || pid <= self.newest
        }
    }
}

fn read_number(name: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/sys/kernel/{name}"))
        .ok()?
        .trim()
        .parse()
        .ok()
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
        let mark = Step::started("r1", "ssh-key", Pid::from_raw(i32::MAX), Start::now()).mark;
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
    fn the_window_holds_ids_given_after_the_leader_wrapping_around() {
        let plain = Window {
            leader: 100,
            newest: 105,
        };
        assert!(!plain.holds(100) && plain.holds(101) && plain.holds(105));
        assert!(!plain.holds(106) && !plain.holds(99));
        let wrapped = Window {
            leader: 32000,
            newest: 310,
        };
        assert!(wrapped.holds(32001) && wrapped.holds(301) && wrapped.holds(310));
        assert!(!wrapped.holds(32000) && !wrapped.holds(311) && !wrapped.holds(5000));
    }

    #[test]
    fn a_long_step_or_no_proc_gives_no_window() {
        // Ten hours: more than any pid_max's worth of ids at the fastest rate.
        assert_eq!(Window::since(1, Duration::from_secs(36_000)), None);
        let w = Window::since(1, Duration::ZERO).expect("Linux has /proc/sys/kernel");
        assert_eq!(w.leader, 1);
        assert!(w.newest > 0);
    }

    #[test]
    fn a_process_started_after_the_leader_is_in_its_window() {
        let leader = std::process::id() as i32;
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let w = Window::since(leader, Duration::ZERO);
        let held = w.map(|w| w.holds(child.id() as i32));
        child.kill().unwrap();
        child.wait().unwrap();
        assert!(held.unwrap(), "{w:?} should hold {}", child.id());
    }

    #[test]
    fn a_process_started_after_the_start_is_not_older_than_it() {
        let start = Start::now();
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", child.id()));
        child.kill().unwrap();
        child.wait().unwrap();
        let born = parse_stat(&stat.unwrap()).unwrap().start;
        assert!(born >= start.ticks, "{born} < {}", start.ticks);
        // And the clock is the one /proc counts in: the child is not from the future either.
        assert!(born <= Start::now().ticks);
    }

    #[test]
    fn reports_say_how_many() {
        use meshbook_engine::events::left_running as report;
        assert_eq!(report(1), "left 1 process running: killed");
        assert_eq!(report(3), "left 3 processes running: killed");
    }
}
