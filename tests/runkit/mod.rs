//! A small harness for driving `meshbook run`/`resume` in a scratch directory: its own state dir,
//! working directory and secrets key, so tests never touch the user's.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

/// A scratch area for one test.
pub struct Scratch {
    pub dir: tempfile::TempDir,
}

/// What a finished command did.
pub struct Done {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Done {
    fn from(out: Output) -> Done {
        Done {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Both streams, for assertion messages.
    pub fn all(&self) -> String {
        format!(
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
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

    /// A meshbook command with this scratch's key, cwd and plain output.
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_meshbook"));
        c.args(args)
            .current_dir(self.path())
            .env("MESHBOOK_KEY_FILE", self.path().join("key"))
            .env("MESHBOOK_STATE_DIR", self.state())
            .env_remove("XDG_CONFIG_HOME");
        c
    }

    /// `meshbook run FILE --workdir W --log-format plain ARGS...`, waited for.
    pub fn run(&self, runbook: &Path, extra: &[&str]) -> Done {
        let work = self.work();
        let mut args = vec![
            "run",
            runbook.to_str().unwrap(),
            "--workdir",
            work.to_str().unwrap(),
            "--log-format",
            "plain",
        ];
        args.extend_from_slice(extra);
        Done::from(self.cmd(&args).output().unwrap())
    }

    /// `meshbook resume ARGS... --log-format plain`, waited for.
    pub fn resume(&self, extra: &[&str]) -> Done {
        let mut args = vec!["resume", "--log-format", "plain"];
        args.extend_from_slice(extra);
        Done::from(self.cmd(&args).output().unwrap())
    }

    /// Any meshbook command, waited for.
    pub fn meshbook(&self, args: &[&str]) -> Done {
        Done::from(self.cmd(args).output().unwrap())
    }

    /// Starts `meshbook ARGS...` without waiting.
    pub fn spawn(&self, args: &[&str]) -> Child {
        self.cmd(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// `meshbook sandbox up --clusters CLUSTERS --dir DIR`, returned once its kubeconfig exists.
    pub fn sandbox_up(&self, clusters: &str, dir: &str) -> Child {
        let child = self
            .cmd(&["sandbox", "up", "--clusters", clusters, "--dir", dir])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let kubeconfig = self.path().join(dir).join("kubeconfig");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !kubeconfig.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "the sandbox did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        child
    }

    /// `meshbook sandbox down --dir DIR`, waiting for the sandbox process to end.
    pub fn sandbox_down(&self, dir: &str, mut child: Child) {
        assert_eq!(self.meshbook(&["sandbox", "down", "--dir", dir]).code, 0);
        child.wait().unwrap();
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
