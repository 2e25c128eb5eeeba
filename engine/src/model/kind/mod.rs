//! The step kinds: what a step does. Each kind is one key of the step (`shell:`, `kube.get:`, ...)
//! holding that kind's fields, and one file here holding its type: the alternatives it allows
//! as sum types, its fields with a grammar parsed when loaded (see [`grammar`](super::grammar)),
//! its template fields listed once in its `fold`, and its flat YAML form (`Raw*`, which the
//! JSON Schema is generated from) with the conversions both ways.
//!
//! Adding a kind: its file here, one line in `kinds!` below, its executor (see
//! `docs/architecture.md`).

/// A kind's flat YAML form, spelled out field by field as `deny_unknown_fields` needs (serde's
/// `flatten` does not combine with it): the fields of every kube kind (`context`, `namespace`),
/// with `objects` those of kinds that choose objects (`resource`, `name`, `selector`), then its
/// own. The JSON Schema is generated from it.
macro_rules! raw_kind {
    ($(#[$m:meta])* $raw:ident as $schema:literal, objects { $($body:tt)* }) => {
        raw_kind! {
            $(#[$m])* $raw as $schema, place {
                /// Resource type, as kubectl accepts it: `deployment`, `pods`, `svc`, `gateways.networking.istio.io`.
                resource: String,
                /// One object by name.
                #[serde(default, skip_serializing_if = "Option::is_none")]
                name: Option<String>,
                /// Objects by label selector.
                #[serde(default, skip_serializing_if = "Option::is_none")]
                selector: Option<Templated<Selector>>,
                $($body)*
            }
        }

        impl $raw {
            /// The written form of `objects`, the kind's own fields left to fill.
            fn of(objects: &Objects) -> Self {
                let (name, selector) = objects.which.fields();
                $raw {
                    resource: objects.resource.clone(),
                    name,
                    selector,
                    ..Self::at(&objects.place)
                }
            }

            /// The objects these fields choose, by `which` of `name` and `selector`.
            fn take_objects(
                &mut self,
                which: impl FnOnce(Option<String>, Option<Templated<Selector>>) -> Result<Which, String>,
            ) -> Result<Objects, String> {
                Ok(Objects {
                    place: self.take_place(),
                    resource: std::mem::take(&mut self.resource),
                    which: which(self.name.take(), self.selector.take())?,
                })
            }
        }
    };
    ($(#[$m:meta])* $raw:ident as $schema:literal, place { $($body:tt)* }) => {
        $(#[$m])*
        #[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
        #[serde(deny_unknown_fields)]
        #[schemars(rename = $schema)]
        pub(crate) struct $raw {
            /// Kubeconfig context; the current context when absent.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            context: Option<String>,
            /// Namespace of the objects; for namespaced objects that name none, the context's default when absent.
            #[serde(default, skip_serializing_if = "Option::is_none")]
            namespace: Option<String>,
            $($body)*
        }

        impl $raw {
            /// The written form of `place`, the kind's own fields left to fill.
            fn at(place: &Place) -> Self {
                $raw {
                    context: place.context.clone(),
                    namespace: place.namespace.clone(),
                    ..Self::default()
                }
            }

            /// The place these fields name.
            fn take_place(&mut self) -> Place {
                Place {
                    context: self.context.take(),
                    namespace: self.namespace.take(),
                }
            }
        }
    };
}

/// A kind without alternatives is its own flat form: its fields are the ones written, with
/// `context` among them; `check` says whether they go together.
macro_rules! own_flat_form {
    ($kind:ident, $check:expr) => {
        impl super::Placed for $kind {
            fn context(&self) -> Option<&str> {
                self.context.as_deref()
            }
        }

        impl super::Flat for $kind {
            type Flat = $kind;

            fn from_flat(flat: $kind) -> Result<Self, super::Invalid> {
                let check: fn(&$kind) -> Result<(), super::Invalid> = $check;
                check(&flat)?;
                Ok(flat)
            }

            fn to_flat(&self) -> std::borrow::Cow<'_, $kind> {
                std::borrow::Cow::Borrowed(self)
            }
        }
    };
}

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
pub use get::{KubeGet, reads_secret_data};
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

/// Where a step kind acts: every kube kind names a kubeconfig context (or means the current
/// one); a shell step names none.
pub(crate) trait Placed {
    /// The context.
    fn context(&self) -> Option<&str>;
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

/// How a kind is written in a runbook: its flat YAML form (from which the JSON Schema is made)
/// and the conversions both ways. A kind without alternatives is its own flat form.
pub(crate) trait Flat: Sized {
    /// The flat form.
    type Flat: Clone + Serialize + serde::de::DeserializeOwned + schemars::JsonSchema;
    /// The kind its flat form describes, or why the fields do not go together.
    fn from_flat(flat: Self::Flat) -> Result<Self, Invalid>;
    /// The flat form of the kind.
    fn to_flat(&self) -> Cow<'_, Self::Flat>;
}

/// Reads the body of one kind from `body`; `wrap` (the kind's `Action` variant) names the kind.
/// The outer error is the deserializer's (a field), the inner one says the fields do not go
/// together.
fn read_flat<'de, K: Flat, D: serde::Deserializer<'de>>(
    wrap: fn(K) -> Action,
    body: D,
) -> Result<Result<Action, Invalid>, D::Error> {
    let flat = <K::Flat as serde::Deserialize>::deserialize(body)?;
    Ok(K::from_flat(flat).map(wrap))
}

/// The schema of one kind's flat form.
fn schema_of<K: Flat>(
    _wrap: fn(K) -> Action,
    g: &mut schemars::SchemaGenerator,
) -> schemars::Schema {
    g.subschema_for::<K::Flat>()
}

/// Declares the kinds: the [`Action`] enum, its keys, and what dispatches on the kind.
macro_rules! kinds {
    ($( $(#[doc = $doc:literal])* $key:literal => $variant:ident($ty:ty) ),* $(,)?) => {
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

            /// The kubeconfig context a kube step targets (`None` for shell steps, or the
            /// current context).
            pub fn context(&self) -> Option<&str> {
                match self {
                    $( Action::$variant(k) => k.context(), )*
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

            /// Reads the body of kind `key` from any deserializer; `None` when no kind has
            /// that key.
            pub(crate) fn read_from<'de, D: serde::Deserializer<'de>>(
                key: &str,
                body: D,
            ) -> Option<Result<Result<Action, Invalid>, D::Error>> {
                Some(match key {
                    $( $key => read_flat(Action::$variant, body), )*
                    _ => return None,
                })
            }

            /// Reads the body of kind `key`, a field's mistake with the path to it; `None` when
            /// no kind has that key.
            pub(crate) fn read(key: &str, body: serde_yaml::Value) -> Option<Result<Action, ReadError>> {
                let mut track = serde_path_to_error::Track::new();
                let read = Self::read_from(key, serde_path_to_error::Deserializer::new(body, &mut track))?;
                Some(match read {
                    Ok(Ok(action)) => Ok(action),
                    Ok(Err(invalid)) => Err(ReadError::Shape(invalid)),
                    Err(e) => Err(ReadError::Fields(serde_path_to_error::Error::new(track.path(), e))),
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
                    $( Action::$variant(k) => k.to_flat().serialize(s), )*
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
                        "properties": { $key: schema_of(Action::$variant, generator) },
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
    "shell" => Shell(ShellSpec),
    /// Server-side apply of one or many manifests.
    "kube.apply" => KubeApply(KubeApply<S>),
    /// Wait until objects are ready, match a condition or value, or are gone.
    "kube.wait" => KubeWait(KubeWait<S>),
    /// Read objects and extract values by kubectl JSONPath into outputs.
    "kube.get" => KubeGet(KubeGet<S>),
    /// Create or update a Secret from files and literals.
    "kube.secret" => KubeSecret(KubeSecret),
    /// Add, overwrite or remove labels.
    "kube.label" => KubeLabel(KubeLabel<S>),
    /// Add, overwrite or remove annotations.
    "kube.annotate" => KubeAnnotate(KubeAnnotate<S>),
    /// Merge, JSON or strategic patch, or an edit of YAML held in a ConfigMap key.
    "kube.patch" => KubePatch(KubePatch),
    /// Delete objects by name or selector and wait until they are gone.
    "kube.delete" => KubeDelete(KubeDelete<S>),
    /// Run a command in a pod chosen by name or selector.
    "kube.exec" => KubeExec(KubeExec<S>),
    /// Build a kubeconfig for a service account.
    "kube.kubeconfig" => KubeKubeconfig(KubeKubeconfig),
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
