//! Doubles of the tools a rehearsal cannot run offline: `helm` (2 and 3), `istioctl`, `asmcli`,
//! Istio's `generate_cert`, `ssh`/`scp` to simulated VMs, and downloads (`curl`, `wget`,
//! `git clone`). A rehearsal puts links named after each tool, pointing at the `meshbook`
//! binary, first on its shell steps' `PATH`; `meshbook` answers to the name it was called by
//! (or `meshbook double TOOL ARGS…`).
//!
//! Each double parses its command line against the real tool's flag table at the version the
//! runbook uses and refuses anything else with the real tool's words and exit status, then does
//! what the command would have done to the simulated clusters (through `KUBECONFIG`,
//! `--kubeconfig` and `--context`, as the real tool finds them), to the simulated cloud's VMs,
//! or to local files. Every call is recorded (see [`record`]) so a rehearsal can report which
//! steps ran with doubles and what each did.

pub mod asmcli;
pub mod cli;
pub mod download;
pub mod generate_cert;
pub mod helm;
pub mod istioctl;
pub mod kube;
mod private;
pub mod record;
pub mod setup;
pub mod ssh;
mod vm;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub use record::Call;
pub use setup::{Config, install};

/// The tools with a double, by the name a step calls them.
pub const TOOLS: [&str; 9] = [
    "helm",
    "istioctl",
    "asmcli",
    "generate_cert",
    "ssh",
    "scp",
    "curl",
    "wget",
    "git",
];

/// True when `name` (a program's file name) is a tool with a double.
pub fn is_tool(name: &str) -> bool {
    TOOLS.contains(&name)
}

/// What a double talks to: its standard streams.
pub struct Io<'a> {
    /// Standard input (`istioctl install -f -`).
    pub stdin: &'a mut dyn Read,
    /// Standard output.
    pub out: &'a mut dyn Write,
    /// Standard error.
    pub err: &'a mut dyn Write,
}

/// The environment a double runs in: variables, working directory and the rehearsal's
/// configuration. Built from the process, or by hand in tests.
#[derive(Debug, Clone, Default)]
pub struct Env {
    /// Environment variables.
    pub vars: BTreeMap<String, String>,
    /// The working directory.
    pub cwd: PathBuf,
    /// The rehearsal's configuration (`$MESHBOOK_DOUBLES/config.json`), if any.
    pub config: Config,
}

impl Env {
    /// The environment of this process.
    pub fn from_process() -> Env {
        let vars: BTreeMap<String, String> = std::env::vars().collect();
        let config = vars
            .get(setup::DIR_VAR)
            .map(|d| Config::load(Path::new(d)))
            .unwrap_or_default();
        Env {
            vars,
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
            config,
        }
    }

    /// A variable's value.
    pub fn var(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// `path` relative to the working directory.
    pub fn resolve(&self, path: &str) -> PathBuf {
        let p = Path::new(path);
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            self.cwd.join(p)
        }
    }

    /// The user's home directory.
    pub fn home(&self) -> PathBuf {
        self.var("HOME").map(PathBuf::from).unwrap_or_default()
    }
}

/// How a double ends when it fails: the text on stderr and the exit status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exit {
    /// The exit status.
    pub code: i32,
    /// What goes to stderr.
    pub text: String,
}

impl Exit {
    /// A failure with a status and text (a newline is added when missing).
    pub fn new(code: i32, text: impl Into<String>) -> Exit {
        let mut text = text.into();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        Exit { code, text }
    }
}

/// The outcome of a double's work.
pub type Outcome = Result<(), Exit>;

/// Splits `istioctl@1.6.5` into the tool and an explicit version.
fn split_version(tool: &str) -> (&str, Option<&str>) {
    match tool.split_once('@') {
        Some((t, v)) => (t, Some(v)),
        None => (tool, None),
    }
}

/// Runs the double of `tool` (optionally `tool@VERSION`) with `args`, records the call, and
/// returns the exit status.
pub fn run(tool: &str, args: &[String], env: &Env, io: &mut Io<'_>) -> i32 {
    let (name, explicit) = split_version(tool);
    let version = explicit
        .map(str::to_string)
        .or_else(|| env.config.versions.get(name).cloned());
    let mut call = Call::new(name, version.clone(), env);
    let outcome = match name {
        "helm" => helm::run(version.as_deref(), args, env, io, &mut call),
        "istioctl" => istioctl::run(version.as_deref(), args, env, io, &mut call),
        "asmcli" => asmcli::run(args, env, io, &mut call),
        "generate_cert" => generate_cert::run(args, env, io, &mut call),
        "ssh" => ssh::run_ssh(args, env, io, &mut call),
        "scp" => ssh::run_scp(args, env, io, &mut call),
        "curl" => download::run_curl(args, env, io, &mut call),
        "wget" => download::run_wget(args, env, io, &mut call),
        "git" => download::run_git(args, env, io, &mut call),
        other => Err(Exit::new(
            127,
            format!(
                "meshbook: no double for `{other}` (doubles: {})",
                TOOLS.join(", ")
            ),
        )),
    };
    let code = match outcome {
        Ok(()) => 0,
        Err(exit) => {
            let _ = io.err.write_all(exit.text.as_bytes());
            exit.code
        }
    };
    let _ = io.out.flush();
    call.exit = code;
    call.save(env);
    code
}

/// Runs a double with this process's streams and environment (what `main` calls).
pub fn main(tool: &str, args: &[String]) -> i32 {
    let env = Env::from_process();
    let stdin = std::io::stdin();
    let mut stdin = stdin.lock();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let stderr = std::io::stderr();
    let mut err = stderr.lock();
    let mut io = Io {
        stdin: &mut stdin,
        out: &mut out,
        err: &mut err,
    };
    run(tool, args, &env, &mut io)
}

/// Runs a future on a runtime of its own: doubles are short-lived processes.
pub(crate) fn block_on<F: std::future::Future>(f: F) -> Result<F::Output, Exit> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Exit::new(1, format!("cannot start a runtime: {e}")))?;
    Ok(rt.block_on(f))
}

#[cfg(test)]
pub(crate) mod testing {
    use super::*;

    /// Runs a double with captured streams; returns (status, stdout, stderr).
    pub fn run_captured(
        tool: &str,
        args: &[&str],
        env: &Env,
        stdin: &str,
    ) -> (i32, String, String) {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut input = stdin.as_bytes();
        let mut out = Vec::new();
        let mut err = Vec::new();
        let code = {
            let mut io = Io {
                stdin: &mut input,
                out: &mut out,
                err: &mut err,
            };
            run(tool, &args, env, &mut io)
        };
        (
            code,
            String::from_utf8_lossy(&out).into_owned(),
            String::from_utf8_lossy(&err).into_owned(),
        )
    }

    /// An environment rooted at `dir`, with no variables but `HOME`.
    pub fn env_in(dir: &Path) -> Env {
        let mut vars = BTreeMap::new();
        vars.insert("HOME".to_string(), dir.display().to_string());
        Env {
            vars,
            cwd: dir.to_path_buf(),
            config: Config::default(),
        }
    }
}
