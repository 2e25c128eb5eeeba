//! Processes a shell step left running in its process group when its own process ended
//! (`cmd &` without `wait`): counted, killed and reported, as nextest reports leaky tests.

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Kills what is left of process group `pgid` and says how many processes were in it.
pub(crate) fn kill(pgid: Pid) -> usize {
    let left = members(pgid);
    // Counted first, killed regardless: where /proc cannot be read the count is 0, yet the
    // group must not outlive the step. ESRCH (an empty group) is the common case.
    let _ = killpg(pgid, Signal::SIGKILL);
    left
}

/// The line a step's log gets for `n` processes it left behind.
pub(crate) fn report(n: usize) -> String {
    let noun = if n == 1 { "process" } else { "processes" };
    format!("left {n} {noun} running: killed")
}

/// Live (not zombie) processes of group `pgid`, from `/proc/PID/stat`.
fn members(pgid: Pid) -> usize {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            e.file_name()
                .to_str()
                .is_some_and(|n| n.bytes().all(|b| b.is_ascii_digit()))
        })
        .filter_map(|e| std::fs::read_to_string(e.path().join("stat")).ok())
        .filter_map(|stat| group_of(&stat))
        .filter(|&(state, group)| state != 'Z' && group == pgid.as_raw())
        .count()
}

/// The state and process group in a `/proc/PID/stat` line: `PID (COMM) STATE PPID PGRP …`,
/// where COMM may itself hold spaces and parentheses, so fields are counted from the last `)`.
fn group_of(stat: &str) -> Option<(char, i32)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let _ppid = fields.next()?;
    Some((state, fields.next()?.parse().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_give_state_and_group() {
        assert_eq!(
            group_of("4242 (sleep) S 1 4240 4240 0 -1 4194304"),
            Some(('S', 4240))
        );
        assert_eq!(group_of("17 (a (weird) name) Z 1 9 9 0"), Some(('Z', 9)));
        assert_eq!(group_of("garbage"), None);
    }

    #[test]
    fn reports_say_how_many() {
        assert_eq!(report(1), "left 1 process running: killed");
        assert_eq!(report(3), "left 3 processes running: killed");
    }
}
