//! A real run checks the runbook's `requires:` before its first step: every problem at once,
//! exit 2 and no run; `--ignore-requirements` goes on and records what it ignored.

mod runkit;

use runkit::Scratch;

const RUNBOOK: &str = "apiVersion: meshbook/v1
kind: Runbook
metadata: {name: needs}
requires:
  kubernetes: \">=1.11, <1.16\"
  no-such-tool-anywhere: \"1.x\"
  sh:
params:
  OLD: {type: context, default: old}
  NEW: {type: context, default: new}
  GONE: {type: context, default: gone}
steps:
  - id: a
    kube.get: {context: \"{{OLD}}\", resource: ns, name: default, jsonpath: '{.metadata.name}'}
    outputs: {N: {}}
";

#[test]
fn unmet_requirements_stop_a_run_before_it_starts_unless_ignored() {
    let s = Scratch::new();
    let up = s.sandbox_up("old=1.13,new=1.32", "sb", &[]);
    let runbook = s.runbook("needs.yaml", RUNBOOK);
    let kubeconfig = s.path().join("sb/kubeconfig");
    let kubeconfig = kubeconfig.to_str().unwrap();

    let refused = s.run(&runbook, &["--kubeconfig", kubeconfig]);
    assert_eq!(refused.code, 2, "{}", refused.all());
    for line in [
        "  context new: Kubernetes 1.32; the runbook needs Kubernetes >=1.11, <1.16 (",
        "  no-such-tool-anywhere: not on PATH; the runbook needs 1.x (",
    ] {
        assert!(
            refused.stderr.contains(line),
            "missing {line:?}:\n{}",
            refused.stderr
        );
    }
    assert!(
        refused.stderr.contains("needs.yaml:5)"),
        "{}",
        refused.stderr
    );
    assert!(
        refused
            .stderr
            .contains("  context gone: no such context in "),
        "{}",
        refused.stderr
    );
    assert!(
        !refused.stderr.contains("context old:"),
        "{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains("sh:"), "{}", refused.stderr);
    assert!(
        !s.state().join("runs").exists()
            || std::fs::read_dir(s.state().join("runs"))
                .unwrap()
                .next()
                .is_none()
    );

    let ignored = s.run(
        &runbook,
        &["--kubeconfig", kubeconfig, "--ignore-requirements"],
    );
    assert_eq!(ignored.code, 0, "{}", ignored.all());
    let run = std::fs::read_dir(s.state().join("runs"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    let meta: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.path().join("run.json")).unwrap())
            .unwrap();
    let recorded = meta["ignored_requirements"].to_string();
    assert!(
        recorded.contains("context new: Kubernetes 1.32"),
        "{recorded}"
    );
    // The journal says it too, where the run starts, and so does the live output.
    let journal = std::fs::read_to_string(run.path().join("journal.jsonl")).unwrap();
    let started = journal
        .lines()
        .find(|l| l.contains("\"run_started\""))
        .unwrap();
    assert!(
        started.contains("ignored_requirements")
            && started.contains("context new: Kubernetes 1.32"),
        "{started}"
    );
    assert!(
        ignored
            .stdout
            .contains("ignoring requirement: context new: Kubernetes 1.32"),
        "{}",
        ignored.all()
    );
    s.sandbox_down("sb", up);
}

/// Manifests known before the run, each at the minor its context's cluster reports.
const OLD_APIS: &str = "apiVersion: meshbook/v1
kind: Runbook
metadata: {name: old-apis}
params:
  OLD: {type: context, default: old}
  NEW: {type: context, default: new}
steps:
  - id: on-old
    kube.apply:
      context: \"{{OLD}}\"
      manifest: |
        apiVersion: extensions/v1beta1
        kind: Deployment
        metadata: {name: web, namespace: default}
        spec:
          template:
            metadata: {labels: {app: web}}
            spec: {containers: [{name: web, image: nginx}]}
  - id: on-new
    kube.apply:
      context: \"{{NEW}}\"
      manifest: |
        apiVersion: v1
        kind: ConfigMap
        metadata: {name: fine, namespace: default}
        ---
        apiVersion: policy/v1beta1
        kind: PodDisruptionBudget
        metadata: {name: pdb, namespace: default}
        spec: {minAvailable: 1, selector: {matchLabels: {app: web}}}
";

#[test]
fn manifests_a_cluster_would_refuse_stop_a_real_run_before_it_starts() {
    let s = Scratch::new();
    let up = s.sandbox_up("old=1.15,new=1.25", "sb", &[]);
    let runbook = s.runbook("old-apis.yaml", OLD_APIS);
    let kubeconfig = s.path().join("sb/kubeconfig");
    let kubeconfig = kubeconfig.to_str().unwrap();

    let refused = s.run(&runbook, &["--kubeconfig", kubeconfig]);
    assert_eq!(refused.code, 2, "{}", refused.all());
    // extensions/v1beta1 Deployments are served up to 1.15: the old cluster takes it.
    assert!(
        !refused.stderr.contains("step on-old"),
        "{}",
        refused.stderr
    );
    let line = "  step on-new (manifest of step on-new:5): PodDisruptionBudget \"pdb\": policy/v1beta1 is not served since Kubernetes 1.25; use policy/v1; the runbook needs objects that context new (Kubernetes 1.25) serves";
    assert!(
        refused.stderr.contains(line),
        "missing {line:?}:\n{}",
        refused.stderr
    );
    assert!(!refused.stderr.contains("ConfigMap"), "{}", refused.stderr);
    let fine = s.kubectl("sb", Some("new"), &["get", "configmap", "fine"]);
    assert_ne!(fine.code, 0, "nothing was applied: {}", fine.all());
    s.sandbox_down("sb", up);
}
