//! `kube.secret`: create or update a Secret from files and literals, by apply (see `applier`) so
//! that a second run converges instead of failing with AlreadyExists. Neither values nor the
//! server's messages (which may echo them) reach errors or progress lines.

use std::collections::BTreeMap;
use std::path::Path;

use base64::Engine as _;
use indexmap::IndexMap;
use meshbook_engine::model::{KubeSecret, OutputSpec};
use serde_json::json;

use super::applier::{ApplyMode, Change, apply_object};
use super::client::{Clients, in_workdir};
use super::error::KubeError;
use super::objects::Target;
use super::request::ApiFailure;
use super::{Outputs, StepEnv};

/// Why a secret could not be written.
fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 253
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

/// The Secret's `data`, base64-encoded, from the step's files and literals.
pub(crate) fn secret_data(
    spec: &KubeSecret,
    workdir: &Path,
) -> Result<BTreeMap<String, String>, KubeError> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let mut data = BTreeMap::new();
    let mut put = |key: String, bytes: &[u8]| -> Result<(), KubeError> {
        if !valid_key(&key) {
            return Err(KubeError::BadKey {
                secret: spec.name.clone(),
                key,
            });
        }
        if data.insert(key.clone(), b64.encode(bytes)).is_some() {
            return Err(KubeError::DuplicateKey {
                secret: spec.name.clone(),
                key,
            });
        }
        Ok(())
    };
    for entry in &spec.from_files {
        let (key, file) = match entry.split_once('=') {
            Some((k, f)) => (k.to_string(), f),
            None => {
                let name = Path::new(entry)
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (name, entry.as_str())
            }
        };
        let path = in_workdir(workdir, file);
        let bytes = std::fs::read(&path).map_err(|source| KubeError::File {
            what: format!("secret {}: cannot read", spec.name),
            path: path.display().to_string(),
            source,
        })?;
        put(key, &bytes)?;
    }
    for (key, value) in &spec.literals {
        put(key.clone(), value.as_bytes())?;
    }
    Ok(data)
}

/// Runs a `kube.secret` step.
pub(crate) async fn run(
    clients: &Clients,
    spec: &KubeSecret,
    _outputs: &IndexMap<String, OutputSpec>,
    env: &StepEnv,
) -> Result<Outputs, KubeError> {
    write(clients, spec, env).await?;
    Ok(Outputs::new())
}

/// Creates or updates the Secret; says which.
pub(crate) async fn write(
    clients: &Clients,
    spec: &KubeSecret,
    env: &StepEnv,
) -> Result<Change, KubeError> {
    let data = secret_data(spec, &env.workdir)?;
    let (target, _) = Target::of_view(clients, spec.view(), None).await?;
    let what = target.describe(&spec.name);
    let fail = |e: kube::Error| KubeError::api(format!("write {what}"), ApiFailure::new(&e, true));
    let mut object = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": spec.name, "namespace": target.namespace},
        "type": spec.secret_type.as_deref().unwrap_or("Opaque"),
        "data": data,
    });
    if !spec.labels.is_empty() {
        object["metadata"]["labels"] = json!(spec.labels);
    }
    let before = target.get(&spec.name).await.map_err(fail)?;
    let mode = ApplyMode {
        force: true,
        dry_run: env.dry_run,
    };
    let after = apply_object(&target, &spec.name, &object, before.as_ref(), mode)
        .await
        .map_err(fail)?;
    let change = Change::between(before.as_ref(), &after);
    env.progress.line(&format!(
        "secret/{} {} with {} keys ({})",
        spec.name,
        change.as_str(),
        object["data"].as_object().map_or(0, |m| m.len()),
        target.place()
    ));
    Ok(change)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_from_files_and_literals() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca-cert.pem"), "CERT").unwrap();
        let spec = KubeSecret {
            name: "cacerts".into(),
            from_files: vec!["ca-cert.pem".into(), "root=ca-cert.pem".into()],
            literals: [("mode".to_string(), "x".to_string())]
                .into_iter()
                .collect(),
            context: None,
            namespace: None,
            secret_type: None,
            labels: IndexMap::new(),
        };
        let data = secret_data(&spec, dir.path()).unwrap();
        assert_eq!(data["ca-cert.pem"], "Q0VSVA==");
        assert_eq!(data["root"], "Q0VSVA==");
        assert_eq!(data["mode"], "eA==");

        let twice = KubeSecret {
            literals: [("ca-cert.pem".to_string(), "hunter2".to_string())]
                .into_iter()
                .collect(),
            ..spec.clone()
        };
        let err = secret_data(&twice, dir.path()).unwrap_err().to_string();
        assert_eq!(err, "secret cacerts: key \"ca-cert.pem\" is given twice");
        assert!(!err.contains("hunter2"));
    }
}
