//! The official Kubernetes JavaScript client (`@kubernetes/client-node` 1.x, pinned with its
//! lockfile in `tests/node/`) against a sandbox: the operations of issue 14 in
//! `tests/node/client_checks.mjs`. The client is installed under the target folder with
//! `npm ci` (by `.ci/run`, or here when it is missing); if that cannot be done the test
//! fails, it never skips.

mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use common::Env;
use meshbook_sandbox::testing::{run, target_dir};

/// Installs the locked client into `target/nodeclient` unless the same lockfile is there.
async fn client_dir() -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/node");
    let dir = target_dir().join("nodeclient");
    let lock = std::fs::read(src.join("package-lock.json")).expect("lockfile");
    let installed = std::fs::read(dir.join("package-lock.json")).unwrap_or_default();
    if installed != lock || !dir.join("node_modules/@kubernetes/client-node").is_dir() {
        std::fs::create_dir_all(&dir).expect("client folder");
        for f in ["package.json", "package-lock.json"] {
            std::fs::copy(src.join(f), dir.join(f)).expect("manifest copied");
        }
        let mut npm = tokio::process::Command::new("npm");
        npm.args([
            "ci",
            "--ignore-scripts",
            "--no-audit",
            "--no-fund",
            "--prefix",
        ])
        .arg(&dir);
        let out = run(npm, None, Duration::from_secs(300)).await;
        assert_eq!(out.code, 0, "npm ci failed: {}", out.stderr);
    }
    // ES modules resolve packages from the script's own folder, so the script runs from there.
    std::fs::copy(src.join("client_checks.mjs"), dir.join("client_checks.mjs"))
        .expect("script copied");
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn official_node_client_passes_every_check() {
    let dir = client_dir().await;
    let env = Env::start(&["c1"]).await;
    let mut cmd = tokio::process::Command::new("node");
    cmd.arg(dir.join("client_checks.mjs"))
        .arg(&env.kubeconfig)
        .arg("c1");
    let out = run(cmd, None, Duration::from_secs(150)).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(
        out.stdout.contains("node-client: 10 passed, 0 failed"),
        "{}",
        out.stdout
    );
    env.shutdown().await;
}
