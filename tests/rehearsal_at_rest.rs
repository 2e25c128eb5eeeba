//! A rehearsal keeps no secret in clear under the state directory: a secret param applied to a
//! simulated cluster, and a secret output stored there, are found in no file (as they are, or
//! in base64), and the sealed clusters open again on resume.

mod runkit;

use std::process::Command;

use runkit::Scratch;

const TOKEN: &str = "tok-at-rest-0123456789";
const MINTED: &str = "minted-at-rest-9876";

const RUNBOOK: &str = r#"apiVersion: meshbook/v1
kind: Runbook
metadata: {name: at-rest}
params:
  CTX: {type: context, default: c1}
  TOKEN: {secret: true, default: tok-at-rest-0123456789}
steps:
  - id: store
    kube.apply:
      context: "{{CTX}}"
      manifest: |
        apiVersion: v1
        kind: Secret
        metadata: {name: s, namespace: default}
        stringData: {token: "{{TOKEN}}"}
  - id: mint
    shell: echo "MINTED=minted-at-rest-9876" >> "$MESHBOOK_OUTPUT"
    outputs:
      MINTED: {secret: true}
  - id: keep
    needs: [mint, store]
    shell: kubectl --context "$CTX" create secret generic m --from-literal=v="$MINTED"
  - id: check
    needs: [keep]
    shell: |
      test -e second-time || { touch second-time; exit 1; }
      got=$(kubectl --context "$CTX" get secret s -o jsonpath='{.data.token}' | base64 -d)
      test "$got" = "$TOKEN"
"#;

fn base64(text: &str) -> String {
    let out = Command::new("sh")
        .args(["-c", "printf %s \"$0\" | base64 -w0", text])
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn secrets_applied_to_simulated_clusters_are_sealed_at_rest() {
    let s = Scratch::new();
    let rb = s.runbook("at-rest.yaml", RUNBOOK);
    let done = s.run(&rb, &["--sandbox"]);
    assert_eq!(
        done.code,
        1,
        "the check fails the first time: {}",
        done.all()
    );
    let done = s.resume(&[]);
    assert_eq!(
        done.code,
        0,
        "the sealed clusters open again on resume, the Secret intact: {}",
        done.all()
    );
    let disk = s.state_bytes();
    assert!(disk.contains("meshbook-sealed:"), "the clusters were kept");
    for secret in [TOKEN, MINTED] {
        for form in [secret.to_string(), base64(secret)] {
            assert!(
                !disk.contains(&form),
                "`{form}` sits in clear under the state directory"
            );
        }
    }
}
