//! `kube.secret`: create or update a Secret from files and literals.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Invalid;
use super::objects::{ObjectRef, Place};
use crate::model::fold::{Folder, key};

/// `kube.secret`: create or update a Secret.
#[derive(Clone, Debug, PartialEq)]
pub struct KubeSecret {
    /// Context and namespace of the Secret.
    pub place: Place,
    /// Name of the Secret.
    pub name: String,
    /// Secret type (default `Opaque`).
    pub secret_type: Option<String>,
    /// Files to store, as `PATH` (key = file name) or `KEY=PATH`, relative to the working directory.
    pub from_files: Vec<String>,
    /// Literal keys and values.
    pub literals: IndexMap<String, String>,
    /// Labels on the Secret.
    pub labels: IndexMap<String, String>,
}

impl KubeSecret {
    /// Folds every template field.
    pub(crate) fn fold<F: Folder>(&self, f: &mut F) -> Result<KubeSecret, F::Error> {
        Ok(KubeSecret {
            place: self.place.fold(f)?,
            name: f.text(&[key("name")], &self.name)?,
            secret_type: f.opt_text("type", self.secret_type.as_ref())?,
            from_files: f.texts("from_files", &self.from_files)?,
            literals: f.text_map("literals", &self.literals)?,
            labels: f.text_map("labels", &self.labels)?,
        })
    }

    /// The Secret, as the object view every kube kind gives.
    pub fn view(&self) -> ObjectRef<'_> {
        ObjectRef::named(&self.place, "secrets", &self.name)
    }
}

impl super::Placed for KubeSecret {
    fn place(&self) -> Option<&Place> {
        Some(&self.place)
    }
}

/// `kube.secret` as written.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "KubeSecret")]
pub(crate) struct RawSecret {
    /// Kubeconfig context; the current context when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    context: Option<String>,
    /// Namespace of the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    /// Name of the Secret.
    name: String,
    /// Secret type (default `Opaque`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    secret_type: Option<String>,
    /// Files to store, as `PATH` (key = file name) or `KEY=PATH`, relative to the working directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    from_files: Vec<String>,
    /// Literal keys and values.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    literals: IndexMap<String, String>,
    /// Labels on the Secret.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    labels: IndexMap<String, String>,
}

impl TryFrom<RawSecret> for KubeSecret {
    type Error = Invalid;
    fn try_from(raw: RawSecret) -> Result<Self, Invalid> {
        if raw.from_files.is_empty() && raw.literals.is_empty() {
            return Err(Invalid::one("needs `from_files` or `literals`"));
        }
        Ok(KubeSecret {
            place: Place {
                context: raw.context,
                namespace: raw.namespace,
            },
            name: raw.name,
            secret_type: raw.secret_type,
            from_files: raw.from_files,
            literals: raw.literals,
            labels: raw.labels,
        })
    }
}

impl From<&KubeSecret> for RawSecret {
    fn from(k: &KubeSecret) -> Self {
        RawSecret {
            context: k.place.context.clone(),
            namespace: k.place.namespace.clone(),
            name: k.name.clone(),
            secret_type: k.secret_type.clone(),
            from_files: k.from_files.clone(),
            literals: k.literals.clone(),
            labels: k.labels.clone(),
        }
    }
}
