//! Runs the real kubectl against an in-process sandbox.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use meshbook_sandbox::{Sandbox, SandboxConfig};

/// A sandbox plus a kubeconfig written to a temporary directory.
pub struct Env {
    pub sandbox: Sandbox,
    pub dir: tempfile::TempDir,
    pub kubeconfig: PathBuf,
    calls: AtomicUsize,
}

/// What one kubectl run produced.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn ok(self) -> Self {
        assert_eq!(self.code, 0, "kubectl failed: {self:?}");
        self
    }
}

pub fn config(clusters: &[&str]) -> SandboxConfig {
    SandboxConfig {
        clusters: clusters.iter().map(|c| c.to_string()).collect(),
        pod_ready_delay: Duration::from_millis(200),
        lb_ip_delay: Duration::from_millis(200),
        ..SandboxConfig::default()
    }
}

impl Env {
    pub async fn start(clusters: &[&str]) -> Env {
        Env::with_config(config(clusters)).await
    }

    pub async fn with_config(cfg: SandboxConfig) -> Env {
        let sandbox = Sandbox::start(cfg).await.expect("sandbox starts");
        let dir = tempfile::tempdir().unwrap();
        let kubeconfig = dir.path().join("kubeconfig");
        sandbox.write_kubeconfig(&kubeconfig).unwrap();
        Env {
            sandbox,
            dir,
            kubeconfig,
            calls: AtomicUsize::new(0),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    /// Runs kubectl with a fresh cache directory and a 60 s limit.
    pub async fn kubectl(&self, ctx: &str, args: &[&str]) -> Out {
        self.kubectl_with(ctx, args, None, Duration::from_secs(60))
            .await
    }

    pub async fn kubectl_with(
        &self,
        ctx: &str,
        args: &[&str],
        stdin: Option<&str>,
        limit: Duration,
    ) -> Out {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        let cache = self.dir.path().join(format!("cache-{n}"));
        run_kubectl(&self.kubeconfig, ctx, &cache, args, stdin, limit).await
    }
}

pub async fn run_kubectl(
    kubeconfig: &Path,
    ctx: &str,
    cache: &Path,
    args: &[&str],
    stdin: Option<&str>,
    limit: Duration,
) -> Out {
    use tokio::io::AsyncWriteExt;
    let mut cmd = tokio::process::Command::new("kubectl");
    cmd.arg("--kubeconfig")
        .arg(kubeconfig)
        .arg("--context")
        .arg(ctx)
        .arg("--cache-dir")
        .arg(cache)
        .args(args)
        .env("KUBECACHEDIR", cache)
        .stdin(if stdin.is_some() {
            std::process::Stdio::piped()
        } else {
            std::process::Stdio::null()
        })
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    let mut child = cmd.spawn().expect("kubectl runs");
    if let (Some(text), Some(mut w)) = (stdin, child.stdin.take()) {
        w.write_all(text.as_bytes()).await.unwrap();
        drop(w);
    }
    let out = tokio::time::timeout(limit, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("kubectl {args:?} timed out"))
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
