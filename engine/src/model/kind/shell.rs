//! `shell`: a script under `bash -euo pipefail`, or an argv without a shell.

use indexmap::IndexMap;
use std::borrow::Cow;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use super::{Flat, Invalid};
use crate::locate::Seg;
use crate::model::fold::{Folder, key};

/// A shell step: a script or an argv, with extra environment variables.
#[derive(Clone, Debug, PartialEq)]
pub struct ShellSpec {
    /// What runs.
    pub command: Command,
    /// Extra environment variables (templates allowed).
    pub env: IndexMap<String, String>,
}

/// What a shell step runs.
#[derive(Clone, Debug, PartialEq)]
pub enum Command {
    /// A bash script, run with `bash -euo pipefail`.
    Script(String),
    /// A program and its arguments, run without a shell.
    Argv {
        /// The program (`argv[0]`), looked up in `PATH` unless it has a `/`.
        program: String,
        /// Its arguments.
        args: Vec<String>,
    },
}

impl ShellSpec {
    /// A step that runs `script`.
    pub fn script(script: impl Into<String>) -> ShellSpec {
        ShellSpec {
            command: Command::Script(script.into()),
            env: IndexMap::new(),
        }
    }

    /// Folds every template field.
    pub(crate) fn fold<F: Folder>(&self, f: &mut F) -> Result<ShellSpec, F::Error> {
        Ok(ShellSpec {
            command: match &self.command {
                Command::Script(s) => Command::Script(f.text(&[key("script")], s)?),
                Command::Argv { program, args } => Command::Argv {
                    program: f.text(&[key("argv"), Seg::Index(0)], program)?,
                    args: args
                        .iter()
                        .enumerate()
                        .map(|(i, a)| f.text(&[key("argv"), Seg::Index(i + 1)], a))
                        .collect::<Result<_, _>>()?,
                },
            },
            env: f.text_map("env", &self.env)?,
        })
    }
}

impl super::Placed for ShellSpec {
    fn context(&self) -> Option<&str> {
        None
    }
}

/// `shell: "script"` or `shell: {script | argv, env}`, as written.
#[derive(Clone, Debug, Default, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ShellSpec")]
pub(crate) struct RawShell {
    /// A bash script, run with `bash -euo pipefail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    script: Option<String>,
    /// A program and its arguments, run without a shell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    argv: Option<Vec<String>>,
    /// Extra environment variables (templates allowed).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    env: IndexMap<String, String>,
}

impl Flat for ShellSpec {
    type Flat = RawShell;

    fn from_flat(raw: RawShell) -> Result<Self, Invalid> {
        let command = match (raw.script, raw.argv) {
            (Some(s), None) => Command::Script(s),
            (None, Some(mut argv)) if !argv.is_empty() => Command::Argv {
                program: argv.remove(0),
                args: argv,
            },
            (None, Some(_)) => return Err(Invalid::one("has an empty `argv`")),
            _ => return Err(Invalid::one("needs exactly one of `script` or `argv`")),
        };
        let bad: Vec<String> = raw
            .env
            .keys()
            .filter(|k| !crate::model::names::is_env_name(k))
            .map(|k| format!("has `env` key `{k}`, which is not an environment variable name"))
            .collect();
        if !bad.is_empty() {
            return Err(Invalid(bad));
        }
        Ok(ShellSpec {
            command,
            env: raw.env,
        })
    }

    fn to_flat(&self) -> Cow<'_, RawShell> {
        let (script, argv) = match &self.command {
            Command::Script(s) => (Some(s.clone()), None),
            Command::Argv { program, args } => (
                None,
                Some(std::iter::once(program).chain(args).cloned().collect()),
            ),
        };
        Cow::Owned(RawShell {
            script,
            argv,
            env: self.env.clone(),
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ShellFields {
    #[serde(default)]
    script: Option<String>,
    #[serde(default)]
    argv: Option<Vec<String>>,
    #[serde(default)]
    env: IndexMap<String, String>,
}

impl<'de> Deserialize<'de> for RawShell {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawShell;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a script, or a map with `script` or `argv`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawShell, E> {
                Ok(RawShell {
                    script: Some(v.to_string()),
                    ..RawShell::default()
                })
            }
            // `shell: true` is the command `true`, not a YAML boolean.
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<RawShell, E> {
                self.visit_str(if v { "true" } else { "false" })
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawShell, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawShell, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawShell, A::Error> {
                let f =
                    ShellFields::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(RawShell {
                    script: f.script,
                    argv: f.argv,
                    env: f.env,
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}
