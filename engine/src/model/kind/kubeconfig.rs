//! `kube.kubeconfig`: a kubeconfig for a service account (server, CA data, token).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::objects::ObjectRef;

use crate::model::fold::{Folder, key};

/// `kube.kubeconfig`: a kubeconfig for a service account (it is its own flat form: no
/// alternatives).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubeKubeconfig {
    /// Kubeconfig context of the cluster the service account lives in; the current one when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Namespace of the service account; the context's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The service account.
    pub service_account: String,
    /// The token Secret; found from the service account when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Cluster (and context) name inside the kubeconfig.
    pub cluster_name: String,
    /// API server address; the context's own server when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Also write the kubeconfig to this file (mode 0600), relative to the working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

impl KubeKubeconfig {
    /// Folds every template field.
    pub(crate) fn fold<F: Folder>(&self, f: &mut F) -> Result<KubeKubeconfig, F::Error> {
        Ok(KubeKubeconfig {
            context: f.opt_text("context", self.context.as_ref())?,
            namespace: f.opt_text("namespace", self.namespace.as_ref())?,
            service_account: f.text(&[key("service_account")], &self.service_account)?,
            secret: f.opt_text("secret", self.secret.as_ref())?,
            cluster_name: f.text(&[key("cluster_name")], &self.cluster_name)?,
            server: f.opt_text("server", self.server.as_ref())?,
            file: f.opt_text("file", self.file.as_ref())?,
        })
    }

    /// The service account, as the view every kube kind gives.
    pub fn view(&self) -> ObjectRef<'_> {
        ObjectRef::named(
            self.context.as_deref(),
            self.namespace.as_deref(),
            "serviceaccounts",
            &self.service_account,
        )
    }
}

own_flat_form!(KubeKubeconfig, |_| Ok(()));
