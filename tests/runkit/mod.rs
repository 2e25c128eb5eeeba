//! The one harness for tests that drive the `meshbook` binary (and `kubectl` beside it): a
//! scratch directory with its own state dir, working directory and secrets key, so tests never
//! touch the user's; every process waited for within a time limit.

#![allow(dead_code)]

pub mod cases;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long one command may take before the test fails (a hang is a failure, not a wait).
pub const LIMIT: Duration = Duration::from_secs(180);

/// What a finished command did.
pub struct Done {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Done {
    /// Both streams, for assertion messages.
    pub fn all(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// The `meshbook` binary under test, run in `dir`.
pub fn meshbook(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_meshbook"));
    c.args(args).current_dir(dir);
    c
}

/// Runs `command` to its end, feeding it `stdin`, within [`LIMIT`]; past it the process is
/// killed and the test fails.
pub fn finish(mut command: Command, stdin: Option<&str>) -> Done {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the command starts");
    let mut input = child.stdin.take().expect("stdin is piped");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    let read = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            String::from_utf8_lossy(&buf).into_owned()
        })
    };
    let out = read(Box::new(child.stdout.take().expect("stdout is piped")));
    let err = read(Box::new(child.stderr.take().expect("stderr is piped")));
    let status = wait(&mut child, LIMIT).unwrap_or_else(|| {
        panic!("{command:?} did not end within {LIMIT:?}");
    });
    Done {
        code: status.code().unwrap_or(-1),
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
    }
}

/// Waits for `child` at most `limit`; past it the child is killed and `None` returned.
pub fn wait(child: &mut Child, limit: Duration) -> Option<std::process::ExitStatus> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// `kubectl --kubeconfig KUBECONFIG --context CONTEXT ARGS...` in `dir`, with a request timeout.
pub fn kubectl(dir: &Path, kubeconfig: &str, context: Option<&str>, args: &[&str]) -> Done {
    // A fresh cache per call: kubectl caches discovery per server address, and a restarted
    // sandbox may serve other API versions at the same address.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let cache = dir.join(format!(".kubectl-cache-{n}"));
    let mut c = Command::new("kubectl");
    c.args(["--kubeconfig", kubeconfig, "--request-timeout", "20s"])
        .arg("--cache-dir")
        .arg(&cache);
    if let Some(ctx) = context {
        c.args(["--context", ctx]);
    }
    c.args(args).current_dir(dir);
    finish(c, None)
}

/// A `meshbook sandbox up` a test started: killed when dropped, so a test that fails (panics)
/// before `sandbox_down` leaves no sandbox running.
pub struct SandboxProcess(Option<Child>);

impl SandboxProcess {
    pub fn new(child: Child) -> SandboxProcess {
        SandboxProcess(Some(child))
    }

    /// The process, for reading its output.
    pub fn child(&mut self) -> &mut Child {
        self.0
            .as_mut()
            .expect("the sandbox process is there until dropped")
    }

    /// The process, no longer killed on drop.
    fn take(mut self) -> Child {
        self.0
            .take()
            .expect("the sandbox process is there until dropped")
    }
}

impl Drop for SandboxProcess {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A scratch area for one test.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

impl Scratch {
    pub fn new() -> Scratch {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("work")).unwrap();
        Scratch { dir }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn work(&self) -> PathBuf {
        self.path().join("work")
    }

    pub fn state(&self) -> PathBuf {
        self.path().join("state")
    }

    /// Writes a runbook into the scratch dir and returns its path.
    pub fn runbook(&self, name: &str, text: &str) -> PathBuf {
        let path = self.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Copies a fixture from tests/fixtures/run.
    pub fn fixture(&self, name: &str) -> PathBuf {
        let text = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/fixtures/run")
                .join(name),
        )
        .unwrap();
        self.runbook(name, &text)
    }

    /// A meshbook command with this scratch's key, state dir and cwd.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = meshbook(self.path(), args);
        c.env("MESHBOOK_KEY_FILE", self.path().join("key"))
            .env("MESHBOOK_STATE_DIR", self.state())
            .env_remove("XDG_CONFIG_HOME");
        c
    }

    /// `run FILE --workdir W --log-format plain`: how the tests start a run.
    pub fn run_args(&self, runbook: &Path) -> Vec<String> {
        let work = self.work();
        [
            "run",
            runbook.to_str().unwrap(),
            "--workdir",
            work.to_str().unwrap(),
        ]
        .into_iter()
        .chain(["--log-format", "plain"])
        .map(str::to_string)
        .collect()
    }

    /// `meshbook run FILE --workdir W --log-format plain ARGS...`, waited for.
    pub fn run(&self, runbook: &Path, extra: &[&str]) -> Done {
        let run = self.run_args(runbook);
        let mut args: Vec<&str> = run.iter().map(String::as_str).collect();
        args.extend_from_slice(extra);
        finish(self.cmd(&args), None)
    }

    /// `meshbook resume ARGS... --log-format plain`, waited for.
    pub fn resume(&self, extra: &[&str]) -> Done {
        let mut args = vec!["resume", "--log-format", "plain"];
        args.extend_from_slice(extra);
        finish(self.cmd(&args), None)
    }

    /// Any meshbook command, waited for.
    pub fn meshbook(&self, args: &[&str]) -> Done {
        finish(self.cmd(args), None)
    }

    /// Starts `meshbook ARGS...` without waiting.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Starts `meshbook run FILE --workdir W --log-format plain` without waiting.
    pub fn spawn_run(&self, runbook: &Path) -> Child {
        let run = self.run_args(runbook);
        self.spawn(&run.iter().map(String::as_str).collect::<Vec<_>>())
    }

    /// Waits until a step has made `file` in the working directory (a test failure after 30 s).
    pub fn await_file(&self, file: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.work().join(file).exists() {
            assert!(Instant::now() < deadline, "no step made `{file}`");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `meshbook sandbox up --clusters CLUSTERS --dir DIR EXTRA...`, returned once its
    /// kubeconfig exists.
    pub fn sandbox_up(&self, clusters: &str, dir: &str, extra: &[&str]) -> SandboxProcess {
        let mut args = vec!["sandbox", "up", "--clusters", clusters, "--dir", dir];
        args.extend_from_slice(extra);
        let mut child = self
            .cmd(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let kubeconfig = self.path().join(dir).join("kubeconfig");
        let deadline = Instant::now() + Duration::from_secs(30);
        while !kubeconfig.exists() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                panic!("the sandbox did not start");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        SandboxProcess::new(child)
    }

    /// `meshbook sandbox down --dir DIR`, waiting for the sandbox process to end well.
    pub fn sandbox_down(&self, dir: &str, sandbox: SandboxProcess) {
        let mut child = sandbox.take();
        let down = self.meshbook(&["sandbox", "down", "--dir", dir]);
        assert_eq!(down.code, 0, "{}", down.all());
        let status = wait(&mut child, Duration::from_secs(30)).expect("the sandbox did not stop");
        assert!(status.success(), "sandbox exited with {status}");
    }

    /// `kubectl` against a sandbox of this scratch (its kubeconfig at `DIR/kubeconfig`).
    pub fn kubectl(&self, dir: &str, context: Option<&str>, args: &[&str]) -> Done {
        kubectl(self.path(), &format!("{dir}/kubeconfig"), context, args)
    }

    /// `status -o json` of the latest (or given) run.
    pub fn status(&self, run: Option<&str>) -> serde_json::Value {
        let mut args = vec!["status", "-o", "json"];
        args.extend(run);
        let done = self.meshbook(&args);
        assert_eq!(done.code, 0, "status must always load: {}", done.all());
        serde_json::from_str(&done.stdout).unwrap()
    }

    /// Step id to state, from `status`.
    pub fn states(&self, run: Option<&str>) -> Vec<(String, String)> {
        let status = self.status(run);
        status["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["id"].as_str().unwrap().to_string(),
                    s["state"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }

    /// Every file under the state dir, concatenated (for "no secret on disk" checks).
    pub fn state_bytes(&self) -> String {
        let mut out = String::new();
        let mut stack = vec![self.state()];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                // Links (a rehearsal's doubles) point outside the state dir, at the binary.
                if p.is_symlink() {
                    continue;
                }
                if p.is_dir() {
                    stack.push(p);
                } else {
                    out.push_str(&String::from_utf8_lossy(&std::fs::read(&p).unwrap()));
                }
            }
        }
        out
    }

    /// Lines of a file in the working directory (empty if missing).
    pub fn lines(&self, file: &str) -> Vec<String> {
        std::fs::read_to_string(self.work().join(file))
            .unwrap_or_default()
            .lines()
            .map(str::to_string)
            .collect()
    }
}

/// The run id printed in `run ID: ...` at the start of a run.
pub fn run_id(out: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix("run ").and_then(|r| r.split(':').next()))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("no run id in:\n{out}"))
}

/// Checks a generated section of a runbook's README — the text from `start` to `end`, markers
/// included — against `section`; with `MESHBOOK_UPDATE_README=1` rewrites it instead (appends it
/// when the README has none). Each generated README part (the rehearsed-at table, the DAG) uses it.
pub fn check_readme_section(runbook: &str, start: &str, end: &str, section: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("runbooks")
        .join(runbook)
        .join("README.md");
    let text = std::fs::read_to_string(&path).unwrap();
    let current = match (text.find(start), text.find(end)) {
        (Some(a), Some(b)) if a < b => &text[a..b + end.len()],
        _ => "",
    };
    if current == section {
        return;
    }
    if std::env::var_os("MESHBOOK_UPDATE_README").is_some() {
        let updated = if current.is_empty() {
            format!("{}\n\n{section}\n", text.trim_end())
        } else {
            text.replace(current, section)
        };
        std::fs::write(&path, updated).unwrap();
        return;
    }
    panic!(
        "{}: the section {start} is out of date (MESHBOOK_UPDATE_README=1 rewrites it):\n{section}",
        path.display()
    );
}

/// Whether process `pid` has ended: gone, or a zombie waiting for its parent (or init) to reap it,
/// which no longer runs anything.
pub fn has_ended(pid: impl std::fmt::Display) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        // The state follows the command's name, which may itself hold `)` and spaces.
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}
