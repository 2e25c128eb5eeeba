//! `meshbook sandbox up|kubeconfig|down` from the binary: the real kubectl drives the clusters, and a
//! restart with the same `--state` keeps the objects.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn meshbook(dir: &Path, args: &[&str]) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_meshbook"));
    c.args(args).current_dir(dir);
    c
}

fn up(dir: &Path) -> Child {
    let child = meshbook(
        dir,
        &[
            "sandbox",
            "up",
            "--clusters",
            "east=1.13,west",
            "--state",
            "state",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let kubeconfig = dir.join(".meshbook/sandbox/kubeconfig");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !kubeconfig.exists() {
        assert!(
            Instant::now() < deadline,
            "the sandbox did not write its kubeconfig"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    child
}

fn kubectl(dir: &Path, context: &str, args: &[&str]) -> Output {
    // A fresh cache per call: kubectl caches /version and discovery per server address.
    static CALLS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    Command::new("kubectl")
        .args([
            "--kubeconfig",
            ".meshbook/sandbox/kubeconfig",
            "--context",
            context,
            "--request-timeout",
            "20s",
            "--cache-dir",
            &format!("kubectl-cache-{n}"),
        ])
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn down(dir: &Path, mut child: Child) {
    assert!(
        meshbook(dir, &["sandbox", "down"])
            .status()
            .unwrap()
            .success()
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "sandbox exited with {status}");
            break;
        }
        assert!(Instant::now() < deadline, "the sandbox did not stop");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn kubectl_drives_the_sandbox_and_objects_survive_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let child = up(dir);
    let printed = meshbook(dir, &["sandbox", "kubeconfig"]).output().unwrap();
    let text = String::from_utf8_lossy(&printed.stdout);
    assert!(
        text.contains("name: east") && text.contains("name: west"),
        "{text}"
    );
    assert!(text.contains("certificate-authority-data"), "{text}");

    for (context, minor) in [("east", "13"), ("west", "33")] {
        let version = kubectl(dir, context, &["version", "-o", "json"]);
        let info: serde_json::Value = serde_json::from_slice(&version.stdout).unwrap();
        assert_eq!(info["serverVersion"]["minor"], minor, "{context}");
    }

    let created = kubectl(dir, "east", &["create", "namespace", "kept"]);
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let west = kubectl(dir, "west", &["get", "namespace", "kept"]);
    assert!(!west.status.success(), "clusters are not isolated");
    down(dir, child);

    let child = up(dir);
    let again = kubectl(
        dir,
        "east",
        &["get", "namespace", "kept", "-o", "jsonpath={.status.phase}"],
    );
    assert_eq!(
        String::from_utf8_lossy(&again.stdout),
        "Active",
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );
    down(dir, child);
}

#[test]
fn unsupported_kubernetes_versions_are_refused_before_anything_starts() {
    let tmp = tempfile::tempdir().unwrap();
    for args in [
        &["sandbox", "up", "--kube-version", "1.8"][..],
        &["sandbox", "up", "--clusters", "east=1.34"][..],
        &["sandbox", "up", "--clusters", "east=v2"][..],
    ] {
        let out = meshbook(tmp.path(), args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Kubernetes"), "{args:?}: {err}");
    }
    assert!(!tmp.path().join(".meshbook").exists());
}
