//! `kube.delete`: delete objects by name or selector, and wait until they are gone.

use meshbook_inspect::labels::Selector;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::objects::{Objects, Place, Which};
use super::{Invalid, is_true, yes};
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
    fn place(&self) -> Option<&Place> {
        Some(&self.objects.place)
    }
}

/// `kube.delete` as written.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "KubeDelete")]
pub(crate) struct RawDelete {
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
    /// Wait until the objects are gone (default true).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    wait: bool,
    /// Succeed when nothing matches (default true).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    ignore_not_found: bool,
}

impl TryFrom<RawDelete> for KubeDelete {
    type Error = Invalid;
    fn try_from(raw: RawDelete) -> Result<Self, Invalid> {
        Ok(KubeDelete {
            objects: Objects {
                place: Place {
                    context: raw.context,
                    namespace: raw.namespace,
                },
                resource: raw.resource,
                which: Which::one_of(raw.name, raw.selector, "name").map_err(Invalid::from)?,
            },
            wait: raw.wait,
            ignore_not_found: raw.ignore_not_found,
        })
    }
}

impl From<&KubeDelete> for RawDelete {
    fn from(k: &KubeDelete) -> Self {
        let (name, selector) = k.objects.which.fields();
        RawDelete {
            context: k.objects.place.context.clone(),
            namespace: k.objects.place.namespace.clone(),
            resource: k.objects.resource.clone(),
            name,
            selector,
            wait: k.wait,
            ignore_not_found: k.ignore_not_found,
        }
    }
}
