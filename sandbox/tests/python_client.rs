//! The official Kubernetes Python client (`kubernetes` from PyPI) against a sandbox: every
//! issue 14 item it can reach, in `tests/python/client_checks.py`. The client is installed into
//! a virtual environment under the target folder (by `.ci/run`, or here when it is missing);
//! if that cannot be done the test fails, it never skips.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::Env;
use meshbook_sandbox::testing::{run, target_dir};

/// The pinned client version.
const CLIENT: &str = "kubernetes==37.0.2";

async fn venv() -> PathBuf {
    let dir = target_dir().join("pyclient-venv");
    let python = dir.join("bin").join("python");
    let ready = dir.join(".installed");
    if std::fs::read_to_string(&ready).is_ok_and(|v| v == CLIENT) {
        return python;
    }
    let mut make = tokio::process::Command::new("python3");
    make.args(["-m", "venv"]).arg(&dir);
    run(make, None, Duration::from_secs(120)).await.ok();
    let mut pip = tokio::process::Command::new(&python);
    pip.args(["-m", "pip", "install", "-q", CLIENT]);
    run(pip, None, Duration::from_secs(300)).await.ok();
    std::fs::write(&ready, CLIENT).expect("marker written");
    python
}

#[tokio::test(flavor = "multi_thread")]
async fn official_python_client_passes_every_check() {
    let python = venv().await;
    let env = Env::start(&["c1"]).await;
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/python/client_checks.py");
    let mut cmd = tokio::process::Command::new(python);
    cmd.arg(script).arg(&env.kubeconfig).arg("c1");
    let out = run(cmd, None, Duration::from_secs(150)).await;
    assert_eq!(out.code, 0, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains(" passed, 0 failed"), "{}", out.stdout);
    env.shutdown().await;
}
