//! `kube.kubeconfig`: a kubeconfig for a service account, from the API server address, the
//! cluster CA and the account's token (read from its token Secret), as a secret output and/or
//! a file written with mode 0600. The token and CA never appear in errors or progress.

use std::time::Duration;

use base64::Engine as _;
use indexmap::IndexMap;
use meshbook_engine::model::{KubeKubeconfig, OutputSpec};
use serde_json::{Value, json};

use super::client::{Clients, in_workdir};
use super::error::KubeError;
use super::objects::{Selection, Target, name_of};
use super::request::ApiFailure;
use super::{Outputs, StepEnv};

/// How long to wait for the token controller to fill in a token Secret.
const TOKEN_TIMEOUT: Duration = Duration::from_secs(60);

/// The kubeconfig text: one cluster, one user with a bearer token, one context, all named
/// `cluster_name`. `ca_data` is base64 already (as stored in the Secret).
pub(crate) fn render(cluster_name: &str, server: &str, ca_data: &str, token: &str) -> String {
    let doc = json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": cluster_name, "cluster": {"certificate-authority-data": ca_data, "server": server}}],
        "contexts": [{"name": cluster_name, "context": {"cluster": cluster_name, "user": cluster_name}}],
        "current-context": cluster_name,
        "preferences": {},
        "users": [{"name": cluster_name, "user": {"token": token}}],
    });
    serde_yaml::to_string(&doc).unwrap_or_default()
}

/// Runs a `kube.kubeconfig` step.
pub(crate) async fn run(
    clients: &Clients,
    spec: &KubeKubeconfig,
    outputs: &IndexMap<String, OutputSpec>,
    env: &StepEnv,
) -> Result<Outputs, KubeError> {
    let (accounts, _) = Target::of_view(clients, spec.view(), None).await?;
    let secrets = Target::new(&accounts.cluster, "secrets", accounts.namespace.as_deref()).await?;
    let cluster = &accounts.cluster;
    let sa_what = accounts.describe(&spec.service_account);
    let quiet = |what: &str| {
        let what = what.to_string();
        move |e: kube::Error| KubeError::api(format!("read {what}"), ApiFailure::new(&e, true))
    };
    let sa = accounts
        .get(&spec.service_account)
        .await
        .map_err(quiet(&sa_what))?
        .ok_or_else(|| KubeError::NotFound(sa_what.clone()))?;
    let secret_name = match &spec.secret {
        Some(s) => s.clone(),
        None => token_secret_name(&secrets, &sa, &spec.service_account)
            .await?
            .ok_or_else(|| KubeError::NoTokenSecret(sa_what.clone()))?,
    };
    let secret_what = secrets.describe(&secret_name);
    let (token, ca) = read_token(&secrets, &secret_name, &secret_what).await?;
    let server = spec
        .server
        .clone()
        .unwrap_or_else(|| cluster.server().to_string());
    let text = render(&spec.cluster_name, &server, &ca, &token);
    if let Some(file) = &spec.file {
        let path = in_workdir(&env.workdir, file);
        write_private(&path, &text).map_err(|source| KubeError::File {
            what: "cannot write kubeconfig".into(),
            path: path.display().to_string(),
            source,
        })?;
        env.progress.line(&format!(
            "kubeconfig for {sa_what} written to {}",
            path.display()
        ));
    }
    env.progress.line(&format!(
        "kubeconfig for {sa_what} built (cluster {}, server {server})",
        spec.cluster_name
    ));
    Ok(outputs.keys().map(|k| (k.clone(), text.clone())).collect())
}

/// The token Secret of a service account: the one it lists, else one annotated with its name.
async fn token_secret_name(
    secrets: &Target,
    sa: &Value,
    account: &str,
) -> Result<Option<String>, KubeError> {
    if let Some(name) = sa["secrets"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["name"].as_str())
        .find(|n| n.contains("token"))
        .or_else(|| sa["secrets"][0]["name"].as_str())
    {
        return Ok(Some(name.to_string()));
    }
    let selection = Selection::Selector {
        labels: String::new(),
        fields: "type=kubernetes.io/service-account-token".into(),
    };
    let what = secrets.describe_selection(&selection);
    let (items, _) = secrets
        .list(&selection)
        .await
        .map_err(|e| KubeError::api(format!("read {what}"), ApiFailure::new(&e, true)))?;
    Ok(items
        .iter()
        .find(|s| s["metadata"]["annotations"]["kubernetes.io/service-account.name"] == account)
        .map(|s| name_of(s).to_string()))
}

/// The decoded token and the (still base64) CA of a token Secret, waiting for the token
/// controller to fill them in.
async fn read_token(
    secrets: &Target,
    name: &str,
    what: &str,
) -> Result<(String, String), KubeError> {
    let deadline = tokio::time::Instant::now() + TOKEN_TIMEOUT;
    loop {
        let secret = secrets
            .get(name)
            .await
            .map_err(|e| KubeError::api(format!("read {what}"), ApiFailure::new(&e, true)))?
            .ok_or_else(|| KubeError::NotFound(what.to_string()))?;
        let token = secret["data"]["token"]
            .as_str()
            .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
            .and_then(|t| String::from_utf8(t).ok())
            .filter(|t| !t.is_empty());
        let ca = secret["data"]["ca.crt"].as_str().filter(|c| !c.is_empty());
        match (token, ca) {
            (Some(t), Some(c)) => return Ok((t, c.to_string())),
            (t, _) if tokio::time::Instant::now() >= deadline => {
                return Err(KubeError::Unfilled {
                    what: what.to_string(),
                    field: if t.is_none() { "token" } else { "ca.crt" },
                    after: TOKEN_TIMEOUT,
                });
            }
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use meshbook_engine::state::fsutil;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    fsutil::atomic_write(path, text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_has_one_cluster_user_and_context() {
        let text = render("n2-k8s-config", "https://10.0.0.1:6443", "Q0E=", "tok");
        let doc: Value = serde_yaml::from_str(&text).unwrap();
        assert_eq!(doc["current-context"], "n2-k8s-config");
        assert_eq!(
            doc["clusters"][0]["cluster"]["server"],
            "https://10.0.0.1:6443"
        );
        assert_eq!(
            doc["clusters"][0]["cluster"]["certificate-authority-data"],
            "Q0E="
        );
        assert_eq!(doc["users"][0]["user"]["token"], "tok");
        assert_eq!(doc["contexts"][0]["context"]["user"], "n2-k8s-config");
    }
}
