//! The step kinds: what a step does. Each kind is one key of the step (`shell:`, `kube.get:`, ...)
//! holding that kind's fields, and one file here holding its type: the alternatives it allows
//! as sum types, its fields with a grammar parsed when loaded (see [`grammar`](super::grammar)),
//! its template fields listed once in its `fold`, and its flat YAML form (`Raw*`, which the
//! JSON Schema is generated from) with the conversions both ways.
//!
//! Adding a kind: its file here, one line in `kinds!` below, its executor (see
//! `docs/architecture.md`).

mod apply;
mod delete;
mod exec;
mod get;
mod kubeconfig;
mod meta;
mod objects;
mod patch;
mod secret;
mod shell;
mod wait;

pub use apply::{KubeApply, Manifests};
pub use delete::KubeDelete;
pub use exec::KubeExec;
pub use get::KubeGet;
pub use kubeconfig::KubeKubeconfig;
pub use meta::{KubeAnnotate, KubeLabel, MetaEdits};
pub use objects::{ObjectRef, Objects, Place, Which, WhichRef};
pub use patch::{KubePatch, PatchChange, PatchType, YamlIn};
pub use secret::KubeSecret;
pub use shell::{Command, ShellSpec};
pub use wait::{KubeWait, WaitFor};

use std::borrow::Cow;

use serde::Serialize;

use crate::model::fold::Folder;
use crate::model::grammar::{Stage, Written};

/// Why a kind's fields do not describe a step of that kind: each message completes
/// "`{kind}` step `{id}` ...", such as "needs exactly one of `name` or `selector`".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Invalid(pub Vec<String>);

impl Invalid {
    pub(crate) fn one(message: impl Into<String>) -> Invalid {
        Invalid(vec![message.into()])
    }

    pub(crate) fn push(&mut self, message: impl Into<String>) {
        self.0.push(message.into());
    }

    /// Keeps the value, or the problem.
    pub(crate) fn take<T>(&mut self, result: Result<T, String>) -> Option<T> {
        result.map_err(|m| self.push(m)).ok()
    }

    pub(crate) fn into_result(self) -> Result<(), Invalid> {
        if self.0.is_empty() { Ok(()) } else { Err(self) }
    }
}

impl From<String> for Invalid {
    fn from(message: String) -> Self {
        Invalid::one(message)
    }
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0.join("; "))
    }
}

/// Where a step kind acts: every kube kind has a [`Place`]; a shell step has none.
pub(crate) trait Placed {
    /// The kind's place.
    fn place(&self) -> Option<&Place>;
}

/// Why a kind's body could not be read.
#[derive(Debug)]
pub(crate) enum ReadError {
    /// A field is missing, unknown or of the wrong type (with the path to it).
    Fields(serde_path_to_error::Error<serde_yaml::Error>),
    /// The fields do not go together.
    Shape(Invalid),
}

fn yes() -> bool {
    true
}

fn is_true(b: &bool) -> bool {
    *b
}

fn one() -> u32 {
    1
}

fn is_one(n: &u32) -> bool {
    *n == 1
}

/// Declares the kinds: the [`Action`] enum, its keys, and what dispatches on the kind.
macro_rules! kinds {
    ($( $(#[doc = $doc:literal])* $key:literal => $variant:ident($ty:ty, $raw:ty) ),* $(,)?) => {
        /// What a step does: exactly one of the step kinds.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Action<S: Stage = Written> {
            $( $(#[doc = $doc])* $variant($ty), )*
        }

        /// Every step kind key, in the order the docs list them.
        pub const KIND_KEYS: &[&str] = &[$($key),*];

        impl<S: Stage> Action<S> {
            /// The kind key this action is written under.
            pub fn kind(&self) -> &'static str {
                match self {
                    $( Action::$variant(_) => $key, )*
                }
            }

            /// Where a kube step acts (`None` for shell steps).
            pub fn place(&self) -> Option<&Place> {
                match self {
                    $( Action::$variant(k) => k.place(), )*
                }
            }
        }

        impl Action {
            /// Folds every template field of the action.
            pub(crate) fn fold<F: Folder>(&self, f: &mut F) -> Result<Action<F::Out>, F::Error> {
                Ok(match self {
                    $( Action::$variant(k) => Action::$variant(k.fold(f)?), )*
                })
            }

            /// Reads the body of kind `key`; `None` when no kind has that key.
            pub(crate) fn read(key: &str, body: serde_yaml::Value) -> Option<Result<Action, ReadError>> {
                Some(match key {
                    $( $key => serde_path_to_error::deserialize::<_, $raw>(body)
                        .map_err(ReadError::Fields)
                        .and_then(|raw| raw.try_into().map(Action::$variant).map_err(ReadError::Shape)), )*
                    _ => return None,
                })
            }

            /// The kind's fields as written, without the kind key (what a plan shows).
            pub fn body(&self) -> impl Serialize + '_ {
                Body(self)
            }
        }

        struct Body<'a>(&'a Action);

        impl Serialize for Body<'_> {
            fn serialize<Z: serde::Serializer>(&self, s: Z) -> Result<Z::Ok, Z::Error> {
                match self.0 {
                    $( Action::$variant(k) => <$raw>::from(k).serialize(s), )*
                }
            }
        }

        impl Serialize for Action {
            fn serialize<Z: serde::Serializer>(&self, s: Z) -> Result<Z::Ok, Z::Error> {
                use serde::ser::SerializeMap;
                let mut map = s.serialize_map(Some(1))?;
                map.serialize_entry(self.kind(), &self.body())?;
                map.end()
            }
        }

        impl schemars::JsonSchema for Action {
            fn schema_name() -> Cow<'static, str> {
                "Action".into()
            }

            fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
                let variants = vec![$({
                    let description = [$($doc.trim()),*].join(" ");
                    serde_json::json!({
                        "description": description,
                        "type": "object",
                        "properties": { $key: generator.subschema_for::<$raw>() },
                        "required": [$key],
                        "additionalProperties": false,
                    })
                },)*];
                schemars::json_schema!({ "oneOf": variants })
            }
        }
    };
}

kinds! {
    /// Run a script under `bash -euo pipefail`, or an argv without a shell.
    "shell" => Shell(ShellSpec, shell::RawShell),
    /// Server-side apply of one or many manifests.
    "kube.apply" => KubeApply(KubeApply<S>, apply::RawApply),
    /// Wait until objects are ready, match a condition or value, or are gone.
    "kube.wait" => KubeWait(KubeWait<S>, wait::RawWait),
    /// Read objects and extract values by kubectl JSONPath into outputs.
    "kube.get" => KubeGet(KubeGet<S>, get::RawGet),
    /// Create or update a Secret from files and literals.
    "kube.secret" => KubeSecret(KubeSecret, secret::RawSecret),
    /// Add, overwrite or remove labels.
    "kube.label" => KubeLabel(KubeLabel<S>, meta::RawLabel),
    /// Add, overwrite or remove annotations.
    "kube.annotate" => KubeAnnotate(KubeAnnotate<S>, meta::RawAnnotate),
    /// Merge, JSON or strategic patch, or an edit of YAML held in a ConfigMap key.
    "kube.patch" => KubePatch(KubePatch, patch::RawPatch),
    /// Delete objects by name or selector and wait until they are gone.
    "kube.delete" => KubeDelete(KubeDelete<S>, delete::RawDelete),
    /// Run a command in a pod chosen by name or selector.
    "kube.exec" => KubeExec(KubeExec<S>, exec::RawExec),
    /// Build a kubeconfig for a service account.
    "kube.kubeconfig" => KubeKubeconfig(KubeKubeconfig, kubeconfig::RawKubeconfig),
}

impl<S: Stage> Action<S> {
    /// The kubeconfig context a kube step targets (`None` for shell steps, or the current context).
    pub fn context(&self) -> Option<&str> {
        self.place().and_then(|p| p.context.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(kind: &str, body: &str) -> Result<Action, Vec<String>> {
        let body: serde_yaml::Value = serde_yaml::from_str(body).unwrap();
        match Action::read(kind, body).expect("a kind") {
            Ok(action) => Ok(action),
            Err(ReadError::Shape(Invalid(messages))) => Err(messages),
            Err(ReadError::Fields(e)) => Err(vec![e.to_string()]),
        }
    }

    #[test]
    fn fields_that_do_not_go_together_are_refused_when_read() {
        let wrong = |kind: &str, body: &str| read(kind, body).unwrap_err();
        assert_eq!(
            wrong(
                "kube.wait",
                "{resource: cm, name: a, condition: Ready, deleted: true}"
            ),
            ["waits for one thing: set at most one of `condition`, `jsonpath` or `deleted`"]
        );
        assert_eq!(
            wrong("kube.wait", "{resource: cm, name: a, equals: x}"),
            ["uses `equals`/`matches` only with `jsonpath`"]
        );
        assert_eq!(
            wrong("kube.wait", "{resource: cm}"),
            ["needs exactly one of `name` or `selector`"]
        );
        assert_eq!(
            wrong("kube.exec", "{command: [], repeat: 0}"),
            [
                "needs exactly one of `pod` or `selector`",
                "has an empty `command`",
                "has `repeat: 0`"
            ]
        );
        assert_eq!(
            wrong(
                "kube.patch",
                "{resource: cm, name: a, type: json, patch: {a: 1}}"
            ),
            ["has a `json` patch that is not a list of operations"]
        );
        assert_eq!(
            wrong("kube.apply", "{file: a.yaml, files: [b.yaml]}"),
            ["needs exactly one of `manifest`, `file` or `files`"]
        );
        assert_eq!(wrong("shell", "{argv: []}"), ["has an empty `argv`"]);
        assert_eq!(
            wrong("shell", "{script: x, env: {1BAD: y}}"),
            ["has `env` key `1BAD`, which is not an environment variable name"]
        );
        assert_eq!(
            wrong("kube.label", "{resource: ns, name: a, labels: []}"),
            ["has nothing to change: give `key=value` or `key-` entries"]
        );
    }

    #[test]
    fn the_flat_form_is_written_back_as_read() {
        for (kind, body) in [
            ("shell", "{argv: [printf, '%s', x]}"),
            (
                "kube.wait",
                "{resource: cm, selector: app=a, jsonpath: '{.x}', matches: '^v'}",
            ),
            ("kube.exec", "{pod: p, command: [sh], repeat: 2}"),
            (
                "kube.patch",
                "{resource: cm, name: a, yaml_in: {key: k, set: {a.b: 1}}}",
            ),
        ] {
            let action = read(kind, body).unwrap();
            let written = serde_yaml::to_value(action.body()).unwrap();
            let again = Action::read(kind, written).unwrap().unwrap();
            assert_eq!(again, action, "{kind}: {body}");
        }
    }
}
