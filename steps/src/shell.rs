//! Shell steps: a script under `bash -euo pipefail`, or an argv without a shell, run through duct
//! in its own process group (so a timeout or a signal reaches every process it started).
//!
//! Params and upstream outputs arrive as environment variables. Outputs are written to the file
//! named by `$MESHBOOK_OUTPUT`, as `KEY=value` lines or `KEY<<DELIM` … `DELIM` blocks for
//! multi-line values; a step declaring a single output that writes none there outputs its trimmed
//! stdout instead. Output goes to the step's log file (and, when asked, live to a viewer).

use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use indexmap::IndexMap;
use meshbook_engine::events::left_running as left_running_text;
use meshbook_engine::model::names::is_env_name;
use meshbook_engine::model::{Action, Command, ShellSpec};
use meshbook_engine::run::executor::{BoxFuture, Done, Executor, StepFailure, StepRequest};
use meshbook_engine::state::log::{Lines, Stream};
use meshbook_engine::values::Values;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncReadExt};

use crate::leftovers;

/// Runs `shell:` steps. Steps inherit meshbook's environment, less the variables withheld.
#[derive(Debug, Default, Clone)]
pub struct ShellExecutor {
    withheld: Arc<[String]>,
}

impl ShellExecutor {
    /// An executor whose steps do not inherit `names` from meshbook's environment (a step's
    /// own values and the run's variables are still given under those names).
    pub fn withholding(names: impl IntoIterator<Item = String>) -> ShellExecutor {
        ShellExecutor {
            withheld: names.into_iter().collect(),
        }
    }

    /// Runs one attempt; the future owns everything it needs (for spawning as a task).
    pub async fn execute_owned(self, req: StepRequest) -> Result<Done, StepFailure> {
        run(req, self.withheld).await
    }
}

impl Executor for ShellExecutor {
    fn execute(&self, req: StepRequest) -> BoxFuture<'_, Result<Done, StepFailure>> {
        Box::pin(run(req, self.withheld.clone()))
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

async fn run(req: StepRequest, withheld: Arc<[String]>) -> Result<Done, StepFailure> {
    let Action::Shell(spec) = &req.action else {
        return Err(StepFailure::Unsupported(req.action.kind().to_string()));
    };
    let orphans = leftovers::kill_orphans_once(&req.run_id);
    if orphans > 0 {
        tracing::warn!(
            run = %req.run_id,
            "killed {orphans} processes that steps of this run left running under a driver that is gone"
        );
    }
    let start = leftovers::Start::now();
    let prepared = prepare(&req, spec, &withheld).map_err(|e| StepFailure::Spawn(e.to_string()))?;
    let Prepared {
        handle,
        readers,
        output_file,
        captured,
        held,
        lines,
    } = prepared;
    let handle = Arc::new(handle);
    let pgid = handle.pids().first().map(|&p| Pid::from_raw(p as i32));
    let leftover = pgid.map(|p| leftovers::Step::started(&req.run_id, &req.step, p, start));
    let waiter = exited(handle.clone());
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
    // The step is its own process: what it left behind in its group, or daemonized with its
    // mark, dies with it; what else it left outside its group may hold the pipes open only for
    // a bounded time.
    let left_running = leftover.as_ref().map_or(0, leftovers::kill);
    if left_running > 0 {
        lines.line(Stream::Stderr, &left_running_text(left_running));
    }
    if !drain(readers).await {
        lines.line(
            Stream::Stderr,
            &format!(
                "output still open {} s after the step ended (a process outside its group holds it): no longer read",
                DRAIN.as_secs()
            ),
        );
    }
    let stdout = captured.map(|buf| String::from_utf8_lossy(&take(&buf)).into_owned());
    let file_text = match fs::read(&output_file) {
        Ok(bytes) => {
            let _ = fs::remove_file(&output_file);
            String::from_utf8_lossy(&bytes).into_owned()
        }
        Err(_) => String::new(),
    };
    let output: Output =
        waited.map_err(|e| StepFailure::transient(format!("waiting for the step failed: {e}")))?;
    let parsed = parse_output_file(&file_text);
    if (!output.status.success() || stopped)
        && let Some(held) = &held
    {
        // What the step wrote before failing is masked; stdout may be an output itself and is
        // not shown at all.
        let known = secret_values(&req, parsed.as_ref().ok().into_iter().flatten());
        release(&lines.masking(known), &take(held), false);
    }
    if stopped {
        return Err(StepFailure::Interrupted);
    }
    if !output.status.success() {
        return Err(match (output.status.code(), output.status.signal()) {
            (Some(code), _) => StepFailure::Exit { code },
            (None, Some(signal)) => StepFailure::Signal { signal },
            (None, None) => StepFailure::transient("ended without a status"),
        });
    }
    let mut values = parsed.map_err(|e| StepFailure::OutputFile(e.to_string()))?;
    if req.outputs.len() == 1 && values.is_empty() {
        let name = req.outputs.keys().next().cloned().unwrap_or_default();
        values.insert(name, stdout.clone().unwrap_or_default().trim().to_string());
    }
    if let Some(held) = held {
        // Output of a step with secret outputs reaches the log (and a viewer) only now, with
        // them masked.
        let secret = secret_values(&req, &values);
        release(&lines.masking(secret), &take(&held), true);
    }
    lines.error().map_err(|e| {
        StepFailure::transient(format!(
            "the step's output could not be kept in its log: {e}"
        ))
    })?;
    Ok(Done {
        outputs: values,
        rehearsed: None,
        left_running,
    })
}

/// Waits for the step's process to end. Its pidfd becomes readable then, so the runtime's own
/// poll wakes the step: no thread per step blocks in `waitid` and hands the news over (a
/// measurable share of a trivial step). Without pidfds (Linux before 5.3) a blocking thread waits.
async fn exited(handle: Arc<duct::Handle>) -> io::Result<Output> {
    let pidfd = handle.pids().first().and_then(|&pid| {
        let pid = rustix::process::Pid::from_raw(pid as i32)?;
        let fd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::NONBLOCK).ok()?;
        // Deprecated as unsound for descriptors the wrapper does not own; an `OwnedFd` is owned
        // and closed by the `AsyncFd` alone, and the safe replacement is `unsafe`, which this
        // workspace forbids.
        #[allow(deprecated)]
        tokio::io::unix::AsyncFd::with_interest(fd, tokio::io::Interest::READABLE).ok()
    });
    let Some(pidfd) = pidfd else {
        // Waiting blocks a thread; it must never be a runtime thread, or timers and signals stall.
        return tokio::task::spawn_blocking(move || handle.wait().cloned())
            .await
            .map_err(io::Error::other)?;
    };
    loop {
        let mut ready = pidfd.readable().await?;
        if let Some(output) = handle.try_wait()? {
            return Ok(output.clone());
        }
        ready.clear_ready();
    }
}

/// How long a step's pipes are read after its process ended.
const DRAIN: Duration = Duration::from_secs(2);

/// Waits for the readers to reach the end of their pipes, at most [`DRAIN`]; false if one had
/// to be abandoned (its pipe is closed by dropping it, so the holder gets `EPIPE`).
async fn drain(readers: Vec<tokio::task::JoinHandle<()>>) -> bool {
    let deadline = tokio::time::Instant::now() + DRAIN;
    let mut complete = true;
    for mut reader in readers {
        if tokio::time::timeout_at(deadline, &mut reader)
            .await
            .is_err()
        {
            reader.abort();
            complete = false;
        }
    }
    complete
}

/// The values of the step's secret outputs among `values`.
fn secret_values<'a>(
    req: &StepRequest,
    values: impl IntoIterator<Item = (&'a String, &'a String)>,
) -> Vec<String> {
    values
        .into_iter()
        .filter(|(name, _)| req.outputs.get(*name).is_some_and(|o| o.secret))
        .map(|(_, v)| v.clone())
        .collect()
}

/// Writes held-back lines, masked by `lines`; stdout only when `with_stdout`, else one note.
fn release(lines: &Lines, held: &[(Stream, String)], with_stdout: bool) {
    let mut noted = false;
    for (stream, line) in held {
        match stream {
            Stream::Stdout if !with_stdout => {
                if !noted {
                    lines.raw("(stdout withheld: the step declares secret outputs)\n");
                    noted = true;
                }
            }
            _ => lines.line(*stream, line),
        }
    }
}

fn take<T: Default>(buf: &Mutex<T>) -> T {
    buf.lock()
        .map(|mut b| std::mem::take(&mut *b))
        .unwrap_or_default()
}

/// Lines read from a step's pipe, kept until its secret outputs are known.
type Held = Arc<Mutex<Vec<(Stream, String)>>>;

struct Prepared {
    handle: duct::Handle,
    readers: Vec<tokio::task::JoinHandle<()>>,
    output_file: PathBuf,
    captured: Option<Arc<Mutex<Vec<u8>>>>,
    /// Output held back from the log (the step has secret outputs) until it can be masked.
    held: Option<Held>,
    lines: Lines,
}

fn prepare(req: &StepRequest, spec: &ShellSpec, withheld: &[String]) -> io::Result<Prepared> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(&req.scratch)
        .map_err(at(&req.scratch))?;
    let output_file = req.scratch.join(format!(
        "{}.{}.{}.out",
        req.step.replace(|c: char| !c.is_ascii_alphanumeric(), "_"),
        req.attempt,
        std::process::id()
    ));
    // A stale file of the same name must not leak in. A step that declares outputs gets the
    // file made here, 0600 whatever the umask, since it may hold secret values until read;
    // other steps write nothing meshbook keeps there, and creating then deleting a file per
    // step is a measurable share of a trivial step's cost.
    let _ = fs::remove_file(&output_file);
    if !req.outputs.is_empty() {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&output_file)
            .map_err(at(&output_file))?;
    }
    let lines = req.log.begin(req.attempt);

    let (program, mut expr) = match &spec.command {
        Command::Argv { program, args } => {
            let path = resolve_program(program, &req.env, &spec.env);
            (path.clone(), duct::cmd(path, args))
        }
        Command::Script(script) => {
            let path = resolve_program("bash", &req.env, &spec.env);
            let expr = duct::cmd(&path, ["-euo", "pipefail", "-c", script.as_str()]);
            (path, expr)
        }
    };
    expr = expr.dir(&req.workdir).stdin_null().unchecked();
    for name in withheld {
        if !req.env.contains(name) && !spec.env.contains_key(name) {
            expr = expr.env_remove(name);
        }
    }
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
        .env("MESHBOOK_DRIVER", crate::leftovers::driver())
        .env("MESHBOOK_WORKDIR", &req.workdir)
        .before_spawn(|cmd| {
            cmd.process_group(0);
            Ok(())
        });

    let mut readers = Vec::new();
    let mut captured = None;
    // Output reaches the log through pipes, so that the log file is made only when there is
    // output. Output of a step with secret outputs may hold them, on either stream: it reaches
    // the log only once the values are known and can be masked. Lines are split only when they
    // are masked or shown; otherwise bytes go to the log as they come, and with no output to
    // capture both streams share one pipe, so the log keeps their order.
    let held: Option<Held> = req
        .outputs
        .values()
        .any(|o| o.secret)
        .then(Default::default);
    let log = &req.log;
    let by_line = log.is_echoed() || log.is_masking() || held.is_some();
    let to = |stream| match (&held, by_line) {
        (Some(h), _) => Dest::Held(h.clone(), stream),
        (None, true) => Dest::Lines(lines.clone(), stream),
        (None, false) => Dest::Raw(lines.clone()),
    };
    if by_line || !req.outputs.is_empty() {
        let (reader, writer) = io::pipe()?;
        let buf = (!req.outputs.is_empty()).then(|| Arc::new(Mutex::new(Vec::new())));
        captured.clone_from(&buf);
        readers.push(copy(reader, to(Stream::Stdout), buf)?);
        expr = expr.stdout_file(writer);
        let (reader, writer) = io::pipe()?;
        readers.push(copy(reader, to(Stream::Stderr), None)?);
        expr = expr.stderr_file(writer);
    } else {
        let (reader, writer) = io::pipe()?;
        readers.push(copy(reader, to(Stream::Stdout), None)?);
        expr = expr.stderr_file(writer.try_clone()?).stdout_file(writer);
    }
    // The expression owns our copies of the pipes' write ends; dropping it after the start lets
    // the readers see the end of output when the step's processes exit.
    let handle = expr.start().map_err(at(&program));
    drop(expr);
    Ok(Prepared {
        handle: handle?,
        readers,
        output_file,
        captured,
        held,
        lines,
    })
}

/// Puts the path an I/O error is about in front of it: the error alone names no file.
fn at(path: &Path) -> impl FnOnce(io::Error) -> io::Error {
    let path = path.to_path_buf();
    move |e| io::Error::new(e.kind(), format!("{}: {e}", path.display()))
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

/// Where a pipe's output goes.
enum Dest {
    /// Line by line to the log (masked with what the step sees, echoed).
    Lines(Lines, Stream),
    /// To the log as it comes: nothing to mask or show.
    Raw(Lines),
    /// Kept until the step's secret outputs are known.
    Held(Held, Stream),
}

/// Reads a pipe on the runtime (no thread blocks on it), so that the reader can be abandoned
/// when a process the step left behind keeps the pipe open.
fn copy(
    reader: io::PipeReader,
    dest: Dest,
    capture: Option<Arc<Mutex<Vec<u8>>>>,
) -> io::Result<tokio::task::JoinHandle<()>> {
    let pipe = tokio::net::unix::pipe::Receiver::from_owned_fd(OwnedFd::from(reader))?;
    Ok(tokio::spawn(async move {
        let mut reader = tokio::io::BufReader::new(pipe);
        let mut chunk = Vec::new();
        loop {
            chunk.clear();
            let read = match &dest {
                Dest::Raw(_) => {
                    chunk.reserve(8 * 1024);
                    reader.read_buf(&mut chunk).await
                }
                _ => reader.read_until(b'\n', &mut chunk).await,
            };
            if !matches!(read, Ok(n) if n > 0) {
                break;
            }
            if let Some(buf) = &capture
                && let Ok(mut b) = buf.lock()
            {
                b.extend_from_slice(&chunk);
            }
            match &dest {
                Dest::Raw(lines) => lines.bytes(&chunk),
                Dest::Lines(lines, stream) => lines.line(*stream, &String::from_utf8_lossy(&chunk)),
                Dest::Held(held, stream) => {
                    if let Ok(mut h) = held.lock() {
                        h.push((*stream, String::from_utf8_lossy(&chunk).into_owned()));
                    }
                }
            }
        }
    }))
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
