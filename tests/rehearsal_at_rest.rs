//! A rehearsal keeps no secret in clear under the state directory: a secret param applied to a
//! simulated cluster, and a secret output stored there, are found in no file (as they are, or
//! in base64), and the sealed clusters open again on resume. Nor do the credentials of the
//! simulated clusters and cloud: the kubeconfig names an exec plugin, and the cloud's access
//! token is derived from the key at every start.

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
  - id: cloud
    shell: |
      gcloud config get-value project >/dev/null 2>&1 || true
      printenv CLOUDSDK_AUTH_ACCESS_TOKEN | tr -d "\\n" > cloud-token
  - id: check
    needs: [keep, cloud]
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

/// The token kubectl gets from the rehearsal kubeconfig's exec plugin for its first user.
fn credential(s: &Scratch) -> String {
    let run = s.state().join("runs");
    let run = std::fs::read_dir(run)
        .unwrap()
        .flatten()
        .next()
        .unwrap()
        .path();
    let text = std::fs::read_to_string(run.join("sandbox/kubeconfig")).unwrap();
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
    let exec = &doc["users"][0]["user"]["exec"];
    assert!(
        doc["users"][0]["user"]["token"].is_null(),
        "no token in the kubeconfig"
    );
    let args: Vec<&str> = exec["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let mut command = Command::new(exec["command"].as_str().unwrap());
    command.args(&args);
    let done = runkit::finish(command, None);
    assert_eq!(done.code, 0, "{}", done.all());
    let cred: serde_json::Value = serde_json::from_str(&done.stdout).unwrap();
    assert_eq!(cred["kind"], "ExecCredential");
    cred["status"]["token"].as_str().unwrap().to_string()
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
    let cloud_token = std::fs::read_to_string(s.work().join("cloud-token")).unwrap();
    assert!(cloud_token.len() > 20, "steps get the cloud's token");
    let cluster_token = credential(&s);
    assert!(
        cluster_token.len() > 20,
        "the plugin hands out the cluster's token"
    );
    for secret in [TOKEN, MINTED, &cloud_token, &cluster_token] {
        for form in [secret.to_string(), base64(secret)] {
            assert!(
                !disk.contains(&form),
                "`{form}` sits in clear under the state directory"
            );
        }
    }
}
