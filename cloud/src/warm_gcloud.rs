//! A warm gcloud for rehearsals: the real gcloud's code, run from an interpreter that has
//! already imported it.
//!
//! A gcloud call spends about a second importing its Python modules before it reads its first
//! flag, and a rehearsal makes dozens of calls, most of them on its critical path. So a
//! rehearsal starts one interpreter (`warm_gcloud.py`) that does those imports once and forks a
//! child per call; the child takes the caller's standard streams, working directory, umask,
//! process group, environment and arguments and runs gcloud's own entry point. Steps find
//! `gcloud` on `PATH` as a link to `meshbook`, which plays the caller ([`client`]): it hands its
//! streams over and exits with the child's status, or dies of the child's signal.
//!
//! What decides the interpreter (which Python, its flags, the `PYTHON*` variables) is worked out
//! as the gcloud wrapper script works it out ([`Launch`]); a call whose settings differ from the
//! server's, or any call when the server is not there, runs the real `gcloud` script instead
//! (the caller `exec`s it), so nothing a call sees depends on the server being up.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::time::Duration;

/// The server's code: run as `python -c`.
const SERVER: &str = include_str!("warm_gcloud.py");
/// Where a caller finds the server's socket.
pub const SOCKET_VAR: &str = "MESHBOOK_GCLOUD_SOCKET";
/// The real `gcloud` a caller runs when the server cannot take its call.
pub const REAL_VAR: &str = "MESHBOOK_GCLOUD_REAL";
/// How long a caller waits for the server to take its call (it may still be importing).
const TAKE_WITHIN: Duration = Duration::from_secs(120);

/// How the gcloud wrapper script (`bin/gcloud`) would start the interpreter, given an
/// environment: the Python, its flags, and the variables the script exports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    root: PathBuf,
    python: OsString,
    args: Vec<OsString>,
    env: BTreeMap<OsString, OsString>,
}

impl Launch {
    /// The wrapper's choices for `real` (the `gcloud` script) run with `env`; `None` where it
    /// would search for a Python itself or take flags from `CLOUDSDK_PYTHON_ARGS`, which a
    /// warm interpreter does not imitate (such calls run the real script).
    pub fn new(real: &Path, env: &BTreeMap<OsString, OsString>) -> Option<Launch> {
        let get = |k: &str| env.get(OsStr::new(k)).filter(|v| !v.is_empty());
        if get("CLOUDSDK_PYTHON_ARGS").is_some() {
            return None;
        }
        let script = std::fs::canonicalize(real).ok()?;
        let bin = script.parent()?;
        let root = match bin.file_name() {
            Some(n) if n == "bin" => bin.parent()?.to_path_buf(),
            _ => bin.to_path_buf(),
        };
        let mut env = env.clone();
        let (python, bundled) = match get("CLOUDSDK_PYTHON") {
            Some(p) => (p.clone(), false),
            None => {
                let bundled = root.join("platform/bundledpythonunix/bin/python3");
                if std::env::consts::ARCH != "x86_64" || !is_executable(&bundled) {
                    return None;
                }
                (bundled.into_os_string(), true)
            }
        };
        // The script turns site packages on for its bundled Python.
        let site = bundled || get("CLOUDSDK_PYTHON_SITEPACKAGES").is_some();
        let venv = get("VIRTUAL_ENV").is_some();
        let mut args = Vec::new();
        if site || venv {
            env.insert("CLOUDSDK_PYTHON_SITEPACKAGES".into(), "1".into());
        } else {
            args.push(OsString::from("-S"));
            env.insert("CLOUDSDK_PYTHON_ARGS".into(), "-S".into());
            env.remove(OsStr::new("CLOUDSDK_PYTHON_SITEPACKAGES"));
        }
        env.remove(OsStr::new("PYTHONHOME"));
        env.insert("CLOUDSDK_ROOT_DIR".into(), root.clone().into_os_string());
        for var in ["CLOUDSDK_GSUTIL_PYTHON", "CLOUDSDK_BQ_PYTHON"] {
            if env.get(OsStr::new(var)).is_none_or(|v| v.is_empty()) {
                env.insert(var.into(), python.clone());
            }
        }
        let encoding = get("CLOUDSDK_ENCODING")
            .or_else(|| get("PYTHONIOENCODING"))
            .cloned()
            .unwrap_or_else(|| "UTF-8".into());
        env.insert("CLOUDSDK_ENCODING".into(), encoding.clone());
        env.insert("PYTHONIOENCODING".into(), encoding);
        Some(Launch {
            root,
            python,
            args,
            env,
        })
    }

    /// What must be the same for a call to run in an interpreter started with `self`: the
    /// interpreter, its flags and every variable it reads at start-up.
    fn key(&self) -> Vec<u8> {
        let mut key = self.python.as_bytes().to_vec();
        for arg in &self.args {
            key.push(b' ');
            key.extend_from_slice(arg.as_bytes());
        }
        for (k, v) in &self.env {
            if k.as_bytes().starts_with(b"PYTHON") {
                key.push(b' ');
                key.extend_from_slice(k.as_bytes());
                key.push(b'=');
                key.extend_from_slice(v.as_bytes());
            }
        }
        key
    }
}

fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The first executable `gcloud` on `path` (a `PATH` value).
pub fn find_real(path: &OsStr) -> Option<PathBuf> {
    std::env::split_paths(path)
        .map(|dir| dir.join("gcloud"))
        .find(|f| is_executable(f))
}

/// A running warm gcloud server, stopped (and its folder removed) when dropped.
pub struct Server {
    child: Option<Child>,
    dir: tempfile::TempDir,
    real: PathBuf,
}

impl Server {
    /// Starts a server for the gcloud that `env` (the environment steps get) finds on its
    /// `PATH`, with `exe` (this program) linked as `gcloud` for callers. `Ok(None)` when there
    /// is no gcloud or the wrapper would pick its interpreter in a way not imitated. What the
    /// interpreter writes to its standard error (an import that fails, say) is appended to
    /// `log`.
    pub fn start(
        env: &BTreeMap<OsString, OsString>,
        exe: &Path,
        log: &Path,
    ) -> std::io::Result<Option<Server>> {
        let Some(real) = env.get(OsStr::new("PATH")).and_then(|p| find_real(p)) else {
            return Ok(None);
        };
        let Some(launch) = Launch::new(&real, env) else {
            return Ok(None);
        };
        // A short private folder: a socket's path must fit in 108 bytes.
        let dir = tempfile::Builder::new()
            .prefix("meshbook-gcloud-")
            .permissions(std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .tempdir()?;
        std::os::unix::fs::symlink(exe, dir.path().join("gcloud"))?;
        let socket = dir.path().join("s");
        let script = dir.path().join("server.py");
        std::fs::write(&script, SERVER)?;
        let mut server = Server {
            child: None,
            dir,
            real,
        };
        // The interpreter reads `PATH` while importing: give it the one calls will have.
        let mut env = launch.env.clone();
        for (k, v) in server.variables(
            env.get(OsStr::new("PATH"))
                .map(OsString::as_os_str)
                .unwrap_or_default(),
        ) {
            env.insert(k.into(), v.into());
        }
        let listener = std::os::unix::net::UnixListener::bind(&socket)?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(log)?;
        let child = Command::new(&launch.python)
            .args(&launch.args)
            .arg(&script)
            .arg(&launch.root)
            .arg(&socket)
            .arg(OsStr::from_bytes(&launch.key()))
            .env_clear()
            .envs(&env)
            .stdin(Stdio::piped())
            .stdout(Stdio::from(std::os::fd::OwnedFd::from(listener)))
            .stderr(log)
            .process_group(0)
            .spawn()?;
        server.child = Some(child);
        Ok(Some(server))
    }

    /// The interpreter's process id.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// The variables that send a step's `gcloud` calls here: `PATH` (given the step's own)
    /// with the link first, the socket, and the real gcloud for calls the server cannot take.
    pub fn variables(&self, path: &OsStr) -> Vec<(String, String)> {
        let mut paths = vec![self.dir.path().to_path_buf()];
        paths.extend(std::env::split_paths(path));
        let joined = std::env::join_paths(paths).unwrap_or_else(|_| path.to_os_string());
        vec![
            ("PATH".into(), joined.to_string_lossy().into_owned()),
            (
                SOCKET_VAR.into(),
                self.dir.path().join("s").display().to_string(),
            ),
            (REAL_VAR.into(), self.real.display().to_string()),
        ]
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let Some(child) = &mut self.child else {
            return;
        };
        // End of file on its standard input stops it (and any call still running).
        drop(child.stdin.take());
        for _ in 0..50 {
            if matches!(child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// `meshbook` called as `gcloud`: runs the call in the warm server, or the real gcloud.
pub fn client(args: &[OsString]) -> ExitCode {
    let Some(real) = std::env::var_os(REAL_VAR).map(PathBuf::from) else {
        eprintln!("gcloud: {REAL_VAR} is not set: meshbook plays gcloud only in a rehearsal");
        return ExitCode::from(127);
    };
    match warm(&real, args) {
        Ok(status) => exit_like(status),
        Err(Cold) => {
            // The real script, by its own path: it finds its installation from `$0`.
            let err = Command::new(&real).args(args).exec();
            eprintln!("gcloud: cannot run {}: {err}", real.display());
            ExitCode::from(127)
        }
    }
}

/// The call was not taken: nothing of it ran, so the real gcloud may run it.
struct Cold;

fn warm(real: &Path, args: &[OsString]) -> Result<i32, Cold> {
    let socket = std::env::var_os(SOCKET_VAR).ok_or(Cold)?;
    let env: BTreeMap<OsString, OsString> = std::env::vars_os().collect();
    let launch = Launch::new(real, &env).ok_or(Cold)?;
    let cwd = std::env::current_dir().map_err(|_| Cold)?;
    let mut conn = UnixStream::connect(&socket).map_err(|_| Cold)?;
    send_streams(&conn).map_err(|_| Cold)?;
    let mut fields: Vec<&[u8]> = Vec::new();
    let key = launch.key();
    let umask = current_umask().to_string();
    let pgid = rustix::process::getpgrp().as_raw_nonzero().to_string();
    let argc = args.len().to_string();
    let vars: Vec<Vec<u8>> = launch
        .env
        .iter()
        .map(|(k, v)| [k.as_bytes(), b"=", v.as_bytes()].concat())
        .collect();
    fields.extend([
        key.as_slice(),
        cwd.as_os_str().as_bytes(),
        umask.as_bytes(),
        pgid.as_bytes(),
        argc.as_bytes(),
    ]);
    fields.extend(args.iter().map(|a| a.as_bytes()));
    fields.extend(vars.iter().map(Vec::as_slice));
    let payload = fields.join(&b"\0"[..]);
    let len = u32::try_from(payload.len()).map_err(|_| Cold)?;
    conn.write_all(&len.to_le_bytes()).map_err(|_| Cold)?;
    conn.write_all(&payload).map_err(|_| Cold)?;
    conn.set_read_timeout(Some(TAKE_WITHIN)).map_err(|_| Cold)?;
    // The server answers the child's pid only once the child is in this process group and
    // about to run; without an answer nothing ran.
    let pid = read_i32(&mut conn).map_err(|_| Cold)?;
    if pid <= 0 {
        return Err(Cold);
    }
    forward_signals(pid);
    let _ = conn.set_read_timeout(None);
    match read_i32(&mut conn) {
        Ok(status) => Ok(status),
        Err(_) => {
            // Its gcloud may still be running: wait for it to end, so that a retry of the step
            // does not overlap it. Its status went with the server.
            let group = rustix::process::getpgrp().as_raw_nonzero().to_string();
            let running = || {
                // Still ours (in this process group: the id was not handed to another) and not a
                // zombie.
                std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
                    let fields: Vec<&str> = s
                        .rsplit_once(')')
                        .map(|(_, r)| r.split_whitespace().collect())
                        .unwrap_or_default();
                    fields.first().is_some_and(|st| *st != "Z")
                        && fields.get(2).is_some_and(|g| *g == group)
                })
            };
            while running() {
                std::thread::sleep(Duration::from_millis(20));
            }
            eprintln!("gcloud: the warm gcloud server went away while this call ran");
            Ok(1 << 8)
        }
    }
}

/// While this process waits for gcloud (`pid`): gcloud is in this process group, so an
/// interrupt to the group reaches it and gcloud decides what to do, which this process then
/// hands on; it ignores the interrupt itself. A signal that ends a process (`TERM`, `HUP`,
/// `QUIT`), which may have been sent to this process alone, is passed on to gcloud, so that it
/// ends as a gcloud signalled directly would (and before this process, which then dies of the
/// same signal), not after it.
fn forward_signals(pid: i32) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
    let _ = signal_hook::flag::register(
        SIGINT,
        std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false)),
    );
    let Ok(mut signals) = signal_hook::iterator::Signals::new([SIGTERM, SIGHUP, SIGQUIT]) else {
        return;
    };
    let Some(gcloud) = rustix::process::Pid::from_raw(pid) else {
        return;
    };
    std::thread::spawn(move || {
        for sig in signals.forever() {
            if let Some(sig) = rustix::process::Signal::from_named_raw(sig) {
                let _ = rustix::process::kill_process(gcloud, sig);
            }
        }
    });
}

/// Hands this process's standard streams to the server.
fn send_streams(conn: &UnixStream) -> std::io::Result<()> {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let (stdin, stdout, stderr) = (std::io::stdin(), std::io::stdout(), std::io::stderr());
    let fds = [stdin.as_fd(), stdout.as_fd(), stderr.as_fd()];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(3))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    control.push(SendAncillaryMessage::ScmRights(&fds));
    rustix::net::sendmsg(
        conn.as_fd(),
        &[std::io::IoSlice::new(&[0])],
        &mut control,
        SendFlags::empty(),
    )?;
    Ok(())
}

fn current_umask() -> u32 {
    use rustix::fs::Mode;
    let mask = rustix::process::umask(Mode::empty());
    rustix::process::umask(mask);
    mask.bits()
}

fn read_i32(conn: &mut UnixStream) -> std::io::Result<i32> {
    let mut buf = [0u8; 4];
    conn.read_exact(&mut buf)?;
    Ok(i32::from_le_bytes(buf))
}

/// Ends this process as the child ended: its exit code, or death by its signal.
fn exit_like(status: i32) -> ExitCode {
    let signal = status & 0x7f;
    if signal == 0 {
        return ExitCode::from(((status >> 8) & 0xff) as u8);
    }
    let _ = signal_hook::low_level::emulate_default_handler(signal);
    ExitCode::from(128u8.wrapping_add(signal as u8))
}
