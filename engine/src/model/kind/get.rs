//! `kube.get`: read objects and extract values into outputs by kubectl JSONPath.

use indexmap::IndexMap;
use meshbook_inspect::jsonpath::JsonPath;
use meshbook_inspect::labels::Selector;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Invalid;
use super::objects::{Objects, Place, Which};
use crate::model::OutputSpec;
use crate::model::fold::Folder;
use crate::model::grammar::{Rendered, Stage, Templated, Written};

/// `kube.get`: read one object by name, or a `List` by selector, and extract values.
#[derive(Clone, Debug, PartialEq)]
pub struct KubeGet<S: Stage = Written> {
    /// The objects: one by name (the JSONPath sees the object), or a list (it sees a `List`).
    pub objects: Objects<S>,
    /// A field selector narrowing a list.
    pub field_selector: Option<String>,
    /// The JSONPath of the step's single output, unless the output has its own.
    pub jsonpath: Option<S::Of<JsonPath>>,
    /// Print nothing, rather than fail, for a missing key (kubectl's default).
    pub allow_missing_keys: bool,
}

impl KubeGet {
    /// Folds every template field.
    pub(crate) fn fold<F: Folder>(&self, f: &mut F) -> Result<KubeGet<F::Out>, F::Error> {
        Ok(KubeGet {
            objects: self.objects.fold(f)?,
            field_selector: f.opt_text("field_selector", self.field_selector.as_ref())?,
            jsonpath: f.opt_grammar("jsonpath", self.jsonpath.as_ref())?,
            allow_missing_keys: self.allow_missing_keys,
        })
    }
}

impl KubeGet<Rendered> {
    /// The JSONPath each declared output takes its value from: its own, else the step's (a
    /// validated runbook gives every output of a `kube.get` one of the two).
    pub fn extraction<'a>(
        &'a self,
        outputs: &'a IndexMap<String, OutputSpec>,
    ) -> impl Iterator<Item = (&'a str, &'a JsonPath)> {
        outputs.iter().filter_map(|(name, out)| {
            let path = out
                .jsonpath
                .as_ref()
                .map(|p| &p.0)
                .or(self.jsonpath.as_ref())?;
            Some((name.as_str(), path))
        })
    }
}

impl<S: Stage> super::Placed for KubeGet<S> {
    fn place(&self) -> Option<&Place> {
        Some(&self.objects.place)
    }
}

/// `kube.get` as written.
#[derive(Clone, Debug, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "KubeGet")]
pub(crate) struct RawGet {
    /// Kubeconfig context; the current context when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    context: Option<String>,
    /// Namespace of the objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    namespace: Option<String>,
    /// Resource type, as kubectl accepts it.
    resource: String,
    /// One object by name (the JSONPath sees the object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    /// Objects by label selector (the JSONPath sees a List with `items`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    selector: Option<Templated<Selector>>,
    /// Objects by field selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    field_selector: Option<String>,
    /// The JSONPath of the step's single output; several outputs give one each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    jsonpath: Option<Templated<JsonPath>>,
    /// Print nothing, rather than fail, for a missing key (kubectl's `--allow-missing-template-keys`, on by default).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    allow_missing_keys: bool,
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

impl TryFrom<RawGet> for KubeGet {
    type Error = Invalid;
    fn try_from(raw: RawGet) -> Result<Self, Invalid> {
        let which = Which::at_most_one(raw.name, raw.selector).map_err(Invalid::from)?;
        Ok(KubeGet {
            objects: Objects {
                place: Place {
                    context: raw.context,
                    namespace: raw.namespace,
                },
                resource: raw.resource,
                which,
            },
            field_selector: raw.field_selector,
            jsonpath: raw.jsonpath,
            allow_missing_keys: raw.allow_missing_keys,
        })
    }
}

impl From<&KubeGet> for RawGet {
    fn from(k: &KubeGet) -> Self {
        let (name, selector) = k.objects.which.fields();
        RawGet {
            context: k.objects.place.context.clone(),
            namespace: k.objects.place.namespace.clone(),
            resource: k.objects.resource.clone(),
            name,
            selector,
            field_selector: k.field_selector.clone(),
            jsonpath: k.jsonpath.clone(),
            allow_missing_keys: k.allow_missing_keys,
        }
    }
}
