//! The one simulated-cluster test environment (feature `testing`): an in-process sandbox with a
//! kubeconfig in a temporary folder, bounded runs of the real `kubectl` and other clients, a
//! kube-rs client per context, and a watchdog.
//!
//! Every [`TestEnv`] has a time limit: a test that still holds its environment when the limit
//! passes is a hang, and the watchdog ends the whole test process with a message rather than
//! let CI wait. Dropping the environment (also when a test panics) stops the sandbox: its
//! listeners, controllers and exec'd processes end with it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use crate::{ClusterInfo, Sandbox, SandboxConfig};

/// How long a test may hold an environment unless it says otherwise.
pub const DEFAULT_LIMIT: Duration = Duration::from_secs(180);

/// How long one client process (kubectl, python) may run unless the caller says otherwise.
pub const CLIENT_LIMIT: Duration = Duration::from_secs(60);

/// A configuration with short delays, for tests.
pub fn config(clusters: &[&str]) -> SandboxConfig {
    SandboxConfig {
        clusters: clusters.iter().map(|c| c.to_string()).collect(),
        pod_ready_delay: Duration::from_millis(200),
        lb_ip_delay: Duration::from_millis(200),
        ..SandboxConfig::default()
    }
}

/// Ends the process if it is not dropped within its limit.
struct Watchdog {
    done: Arc<(Mutex<bool>, Condvar)>,
}

impl Watchdog {
    fn start(limit: Duration, what: String) -> Self {
        let done = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = Arc::clone(&done);
        std::thread::spawn(move || {
            let (lock, cv) = &*flag;
            let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
            let (guard, _) = cv
                .wait_timeout_while(guard, limit, |done| !*done)
                .unwrap_or_else(|e| e.into_inner());
            if !*guard {
                eprintln!("{what} exceeded its time limit of {limit:?}: ending the test process");
                std::process::exit(101);
            }
        });
        Watchdog { done }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let (lock, cv) = &*self.done;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_all();
    }
}

/// A running sandbox, its kubeconfig and a scratch folder.
pub struct TestEnv {
    /// The sandbox.
    pub sandbox: Sandbox,
    /// A temporary folder holding the kubeconfig, files the test writes and kubectl caches.
    pub dir: tempfile::TempDir,
    /// The kubeconfig (one context per cluster, named after it).
    pub kubeconfig: PathBuf,
    config: SandboxConfig,
    calls: AtomicUsize,
    _watchdog: Watchdog,
}

/// What one client process produced.
#[derive(Debug)]
pub struct Out {
    /// Exit code (-1 when killed by a signal).
    pub code: i32,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

impl Out {
    /// Asserts success and returns the output.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "command failed: {self:?}");
        self
    }
}

impl TestEnv {
    /// A sandbox with `clusters` and [`DEFAULT_LIMIT`].
    pub async fn start(clusters: &[&str]) -> TestEnv {
        TestEnv::with_config(config(clusters)).await
    }

    /// A sandbox with `cfg` and [`DEFAULT_LIMIT`].
    pub async fn with_config(cfg: SandboxConfig) -> TestEnv {
        TestEnv::with_limit(cfg, DEFAULT_LIMIT).await
    }

    /// A sandbox with `cfg` whose test must finish within `limit`.
    pub async fn with_limit(cfg: SandboxConfig, limit: Duration) -> TestEnv {
        let name = std::thread::current()
            .name()
            .unwrap_or("a test")
            .to_string();
        let watchdog = Watchdog::start(limit, name);
        let sandbox = within(Duration::from_secs(30), Sandbox::start(cfg.clone()))
            .await
            .expect("sandbox starts");
        let dir = tempfile::tempdir().expect("temporary folder");
        let kubeconfig = dir.path().join("kubeconfig");
        sandbox
            .write_kubeconfig(&kubeconfig)
            .expect("kubeconfig written");
        TestEnv {
            sandbox,
            dir,
            kubeconfig,
            config: cfg,
            calls: AtomicUsize::new(0),
            _watchdog: watchdog,
        }
    }

    /// Stops the sandbox and starts it again from the same configuration (and state folder);
    /// the kubeconfig file is left as it was, so a test can check it still works.
    pub async fn restart(self) -> TestEnv {
        let TestEnv {
            sandbox,
            dir,
            kubeconfig,
            config,
            calls,
            _watchdog,
        } = self;
        within(Duration::from_secs(30), sandbox.shutdown())
            .await
            .expect("sandbox shuts down");
        let sandbox = within(Duration::from_secs(30), Sandbox::start(config.clone()))
            .await
            .expect("sandbox starts again");
        TestEnv {
            sandbox,
            dir,
            kubeconfig,
            config,
            calls,
            _watchdog,
        }
    }

    /// Connection details of one cluster.
    #[track_caller]
    pub fn cluster(&self, name: &str) -> ClusterInfo {
        self.sandbox.cluster(name).expect("cluster exists")
    }

    /// A path in the scratch folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `text` to `name` in the scratch folder.
    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).expect("file written");
        p
    }

    /// Writes the kubeconfig again (after clusters were added).
    pub fn refresh_kubeconfig(&self) {
        self.sandbox
            .write_kubeconfig(&self.kubeconfig)
            .expect("kubeconfig written");
    }

    fn fresh_cache(&self) -> PathBuf {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        self.dir.path().join(format!("cache-{n}"))
    }

    /// Runs `kubectl` (the dispatcher on PATH) with a fresh cache folder and [`CLIENT_LIMIT`].
    pub async fn kubectl(&self, ctx: &str, args: &[&str]) -> Out {
        self.kubectl_with(ctx, args, None, CLIENT_LIMIT).await
    }

    /// Runs `kubectl` with standard input and a time limit.
    pub async fn kubectl_with(
        &self,
        ctx: &str,
        args: &[&str],
        stdin: Option<&str>,
        limit: Duration,
    ) -> Out {
        self.kubectl_bin("kubectl", ctx, args, stdin, limit).await
    }

    /// Runs a given kubectl binary (for example `kubectl.1.28`).
    pub async fn kubectl_bin(
        &self,
        binary: &str,
        ctx: &str,
        args: &[&str],
        stdin: Option<&str>,
        limit: Duration,
    ) -> Out {
        let cache = self.fresh_cache();
        let mut cmd = tokio::process::Command::new(binary);
        cmd.arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--context")
            .arg(ctx)
            .arg("--cache-dir")
            .arg(&cache)
            .args(args)
            .env("KUBECACHEDIR", &cache);
        run(cmd, stdin, limit).await
    }

    /// A kube-rs client for context `ctx`, without client-side retries (so injected faults
    /// reach the test).
    pub async fn client(&self, ctx: &str) -> kube::Client {
        let kc = kube::config::Kubeconfig::from_yaml(&self.sandbox.kubeconfig_yaml())
            .expect("kubeconfig parses");
        let opts = kube::config::KubeConfigOptions {
            context: Some(ctx.to_string()),
            ..Default::default()
        };
        let mut cfg = kube::Config::from_custom_kubeconfig(kc, &opts)
            .await
            .expect("kubeconfig loads");
        cfg.default_retry = false;
        kube::Client::try_from(cfg).expect("client builds")
    }

    /// Stops the sandbox and checks that its state was saved.
    pub async fn shutdown(self) {
        within(Duration::from_secs(30), self.sandbox.shutdown())
            .await
            .expect("sandbox shuts down");
    }
}

/// Awaits `fut`, panicking if it takes longer than `limit`.
pub async fn within<T>(limit: Duration, fut: impl std::future::Future<Output = T>) -> T {
    match tokio::time::timeout(limit, fut).await {
        Ok(v) => v,
        Err(_) => panic!("did not finish within {limit:?}"),
    }
}

/// Runs a prepared client command with captured output, killed after `limit`.
pub async fn run(mut cmd: tokio::process::Command, stdin: Option<&str>, limit: Duration) -> Out {
    use tokio::io::AsyncWriteExt;
    let shown = format!("{:?}", cmd.as_std());
    cmd.stdin(if stdin.is_some() {
        std::process::Stdio::piped()
    } else {
        std::process::Stdio::null()
    })
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .kill_on_drop(true);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("{shown} does not start: {e}"));
    if let (Some(text), Some(mut w)) = (stdin, child.stdin.take()) {
        w.write_all(text.as_bytes()).await.expect("stdin written");
        drop(w);
    }
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{shown} did not finish within {limit:?}"))
        .expect("output read");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// The kubectl of one minor (`kubectl.1.28`) that the gcloud dispatcher on PATH runs for a
/// server of that minor; it sits next to the dispatcher.
pub fn kubectl_of(minor: u32) -> String {
    let name = format!("kubectl.1.{minor}");
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
        .and_then(|p| std::fs::canonicalize(p).ok())
        .and_then(|p| p.parent().map(|d| d.join(&name)))
        .filter(|p| p.is_file())
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or(name)
}

/// The path of a file next to the workspace's target folder (for tools the tests install).
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap_or(Path::new("."))
        .join("target")
}
