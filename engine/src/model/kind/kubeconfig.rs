//! `kube.kubeconfig`: a kubeconfig for a service account (server, CA data, token).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Invalid;
use super::objects::{ObjectRef, Place};
use crate::model::fold::{Folder, key};

/// `kube.kubeconfig`: a kubeconfig for a service account.
#[derive(Clone, Debug, PartialEq)]
pub struct KubeKubeconfig {
    /// Context and namespace of the service account.
    pub place: Place,
    /// The service account.
    pub service_account: String,
    /// The token Secret; found from the service account when absent.
    pub secret: Option<String>,
    /// Cluster (and context) name inside the kubeconfig.
    pub cluster_name: String,
    /// API server address; the context's own server when absent.
    pub server: Option<String>,
    /// Also write the kubeconfig to this file (mode 0600), relative to the working directory.
    pub file: Option<String>,
}

impl KubeKubeconfig {
    /// Folds every template field.
    pub(crate) fn fold<F: Folder>(&self, f: &mut F) -> Result<KubeKubeconfig, F::Error> {
        Ok(KubeKubeconfig {
            place: self.place.fold(f)?,
            service_account: f.text(&[key("service_account")], &self.service_account)?,
            secret: f.opt_text("secret", self.secret.as_ref())?,
            cluster_name: f.text(&[key("cluster_name")], &self.cluster_name)?,
            server: f.opt_text("server", self.server.as_ref())?,
            file: f.opt_text("file", self.file.as_ref())?,
        })
    }

    /// The service account, as the view every kube kind gives.
    pub fn view(&self) -> ObjectRef<'_> {
        ObjectRef::named(&self.place, "serviceaccounts", &self.service_account)
    }
}

impl super::Placed for KubeKubeconfig {
    fn place(&self) -> Option<&Place> {
        Some(&self.place)
    }
}

/// `kube.kubeconfig` as written.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "KubeKubeconfig")]
pub(crate) struct RawKubeconfig {
    /// Kubeconfig context of the cluster the service account lives in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    context: Option<String>,
    /// Namespace of the service account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    /// The service account.
    service_account: String,
    /// The token Secret; found from the service account when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    secret: Option<String>,
    /// Cluster (and context) name inside the kubeconfig.
    cluster_name: String,
    /// API server address; the context's own server when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    server: Option<String>,
    /// Also write the kubeconfig to this file (mode 0600), relative to the working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<String>,
}

impl TryFrom<RawKubeconfig> for KubeKubeconfig {
    type Error = Invalid;
    fn try_from(raw: RawKubeconfig) -> Result<Self, Invalid> {
        Ok(KubeKubeconfig {
            place: Place {
                context: raw.context,
                namespace: raw.namespace,
            },
            service_account: raw.service_account,
            secret: raw.secret,
            cluster_name: raw.cluster_name,
            server: raw.server,
            file: raw.file,
        })
    }
}

impl From<&KubeKubeconfig> for RawKubeconfig {
    fn from(k: &KubeKubeconfig) -> Self {
        RawKubeconfig {
            context: k.place.context.clone(),
            namespace: k.place.namespace.clone(),
            service_account: k.service_account.clone(),
            secret: k.secret.clone(),
            cluster_name: k.cluster_name.clone(),
            server: k.server.clone(),
            file: k.file.clone(),
        }
    }
}
