//! A resumed run refuses a kubeconfig context that now points at a different cluster.

mod runkit;

use runkit::Scratch;

const RUNBOOK: &str = r#"apiVersion: meshbook/v1
kind: Runbook
metadata: {name: identity}
params:
  CTX: {type: context, default: east}
steps:
  - id: namespace
    kube.apply:
      context: "{{CTX}}"
      manifest: |
        apiVersion: v1
        kind: Namespace
        metadata: {name: sample}
  - id: gate
    needs: [namespace]
    shell: test -f go
  - id: read
    needs: [gate]
    kube.get: {context: "{{CTX}}", resource: namespace, name: sample, jsonpath: "{.status.phase}"}
    outputs: {PHASE: {}}
"#;

#[test]
fn resume_refuses_a_context_that_points_at_another_cluster() {
    let s = Scratch::new();
    let rb = s.runbook("identity.yaml", RUNBOOK);
    let a = s.sandbox_up("east", "sb-a", &[]);
    let kubeconfig = s.path().join("kubeconfig");
    std::fs::copy(s.path().join("sb-a/kubeconfig"), &kubeconfig).unwrap();
    let first = s.run(&rb, &["--kubeconfig", kubeconfig.to_str().unwrap()]);
    assert_eq!(first.code, 1, "the gate should fail first: {}", first.all());
    s.sandbox_down("sb-a", a);

    // Another cluster, reachable under the same context name.
    let b = s.sandbox_up("west", "sb-b", &[]);
    let renamed = s.kubectl("sb-b", None, &["config", "rename-context", "west", "east"]);
    assert_eq!(renamed.code, 0, "{}", renamed.all());
    std::fs::copy(s.path().join("sb-b/kubeconfig"), &kubeconfig).unwrap();
    std::fs::write(s.work().join("go"), "").unwrap();

    let resumed = s.resume(&[]);
    s.sandbox_down("sb-b", b);
    assert_eq!(resumed.code, 1, "{}", resumed.all());
    let all = resumed.all();
    assert!(
        all.contains("context \"east\" now points at a different cluster"),
        "{all}"
    );
    assert!(all.contains("read"), "the refusal names the step: {all}");
    let states = s.states(None);
    assert!(
        states.contains(&("read".to_string(), "failed".to_string())),
        "{states:?}"
    );
}
