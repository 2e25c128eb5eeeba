//! `meshbook inspect` through the binary: kubectl's output and error texts, and readiness.

mod runkit;

use runkit::Done;

/// `meshbook ARGS...` with `stdin`, waited for.
fn meshbook(args: &[&str], stdin: Option<&str>) -> Done {
    runkit::finish(runkit::meshbook(&std::env::temp_dir(), args), stdin)
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
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(out.stdout, "172.18.0.10 172.18.0.11");

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
    assert_eq!(out.stdout, "[172.18.0.10][172.18.0.11]");

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
    assert_eq!(out.code, 1, "{}", out.all());
    assert_eq!(out.stdout, "");
    assert_eq!(
        out.stderr,
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
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(out.stdout, "before-after");

    let out = meshbook(&["inspect", "jsonpath", "{.status", "--file", f], None);
    assert_eq!(out.code, 1, "{}", out.all());
    assert_eq!(
        out.stderr,
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
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(
        out.stdout,
        "{\"status\":\"InProgress\",\"message\":\"Replicas: 1/3\"}\n"
    );

    let out = meshbook(&["inspect", "readiness", "-f", "-"], Some(SVC));
    assert_eq!(out.stdout, "Current: Service is ready\n");

    let out = meshbook(
        &["inspect", "readiness", "-f", "/nonexistent/object.json"],
        None,
    );
    assert_eq!(out.code, 2, "{}", out.all());
    assert!(
        out.stderr
            .starts_with("error: cannot read /nonexistent/object.json")
    );
}
