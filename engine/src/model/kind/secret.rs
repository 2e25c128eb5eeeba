//! `kube.secret`: create or update a Secret from files and literals.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Invalid;
use super::objects::ObjectRef;
use crate::model::fold::{Folder, key};

/// `kube.secret`: create or update a Secret (it is its own flat form: no alternatives).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubeSecret {
    /// Kubeconfig context; the current context when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Namespace of the Secret; the context's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name of the Secret.
    pub name: String,
    /// Secret type (default `Opaque`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub secret_type: Option<String>,
    /// Files to store, as `PATH` (key = file name) or `KEY=PATH`, relative to the working directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_files: Vec<String>,
    /// Literal keys and values.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub literals: IndexMap<String, String>,
    /// Labels on the Secret.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
}

impl KubeSecret {
    /// Folds every template field.
    pub(crate) fn fold<F: Folder>(&self, f: &mut F) -> Result<KubeSecret, F::Error> {
        Ok(KubeSecret {
            context: f.opt_text("context", self.context.as_ref())?,
            namespace: f.opt_text("namespace", self.namespace.as_ref())?,
            name: f.text(&[key("name")], &self.name)?,
            secret_type: f.opt_text("type", self.secret_type.as_ref())?,
            from_files: f.texts("from_files", &self.from_files)?,
            literals: f.text_map("literals", &self.literals)?,
            labels: f.text_map("labels", &self.labels)?,
        })
    }

    /// The Secret, as the object view every kube kind gives.
    pub fn view(&self) -> ObjectRef<'_> {
        ObjectRef::named(
            self.context.as_deref(),
            self.namespace.as_deref(),
            "secrets",
            &self.name,
        )
    }
}

own_flat_form!(KubeSecret, |s| {
    if s.from_files.is_empty() && s.literals.is_empty() {
        return Err(Invalid::one("needs `from_files` or `literals`"));
    }
    Ok(())
});
