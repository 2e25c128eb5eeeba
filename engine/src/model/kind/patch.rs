//! `kube.patch`: patch one object, or edit YAML held inside one of its data keys.

use indexmap::IndexMap;
use std::borrow::Cow;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::objects::{ObjectRef, Place};
use super::{Flat, Invalid};
use crate::locate::Seg;
use crate::model::fold::{Folder, key};

/// `kube.patch`: a change to one object.
#[derive(Clone, Debug, PartialEq)]
pub struct KubePatch {
    /// Context and namespace of the object.
    pub place: Place,
    /// Resource type, as kubectl accepts it.
    pub resource: String,
    /// Name of the object.
    pub name: String,
    /// The change.
    pub change: PatchChange,
}

/// What a `kube.patch` changes.
#[derive(Clone, Debug, PartialEq)]
pub enum PatchChange {
    /// A patch body, applied as `patch_type` says.
    Patch {
        /// How the body is applied.
        patch_type: PatchType,
        /// The body (a list of operations for a JSON patch).
        body: serde_json::Value,
    },
    /// Edits of YAML held as text under a data key.
    YamlIn(YamlIn),
}

/// How a `kube.patch` body is applied.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PatchType {
    /// JSON merge patch (RFC 7386).
    #[default]
    Merge,
    /// JSON patch (RFC 6902), a list of operations.
    Json,
    /// Kubernetes strategic merge patch.
    Strategic,
}

/// Edits of a YAML document held in a ConfigMap or Secret data key.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct YamlIn {
    /// The data key holding the YAML text.
    pub key: String,
    /// Dotted paths (`networks.network1.gateways.0.address`) and the values to set there.
    pub set: IndexMap<String, serde_json::Value>,
}

impl KubePatch {
    /// Folds every template field.
    pub(crate) fn fold<F: Folder>(&self, f: &mut F) -> Result<KubePatch, F::Error> {
        let change = match &self.change {
            PatchChange::Patch { patch_type, body } => PatchChange::Patch {
                patch_type: *patch_type,
                body: f.json(&[key("patch")], body)?,
            },
            PatchChange::YamlIn(y) => PatchChange::YamlIn(YamlIn {
                key: f.text(&[key("yaml_in"), key("key")], &y.key)?,
                set: y
                    .set
                    .iter()
                    .map(|(path, v)| {
                        let at = [key("yaml_in"), key("set"), Seg::Key(path.clone())];
                        Ok((path.clone(), f.json(&at, v)?))
                    })
                    .collect::<Result<_, F::Error>>()?,
            }),
        };
        Ok(KubePatch {
            place: self.place.fold(f)?,
            resource: f.text(&[key("resource")], &self.resource)?,
            name: f.text(&[key("name")], &self.name)?,
            change,
        })
    }

    /// The object, as the view every kube kind gives.
    pub fn view(&self) -> ObjectRef<'_> {
        let place = &self.place;
        ObjectRef::named(
            place.context.as_deref(),
            place.namespace.as_deref(),
            &self.resource,
            &self.name,
        )
    }
}

impl super::Placed for KubePatch {
    fn context(&self) -> Option<&str> {
        self.place.context.as_deref()
    }
}

raw_kind! {
    /// `kube.patch` as written.
    RawPatch as "KubePatch", place {
        /// Resource type, as kubectl accepts it.
        resource: String,
        /// Name of the object.
        name: String,
        /// Patch type (default `merge`).
        #[serde(default, rename = "type")]
        patch_type: PatchType,
        /// The patch body, as YAML.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        patch: Option<serde_json::Value>,
        /// Edit YAML stored as text under `data.<key>` (e.g. meshNetworks in the `istio` ConfigMap).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        yaml_in: Option<YamlIn>,
    }
}

impl Flat for KubePatch {
    type Flat = RawPatch;

    fn from_flat(mut raw: RawPatch) -> Result<Self, Invalid> {
        let place = raw.take_place();
        let change = match (raw.patch, raw.yaml_in) {
            (Some(body), None) if raw.patch_type == PatchType::Json && !body.is_array() => {
                return Err(Invalid::one(
                    "has a `json` patch that is not a list of operations",
                ));
            }
            (Some(body), None) => PatchChange::Patch {
                patch_type: raw.patch_type,
                body,
            },
            (None, Some(y)) => PatchChange::YamlIn(y),
            _ => return Err(Invalid::one("needs exactly one of `patch` or `yaml_in`")),
        };
        Ok(KubePatch {
            place,
            resource: raw.resource,
            name: raw.name,
            change,
        })
    }

    fn to_flat(&self) -> Cow<'_, RawPatch> {
        let (patch_type, patch, yaml_in) = match &self.change {
            PatchChange::Patch { patch_type, body } => (*patch_type, Some(body.clone()), None),
            PatchChange::YamlIn(y) => (PatchType::default(), None, Some(y.clone())),
        };
        Cow::Owned(RawPatch {
            resource: self.resource.clone(),
            name: self.name.clone(),
            patch_type,
            patch,
            yaml_in,
            ..RawPatch::at(&self.place)
        })
    }
}
