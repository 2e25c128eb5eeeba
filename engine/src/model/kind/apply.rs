//! `kube.apply`: server-side apply of manifests from inline text, a file, or files.

use meshbook_inspect::file_glob::{FilePattern, GlobError as FilePatternError};
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
    /// A manifest file, relative to the working directory; wildcards in its file name
    /// (`files/crd*yaml`) stand for every matching file, in the shell's order.
    File(String),
    /// Several manifest files (at least one), applied in order; each may hold wildcards.
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
        /// A manifest file, relative to the working directory. Wildcards in the file name
        /// (`*`, `?`, `[...]`, as in bash: `files/crd*yaml`) apply every matching file, in name
        /// order; at least one must match.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        file: Option<String>,
        /// Several manifest files, applied in order (CRDs first); each may hold wildcards in its
        /// file name, like `file`.
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

/// Checks a manifest path's wildcards (`files/crd*yaml`) as far as the text is written: each
/// template stands for a plain name here, and is checked again once rendered.
fn file_pattern(path: &str) -> Result<(), FilePatternError> {
    let mut literal = String::new();
    let mut rest = path;
    while let Some(start) = rest.find("{{") {
        literal.push_str(&rest[..start]);
        literal.push('x');
        rest = rest[start..]
            .find("}}")
            .map_or("", |end| &rest[start + end + 2..]);
    }
    literal.push_str(rest);
    FilePattern::parse(&literal).map(|_| ())
}

impl Flat for KubeApply {
    type Flat = RawApply;

    fn from_flat(mut raw: RawApply) -> Result<Self, Invalid> {
        let place = raw.take_place();
        let mut invalid = Invalid(Vec::new());
        for (field, path) in raw
            .file
            .iter()
            .map(|f| ("file", f))
            .chain(raw.files.iter().map(|f| ("files", f)))
        {
            invalid.take(file_pattern(path).map_err(|e| format!("`{field}`: {e}")));
        }
        invalid.into_result()?;
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
