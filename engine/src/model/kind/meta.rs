//! `kube.label` and `kube.annotate`: `kubectl label` / `kubectl annotate` as steps.

use meshbook_inspect::labels::Selector;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Invalid;
use super::objects::{Objects, Place, Which};
use crate::model::fold::{Folder, key};
use crate::model::grammar::{Edit, Stage, Templated, Written};

/// Set (`key=value`) and remove (`key-`) labels or annotations of objects.
#[derive(Clone, Debug, PartialEq)]
pub struct MetaEdits<S: Stage = Written> {
    /// The objects: one by name or all a selector matches.
    pub objects: Objects<S>,
    /// The changes, in order (at least one).
    pub edits: Vec<S::Of<Edit>>,
    /// Replace values that differ (kubectl refuses without `--overwrite`).
    pub overwrite: bool,
}

/// `kube.label`: labels of objects.
#[derive(Clone, Debug, PartialEq)]
pub struct KubeLabel<S: Stage = Written>(pub MetaEdits<S>);

/// `kube.annotate`: annotations of objects.
#[derive(Clone, Debug, PartialEq)]
pub struct KubeAnnotate<S: Stage = Written>(pub MetaEdits<S>);

impl MetaEdits {
    fn fold<F: Folder>(&self, f: &mut F, field: &str) -> Result<MetaEdits<F::Out>, F::Error> {
        Ok(MetaEdits {
            objects: self.objects.fold(f)?,
            edits: self
                .edits
                .iter()
                .enumerate()
                .map(|(i, e)| f.grammar(&[key(field), crate::locate::Seg::Index(i)], e))
                .collect::<Result<_, _>>()?,
            overwrite: self.overwrite,
        })
    }

    fn from_fields(
        place: Place,
        resource: String,
        which: (Option<String>, Option<Templated<Selector>>),
        edits: Vec<Templated<Edit>>,
        overwrite: bool,
    ) -> Result<Self, Invalid> {
        let mut problems = Invalid::default();
        let which = problems.take(Which::one_of(which.0, which.1, "name"));
        if edits.is_empty() {
            problems.push("has nothing to change: give `key=value` or `key-` entries");
        }
        problems.into_result()?;
        Ok(MetaEdits {
            objects: Objects {
                place,
                resource,
                which: which.unwrap_or(Which::All),
            },
            edits,
            overwrite,
        })
    }
}

impl<S: Stage> super::Placed for KubeLabel<S> {
    fn place(&self) -> Option<&Place> {
        Some(&self.0.objects.place)
    }
}

impl<S: Stage> super::Placed for KubeAnnotate<S> {
    fn place(&self) -> Option<&Place> {
        Some(&self.0.objects.place)
    }
}

impl KubeLabel {
    /// Folds every template field.
    pub(crate) fn fold<F: Folder>(&self, f: &mut F) -> Result<KubeLabel<F::Out>, F::Error> {
        self.0.fold(f, "labels").map(KubeLabel)
    }
}

impl KubeAnnotate {
    /// Folds every template field.
    pub(crate) fn fold<F: Folder>(&self, f: &mut F) -> Result<KubeAnnotate<F::Out>, F::Error> {
        self.0.fold(f, "annotations").map(KubeAnnotate)
    }
}

/// The written form of one of the two kinds: the same fields, the edits under `$field`.
macro_rules! raw_meta {
    ($raw:ident, $kind:ident, $name:literal, $schema:literal, $field:ident, $what:literal) => {
        #[doc = concat!("`", $name, "` as written.")]
        #[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        #[schemars(rename = $schema)]
        pub(crate) struct $raw {
            /// Kubeconfig context; the current context when absent.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            context: Option<String>,
            /// Namespace of the objects.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            namespace: Option<String>,
            /// Resource type, as kubectl accepts it.
            resource: String,
            /// One object by name.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            name: Option<String>,
            /// Objects by label selector.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            selector: Option<Templated<Selector>>,
            #[doc = concat!("`key=value` to set, `key-` to remove ", $what, ".")]
            $field: Vec<Templated<Edit>>,
            /// Replace values that differ (kubectl refuses without `--overwrite`).
            #[serde(default, skip_serializing_if = "std::ops::Not::not")]
            overwrite: bool,
        }

        impl TryFrom<$raw> for $kind {
            type Error = Invalid;
            fn try_from(raw: $raw) -> Result<Self, Invalid> {
                let place = Place {
                    context: raw.context,
                    namespace: raw.namespace,
                };
                MetaEdits::from_fields(
                    place,
                    raw.resource,
                    (raw.name, raw.selector),
                    raw.$field,
                    raw.overwrite,
                )
                .map($kind)
            }
        }

        impl From<&$kind> for $raw {
            fn from(k: &$kind) -> Self {
                let (name, selector) = k.0.objects.which.fields();
                $raw {
                    context: k.0.objects.place.context.clone(),
                    namespace: k.0.objects.place.namespace.clone(),
                    resource: k.0.objects.resource.clone(),
                    name,
                    selector,
                    $field: k.0.edits.clone(),
                    overwrite: k.0.overwrite,
                }
            }
        }
    };
}

raw_meta!(
    RawLabel,
    KubeLabel,
    "kube.label",
    "KubeLabel",
    labels,
    "a label"
);
raw_meta!(
    RawAnnotate,
    KubeAnnotate,
    "kube.annotate",
    "KubeAnnotate",
    annotations,
    "an annotation"
);
