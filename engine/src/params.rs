//! Param values: defaults, then a params file, then `-p KEY=VALUE`, later sources winning; each
//! value checked against its declared type, and secret when its param is.

use std::path::Path;

use indexmap::IndexMap;
use serde_yaml::Value;

use crate::diag::Diagnostic;
use crate::locate::Seg;
use crate::model::{Runbook, ValueType};
use crate::suggest;
use crate::values::Values;

/// A params file: its text and the directory its relative paths resolve against.
#[derive(Debug, Clone)]
pub struct ParamsFile<'a> {
    /// The file's YAML text: a mapping of param names to values.
    pub text: &'a str,
    /// The directory holding the file.
    pub dir: &'a Path,
}

/// Where a param problem is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// In the runbook (a required param with no value).
    Runbook,
    /// In the params file.
    ParamsFile,
    /// On the command line (`-p`).
    CommandLine,
}

/// A problem with a param value, and the text it is about.
#[derive(Debug, Clone)]
pub struct ParamProblem {
    /// Which text the diagnostic points into.
    pub origin: Origin,
    /// What is wrong.
    pub diagnostic: Diagnostic,
}

/// Resolves param values. With `require_all`, a param without any value is a problem.
pub fn resolve(
    runbook: &Runbook,
    file: Option<ParamsFile<'_>>,
    overrides: &[(String, String)],
    require_all: bool,
) -> Result<Values, Vec<ParamProblem>> {
    let mut problems = Vec::new();
    let mut values: IndexMap<String, (String, Origin)> = IndexMap::new();
    for (name, spec) in &runbook.params {
        if let Some(d) = &spec.default {
            values.insert(name.clone(), (d.0.clone(), Origin::Runbook));
        }
    }
    let names = || runbook.params.keys().map(String::as_str);
    if let Some(file) = file {
        match serde_yaml::from_str::<Value>(file.text) {
            Ok(Value::Null) => {}
            Ok(Value::Mapping(map)) => {
                for (k, v) in map {
                    let Some(name) = k.as_str() else { continue };
                    let path = vec![Seg::Key(name.to_string())];
                    let Some(spec) = runbook.params.get(name) else {
                        let mut d = Diagnostic::at_key(path, format!("unknown param `{name}`"));
                        d.help = suggest::help(name, names());
                        problems.push(ParamProblem {
                            origin: Origin::ParamsFile,
                            diagnostic: d,
                        });
                        continue;
                    };
                    let text = match v {
                        Value::String(s) => s,
                        Value::Number(n) => n.to_string(),
                        Value::Bool(b) => b.to_string(),
                        _ => {
                            problems.push(ParamProblem {
                                origin: Origin::ParamsFile,
                                diagnostic: Diagnostic::at_value(
                                    path,
                                    format!("param `{name}` needs a string, number or boolean"),
                                ),
                            });
                            continue;
                        }
                    };
                    let text = if spec.ty == ValueType::Path {
                        resolve_path(file.dir, &text)
                    } else {
                        text
                    };
                    values.insert(name.to_string(), (text, Origin::ParamsFile));
                }
            }
            Ok(_) => problems.push(ParamProblem {
                origin: Origin::ParamsFile,
                diagnostic: Diagnostic::at_value(
                    Vec::new(),
                    "a params file is a mapping of param names to values",
                ),
            }),
            Err(e) => {
                let anchor = match e.location() {
                    Some(l) => crate::diag::Anchor::Position {
                        line: l.line(),
                        col: l.column(),
                    },
                    None => crate::diag::Anchor::Nowhere,
                };
                let message = e.to_string();
                let message = message
                    .split(" at line ")
                    .next()
                    .unwrap_or(&message)
                    .to_string();
                problems.push(ParamProblem {
                    origin: Origin::ParamsFile,
                    diagnostic: Diagnostic {
                        message: format!("invalid YAML: {message}"),
                        anchor,
                        help: None,
                    },
                });
            }
        }
    }
    for (name, value) in overrides {
        if !runbook.params.contains_key(name) {
            let mut d = Diagnostic::at_value(
                Vec::new(),
                format!("--param {name}: unknown param `{name}`"),
            );
            d.help = suggest::help(name, names());
            problems.push(ParamProblem {
                origin: Origin::CommandLine,
                diagnostic: d,
            });
            continue;
        }
        values.insert(name.clone(), (value.clone(), Origin::CommandLine));
    }
    let mut resolved = Values::new();
    for (name, spec) in &runbook.params {
        match values.swap_remove(name) {
            Some((value, origin)) => {
                if let Err(e) = spec.ty.admits(&value) {
                    let shown = if spec.secret {
                        format!("the value of param `{name}`")
                    } else {
                        format!("param `{name}` value `{value}`")
                    };
                    let (path, prefix) = match origin {
                        Origin::Runbook => (
                            vec![
                                Seg::Key("params".into()),
                                Seg::Key(name.clone()),
                                Seg::Key("default".into()),
                            ],
                            String::new(),
                        ),
                        Origin::ParamsFile => (vec![Seg::Key(name.clone())], String::new()),
                        Origin::CommandLine => (Vec::new(), format!("--param {name}: ")),
                    };
                    problems.push(ParamProblem {
                        origin,
                        diagnostic: Diagnostic::at_value(path, format!("{prefix}{shown} {e}")),
                    });
                }
                resolved.insert(name.clone(), value, spec.secret);
            }
            None if require_all => problems.push(ParamProblem {
                origin: Origin::Runbook,
                diagnostic: Diagnostic::at_key(
                    vec![Seg::Key("params".into()), Seg::Key(name.clone())],
                    format!("missing value for required param `{name}` ({})", spec.ty),
                )
                .with_help(format!(
                    "pass `-p {name}=...` or set it in a `--params` file"
                )),
            }),
            None => {}
        }
    }
    if problems.is_empty() {
        Ok(resolved)
    } else {
        Err(problems)
    }
}

/// Parses `KEY=VALUE` from the command line.
pub fn parse_override(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got `{text}`")),
    }
}

fn resolve_path(dir: &Path, value: &str) -> String {
    let p = Path::new(value);
    if p.is_absolute() || value.is_empty() || value.contains("{{") {
        value.to_string()
    } else {
        dir.join(p).to_string_lossy().into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::load;

    fn runbook() -> Runbook {
        let text = "apiVersion: meshbook/v1\nkind: Runbook\nmetadata: {name: t}\nparams:\n  CTX: {type: context}\n  PORT: {type: port, default: 80}\n  DIR: {type: path, default: ./x}\n  TOKEN: {secret: true}\nsteps: []\n";
        load(text).unwrap().runbook
    }

    #[test]
    fn later_sources_win_and_paths_resolve_against_the_file() {
        let rb = runbook();
        let file = ParamsFile {
            text: "CTX: a\nDIR: istio\nTOKEN: s3cret\n",
            dir: Path::new("/etc/mb"),
        };
        let v = resolve(&rb, Some(file), &[("CTX".into(), "b".into())], true).unwrap();
        assert_eq!(v.get("CTX"), Some("b"));
        assert_eq!(v.get("PORT"), Some("80"));
        assert_eq!(v.get("DIR"), Some("/etc/mb/istio"));
        assert_eq!(v.secrets(), ["s3cret"], "a secret param's value is secret");
    }

    #[test]
    fn reports_missing_unknown_and_mistyped_values_without_showing_secrets() {
        let rb = runbook();
        let overrides = [
            ("PORT".to_string(), "http".to_string()),
            ("CTXX".to_string(), "a".to_string()),
        ];
        let problems = resolve(&rb, None, &overrides, true).unwrap_err();
        let messages: Vec<String> = problems
            .iter()
            .map(|p| p.diagnostic.message.clone())
            .collect();
        assert!(
            messages.iter().any(|m| m.contains("unknown param `CTXX`")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("param `PORT` value `http` is not a valid port")),
            "{messages:?}"
        );
        assert!(
            messages
                .iter()
                .any(|m| m.contains("missing value for required param `CTX`")),
            "{messages:?}"
        );
        let help = problems
            .iter()
            .find(|p| p.diagnostic.message.contains("CTXX"))
            .unwrap()
            .diagnostic
            .help
            .clone();
        assert_eq!(help.as_deref(), Some("did you mean `CTX`?"));
    }
}
