//! The warm gcloud (`meshbook_cloud::warm_gcloud`): a call served by the warm interpreter must
//! be indistinguishable from the same call run by the gcloud script: output, exit status,
//! arguments byte for byte, standard input, working directory, umask, process group, the
//! variables the wrapper script exports and those gcloud sets while loading; and it must run
//! cold (or import again) whenever what the imports read differs.
//!
//! Most cases use a small stand-in SDK whose `lib/gcloud.py` has gcloud's entry points and
//! logs every import, started by the real `bin/gcloud` wrapper script of the installed SDK; the
//! last test compares real gcloud commands warm and cold.

mod runkit;

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use meshbook_cloud::warm_gcloud::{Server, find_real};
use runkit::{Done, Scratch, finish};

/// A stand-in for `lib/gcloud.py`: gcloud's entry points, and commands that report what a call
/// sees. Reads a variable (`FAKE_MODE`) and a file (`$CLOUDSDK_CONFIG/value`) while importing,
/// sets a variable, and logs each import.
const FAKE_GCLOUD_PY: &str = r#"
import contextlib, os, signal, sys, time
IMPORTED_BY = os.getpid()
with open(os.path.join(os.environ['FAKE_LOG'], 'imports'), 'a') as f:
    f.write('%d\n' % IMPORTED_BY)
MODE = os.environ.get('FAKE_MODE', '')
try:
    with open(os.path.join(os.environ['CLOUDSDK_CONFIG'], 'value')) as f:
        CONFIG = f.read().strip()
except OSError:
    CONFIG = ''
os.environ['SET_WHILE_LOADING'] = 'yes'

@contextlib.contextmanager
def gcloud_exception_handler():
    yield

def reorder_sys_path(path):
    return path

def _fix_google_module():
    pass

def _import_gcloud_main():
    return None

def main():
    args = sys.argv[1:]
    if args[0] == 'report':
        print('argv0', os.path.basename(sys.argv[0]))
        print('args', [os.fsencode(a).hex() for a in args[1:]])
        print('mode', MODE, 'config', CONFIG)
        for name in ['SET_WHILE_LOADING', 'CALLER_VAR', 'CLOUDSDK_ROOT_DIR', 'CLOUDSDK_PYTHON_ARGS',
                     'CLOUDSDK_PYTHON_SITEPACKAGES', 'CLOUDSDK_ENCODING', 'PYTHONIOENCODING',
                     'CLOUDSDK_GSUTIL_PYTHON', 'CLOUDSDK_BQ_PYTHON', 'PYTHONHOME']:
            print(name, os.environ.get(name))
        print('cwd', os.getcwd())
        print('umask', oct(os.umask(0o22)))
        print('stdin', sys.stdin.read())
        print('pgid', os.getpgrp())
        print('warm', IMPORTED_BY != os.getpid())
        sys.stderr.write('to stderr\n')
    elif args[0] == 'exit':
        sys.exit(int(args[1]))
    elif args[0] == 'message':
        sys.exit('gcloud says no')
    elif args[0] == 'sleep':
        with open(os.path.join(os.environ['FAKE_LOG'], 'sleeper'), 'w') as f:
            f.write(str(os.getpid()))
        try:
            time.sleep(60)
        except KeyboardInterrupt:
            sys.stderr.write('interrupted\n')
            sys.exit(1)

if __name__ == '__main__':
    main()
"#;

/// How long a test waits for a process it signalled.
const SHORT: Duration = Duration::from_secs(20);

struct Sdk {
    scratch: Scratch,
    root: PathBuf,
    env: BTreeMap<OsString, OsString>,
}

impl Sdk {
    /// A stand-in SDK root with the installed SDK's own `bin/gcloud` wrapper and the stand-in
    /// `lib/gcloud.py`, and the environment steps would give gcloud.
    fn new() -> Sdk {
        let scratch = Scratch::new();
        let root = scratch.path().join("sdk");
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::create_dir_all(root.join("lib")).unwrap();
        let installed = find_real(&std::env::var_os("PATH").unwrap())
            .expect("the Google Cloud SDK is installed (its gcloud wrapper script is used)");
        let wrapper = std::fs::read(std::fs::canonicalize(installed).unwrap()).unwrap();
        std::fs::write(root.join("bin/gcloud"), wrapper).unwrap();
        make_executable(&root.join("bin/gcloud"));
        std::fs::write(root.join("lib/gcloud.py"), FAKE_GCLOUD_PY).unwrap();
        // What gcloud.py's main imports first.
        let util = root.join("lib/googlecloudsdk/core/util");
        std::fs::create_dir_all(&util).unwrap();
        for init in [
            "googlecloudsdk",
            "googlecloudsdk/core",
            "googlecloudsdk/core/util",
        ] {
            std::fs::write(root.join("lib").join(init).join("__init__.py"), "").unwrap();
        }
        std::fs::write(util.join("encoding.py"), "").unwrap();
        for dir in ["cfg", "log", "cwd"] {
            std::fs::create_dir_all(scratch.path().join(dir)).unwrap();
        }
        let python = find_on_path("python3").expect("python3 is installed");
        let mut env: BTreeMap<OsString, OsString> = std::env::vars_os()
            .filter(|(k, _)| {
                let k = k.to_string_lossy();
                !k.starts_with("CLOUDSDK_") && !k.starts_with("MESHBOOK_") && k != "VIRTUAL_ENV"
            })
            .collect();
        let mut path = vec![root.join("bin")];
        path.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap()));
        env.insert("PATH".into(), std::env::join_paths(path).unwrap());
        env.insert("CLOUDSDK_PYTHON".into(), python.into());
        env.insert("CLOUDSDK_CONFIG".into(), scratch.path().join("cfg").into());
        env.insert("FAKE_LOG".into(), scratch.path().join("log").into());
        Sdk { scratch, root, env }
    }

    fn start(&self) -> Server {
        Server::start(
            &self.env,
            Path::new(env!("CARGO_BIN_EXE_meshbook")),
            &self.scratch.path().join("log/server.log"),
        )
        .expect("the warm gcloud starts")
        .expect("the wrapper's choices are imitated for an explicit CLOUDSDK_PYTHON")
    }

    /// The environment of a step with `server` running.
    fn step_env(&self, server: &Server) -> BTreeMap<OsString, OsString> {
        let mut env = self.env.clone();
        for (k, v) in server.variables(&self.env["PATH".as_ref() as &OsStr]) {
            env.insert(k.into(), v.into());
        }
        env
    }

    fn imports(&self) -> usize {
        std::fs::read_to_string(self.scratch.path().join("log/imports"))
            .unwrap_or_default()
            .lines()
            .count()
    }

    /// `gcloud ARGS` as a step runs it (the first `gcloud` on the step's `PATH`), in its own
    /// process group, with umask 027, in `cwd/`, fed `stdin`.
    fn call(&self, env: &BTreeMap<OsString, OsString>, args: &[&OsStr], stdin: &str) -> Call {
        let mut c = Command::new("/bin/sh");
        c.arg("-c")
            .arg("umask 027; exec gcloud \"$@\"")
            .arg("gcloud")
            .args(args)
            .env_clear()
            .envs(env)
            .env("CALLER_VAR", "from the caller")
            .current_dir(self.scratch.path().join("cwd"))
            .process_group(0);
        Call {
            done: finish(c, Some(stdin)),
        }
    }

    /// `gcloud sleep` as a step runs it, in a process group of its own, once its gcloud has
    /// started: the caller, and the pid of its gcloud.
    fn sleeping_call(&self, server: &Server) -> (std::process::Child, u32) {
        let child = Command::new(env!("CARGO_BIN_EXE_meshbook"))
            .arg0("gcloud")
            .arg("sleep")
            .env_clear()
            .envs(self.step_env(server))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap();
        (child, await_pid(&self.scratch.path().join("log/sleeper")))
    }

    /// The same call run by the SDK's `bin/gcloud` itself.
    fn cold(&self, args: &[&OsStr], stdin: &str) -> Call {
        let mut env = self.env.clone();
        let mut path = vec![self.root.join("bin")];
        path.extend(std::env::split_paths(&env["PATH".as_ref() as &OsStr]));
        env.insert("PATH".into(), std::env::join_paths(path).unwrap());
        self.call(&env, args, stdin)
    }
}

struct Call {
    done: Done,
}

impl Call {
    /// The output with the process group line taken out (it differs from call to call).
    fn comparable(&self) -> (i32, String, String) {
        let out: Vec<&str> = self
            .done
            .stdout
            .lines()
            .filter(|l| !l.starts_with("pgid ") && !l.starts_with("warm "))
            .collect();
        (self.done.code, out.join("\n"), self.done.stderr.clone())
    }
}

fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn find_on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join(name))
        .find(|f| f.is_file())
}

fn os(args: &[&str]) -> Vec<OsString> {
    args.iter().map(OsString::from).collect()
}

fn refs(args: &[OsString]) -> Vec<&OsStr> {
    args.iter().map(OsString::as_os_str).collect()
}

#[test]
fn warm_calls_are_indistinguishable_from_the_wrapper_script() {
    let sdk = Sdk::new();
    let server = sdk.start();
    let env = sdk.step_env(&server);
    let mut report = os(&["report", "two words", "--flag=x"]);
    report.push(OsStr::from_bytes(b"not-utf8-\xff").to_os_string());
    let cases: Vec<(Vec<OsString>, &str)> = vec![
        (report, "hello on stdin"),
        (os(&["exit", "3"]), ""),
        (os(&["exit", "0"]), ""),
        (os(&["message"]), ""),
    ];
    let warm: Vec<Call> = cases
        .iter()
        .map(|(args, stdin)| sdk.call(&env, &refs(args), stdin))
        .collect();
    assert_eq!(
        sdk.imports(),
        1,
        "every call is served by the one warm import"
    );
    for ((args, stdin), warm) in cases.iter().zip(&warm) {
        let cold = sdk.cold(&refs(args), stdin);
        assert_eq!(
            warm.comparable(),
            cold.comparable(),
            "gcloud {args:?}: warm\n{}\ncold\n{}",
            warm.done.all(),
            cold.done.all()
        );
    }
    let first = &warm[0].done;
    assert!(
        first.stdout.contains("stdin hello on stdin")
            && first.stdout.contains("umask 0o27")
            && first.stdout.contains("SET_WHILE_LOADING yes")
            && first.stdout.contains("CALLER_VAR from the caller")
            && first.stdout.contains("warm True"),
        "{}",
        first.all()
    );
    assert_eq!(warm[1].done.code, 3);
    assert_eq!(warm[3].done.code, 1);
    assert!(warm[3].done.stderr.contains("gcloud says no"));
}

#[test]
fn a_call_runs_in_its_callers_process_group() {
    let sdk = Sdk::new();
    let server = sdk.start();
    let env = sdk.step_env(&server);
    let mut c = Command::new("/bin/sh");
    c.args(["-c", "echo caller $$; exec gcloud report"])
        .env_clear()
        .envs(&env)
        .current_dir(sdk.scratch.path().join("cwd"))
        .process_group(0);
    let done = finish(c, Some(""));
    let caller = line_value(&done.stdout, "caller");
    assert_eq!(
        line_value(&done.stdout, "pgid"),
        caller,
        "gcloud is in the caller's group\n{}",
        done.all()
    );
    assert!(done.stdout.contains("warm True"), "{}", done.all());
}

#[test]
fn what_the_imports_read_decides_whether_a_call_runs_warm() {
    let sdk = Sdk::new();
    let cfg = sdk.scratch.path().join("cfg/value");
    std::fs::write(&cfg, "first").unwrap();
    let server = sdk.start();
    let env = sdk.step_env(&server);
    let report = os(&["report"]);
    let first = sdk.call(&env, &refs(&report), "");
    assert!(
        first.done.stdout.contains("config first"),
        "{}",
        first.done.all()
    );
    assert!(
        first.done.stdout.contains("warm True"),
        "{}",
        first.done.all()
    );
    assert_eq!(sdk.imports(), 1);

    // A variable the imports read differs: this call is imported afresh (cold).
    let mut other = env.clone();
    other.insert("FAKE_MODE".into(), "other".into());
    let moded = sdk.call(&other, &refs(&report), "");
    assert!(
        moded.done.stdout.contains("mode other"),
        "{}",
        moded.done.all()
    );
    assert!(
        moded.done.stdout.contains("warm False"),
        "{}",
        moded.done.all()
    );
    assert_eq!(sdk.imports(), 2, "the call with another FAKE_MODE ran cold");

    // A file the imports read changed (as `gcloud config set` changes the configuration): the
    // call sees the new content, and the server imports again for the calls after it.
    std::fs::write(&cfg, "second").unwrap();
    let changed = sdk.call(&env, &refs(&report), "");
    assert!(
        changed.done.stdout.contains("config second"),
        "{}",
        changed.done.all()
    );
    let deadline = Instant::now() + SHORT;
    let mut later = sdk.call(&env, &refs(&report), "");
    let settled = sdk.imports();
    while Instant::now() < deadline {
        later = sdk.call(&env, &refs(&report), "");
        if sdk.imports() == settled {
            break;
        }
    }
    assert!(
        later.done.stdout.contains("config second"),
        "{}",
        later.done.all()
    );
    let again = sdk.call(&env, &refs(&report), "");
    assert!(again.done.stdout.contains("config second"));
    assert!(
        again.done.stdout.contains("warm True"),
        "{}",
        again.done.all()
    );
    assert_eq!(
        sdk.imports(),
        settled,
        "after importing again the server serves calls warm"
    );
    assert!(settled <= 4, "one cold call and one new import: {settled}");
}

#[test]
fn an_interrupt_to_the_callers_group_reaches_gcloud() {
    let sdk = Sdk::new();
    let server = sdk.start();
    let (mut child, sleeper) = sdk.sleeping_call(&server);
    let group = child.id().to_string();
    let sent = Command::new("kill")
        .args(["-INT", "--", &format!("-{group}")])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = runkit::wait(&mut child, SHORT).expect("the call ends after the interrupt");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(
        status.code(),
        Some(1),
        "gcloud's own answer to the interrupt: {err}"
    );
    assert!(err.contains("interrupted"), "{err}");
    assert!(runkit::has_ended(sleeper));
    assert_eq!(sdk.imports(), 1);
    assert_ne!(
        first_importer(&sdk),
        sleeper,
        "served warm: the call ran in a child of the process that imported"
    );
}

#[test]
fn a_caller_terminated_alone_ends_after_its_gcloud_and_of_the_same_signal() {
    use std::os::unix::process::ExitStatusExt;
    let sdk = Sdk::new();
    let server = sdk.start();
    let (mut child, sleeper) = sdk.sleeping_call(&server);
    let sent = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let status = runkit::wait(&mut child, SHORT).expect("the caller ends");
    assert_eq!(status.signal(), Some(15), "{status:?}");
    assert!(
        runkit::has_ended(sleeper),
        "its gcloud ended first, as a gcloud signalled directly would: no process is left"
    );
}

#[test]
fn a_killed_caller_takes_its_gcloud_with_it() {
    let sdk = Sdk::new();
    let server = sdk.start();
    let (mut child, sleeper) = sdk.sleeping_call(&server);
    child.kill().unwrap();
    child.wait().unwrap();
    let deadline = Instant::now() + SHORT;
    while !runkit::has_ended(sleeper) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        runkit::has_ended(sleeper),
        "gcloud {sleeper} outlived its killed caller"
    );
}

#[test]
fn a_caller_whose_server_dies_waits_for_its_gcloud_to_end() {
    let sdk = Sdk::new();
    let server = sdk.start();
    let (mut child, sleeper) = sdk.sleeping_call(&server);
    let killed = Command::new("kill")
        .args(["-KILL", &server.pid().unwrap().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        child.try_wait().unwrap().is_none(),
        "the caller waits while its gcloud still runs"
    );
    let _ = Command::new("kill").arg(sleeper.to_string()).status();
    let status = runkit::wait(&mut child, SHORT).expect("the caller ends with its gcloud");
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("went away"), "{err}");
}

#[test]
fn without_the_server_gcloud_runs_as_installed() {
    let sdk = Sdk::new();
    let server = sdk.start();
    let env = sdk.step_env(&server);
    let folder = std::env::split_paths(&env["PATH".as_ref() as &OsStr])
        .next()
        .unwrap();
    assert!(folder.join("gcloud").exists());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&folder).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "the socket's folder is private");
    drop(server);
    assert!(
        !folder.exists(),
        "the link and socket are removed with the server"
    );
    let report = os(&["report"]);
    let call = sdk.call(&env, &refs(&report), "in");
    let cold = sdk.cold(&refs(&report), "in");
    assert_eq!(call.comparable(), cold.comparable());
    assert!(call.done.stdout.contains("stdin in"), "{}", call.done.all());
}

#[test]
fn an_interpreter_that_cannot_import_says_why_in_its_log_and_calls_run_cold() {
    let sdk = Sdk::new();
    std::fs::remove_dir_all(sdk.root.join("lib/googlecloudsdk")).unwrap();
    let server = sdk.start();
    let env = sdk.step_env(&server);
    let report = os(&["report"]);
    let call = sdk.call(&env, &refs(&report), "");
    assert!(
        call.done.stdout.contains("warm False"),
        "{}",
        call.done.all()
    );
    assert_eq!(call.comparable(), sdk.cold(&refs(&report), "").comparable());
    let log = std::fs::read_to_string(sdk.scratch.path().join("log/server.log")).unwrap();
    assert!(
        log.contains("No module named 'googlecloudsdk'"),
        "the interpreter's error is in its log: {log}"
    );
}

#[test]
fn real_gcloud_answers_alike_warm_and_cold() {
    let scratch = Scratch::new();
    let cfg = scratch.path().join("gcloud");
    std::fs::create_dir_all(&cfg).unwrap();
    let mut env: BTreeMap<OsString, OsString> = std::env::vars_os()
        .filter(|(k, _)| {
            let k = k.to_string_lossy();
            !k.starts_with("CLOUDSDK_") && !k.starts_with("MESHBOOK_")
        })
        .collect();
    for (k, v) in [
        ("CLOUDSDK_CONFIG", cfg.to_str().unwrap()),
        ("CLOUDSDK_CORE_DISABLE_PROMPTS", "1"),
        ("CLOUDSDK_CORE_CHECK_GCE_METADATA", "false"),
        ("CLOUDSDK_CORE_DISABLE_USAGE_REPORTING", "true"),
        ("CLOUDSDK_COMPONENT_MANAGER_DISABLE_UPDATE_CHECK", "true"),
        ("HOME", scratch.path().to_str().unwrap()),
    ] {
        env.insert(k.into(), v.into());
    }
    let real = find_real(&env["PATH".as_ref() as &OsStr]).expect("gcloud is installed");
    let server = Server::start(
        &env,
        Path::new(env!("CARGO_BIN_EXE_meshbook")),
        &scratch.path().join("server.log"),
    )
    .unwrap()
    .expect("the installed gcloud's interpreter is imitated");
    let mut warm_env = env.clone();
    for (k, v) in server.variables(&env["PATH".as_ref() as &OsStr]) {
        warm_env.insert(k.into(), v.into());
    }
    let run = |program: &Path, env: &BTreeMap<OsString, OsString>, args: &[&str]| {
        let mut c = Command::new(program);
        c.args(args)
            .env_clear()
            .envs(env)
            .current_dir(scratch.path());
        finish(c, Some(""))
    };
    let link = std::env::split_paths(&warm_env["PATH".as_ref() as &OsStr])
        .next()
        .unwrap()
        .join("gcloud");
    for args in [
        &["config", "set", "project", "first-project"][..],
        &["config", "get-value", "project"],
        &["config", "set", "project", "second-project"],
        &["config", "list", "--format=value(core.project)"],
        &["container", "clusters", "create", "c", "--no-such-flag"],
        &[
            "info",
            "--format=value(config.project,installation.sdk_root)",
        ],
        &["version"],
    ] {
        // Each command runs warm, then cold on the same configuration (so a `config set` is
        // undone before the cold run by setting the same value again).
        let warm = run(&link, &warm_env, args);
        let cold = run(&real, &env, args);
        assert_eq!(
            (warm.code, &warm.stdout, &warm.stderr),
            (cold.code, &cold.stdout, &cold.stderr),
            "gcloud {args:?}\nwarm {}\ncold {}",
            warm.all(),
            cold.all()
        );
    }
}

fn first_importer(sdk: &Sdk) -> u32 {
    std::fs::read_to_string(sdk.scratch.path().join("log/imports"))
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

fn line_value(text: &str, name: &str) -> String {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no `{name}` line in\n{text}"))
        .trim()
        .to_string()
}

fn await_pid(file: &Path) -> u32 {
    let deadline = Instant::now() + SHORT;
    while Instant::now() < deadline {
        if let Ok(text) = std::fs::read_to_string(file)
            && let Ok(pid) = text.trim().parse()
        {
            return pid;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("{} was not written", file.display());
}
