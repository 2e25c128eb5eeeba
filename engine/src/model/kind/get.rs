//! `kube.get`: read objects and extract values into outputs by kubectl JSONPath.

use indexmap::IndexMap;
use meshbook_inspect::jsonpath::JsonPath;
use meshbook_inspect::labels::Selector;
use std::borrow::Cow;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::objects::{Objects, Place, Which};
use super::{Flat, Invalid};
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

/// Whether a JSONPath (as written) may read a Secret's values: it names `data` or `stringData`,
/// or reaches them by recursion or wildcard. Such an output must be declared `secret: true`.
pub fn reads_secret_data(jsonpath: &str) -> bool {
    jsonpath.contains("..")
        || jsonpath.contains('*')
        || jsonpath
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .any(|field| field == "data" || field == "stringData")
}

/// Whether `resource`, as kubectl takes it, is the core Secret (`secret`, `secrets`,
/// `Secret`, `secrets.v1.`); `None` when a template decides it.
pub(crate) fn is_secret_resource(resource: &str) -> Option<bool> {
    if resource.contains("{{") {
        return None;
    }
    let lower = resource.to_ascii_lowercase();
    let (name, group) = lower.split_once('.').unwrap_or((&lower, ""));
    Some(matches!(name, "secret" | "secrets") && matches!(group, "" | "v1" | "v1."))
}

impl KubeGet {
    /// The outputs of this step that may read a Secret's values, each with the JSONPath as
    /// written, when the step reads Secrets.
    pub fn secret_reads<'a>(
        &'a self,
        outputs: &'a IndexMap<String, OutputSpec>,
    ) -> impl Iterator<Item = &'a str> {
        let secret = is_secret_resource(&self.objects.resource) == Some(true);
        outputs.iter().filter_map(move |(name, out)| {
            let path = match (&out.jsonpath, &self.jsonpath) {
                (Some(own), _) => own.0.template(),
                (None, Some(step)) => step.text(),
                (None, None) => return None,
            };
            (secret && reads_secret_data(path)).then_some(name.as_str())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn knows_which_paths_read_a_secret() {
        for path in [
            "{.data.token}",
            "{.stringData.x}",
            "{.data['ca\\.crt']}",
            "{..token}",
            "{.items[*].data}",
        ] {
            assert!(reads_secret_data(path), "{path}");
        }
        for path in [
            "{.metadata.name}",
            "{.type}",
            "{.metadata.annotations.dataset}",
        ] {
            assert!(!reads_secret_data(path), "{path}");
        }
        for (resource, secret) in [
            ("secret", Some(true)),
            ("Secrets", Some(true)),
            ("secrets.v1.", Some(true)),
            ("secrets.example.io", Some(false)),
            ("configmap", Some(false)),
            ("{{R}}", None),
        ] {
            assert_eq!(is_secret_resource(resource), secret, "{resource}");
        }
    }
}

impl<S: Stage> super::Placed for KubeGet<S> {
    fn context(&self) -> Option<&str> {
        self.objects.place.context.as_deref()
    }
}

raw_kind! {
    /// `kube.get` as written.
    RawGet as "KubeGet", objects {
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
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

impl Flat for KubeGet {
    type Flat = RawGet;

    fn from_flat(mut raw: RawGet) -> Result<Self, Invalid> {
        Ok(KubeGet {
            objects: raw.take_objects(Which::at_most_one)?,
            field_selector: raw.field_selector,
            jsonpath: raw.jsonpath,
            allow_missing_keys: raw.allow_missing_keys,
        })
    }

    fn to_flat(&self) -> Cow<'_, RawGet> {
        Cow::Owned(RawGet {
            field_selector: self.field_selector.clone(),
            jsonpath: self.jsonpath.clone(),
            allow_missing_keys: self.allow_missing_keys,
            ..RawGet::of(&self.objects)
        })
    }
}
