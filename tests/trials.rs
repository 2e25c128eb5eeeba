//! Reliability trials (docs/reliability.md): the run is killed, interrupted and damaged, its
//! runbooks mangled, its secrets hunted on every channel, its sandbox probed, and each trial is
//! counted with what went wrong. The short form runs in CI; `MESHBOOK_TRIALS=long` (what
//! `bench/trials.sh` runs) repeats the random trials many more times. Every category prints
//! its row of the table; the test fails if any trial failed.

mod runkit;

use std::collections::HashSet;
use std::path::Path;
use std::process::{Child, Command};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use runkit::cases::{SCRIPT_SPLICES, failed_run};
use runkit::{Done, Scratch};

/// How many times each random trial runs: (short, long).
fn times(short: usize, long: usize) -> usize {
    match std::env::var("MESHBOOK_TRIALS").as_deref() {
        Ok("long") => long,
        _ => short,
    }
}

/// Why a trial failed, and whether that cost the user something (work recorded done that ran
/// again, a wrong output, a secret in clear, an injected command that ran, a write that vanished)
/// rather than only breaking a promise about how the failure is reported.
struct Failure {
    why: String,
    lost: bool,
}

impl From<String> for Failure {
    fn from(why: String) -> Failure {
        Failure { why, lost: false }
    }
}

/// A failure that lost the user something.
fn lost(why: String) -> Failure {
    Failure { why, lost: true }
}

/// One category of trials: how many ran, which failed (and why), and how much was lost.
struct Tally {
    name: &'static str,
    trials: usize,
    failures: Vec<String>,
    /// Work recorded done that ran again, outputs wrong, secrets found, injections that ran.
    lost: usize,
}

impl Tally {
    fn new(name: &'static str) -> Tally {
        Tally {
            name,
            trials: 0,
            failures: Vec::new(),
            lost: 0,
        }
    }

    /// Counts one trial; `Err` is a failure, counted as lost too when it cost something.
    fn trial(&mut self, outcome: Result<(), impl Into<Failure>>) {
        self.trials += 1;
        if let Err(failure) = outcome {
            let failure = failure.into();
            self.lost += usize::from(failure.lost);
            self.failures.push(failure.why);
        }
    }

    fn row(&self) -> String {
        format!(
            "| {} | {} | {} | {} |",
            self.name,
            self.trials,
            self.failures.len(),
            self.lost
        )
    }
}

/// A xorshift generator: seeded from the clock (printed, so a failure can be replayed with
/// `MESHBOOK_TRIALS_SEED`).
struct Rng(u64);

impl Rng {
    fn seeded() -> Rng {
        let seed = std::env::var("MESHBOOK_TRIALS_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
            })
            | 1;
        eprintln!("trials seed {seed}");
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

// ---------------------------------------------------------------------------------------------
// kill -9, double kills and Ctrl-C

/// 10 layers of 3 steps; each output carries the one before it, so a wrong or lost value
/// anywhere shows in the last layer.
fn chain_runbook() -> String {
    let mut text =
        String::from("apiVersion: meshbook/v1\nkind: Runbook\nmetadata: {name: trials}\nsteps:\n");
    for layer in 0..10 {
        for k in 0..3 {
            let prev = match layer {
                0 => String::new(),
                _ => format!(".$V{}_{k}", layer - 1),
            };
            text.push_str(&format!(
                "  - id: s{layer}-{k}\n    shell: |\n      sleep 0.0$((RANDOM % 6))\n      \
                 echo s{layer}-{k} >> ran\n      echo \"V{layer}_{k}=v{layer}{k}{prev}\" >> \"$MESHBOOK_OUTPUT\"\n    \
                 outputs: {{V{layer}_{k}: {{}}}}\n"
            ));
        }
    }
    text
}

fn expected_last(k: usize) -> String {
    (0..10)
        .rev()
        .map(|l| format!("v{l}{k}"))
        .collect::<Vec<_>>()
        .join(".")
}

fn status(s: &Scratch) -> Result<serde_json::Value, String> {
    let done = s.meshbook(&["status", "-o", "json"]);
    if done.code != 0 {
        return Err(format!("status does not load: {}", done.all()));
    }
    serde_json::from_str(&done.stdout).map_err(|e| e.to_string())
}

fn succeeded(s: &Scratch) -> HashSet<String> {
    status(s)
        .map(|st| {
            st["steps"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|x| x["state"] == "succeeded")
                .filter_map(|x| x["id"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the run exists: a run directory is made under a hidden name and renamed into place,
/// so a kill before the rename leaves no run.
fn has_run(s: &Scratch) -> bool {
    std::fs::read_dir(s.state().join("runs")).is_ok_and(|d| {
        d.flatten().any(|e| {
            !e.file_name().to_string_lossy().starts_with('.') && e.path().join("run.json").is_file()
        })
    })
}

/// How a started invocation is stopped.
#[derive(Clone, Copy)]
enum Stop {
    Kill,
    Interrupt,
}

/// Lets `child` run `delay`, then stops it; `Some((code, stderr))` when it ended by itself first.
fn stop_after(
    mut child: Child,
    delay: Duration,
    how: Stop,
) -> Result<Option<(i32, String)>, String> {
    let start = Instant::now();
    loop {
        if let Some(st) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            if let Some(mut e) = child.stderr.take() {
                use std::io::Read;
                let _ = e.read_to_string(&mut stderr);
            }
            return Ok(Some((st.code().unwrap_or(-1), stderr)));
        }
        if start.elapsed() >= delay {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    match how {
        Stop::Kill => {
            let _ = child.kill();
            let _ = child.wait();
            Ok(None)
        }
        Stop::Interrupt => {
            let _ = Command::new("kill")
                .args(["-INT", &child.id().to_string()])
                .status();
            match runkit::wait(&mut child, Duration::from_secs(30)) {
                Some(st) => match st.code() {
                    Some(0) | Some(130) => Ok(None),
                    other => Err(format!("interrupted run exited {other:?}, not 130")),
                },
                None => Err("an interrupted run did not stop within 30 s".into()),
            }
        }
    }
}

/// Starts the run, stops it (and, with `stops > 1`, the resumes after it) at random moments,
/// then resumes to the end: every step done once recorded, never run again, outputs right.
fn stopped_trial(rng: &mut Rng, stops: usize, how: Stop) -> Result<(), Failure> {
    let s = Scratch::new();
    let rb = s.runbook("trials.yaml", &chain_runbook());
    let run = s.run_args(&rb);
    let mut args: Vec<&str> = run.iter().map(String::as_str).collect();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut stopped = 0;
    while stopped < stops {
        if Instant::now() > deadline {
            return Err(Failure::from("no progress within 120 s".to_string()));
        }
        // A stop that came after the run's last record but before it exited leaves nothing
        // to resume.
        if has_run(&s) && status(&s)?["state"] == "succeeded" {
            break;
        }
        let done_before = succeeded(&s);
        let ran_before = s.lines("ran").len();
        let child = s.spawn(&args);
        let delay = Duration::from_millis(50 + rng.below(700));
        let ended = stop_after(child, delay, how)?;
        // Steps live in their own process groups and may outlive a killed meshbook.
        std::thread::sleep(Duration::from_millis(250));
        for again in &s.lines("ran")[ran_before.min(s.lines("ran").len())..] {
            if done_before.contains(again) {
                return Err(lost(format!(
                    "step {again} was recorded done, yet ran again"
                )));
            }
        }
        if let Some((code, stderr)) = ended {
            if code != 0 {
                return Err(Failure::from(format!(
                    "an unstopped `{}` exited {code}: {stderr}{}",
                    args[0],
                    holder_state(&stderr)
                )));
            }
            break;
        }
        if has_run(&s) {
            stopped += 1;
            args = vec!["resume", "--log-format", "plain"];
        }
    }
    if status(&s)?["state"] != "succeeded" {
        let done_before = succeeded(&s);
        let ran_before = s.lines("ran").len();
        let out = s.resume(&[]);
        if out.code != 0 {
            return Err(Failure::from(format!(
                "the final resume failed: {}",
                out.all()
            )));
        }
        for again in &s.lines("ran")[ran_before..] {
            if done_before.contains(again) {
                return Err(lost(format!(
                    "step {again} was recorded done, yet ran again"
                )));
            }
        }
    }
    let st = status(&s)?;
    let steps = st["steps"].as_array().cloned().unwrap_or_default();
    if steps.len() != 30 || steps.iter().any(|x| x["state"] != "succeeded") {
        return Err(Failure::from(format!("not every step succeeded: {st}")));
    }
    for k in 0..3 {
        let id = format!("s9-{k}");
        let got = steps
            .iter()
            .find(|x| x["id"] == id.as_str())
            .map(|x| x["outputs"][format!("V9_{k}")]["plain"].clone());
        if got.as_ref().and_then(|v| v.as_str()) != Some(expected_last(k).as_str()) {
            return Err(lost(format!("{id} has output {got:?}")));
        }
    }
    let ran: HashSet<String> = s.lines("ran").into_iter().collect();
    if ran.len() != 30 {
        return Err(Failure::from(format!(
            "{} distinct steps ran, not 30",
            ran.len()
        )));
    }
    Ok(())
}

/// For a refusal naming the process that drives the run: whether that process still lives and
/// what it is, and who holds locks, so a failed trial says why the lock was held.
fn holder_state(stderr: &str) -> String {
    let Some(pid) = stderr
        .split("is being driven by ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
    else {
        return String::new();
    };
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|b| String::from_utf8_lossy(&b).replace('\0', " "))
        .unwrap_or_else(|_| "(gone)".into());
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let locks = std::fs::read_to_string("/proc/locks").unwrap_or_default();
    format!("\nholder {pid}: {cmdline} {stat}\n/proc/locks:\n{locks}")
}

fn kills(rng: &mut Rng) -> Vec<Tally> {
    let mut out = Vec::new();
    for (name, stops, how, n) in [
        (
            "kill -9 during a run, then resume",
            1,
            Stop::Kill,
            times(3, 50),
        ),
        (
            "kill -9 of the run and of its resumes, then resume",
            3,
            Stop::Kill,
            times(2, 25),
        ),
        (
            "Ctrl-C (SIGINT) during a run, then resume",
            1,
            Stop::Interrupt,
            times(2, 10),
        ),
    ] {
        let mut t = Tally::new(name);
        for _ in 0..n {
            t.trial(stopped_trial(rng, stops, how));
        }
        out.push(t);
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Journal damage

type Damage = fn(&Path, &Path, &mut Rng);

fn rewrite(journal: &Path, f: impl FnOnce(&mut Vec<String>)) {
    let mut lines: Vec<String> = std::fs::read_to_string(journal)
        .unwrap()
        .lines()
        .map(String::from)
        .collect();
    f(&mut lines);
    std::fs::write(journal, lines.join("\n") + "\n").unwrap();
}

/// The damage cases: each must be refused with exit 3 (the last one, a torn final line, is
/// what a crash leaves and must be resumed).
fn damages() -> Vec<(&'static str, Damage, bool)> {
    vec![
        (
            "one digit of a recorded output changed",
            |j, _, _| {
                rewrite(j, |l| {
                    for line in l.iter_mut() {
                        *line = line.replacen("0123456789abcdef", "0123456789abcdee", 1);
                    }
                })
            },
            true,
        ),
        (
            "a line removed",
            |j, _, r| {
                rewrite(j, |l| {
                    let n = 1 + r.below(l.len() as u64 - 2) as usize;
                    l.remove(n);
                })
            },
            true,
        ),
        (
            "a line repeated",
            |j, _, r| {
                rewrite(j, |l| {
                    let n = 1 + r.below(l.len() as u64 - 1) as usize;
                    let copy = l[n].clone();
                    l.insert(n, copy);
                })
            },
            true,
        ),
        (
            "a run_finished line appended",
            |j, _, _| {
                rewrite(j, |l| {
                    l.push(r#"{"at":1,"event":"run_finished","outcome":"succeeded","succeeded":3,"failed":0,"blocked":0,"interrupted":0,"duration_ms":1}"#.into())
                })
            },
            true,
        ),
        (
            "journal emptied",
            |j, _, _| std::fs::write(j, "").unwrap(),
            true,
        ),
        (
            "journal deleted",
            |j, _, _| std::fs::remove_file(j).unwrap(),
            true,
        ),
        (
            "run.json deleted",
            |_, run_json, _| std::fs::remove_file(run_json).unwrap(),
            true,
        ),
        (
            "run.json edited",
            |_, run_json, _| {
                let text = std::fs::read_to_string(run_json).unwrap();
                std::fs::write(run_json, text.replacen("damage", "damagf", 1)).unwrap();
            },
            true,
        ),
        (
            "torn last line (a crash mid-write)",
            |j, _, _| {
                let mut text = std::fs::read(j).unwrap();
                text.extend_from_slice(br#"{"at":1,"event":"step_succ"#);
                std::fs::write(j, text).unwrap();
            },
            false,
        ),
    ]
}

fn damage_trial(name: &str, damage: Damage, refused: bool, rng: &mut Rng) -> Result<(), Failure> {
    let s = Scratch::new();
    let (id, dir) = failed_run(&s)?;
    damage(&dir.join("journal.jsonl"), &dir.join("run.json"), rng);
    let before = s.lines("ran");
    if refused {
        for args in [vec!["resume", id.as_str()], vec!["status", id.as_str()]] {
            let out = s.meshbook(&args);
            if out.code != 3 || !out.stderr.contains("damaged run state") {
                return Err(
                    format!("{name}: {args:?} did not report damage: {}", out.all()).into(),
                );
            }
        }
        if s.lines("ran") != before {
            return Err(lost(format!("{name}: steps ran from damaged state")));
        }
    } else {
        let out = s.meshbook(&["resume", &id, "--log-format", "plain"]);
        if out.code != 0 {
            return Err(format!("{name}: not resumed: {}", out.all()).into());
        }
        if s.lines("ran") != ["a", "b", "c", "c"] {
            return Err(lost(format!("{name}: ran {:?}", s.lines("ran"))));
        }
    }
    Ok(())
}

fn journal_damage(rng: &mut Rng) -> Tally {
    let mut t = Tally::new("journal and run.json damage (9 kinds)");
    for _ in 0..times(1, 4) {
        for (name, damage, refused) in damages() {
            t.trial(damage_trial(name, damage, refused, rng));
        }
    }
    // A journal swapped in from another run of the same runbook.
    for _ in 0..times(1, 4) {
        t.trial((|| {
            let s = Scratch::new();
            let (first, first_dir) = failed_run(&s)?;
            let (_, second_dir) = failed_run(&s)?;
            std::fs::copy(
                second_dir.join("journal.jsonl"),
                first_dir.join("journal.jsonl"),
            )
            .unwrap();
            let out = s.meshbook(&["resume", &first]);
            match out.code {
                3 => Ok(()),
                _ => Err(format!("a swapped journal was not refused: {}", out.all())),
            }
        })());
    }
    t
}

// ---------------------------------------------------------------------------------------------
// Malformed and mutated runbooks

fn corpus() -> Tally {
    let mut t = Tally::new("malformed runbooks (tests/corpus), `meshbook validate`");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for file in files {
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        let out = runkit::finish(runkit::meshbook(&dir, &["validate", &name]), None);
        t.trial(
            match out.code == 2 && out.stderr.contains(&format!("{name}:")) {
                true => Ok(()),
                false => Err(format!("{name}: {}", out.all())),
            },
        );
    }
    t
}

/// One random edit of `text`: a character dropped or doubled, a line removed, repeated or
/// swapped with the next, indentation shifted, a token from the set below spliced in.
fn mutate(text: &str, rng: &mut Rng) -> String {
    const SPLICE: &[&str] = &[
        "{{",
        "}}",
        "[",
        "]",
        "{",
        "}",
        ":",
        "- ",
        "\t",
        "\"",
        "'",
        "&a",
        "*a",
        "!!binary ",
        "\u{feff}",
        "$(",
        "${X:-",
        "needs: [",
        "timeout: 0s",
        "{{#each this}}",
        "\\",
        "\0",
        "é",
        "  ",
    ];
    let mut lines: Vec<String> = text.lines().map(String::from).collect();
    let n = lines.len().max(1) as u64;
    let at = rng.below(n) as usize;
    match rng.below(7) {
        0 if !lines.is_empty() => {
            lines.remove(at);
        }
        1 if !lines.is_empty() => {
            let copy = lines[at].clone();
            lines.insert(at, copy);
        }
        2 if at + 1 < lines.len() => lines.swap(at, at + 1),
        3 if !lines.is_empty() => lines[at] = format!("  {}", lines[at]),
        4 if !lines.is_empty() => lines[at] = lines[at].trim_start().to_string(),
        _ if !lines.is_empty() => {
            let line = &lines[at];
            let chars: Vec<char> = line.chars().collect();
            let pos = rng.below(chars.len() as u64 + 1) as usize;
            let piece = SPLICE[rng.below(SPLICE.len() as u64) as usize];
            let mut new: String = chars[..pos].iter().collect();
            match rng.below(3) {
                0 if pos < chars.len() => new.extend(chars[pos + 1..].iter()),
                1 if pos < chars.len() => {
                    new.push(chars[pos]);
                    new.extend(chars[pos..].iter());
                }
                _ => {
                    new.push_str(piece);
                    new.extend(chars[pos..].iter());
                }
            }
            lines[at] = new;
        }
        _ => {}
    }
    lines.join("\n") + "\n"
}

/// Every rendered problem names `fuzz.yaml:LINE:COL` inside the text.
fn located_inside(rendered: &str, text: &str) -> Result<(), String> {
    let max = text.lines().count() + 1;
    let mut seen = 0;
    for line in rendered.lines() {
        let Some(rest) = line.strip_prefix("fuzz.yaml:") else {
            continue;
        };
        let mut parts = rest.splitn(3, ':');
        let l: usize = parts.next().and_then(|x| x.parse().ok()).ok_or(line)?;
        let _c: usize = parts.next().and_then(|x| x.parse().ok()).ok_or(line)?;
        if l == 0 || l > max {
            return Err(format!("line {l} outside a {max}-line text: {line}"));
        }
        seen += 1;
    }
    match seen {
        0 => Err(format!("no located problem in:\n{rendered}")),
        _ => Ok(()),
    }
}

fn mutants(rng: &mut Rng) -> Tally {
    let mut t = Tally::new("mutants of the named runbooks, load + validate + plan in process");
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("runbooks");
    let mut sources = Vec::new();
    for entry in std::fs::read_dir(&root).unwrap().flatten() {
        if let Ok(text) = std::fs::read_to_string(entry.path().join("runbook.yaml")) {
            sources.push(text);
        }
    }
    sources.sort();
    assert!(sources.len() >= 4, "the named runbooks are found");
    for i in 0..times(400, 20_000) {
        let mut text = sources[i % sources.len()].clone();
        for _ in 0..1 + rng.below(3) {
            text = mutate(&text, rng);
        }
        let checked = text.clone();
        let outcome =
            std::panic::catch_unwind(move || match meshbook_engine::read_runbook(&text) {
                Ok(v) => {
                    let _ = meshbook_engine::plan::plan(&v, &Default::default()).to_text();
                    Ok(())
                }
                Err(diags) => {
                    let rendered = meshbook_engine::diag::render("fuzz.yaml", &text, &diags);
                    located_inside(&rendered, &text)
                }
            });
        t.trial(match outcome {
            Ok(r) => r.map_err(|e| format!("{e}\n--- mutant\n{checked}")),
            Err(_) => Err(format!("panic on mutant:\n{checked}")),
        });
    }
    t
}

// ---------------------------------------------------------------------------------------------
// Secrets on every channel

const PASSWORD: &str = "pw-7f3a9c2e51b8d6";
const TOKEN: &str = "tok-pw-7f3a9c2e51b8d6-minted";
/// The lines of a multi-line secret output, derived from the password by the step (reversed,
/// upper-cased hex), so no line of it holds another secret or appears in the runbook.
const KEY_LINES: [&str; 2] = ["6d8b15e2c9a3f7-wp", "pw-7F3A9C2E51B8D6"];

const SECRET_RUNBOOK: &str = r#"apiVersion: meshbook/v1
kind: Runbook
metadata: {name: secret-scan}
params:
  PASSWORD: {secret: true}
steps:
  - id: mint
    shell: |
      echo "minted from $PASSWORD on stdout"
      echo "minted from $PASSWORD on stderr" >&2
      echo "TOKEN=tok-$PASSWORD-minted" >> "$MESHBOOK_OUTPUT"
      { echo 'KEY<<EOF'; echo "$PASSWORD" | rev; echo "$PASSWORD" | tr a-f A-F; echo EOF; } >> "$MESHBOOK_OUTPUT"
    outputs:
      TOKEN: {secret: true}
      KEY: {secret: true}
  - id: use
    shell: |
      echo "using $TOKEN"; echo "using $TOKEN" >&2
      printf '%s\n' "$KEY"; printf '%s\n' "$KEY" >&2
  - id: fail
    needs: [use]
    shell: |
      echo "failing with $TOKEN and $PASSWORD" >&2
      exit 3
"#;

fn leaks(channel: &str, text: &str) -> Result<(), Failure> {
    let mut found = Vec::new();
    for secret in [PASSWORD, TOKEN, KEY_LINES[0], KEY_LINES[1]] {
        if text.contains(secret) {
            found.push(secret);
        }
    }
    match found.is_empty() {
        true => Ok(()),
        false => Err(lost(format!("{channel}: {found:?} in clear"))),
    }
}

fn files_under(dir: &Path, out: &mut Vec<(String, String)>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_symlink() {
            continue;
        }
        if p.is_dir() {
            files_under(&p, out);
        } else {
            let text = String::from_utf8_lossy(&std::fs::read(&p).unwrap_or_default()).into_owned();
            out.push((p.display().to_string(), text));
        }
    }
}

fn secret_scans() -> Tally {
    let mut t = Tally::new("secret scans (output channels and every state file)");
    let s = Scratch::new();
    let rb = s.runbook("secrets.yaml", SECRET_RUNBOOK);
    let rb = rb.to_str().unwrap();
    let param = format!("PASSWORD={PASSWORD}");
    let work = s.work();
    let work = work.to_str().unwrap();
    let mut channels: Vec<(String, Done)> = Vec::new();
    for (label, extra) in [
        ("run, plain", vec!["--log-format", "plain"]),
        ("run -v", vec!["--log-format", "plain", "-v"]),
        ("run, json events", vec!["--log-format", "json", "-v"]),
    ] {
        let mut args = vec!["run", rb, "-p", &param, "--workdir", work];
        args.extend(extra);
        channels.push((label.to_string(), s.meshbook(&args)));
    }
    if channels[0].1.code != 1 {
        t.trial(Err(format!(
            "the scan run should fail at `fail`: {}",
            channels[0].1.all()
        )));
    }
    for (label, args) in [
        ("resume", vec!["resume", "--log-format", "plain", "-v"]),
        ("status", vec!["status"]),
        ("status -o json", vec!["status", "-o", "json"]),
        ("runs", vec!["runs"]),
        ("runs -o json", vec!["runs", "-o", "json"]),
        ("plan", vec!["plan", rb, "-p", &param]),
        ("plan -o json", vec!["plan", rb, "-p", &param, "-o", "json"]),
        ("validate -o json", vec!["validate", rb, "-o", "json"]),
    ] {
        channels.push((label.to_string(), s.meshbook(&args)));
    }
    for (label, done) in &channels {
        t.trial(leaks(&format!("{label} stdout"), &done.stdout));
        t.trial(leaks(&format!("{label} stderr"), &done.stderr));
    }
    let mut files = Vec::new();
    files_under(&s.state(), &mut files);
    if files.len() < 5 {
        t.trial(Err(format!("only {} state files to scan", files.len())));
    }
    for (path, text) in files {
        t.trial(leaks(&path, &text));
    }
    t
}

// ---------------------------------------------------------------------------------------------
// Template injection

const INJECTION_RUNBOOK: &str = r#"apiVersion: meshbook/v1
kind: Runbook
metadata: {name: injection}
params:
  X: {}
steps:
  - id: env
    shell: printf '%s' "$X" > got-env
  - id: sh
    shell: printf '%s' {{sh X}} > got-sh
  - id: argv
    shell:
      argv: [sh, -c, 'printf "%s" "$1" > got-argv', argv, "{{X}}"]
"#;

fn injection() -> Tally {
    let mut t =
        Tally::new("template injection (payloads through every value route; forbidden forms)");
    let s = Scratch::new();
    let rb = s.runbook("inject.yaml", INJECTION_RUNBOOK);
    for payload in [
        "x; touch PWNED",
        "$(touch PWNED)",
        "`touch PWNED`",
        "x' ; touch PWNED; echo '",
        "x\" ; touch PWNED; echo \"",
        "x\ntouch PWNED",
        "{{X}}; touch PWNED",
        "-n; touch PWNED",
    ] {
        let param = format!("X={payload}");
        let out = s.run(&rb, &["-p", &param]);
        let pwned = s.work().join("PWNED").exists();
        let _ = std::fs::remove_file(s.work().join("PWNED"));
        t.trial((|| {
            if pwned {
                return Err(lost(format!("payload {payload:?} ran")));
            }
            if out.code != 0 {
                return Err(format!("payload {payload:?}: {}", out.all()).into());
            }
            for file in ["got-env", "got-sh", "got-argv"] {
                let got = std::fs::read_to_string(s.work().join(file)).unwrap_or_default();
                if got != payload {
                    return Err(format!("{file}: {payload:?} arrived as {got:?}").into());
                }
            }
            Ok(())
        })());
    }
    // Partials too: the language a script may use has none.
    for form in SCRIPT_SPLICES.iter().chain(["{{> p}}"].iter()) {
        let text = format!(
            "apiVersion: meshbook/v1\nkind: Runbook\nmetadata: {{name: f}}\nparams:\n  X: {{}}\nsteps:\n  - id: a\n    shell: echo {}\n",
            serde_json::to_string(form).unwrap()
        );
        let rb = s.runbook("forbidden.yaml", &text);
        let out = s.meshbook(&["validate", rb.to_str().unwrap()]);
        t.trial(
            match out.code == 2 && out.stderr.contains("forbidden.yaml:8:") {
                true => Ok(()),
                false => Err(format!("{form} was not refused at its line: {}", out.all())),
            },
        );
    }
    t
}

// ---------------------------------------------------------------------------------------------
// Stalls

const STALL_RUNBOOK: &str = r#"apiVersion: meshbook/v1
kind: Runbook
metadata: {name: stall}
steps:
  - id: leaves-a-child
    timeout: 3s
    shell: |
      sleep 40 &
      echo X=1 >> "$MESHBOOK_OUTPUT"
    outputs: {X: {}}
  - id: holds-its-pipe
    timeout: 3s
    shell: sleep 40
  - id: independent
    shell: sleep 1
"#;

fn stalls() -> Tally {
    let mut t = Tally::new("stalls (background children, a step past its timeout, Ctrl-C)");
    for _ in 0..times(1, 3) {
        let s = Scratch::new();
        let rb = s.runbook("stall.yaml", STALL_RUNBOOK);
        let start = Instant::now();
        let out = s.run(&rb, &["-v"]);
        let took = start.elapsed();
        t.trial((|| {
            if took > Duration::from_secs(20) {
                return Err(format!("the run took {took:?} (timeouts at 3 s)"));
            }
            if out.code != 1 {
                return Err(format!(
                    "the timed-out step should fail the run: {}",
                    out.all()
                ));
            }
            if !out.all().contains("left 1 process running: killed") {
                return Err(format!("the leftover child is not reported: {}", out.all()));
            }
            Ok(())
        })());
        // Ctrl-C while a step holds its pipe: the run stops promptly with 130.
        let work = s.work();
        let child = s.spawn(&[
            "run",
            rb.to_str().unwrap(),
            "--workdir",
            work.to_str().unwrap(),
        ]);
        let start = Instant::now();
        t.trial(
            stop_after(child, Duration::from_millis(1500), Stop::Interrupt).and_then(
                |_| match start.elapsed() < Duration::from_secs(20) {
                    true => Ok(()),
                    false => Err("Ctrl-C took more than 20 s to stop the run".into()),
                },
            ),
        );
    }
    t
}

// ---------------------------------------------------------------------------------------------
// Sandbox probes

struct Api {
    server: String,
    token: String,
    ca: std::path::PathBuf,
}

impl Api {
    fn from(s: &Scratch, dir: &str) -> Api {
        let text = std::fs::read_to_string(s.path().join(dir).join("kubeconfig")).unwrap();
        let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
        let ca_b64 = doc["clusters"][0]["cluster"]["certificate-authority-data"]
            .as_str()
            .unwrap();
        let ca = s.path().join("ca.crt");
        let out = Command::new("base64")
            .arg("-d")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(ca_b64.as_bytes())?;
                c.wait_with_output()
            })
            .unwrap();
        std::fs::write(&ca, out.stdout).unwrap();
        Api {
            server: doc["clusters"][0]["cluster"]["server"]
                .as_str()
                .unwrap()
                .to_string(),
            token: doc["users"][0]["user"]["token"]
                .as_str()
                .unwrap()
                .to_string(),
            ca,
        }
    }

    /// `curl` with this cluster's CA: (status, body). A body given as a file path (`@FILE`).
    fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (u16, String) {
        let mut c = Command::new("curl");
        c.args([
            "-sS",
            "--max-time",
            "20",
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            "-X",
            method,
        ])
        .arg("--cacert")
        .arg(&self.ca)
        .arg(format!("{}{path}", self.server));
        if let Some(t) = token {
            c.args(["-H", &format!("Authorization: Bearer {t}")]);
        }
        if let Some(b) = body {
            c.args(["-H", "Content-Type: application/json", "--data-binary", b]);
        }
        let done = runkit::finish(c, None);
        let (body, code) = done.stdout.rsplit_once('\n').unwrap_or(("", "0"));
        (code.trim().parse().unwrap_or(0), body.to_string())
    }
}

fn sandbox_probes() -> Tally {
    let mut t = Tally::new("sandbox probes (authentication, limits, concurrent writes)");
    let s = Scratch::new();
    let child = s.sandbox_up("probe", "sb", &[]);
    let api = std::sync::Arc::new(Api::from(&s, "sb"));
    let token = api.token.clone();
    let me = Some(token.as_str());
    let cms = "/api/v1/namespaces/default/configmaps";
    let expect = |what: &str, got: (u16, String), want: u16| -> Result<(), String> {
        match got.0 == want {
            true => Ok(()),
            false => Err(format!("{what}: {} (wanted {want}): {}", got.0, got.1)),
        }
    };
    // Authentication.
    t.trial(expect("no token", api.call("GET", cms, None, None), 401));
    t.trial(expect(
        "a wrong token",
        api.call("GET", cms, Some("nope"), None),
        401,
    ));
    let forged = r#"{"apiVersion":"v1","kind":"Secret","metadata":{"name":"forged","annotations":{"kubernetes.io/service-account.name":"default"}},"type":"kubernetes.io/service-account-token","data":{"token":"Zm9yZ2VkLXRva2VuLWFiYw=="}}"#;
    let _ = api.call(
        "POST",
        "/api/v1/namespaces/default/secrets",
        me,
        Some(forged),
    );
    t.trial(expect(
        "a token written into a Secret",
        api.call("GET", cms, Some("forged-token-abc"), None),
        401,
    ));
    t.trial(expect(
        "one-letter token",
        api.call("GET", cms, Some("a"), None),
        401,
    ));
    // Limits.
    let big = s.path().join("big.json");
    std::fs::write(
        &big,
        format!(
            r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"big"}},"data":{{"x":"{}"}}}}"#,
            "a".repeat(4 << 20)
        ),
    )
    .unwrap();
    t.trial(expect(
        "a 4 MiB body",
        api.call("POST", cms, me, Some(&format!("@{}", big.display()))),
        413,
    ));
    let deep = s.path().join("deep.json");
    std::fs::write(&deep, "[".repeat(100_000) + &"]".repeat(100_000)).unwrap();
    let started = Instant::now();
    let deep_answer = api.call("POST", cms, me, Some(&format!("@{}", deep.display())));
    t.trial(expect("100,000 nested arrays", deep_answer, 400).and_then(
        |()| match started.elapsed() < Duration::from_secs(10) {
            true => Ok(()),
            false => Err(format!("deep nesting took {:?}", started.elapsed())),
        },
    ));
    // Concurrent writes: one update wins per resourceVersion, no create is lost.
    let cm =
        r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"race"},"data":{"w":"none"}}"#;
    let (_, created) = api.call("POST", cms, me, Some(cm));
    let rv = serde_json::from_str::<serde_json::Value>(&created)
        .ok()
        .and_then(|v| {
            v["metadata"]["resourceVersion"]
                .as_str()
                .map(str::to_string)
        })
        .unwrap_or_default();
    let updates: Vec<_> = (0..12)
        .map(|i| {
            let api = api.clone();
            let body = format!(
                r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"race","resourceVersion":"{rv}"}},"data":{{"w":"{i}"}}}}"#
            );
            std::thread::spawn(move || {
                let token = api.token.clone();
                api.call("PUT", &format!("{cms}/race"), Some(&token), Some(&body)).0
            })
        })
        .collect();
    let codes: Vec<u16> = updates.into_iter().map(|h| h.join().unwrap()).collect();
    t.trial(
        match (
            codes.iter().filter(|c| **c == 200).count(),
            codes.iter().filter(|c| **c == 409).count(),
        ) {
            (1, 11) => Ok(()),
            other => Err(format!(
                "12 updates at one resourceVersion: {other:?} (200s, 409s)"
            )),
        },
    );
    let creates: Vec<_> = (0..12)
        .map(|i| {
            let api = api.clone();
            let body = format!(
                r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"many-{i}"}}}}"#
            );
            std::thread::spawn(move || {
                let token = api.token.clone();
                api.call("POST", cms, Some(&token), Some(&body)).0
            })
        })
        .collect();
    let codes: Vec<u16> = creates.into_iter().map(|h| h.join().unwrap()).collect();
    let (_, list) = api.call("GET", cms, me, None);
    let listed = serde_json::from_str::<serde_json::Value>(&list)
        .ok()
        .and_then(|v| {
            v["items"].as_array().map(|items| {
                items
                    .iter()
                    .filter(|i| {
                        i["metadata"]["name"]
                            .as_str()
                            .is_some_and(|n| n.starts_with("many-"))
                    })
                    .count()
            })
        })
        .unwrap_or(0);
    t.trial(match (codes.iter().all(|c| *c == 201), listed) {
        (true, 12) => Ok(()),
        other => Err(lost(format!(
            "12 concurrent creates: {codes:?}, {other:?} listed"
        ))),
    });
    s.sandbox_down("sb", child);
    t
}

// ---------------------------------------------------------------------------------------------

#[test]
fn reliability_trials() {
    let mut rng = Rng::seeded();
    let mut tallies = kills(&mut rng);
    tallies.push(journal_damage(&mut rng));
    tallies.push(corpus());
    tallies.push(mutants(&mut rng));
    tallies.push(secret_scans());
    tallies.push(injection());
    tallies.push(stalls());
    tallies.push(sandbox_probes());
    let mut table = String::from("| trials | count | failed | lost |\n|---|---:|---:|---:|\n");
    for t in &tallies {
        table.push_str(&t.row());
        table.push('\n');
    }
    eprintln!("\n{table}");
    if let Ok(path) = std::env::var("MESHBOOK_TRIALS_TABLE") {
        std::fs::write(path, &table).unwrap();
    }
    let failures: Vec<String> = tallies
        .iter()
        .flat_map(|t| t.failures.iter().map(move |f| format!("[{}] {f}", t.name)))
        .collect();
    assert!(
        failures.is_empty(),
        "{} trials failed:\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}
