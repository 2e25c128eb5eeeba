//! kill -9 at random moments of a 300-step run, then resume: every step completes, no step the
//! journal recorded as done runs again, and the state always loads.

mod runkit;

use std::collections::HashSet;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use runkit::Scratch;

/// 30 layers of 10 steps; each step needs one or two steps of the layer before and logs its id.
fn runbook() -> String {
    let mut text = String::from(
        "apiVersion: meshbook/v1\nkind: Runbook\nmetadata: {name: kill-test}\nsteps:\n",
    );
    for layer in 0..30 {
        for k in 0..10 {
            text.push_str(&format!("  - id: s{layer}-{k}\n    shell: sleep 0.0$((RANDOM % 3)); echo s{layer}-{k} >> ran\n"));
            if layer > 0 {
                let a = (k * 7 + layer) % 10;
                let b = (k + 1) % 10;
                text.push_str(&format!(
                    "    needs: [s{}-{a}, s{}-{b}]\n",
                    layer - 1,
                    layer - 1
                ));
            }
        }
    }
    text
}

/// A small xorshift generator seeded from the clock: different moments each trial.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Whether the run exists yet: a kill may come before it is created.
fn has_run(s: &Scratch) -> bool {
    std::fs::read_dir(s.state().join("runs"))
        .is_ok_and(|dirs| dirs.flatten().any(|d| d.path().join("run.json").is_file()))
}

/// Whether the run had ended successfully when it was killed (in its last moments).
fn finished_before_the_kill(s: &Scratch) -> bool {
    s.status(None)["state"] == "succeeded"
}

fn done_steps(s: &Scratch) -> HashSet<String> {
    s.states(None)
        .into_iter()
        .filter(|(_, st)| st == "succeeded")
        .map(|(id, _)| id)
        .collect()
}

fn trial(rng: &mut Rng) {
    let s = Scratch::new();
    let rb = s.runbook("kill.yaml", &runbook());
    let work = s.work();
    let mut kills = 0;
    let mut args: Vec<String> = [
        "run",
        rb.to_str().unwrap(),
        "--workdir",
        work.to_str().unwrap(),
        "--log-format",
        "plain",
    ]
    .iter()
    .map(|a| a.to_string())
    .collect();
    let deadline = Instant::now() + Duration::from_secs(240);
    loop {
        assert!(Instant::now() < deadline, "the run never completed");
        let argv: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut child = s.spawn(&argv);
        let delay = Duration::from_millis(100 + rng.below(900));
        let killed = {
            let start = Instant::now();
            loop {
                if let Some(status) = child.try_wait().unwrap() {
                    assert!(status.success(), "run/resume failed: {status:?}");
                    break false;
                }
                if start.elapsed() >= delay {
                    child.kill().unwrap(); // SIGKILL
                    child.wait().unwrap();
                    break true;
                }
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        if !killed {
            break;
        }
        kills += 1;
        // Steps live in their own process groups and outlive a killed meshbook: let them end.
        std::thread::sleep(Duration::from_millis(300));
        if !has_run(&s) {
            // Killed before the run was created (a busy machine starts slowly): run again.
            continue;
        }
        if finished_before_the_kill(&s) {
            break;
        }
        let done = done_steps(&s);
        let before = s.lines("ran").len();
        // The next invocation must not run any of these again.
        let argv = ["resume", "--log-format", "plain"];
        let mut child = s.spawn(&argv);
        let delay = Duration::from_millis(100 + rng.below(900));
        let start = Instant::now();
        let finished = loop {
            if let Some(status) = child.try_wait().unwrap() {
                assert!(status.success(), "resume failed: {status:?}");
                break true;
            }
            if start.elapsed() >= delay {
                child.kill().unwrap();
                child.wait().unwrap();
                kills += 1;
                break false;
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        std::thread::sleep(Duration::from_millis(300));
        let finished = finished || finished_before_the_kill(&s);
        let ran = s.lines("ran");
        for again in &ran[before..] {
            assert!(
                !done.contains(again),
                "step {again} was recorded done, yet ran again"
            );
        }
        if finished || done_steps(&s).len() == 300 {
            break;
        }
        args = ["resume", "--log-format", "plain"]
            .iter()
            .map(|a| a.to_string())
            .collect();
    }
    let states = s.states(None);
    assert_eq!(states.len(), 300);
    assert!(states.iter().all(|(_, st)| st == "succeeded"), "{states:?}");
    let ran = s.lines("ran");
    let unique: HashSet<&String> = ran.iter().collect();
    assert_eq!(unique.len(), 300, "every step ran");
    // Only steps in flight at a kill may have run twice.
    assert!(
        ran.len() - 300 <= kills * 8,
        "{} repeats for {kills} kills",
        ran.len() - 300
    );
    eprintln!(
        "trial: {kills} kills, {} repeated step runs",
        ran.len() - 300
    );
}

#[test]
fn kill_9_at_random_moments_then_resume_completes() {
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed}");
    let mut rng = Rng(seed);
    for _ in 0..3 {
        trial(&mut rng);
    }
}

/// A step's processes outlive a `kill -9` of meshbook. When the run is resumed, they are killed
/// before its first shell step starts, so the step run again does not race its earlier attempt.
#[test]
fn processes_left_by_a_killed_driver_are_gone_before_resumed_steps_start() {
    let s = Scratch::new();
    let runbook = s.runbook(
        "orphans.yaml",
        "apiVersion: meshbook/v1\nkind: Runbook\nmetadata: {name: orphans}\nsteps:\n\
         \x20 - id: slow\n\
         \x20   shell: |\n\
         \x20     if [ -f first.pid ]; then\n\
         \x20       state=$(awk '{print $3}' \"/proc/$(cat first.pid)/stat\" 2>/dev/null)\n\
         \x20       if [ -n \"$state\" ] && [ \"$state\" != Z ]; then echo alive > verdict; else echo gone > verdict; fi\n\
         \x20     else\n\
         \x20       sleep 300 &\n\
         \x20       echo $! > first.tmp && mv first.tmp first.pid  # whole when it appears\n\
         \x20       wait\n\
         \x20     fi\n",
    );
    let mut child = s.spawn_run(&runbook);
    s.await_file("first.pid");
    let first: u32 = std::fs::read_to_string(s.work().join("first.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        std::path::Path::new(&format!("/proc/{first}")).exists(),
        "the step's process outlives the killed driver"
    );
    let resumed = s.resume(&[]);
    assert_eq!(resumed.code, 0, "{}", resumed.all());
    assert_eq!(
        std::fs::read_to_string(s.work().join("verdict"))
            .unwrap()
            .trim(),
        "gone",
        "the earlier attempt's process was still running when the step ran again"
    );
}
