//! `kube.delete`: delete objects by name or selector, and wait until they are gone.

use meshbook_inspect::labels::Selector;
use std::borrow::Cow;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::objects::{Objects, Place, Which};
use super::{Flat, Invalid, is_true, yes};
use crate::model::fold::Folder;
use crate::model::grammar::{Stage, Templated, Written};

/// `kube.delete`: delete by name or selector.
#[derive(Clone, Debug, PartialEq)]
pub struct KubeDelete<S: Stage = Written> {
    /// The objects: one by name or all a selector matches.
    pub objects: Objects<S>,
    /// Wait until the objects are gone.
    pub wait: bool,
    /// Succeed when the named object does not exist.
    pub ignore_not_found: bool,
}

impl KubeDelete {
    /// Folds every template field.
    pub(crate) fn fold<F: Folder>(&self, f: &mut F) -> Result<KubeDelete<F::Out>, F::Error> {
        Ok(KubeDelete {
            objects: self.objects.fold(f)?,
            wait: self.wait,
            ignore_not_found: self.ignore_not_found,
        })
    }
}

impl<S: Stage> super::Placed for KubeDelete<S> {
    fn context(&self) -> Option<&str> {
        self.objects.place.context.as_deref()
    }
}

raw_kind! {
    /// `kube.delete` as written.
    RawDelete as "KubeDelete", objects {
        /// Wait until the objects are gone (default true).
        #[serde(default = "yes", skip_serializing_if = "is_true")]
        wait: bool,
        /// Succeed when nothing matches (default true).
        #[serde(default = "yes", skip_serializing_if = "is_true")]
        ignore_not_found: bool,
    }
}

impl Flat for KubeDelete {
    type Flat = RawDelete;

    fn from_flat(mut raw: RawDelete) -> Result<Self, Invalid> {
        Ok(KubeDelete {
            objects: raw.take_objects(|n, s| Which::one_of(n, s, "name"))?,
            wait: raw.wait,
            ignore_not_found: raw.ignore_not_found,
        })
    }

    fn to_flat(&self) -> Cow<'_, RawDelete> {
        Cow::Owned(RawDelete {
            wait: self.wait,
            ignore_not_found: self.ignore_not_found,
            ..RawDelete::of(&self.objects)
        })
    }
}
