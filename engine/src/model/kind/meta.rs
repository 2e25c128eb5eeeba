//! `kube.label` and `kube.annotate`: `kubectl label` / `kubectl annotate` as steps.

use std::borrow::Cow;

use meshbook_inspect::labels::Selector;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::objects::{Objects, Place, Which};
use super::{Flat, Invalid};
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
        objects: Result<Objects, String>,
        edits: Vec<Templated<Edit>>,
        overwrite: bool,
    ) -> Result<Self, Invalid> {
        let mut problems = Invalid::default();
        let objects = problems.take(objects);
        if edits.is_empty() {
            problems.push("has nothing to change: give `key=value` or `key-` entries");
        }
        problems.into_result()?;
        Ok(MetaEdits {
            objects: objects.ok_or_else(Invalid::default)?,
            edits,
            overwrite,
        })
    }
}

impl<S: Stage> super::Placed for KubeLabel<S> {
    fn context(&self) -> Option<&str> {
        self.0.objects.place.context.as_deref()
    }
}

impl<S: Stage> super::Placed for KubeAnnotate<S> {
    fn context(&self) -> Option<&str> {
        self.0.objects.place.context.as_deref()
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
        raw_kind! {
            #[doc = concat!("`", $name, "` as written.")]
            $raw as $schema, objects {
                #[doc = concat!("`key=value` to set, `key-` to remove ", $what, ".")]
                $field: Vec<Templated<Edit>>,
                /// Replace values that differ (kubectl refuses without `--overwrite`).
                #[serde(default, skip_serializing_if = "std::ops::Not::not")]
                overwrite: bool,
            }
        }

        impl Flat for $kind {
            type Flat = $raw;

            fn from_flat(mut raw: $raw) -> Result<Self, Invalid> {
                let objects = raw.take_objects(|n, s| Which::one_of(n, s, "name"));
                MetaEdits::from_fields(objects, raw.$field, raw.overwrite).map($kind)
            }

            fn to_flat(&self) -> Cow<'_, $raw> {
                Cow::Owned($raw {
                    $field: self.0.edits.clone(),
                    overwrite: self.0.overwrite,
                    ..$raw::of(&self.0.objects)
                })
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
