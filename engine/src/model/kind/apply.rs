//! `kube.apply`: server-side apply of manifests from inline text, a file, or files.

use meshbook_inspect::labels::Selector;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Invalid;
use super::objects::Place;
use crate::model::fold::{Folder, key};
use crate::model::grammar::{Stage, Templated, Written};

/// `kube.apply`: server-side apply of one or many manifests.
#[derive(Clone, Debug, PartialEq)]
pub struct KubeApply<S: Stage = Written> {
    /// Context, and the namespace of namespaced objects that name none.
    pub place: Place,
    /// Where the manifests come from.
    pub manifests: Manifests,
    /// Apply only the objects whose labels match (`kubectl apply -f F -l app=web`).
    pub selector: Option<S::Of<Selector>>,
    /// Take ownership of fields other managers own.
    pub force: bool,
}

/// Where a `kube.apply` reads its documents.
#[derive(Clone, Debug, PartialEq)]
pub enum Manifests {
    /// Inline YAML, one or many documents.
    Inline(String),
    /// A manifest file, relative to the working directory.
    File(String),
    /// Several manifest files (at least one), applied in order.
    Files(Vec<String>),
}

impl KubeApply {
    /// Folds every template field.
    pub(crate) fn fold<F: Folder>(&self, f: &mut F) -> Result<KubeApply<F::Out>, F::Error> {
        Ok(KubeApply {
            place: self.place.fold(f)?,
            manifests: match &self.manifests {
                Manifests::Inline(m) => Manifests::Inline(f.text(&[key("manifest")], m)?),
                Manifests::File(p) => Manifests::File(f.text(&[key("file")], p)?),
                Manifests::Files(ps) => Manifests::Files(f.texts("files", ps)?),
            },
            selector: f.opt_grammar("selector", self.selector.as_ref())?,
            force: self.force,
        })
    }
}

impl<S: Stage> super::Placed for KubeApply<S> {
    fn place(&self) -> Option<&Place> {
        Some(&self.place)
    }
}

/// `kube.apply` as written.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "KubeApply")]
pub(crate) struct RawApply {
    /// Kubeconfig context; the current context when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    context: Option<String>,
    /// Namespace for namespaced objects that name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    /// Inline YAML, one or many documents (an output can be spliced in with a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    manifest: Option<String>,
    /// A manifest file, relative to the working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    file: Option<String>,
    /// Several manifest files, applied in order (CRDs first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    files: Vec<String>,
    /// Apply only the objects whose labels match this selector (`kubectl apply -f F -l app=web`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    selector: Option<Templated<Selector>>,
    /// Take ownership of fields other managers own.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    force: bool,
}

impl TryFrom<RawApply> for KubeApply {
    type Error = Invalid;
    fn try_from(raw: RawApply) -> Result<Self, Invalid> {
        let manifests = match (raw.manifest, raw.file, raw.files.is_empty()) {
            (Some(m), None, true) => Manifests::Inline(m),
            (None, Some(f), true) => Manifests::File(f),
            (None, None, false) => Manifests::Files(raw.files),
            _ => {
                return Err(Invalid::one(
                    "needs exactly one of `manifest`, `file` or `files`",
                ));
            }
        };
        Ok(KubeApply {
            place: Place {
                context: raw.context,
                namespace: raw.namespace,
            },
            manifests,
            selector: raw.selector,
            force: raw.force,
        })
    }
}

impl From<&KubeApply> for RawApply {
    fn from(k: &KubeApply) -> Self {
        let mut raw = RawApply {
            context: k.place.context.clone(),
            namespace: k.place.namespace.clone(),
            selector: k.selector.clone(),
            force: k.force,
            ..RawApply::default()
        };
        match &k.manifests {
            Manifests::Inline(m) => raw.manifest = Some(m.clone()),
            Manifests::File(f) => raw.file = Some(f.clone()),
            Manifests::Files(fs) => raw.files = fs.clone(),
        }
        raw
    }
}
