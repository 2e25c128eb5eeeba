//! Shell steps: a script under `bash -euo pipefail`, or an argv without a shell, run through duct
//! in its own process group (so a timeout or a signal reaches every process it started).
//!
//! Params and upstream outputs arrive as environment variables. Outputs are written to the file
//! named by `$MESHBOOK_OUTPUT`, as `KEY=value` lines or `KEY<<DELIM` … `DELIM` blocks for
//! multi-line values; a step declaring a single output that writes none there outputs its trimmed
//! stdout instead. Output goes to the step's log file (and, when asked, live to a viewer).

use std::fs;
use std::io::{self, BufRead, BufReader};
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use indexmap::IndexMap;
use meshbook_engine::model::names::is_env_name;
use meshbook_engine::model::{Action, Command, ShellSpec};
use meshbook_engine::run::executor::{BoxFuture, Executor, Produced, StepFailure, StepRequest};
use meshbook_engine::state::log::{Lines, Stream};
use meshbook_engine::values::Values;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Runs `shell:` steps.
#[derive(Debug, Default, Clone)]
pub struct ShellExecutor;

impl ShellExecutor {
    /// Runs one attempt; the future owns everything it needs (for spawning as a task).
    pub fn execute_owned(
        self,
        req: StepRequest,
    ) -> impl Future<Output = Result<Produced, StepFailure>> + Send {
        run(req)
    }
}

impl Executor for ShellExecutor {
    fn execute(&self, req: StepRequest) -> BoxFuture<'_, Result<Produced, StepFailure>> {
        Box::pin(run(req))
    }
}

/// Why the `$MESHBOOK_OUTPUT` file is malformed. Never holds a value (it may be secret).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OutputFileError {
    /// A line is neither `KEY=value` nor `KEY<<DELIM`.
    #[error("line {0}: expected KEY=value or KEY<<DELIMITER")]
    Syntax(usize),
    /// A `KEY<<DELIM` block has no closing `DELIM` line.
    #[error("line {line}: `{key}<<{delimiter}` is not closed by a `{delimiter}` line")]
    Unclosed {
        /// 1-based line of the opening.
        line: usize,
        /// The output's name.
        key: String,
        /// The delimiter.
        delimiter: String,
    },
}

/// Parses the contents of a `$MESHBOOK_OUTPUT` file; later values of a key win.
pub fn parse_output_file(text: &str) -> Result<IndexMap<String, String>, OutputFileError> {
    let mut values = IndexMap::new();
    let mut lines = text.lines().enumerate();
    while let Some((n, line)) = lines.next() {
        if line.trim().is_empty() {
            continue;
        }
        if let Some((key, delimiter)) = line.split_once("<<")
            && is_env_name(key)
            && !delimiter.is_empty()
            && !line.contains('=')
        {
            let mut body = Vec::new();
            let mut closed = false;
            for (_, l) in lines.by_ref() {
                if l == delimiter {
                    closed = true;
                    break;
                }
                body.push(l);
            }
            if !closed {
                return Err(OutputFileError::Unclosed {
                    line: n + 1,
                    key: key.to_string(),
                    delimiter: delimiter.to_string(),
                });
            }
            values.insert(key.to_string(), body.join("\n"));
            continue;
        }
        match line.split_once('=') {
            Some((key, value)) if is_env_name(key) => {
                values.insert(key.to_string(), value.to_string());
            }
            _ => return Err(OutputFileError::Syntax(n + 1)),
        }
    }
    Ok(values)
}

async fn run(req: StepRequest) -> Result<Produced, StepFailure> {
    let Action::Shell(spec) = &req.action else {
        return Err(StepFailure::Unsupported(req.action.kind().to_string()));
    };
    let prepared = prepare(&req, spec).map_err(|e| StepFailure::Spawn(e.to_string()))?;
    let Prepared {
        handle,
        readers,
        output_file,
        captured,
        lines,
        withheld,
    } = prepared;
    let handle = Arc::new(handle);
    let pgid = handle.pids().first().map(|&p| Pid::from_raw(p as i32));
    let waiter = {
        let h = handle.clone();
        tokio::task::spawn_blocking(move || h.wait().cloned())
    };
    tokio::pin!(waiter);
    let signal_group = |sig| {
        if let Some(pgid) = pgid {
            // The group may be gone already; nothing to do then.
            let _ = killpg(pgid, sig);
        }
    };
    let mut stopped = false;
    let waited = tokio::select! {
        r = &mut waiter => r,
        _ = req.kill.cancelled() => {
            stopped = true;
            signal_group(Signal::SIGKILL);
            (&mut waiter).await
        }
        _ = req.stop.cancelled() => {
            stopped = true;
            signal_group(Signal::SIGTERM);
            tokio::select! {
                r = &mut waiter => r,
                _ = tokio::time::sleep(req.grace) => {
                    signal_group(Signal::SIGKILL);
                    (&mut waiter).await
                }
                _ = req.kill.cancelled() => {
                    signal_group(Signal::SIGKILL);
                    (&mut waiter).await
                }
            }
        }
    };
    let stdout = join_readers(readers, captured);
    let file_text = match fs::read(&output_file) {
        Ok(bytes) => {
            let _ = fs::remove_file(&output_file);
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Err(_) => String::new(),
    };
    let output: Output = match waited {
        Ok(Ok(o)) => o,
        Ok(Err(e)) => {
            return Err(StepFailure::transient(format!(
                "waiting for the step failed: {e}"
            )));
        }
        Err(e) => {
            return Err(StepFailure::transient(format!(
                "waiting for the step failed: {e}"
            )));
        }
    };
    if stopped {
        return Err(StepFailure::Interrupted);
    }
    if !output.status.success() && withheld {
        lines.raw("(stdout withheld: the step declares secret outputs)\n");
    }
    if !output.status.success() {
        return Err(match (output.status.code(), output.status.signal()) {
            (Some(code), _) => StepFailure::Exit { code },
            (None, Some(signal)) => StepFailure::Signal { signal },
            (None, None) => StepFailure::transient("ended without a status"),
        });
    }
    let mut values =
        parse_output_file(&file_text).map_err(|e| StepFailure::OutputFile(e.to_string()))?;
    if req.outputs.len() == 1 && values.is_empty() {
        let name = req.outputs.keys().next().cloned().unwrap_or_default();
        values.insert(name, stdout.clone().unwrap_or_default().trim().to_string());
    }
    if withheld {
        // Stdout of a step with secret outputs reaches the log only now, with them masked.
        let secret = values
            .iter()
            .filter(|(name, _)| req.outputs.get(*name).is_some_and(|o| o.secret))
            .map(|(_, v)| v.clone());
        lines
            .masking(secret)
            .raw(stdout.as_deref().unwrap_or_default());
    }
    Ok(values)
}

struct Prepared {
    handle: duct::Handle,
    readers: Vec<JoinHandle<()>>,
    output_file: PathBuf,
    captured: Option<Arc<Mutex<Vec<u8>>>>,
    lines: Lines,
    /// Stdout was kept from the log (the step has secret outputs) until it can be masked.
    withheld: bool,
}

fn prepare(req: &StepRequest, spec: &ShellSpec) -> io::Result<Prepared> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&req.scratch)?;
    let output_file = req.scratch.join(format!(
        "{}.{}.{}.out",
        req.step.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
        req.attempt,
        std::process::id()
    ));
    // Not created here: most steps write no outputs, and creating then deleting a file per step
    // is a measurable share of a trivial step's cost. The script creates it on its first write,
    // inside the 0700 scratch directory; a stale file of the same name must not leak in.
    let _ = fs::remove_file(&output_file);
    let lines = req.log.begin(req.attempt)?;

    let mut expr = match &spec.command {
        Command::Argv { program, args } => {
            duct::cmd(resolve_program(program, &req.env, &spec.env), args)
        }
        Command::Script(script) => duct::cmd(
            resolve_program("bash", &req.env, &spec.env),
            ["-euo", "pipefail", "-c", script.as_str()],
        ),
    };
    expr = expr.dir(&req.workdir).stdin_null().unchecked();
    for (k, v) in req.env.iter() {
        expr = expr.env(k, v);
    }
    for (k, v) in &spec.env {
        expr = expr.env(k, v);
    }
    expr = expr
        .env("MESHBOOK_OUTPUT", &output_file)
        .env("MESHBOOK_RUN_ID", &req.run_id)
        .env("MESHBOOK_STEP", &req.step)
        .env("MESHBOOK_WORKDIR", &req.workdir)
        .before_spawn(|cmd| {
            cmd.process_group(0);
            Ok(())
        });

    let mut readers = Vec::new();
    let mut captured = None;
    // Without a viewer, masking or a stdout output, the child writes straight to the log file:
    // no copy. Stdout of a step with secret outputs may hold them: it reaches the log only once
    // the values are known and can be masked, and is not echoed live.
    let withheld = req.outputs.values().any(|o| o.secret);
    let log = &req.log;
    let copying = log.is_echoed() || log.is_masking();
    if !req.outputs.is_empty() || copying {
        let (reader, writer) = io::pipe()?;
        let buf = (!req.outputs.is_empty()).then(|| Arc::new(Mutex::new(Vec::new())));
        captured.clone_from(&buf);
        let to_log = (!withheld).then(|| lines.clone());
        readers.push(copy_lines(reader, to_log, Stream::Stdout, buf));
        expr = expr.stdout_file(writer);
    } else {
        expr = expr.stdout_file(lines.file()?);
    }
    if copying {
        let (reader, writer) = io::pipe()?;
        readers.push(copy_lines(
            reader,
            Some(lines.clone()),
            Stream::Stderr,
            None,
        ));
        expr = expr.stderr_file(writer);
    } else {
        expr = expr.stderr_file(lines.file()?);
    }
    // The expression owns our copies of the pipes' write ends; dropping it after the start lets
    // the readers see the end of output when the step's processes exit.
    let handle = expr.start();
    drop(expr);
    Ok(Prepared {
        handle: handle?,
        readers,
        output_file,
        captured,
        lines,
        withheld,
    })
}

/// The program's absolute path, looked up in the step's `PATH` (else meshbook's). With a bare
/// name and a changed environment the standard library forks and searches `PATH` in the child;
/// with an absolute path it can use `posix_spawn`, which is several times cheaper for trivial steps.
/// A name that is not found is left as is, so the spawn error names it.
fn resolve_program(name: &str, env: &Values, extra: &IndexMap<String, String>) -> PathBuf {
    if name.contains('/') {
        return PathBuf::from(name);
    }
    let path = extra
        .get("PATH")
        .map(String::as_str)
        .or_else(|| env.get("PATH"))
        .map(std::ffi::OsString::from)
        .or_else(|| std::env::var_os("PATH"))
        .unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|candidate| is_executable(candidate))
        .unwrap_or_else(|| PathBuf::from(name))
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn copy_lines(
    reader: io::PipeReader,
    to_log: Option<Lines>,
    stream: Stream,
    capture: Option<Arc<Mutex<Vec<u8>>>>,
) -> JoinHandle<()> {
    std::thread::spawn(move || {
        let mut reader = BufReader::new(reader);
        let mut line = Vec::new();
        while matches!(reader.read_until(b'\n', &mut line), Ok(n) if n > 0) {
            if let Some(buf) = &capture
                && let Ok(mut b) = buf.lock()
            {
                b.extend_from_slice(&line);
            }
            if let Some(lines) = &to_log {
                lines.line(stream, &String::from_utf8_lossy(&line));
            }
            line.clear();
        }
    })
}

fn join_readers(
    readers: Vec<JoinHandle<()>>,
    captured: Option<Arc<Mutex<Vec<u8>>>>,
) -> Option<String> {
    for r in readers {
        let _ = r.join();
    }
    let bytes = captured?.lock().ok()?.clone();
    Some(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lines_and_heredocs() {
        let text = "A=1\nB=x=y\n\nCERT<<EOF\nline 1\nline 2\nEOF\nA=2\n";
        let v = parse_output_file(text).unwrap();
        assert_eq!(v["A"], "2");
        assert_eq!(v["B"], "x=y");
        assert_eq!(v["CERT"], "line 1\nline 2");
    }

    #[test]
    fn malformed_files_say_where_without_values() {
        assert_eq!(
            parse_output_file("A=1\nsecret-junk\n"),
            Err(OutputFileError::Syntax(2))
        );
        assert_eq!(parse_output_file("1A=x"), Err(OutputFileError::Syntax(1)));
        let err = parse_output_file("K<<END\nhunter2\n")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "line 1: `K<<END` is not closed by a `END` line");
    }
}
