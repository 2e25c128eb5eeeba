//! `kube.apply`: server-side apply of manifests from inline text, a file, or files.

use meshbook_inspect::labels::Selector;
use std::borrow::Cow;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::objects::Place;
use super::{Flat, Invalid};
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
    fn context(&self) -> Option<&str> {
        self.place.context.as_deref()
    }
}

raw_kind! {
    /// `kube.apply` as written.
    RawApply as "KubeApply", place {
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
}

impl Flat for KubeApply {
    type Flat = RawApply;

    fn from_flat(mut raw: RawApply) -> Result<Self, Invalid> {
        let place = raw.take_place();
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
            place,
            manifests,
            selector: raw.selector,
            force: raw.force,
        })
    }

    fn to_flat(&self) -> Cow<'_, RawApply> {
        let mut raw = RawApply {
            selector: self.selector.clone(),
            force: self.force,
            ..RawApply::at(&self.place)
        };
        match &self.manifests {
            Manifests::Inline(m) => raw.manifest = Some(m.clone()),
            Manifests::File(f) => raw.file = Some(f.clone()),
            Manifests::Files(fs) => raw.files = fs.clone(),
        }
        Cow::Owned(raw)
    }
}
