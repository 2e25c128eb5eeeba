//! `meshbook inspect` through the binary: kubectl's output and error texts, and readiness.

use std::io::Write as _;
use std::process::{Command, Output, Stdio};

fn meshbook(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_meshbook"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

const SVC: &str = r#"{"apiVersion": "v1", "kind": "Service", "metadata": {"name": "gw"},
  "spec": {"type": "LoadBalancer", "clusterIP": "10.0.0.7"},
  "status": {"loadBalancer": {"ingress": [{"ip": "172.18.0.10"}, {"ip": "172.18.0.11"}]}}}"#;

#[test]
fn jsonpath_prints_what_kubectl_prints() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("svc.json");
    std::fs::write(&file, SVC).unwrap();
    let f = file.to_str().unwrap();

    let out = meshbook(
        &[
            "inspect",
            "jsonpath",
            "{.status.loadBalancer.ingress[*].ip}",
            "--file",
            f,
        ],
        None,
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "172.18.0.10 172.18.0.11");

    let out = meshbook(
        &[
            "inspect",
            "jsonpath",
            "{range .status.loadBalancer.ingress[*]}[{.ip}]{end}",
            "-f",
            "-",
        ],
        Some(SVC),
    );
    assert_eq!(text(&out.stdout), "[172.18.0.10][172.18.0.11]");

    let out = meshbook(
        &[
            "inspect",
            "jsonpath",
            "before-{.spec.nope}after",
            "--file",
            f,
        ],
        None,
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        text(&out.stderr),
        "error: error executing jsonpath \"before-{.spec.nope}after\": Error executing template: nope is not found. \
         Printing more information for debugging the template:\n\ttemplate was:\n\t\tbefore-{.spec.nope}after\n"
    );
    let out = meshbook(
        &[
            "inspect",
            "jsonpath",
            "before-{.spec.nope}after",
            "--file",
            f,
            "--allow-missing-keys",
        ],
        None,
    );
    assert!(out.status.success());
    assert_eq!(text(&out.stdout), "before-after");

    let out = meshbook(&["inspect", "jsonpath", "{.status", "--file", f], None);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: error parsing jsonpath {.status, unclosed action\n"
    );
}

#[test]
fn readiness_prints_status_and_message() {
    let deploy = r#"{"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "generation": 1},
      "spec": {"replicas": 3}, "status": {"observedGeneration": 1, "replicas": 1}}"#;
    let out = meshbook(
        &["inspect", "readiness", "-f", "-", "--output", "json"],
        Some(deploy),
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "{\"status\":\"InProgress\",\"message\":\"Replicas: 1/3\"}\n"
    );

    let out = meshbook(&["inspect", "readiness", "-f", "-"], Some(SVC));
    assert_eq!(text(&out.stdout), "Current: Service is ready\n");

    let out = meshbook(
        &["inspect", "readiness", "-f", "/nonexistent/object.json"],
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).starts_with("error: cannot read /nonexistent/object.json"));
}
