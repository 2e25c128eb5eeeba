//! Loading: YAML text to the runbook model. A clean runbook is read straight from the text
//! ([`direct`]); a runbook with a mistake is read part by part (metadata, every param, every
//! step) from a `Value` tree so that one mistake does not hide the next: all problems are
//! reported at once.

use indexmap::IndexMap;
use serde::de::DeserializeOwned;
use serde_yaml::{Mapping, Value};

use crate::diag::Diagnostic;
use crate::locate::{Seg, YamlPath};
use crate::model::{
    API_VERSION, Action, Defaults, Duration, Invalid, KIND_KEYS, Metadata, OutputSpec, ParamSpec,
    Range, ReadError, Requires, RetryPolicy, Runbook, SandboxStandIn, Step, WaitPolicy,
};
use crate::suggest;

mod direct;
mod errors;
mod strict;
mod subset;

use errors::{child, key_path, path_error, quoted_list, syntax_error, too_deep};

/// The result of reading a runbook's text: the parts that read cleanly, and the problems.
#[derive(Debug)]
pub struct Loaded {
    /// The runbook, with any step that failed to read left out.
    pub runbook: Runbook,
    /// Steps that failed to read, with what could be salvaged, so later checks do not report
    /// their ids and outputs as missing.
    pub unreadable: Vec<Salvaged>,
    /// Every problem found while reading.
    pub diagnostics: Vec<Diagnostic>,
}

/// What is known of a step that failed to read.
#[derive(Debug, Default)]
pub struct Salvaged {
    /// Its id, if it had a string one.
    pub id: Option<String>,
    /// The names under its `outputs`.
    pub outputs: Vec<String>,
    /// Its `needs`, still checked so that one mistake does not hide another.
    pub needs: Vec<String>,
    /// Which list it is in (`steps` or `finally`) and its index there.
    pub list: String,
    /// Its index in that list.
    pub index: usize,
}

const TOP_KEYS: [&str; 8] = [
    "apiVersion",
    "kind",
    "metadata",
    "requires",
    "params",
    "defaults",
    "steps",
    "finally",
];
const STEP_KEYS: [&str; 9] = [
    "id",
    "title",
    "needs",
    "timeout",
    "retry",
    "wait",
    "outputs",
    "sandbox",
    "description",
];

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct StepCommon {
    id: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    needs: Vec<String>,
    #[serde(default)]
    timeout: Option<Duration>,
    #[serde(default)]
    retry: Option<RetryPolicy>,
    #[serde(default)]
    wait: Option<WaitPolicy>,
    #[serde(default)]
    outputs: IndexMap<String, OutputSpec>,
    #[serde(default)]
    sandbox: Option<SandboxStandIn>,
}

impl StepCommon {
    /// The step these fields and its kind make.
    fn with(self, action: Action) -> Step {
        Step {
            id: self.id,
            title: self.title.or(self.description),
            needs: self.needs,
            timeout: self.timeout,
            retry: self.retry,
            wait: self.wait,
            outputs: self.outputs,
            sandbox: self.sandbox,
            action,
        }
    }
}

/// Reads a runbook from YAML text. `Err` only when nothing usable could be read (a syntax error,
/// or a document that is not a mapping); otherwise the diagnostics say what was wrong.
///
/// A clean runbook is read straight from the text ([`direct`]); only when that meets any problem
/// is the text read again the collecting way, which finds and places every mistake.
pub fn load(text: &str) -> Result<Loaded, Vec<Diagnostic>> {
    // A UTF-8 byte order mark is allowed at the start (editors on Windows write one).
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    too_deep(text).map_or(Ok(()), |d| Err(vec![d]))?;
    match direct::read(text) {
        Some(runbook) => Ok(Loaded {
            runbook,
            unreadable: Vec::new(),
            diagnostics: Vec::new(),
        }),
        None => collect(text),
    }
}

/// Reads a runbook through a [`Value`] tree, each part on its own, collecting every problem.
fn collect(text: &str) -> Result<Loaded, Vec<Diagnostic>> {
    let root: Value = serde_yaml::from_str(text).map_err(|e| vec![syntax_error(&e, text)])?;
    let Value::Mapping(mut root) = root else {
        let message = match root {
            Value::Null => {
                "the runbook is empty: expected a mapping with apiVersion, kind, metadata and steps"
            }
            _ => "a runbook must be a mapping with apiVersion, kind, metadata and steps",
        };
        return Err(vec![Diagnostic::at_value(Vec::new(), message)]);
    };
    let mut diags = Vec::new();
    for key in root.keys() {
        match key.as_str() {
            Some(k) if TOP_KEYS.contains(&k) => {}
            Some(k) => {
                let mut d =
                    Diagnostic::at_key(vec![Seg::Key(k.into())], format!("unknown field `{k}`"));
                d.help = suggest::help(k, TOP_KEYS);
                diags.push(d);
            }
            None => diags.push(Diagnostic::at_value(
                Vec::new(),
                "field names must be strings",
            )),
        }
    }

    let api_version: String = required(&mut root, "apiVersion", &mut diags).unwrap_or_default();
    if !api_version.is_empty() && api_version != API_VERSION {
        diags.push(
            Diagnostic::at_value(
                key_path("apiVersion"),
                format!("unsupported apiVersion `{api_version}`"),
            )
            .with_help(format!("this version of meshbook reads `{API_VERSION}`")),
        );
    }
    let kind: String = required(&mut root, "kind", &mut diags).unwrap_or_default();
    if !kind.is_empty() && kind != "Runbook" {
        diags.push(Diagnostic::at_value(
            key_path("kind"),
            format!("unsupported kind `{kind}`: expected `Runbook`"),
        ));
    }
    let metadata: Option<Metadata> = required(&mut root, "metadata", &mut diags);
    if metadata.as_ref().is_some_and(|m| m.name.trim().is_empty()) {
        diags.push(
            Diagnostic::at_value(
                vec![Seg::Key("metadata".into()), Seg::Key("name".into())],
                "`metadata.name` is empty",
            )
            .with_help("a runbook is run and listed by its name"),
        );
    }
    let metadata = metadata.unwrap_or_default();
    let defaults: Defaults = optional(&mut root, "defaults", &mut diags).unwrap_or_default();
    let requires = read_requires(&mut root, &mut diags);

    let mut params = IndexMap::new();
    if let Some(raw) = optional::<IndexMap<String, Value>>(&mut root, "params", &mut diags) {
        for (name, value) in raw {
            let path = vec![Seg::Key("params".into()), Seg::Key(name.clone())];
            let value = if value.is_null() {
                Value::Mapping(Mapping::new())
            } else {
                value
            };
            if let Some(spec) = read::<ParamSpec>(value, &path, &mut diags) {
                params.insert(name, spec);
            }
        }
    }

    if root.get("steps").is_none() {
        diags.push(Diagnostic::at_value(Vec::new(), "missing field `steps`"));
    }
    let mut unreadable = Vec::new();
    let mut read_steps = |key: &str, diags: &mut Vec<Diagnostic>| -> Vec<Step> {
        let raw = match root.remove(key) {
            Some(Value::Sequence(seq)) => seq,
            Some(Value::Null) if key == "steps" => {
                diags.push(
                    Diagnostic::at_key(key_path(key), "`steps` has no value")
                        .with_help("list the steps, or write `steps: []` for none"),
                );
                return Vec::new();
            }
            Some(Value::Null) | None => return Vec::new(),
            Some(other) => {
                read::<Vec<Value>>(other, &key_path(key), diags);
                return Vec::new();
            }
        };
        let mut steps = Vec::with_capacity(raw.len());
        for (i, value) in raw.into_iter().enumerate() {
            let salvaged = salvage(&value, key, i);
            match read_step(value, &[Seg::Key(key.into()), Seg::Index(i)], diags) {
                Some(step) => steps.push(step),
                None => unreadable.push(salvaged),
            }
        }
        steps
    };
    let steps = read_steps("steps", &mut diags);
    let finally = read_steps("finally", &mut diags);

    let runbook = Runbook {
        api_version,
        kind,
        metadata,
        requires,
        params,
        defaults,
        steps,
        finally,
    };
    Ok(Loaded {
        runbook,
        unreadable,
        diagnostics: diags,
    })
}

/// The `requires:` section: each range parsed, a mistake pointing at its column in the value.
fn read_requires(root: &mut Mapping, diags: &mut Vec<Diagnostic>) -> Requires {
    let mut requires = Requires::default();
    let Some(raw) = optional::<IndexMap<String, Value>>(root, "requires", diags) else {
        return requires;
    };
    for (name, value) in raw {
        let path = vec![Seg::Key("requires".into()), Seg::Key(name.clone())];
        let range = match &value {
            Value::Null => Range::ANY,
            Value::String(text) => match Range::parse(text) {
                Ok(r) => r,
                Err(e) => {
                    let rest: String = text.chars().skip(e.column - 1).collect();
                    let mut d = Diagnostic::at_value(
                        path,
                        format!("invalid version range for `{name}`: {}", e.reason),
                    )
                    .with_help(
                        "ranges read like \">=1.9, <1.16\", \"2.x\", \"1.5.*\", \"~1.5\" or \"1.13 || >=1.20\"",
                    );
                    if !rest.trim().is_empty() {
                        d = d.with_needle(rest);
                    }
                    diags.push(d);
                    continue;
                }
            },
            Value::Number(n) => {
                diags.push(
                    Diagnostic::at_value(path, format!("the range of `{name}` must be a string"))
                        .with_help(format!(
                            "put it in quotes: YAML read it as the number {n} (an unquoted 1.10 is 1.1)"
                        )),
                );
                continue;
            }
            _ => {
                diags.push(Diagnostic::at_value(
                    path,
                    format!("the range of `{name}` must be a string such as \"2.x\", or empty for any version"),
                ));
                continue;
            }
        };
        requires.insert(name, range);
    }
    requires
}

fn read_step(value: Value, path: &[Seg], diags: &mut Vec<Diagnostic>) -> Option<Step> {
    let path = &path.to_vec();
    let Value::Mapping(map) = value else {
        diags.push(Diagnostic::at_value(
            path.clone(),
            "a step must be a mapping with an `id` and one step kind (`shell`, `kube.apply`, ...)",
        ));
        return None;
    };
    let before = diags.len();
    let id = map
        .get("id")
        .and_then(Value::as_str)
        .unwrap_or("?")
        .to_string();
    let mut kind: Option<(String, Value)> = None;
    let mut common = Mapping::new();
    for (k, v) in map {
        let Some(name) = k.as_str() else {
            diags.push(Diagnostic::at_value(
                path.clone(),
                "field names must be strings",
            ));
            continue;
        };
        let at = || child(path, name);
        if KIND_KEYS.contains(&name) {
            match &kind {
                Some((first, _)) => diags.push(
                    Diagnostic::at_key(
                        at(),
                        format!(
                            "a step has exactly one kind, but this one has `{first}` and `{name}`"
                        ),
                    )
                    .with_help("split it into two steps"),
                ),
                None => kind = Some((name.to_string(), v)),
            }
        } else if STEP_KEYS.contains(&name) {
            common.insert(k, v);
        } else {
            let looks_like_kind = name.starts_with("kube") || name == "sh" || name == "bash";
            let what = if looks_like_kind {
                "step kind"
            } else {
                "field"
            };
            let mut d = Diagnostic::at_key(at(), format!("unknown {what} `{name}`"));
            d.help = suggest::help(name, STEP_KEYS.iter().chain(KIND_KEYS).copied());
            if d.help.is_none() && looks_like_kind {
                d.help = Some(format!("step kinds are {}", quoted_list(KIND_KEYS)));
            }
            diags.push(d);
        }
    }
    let common = read::<StepCommon>(Value::Mapping(common), path, diags);
    let action = match kind {
        Some((name, body)) => read_action(&name, &id, body, &child(path, &name), diags),
        None => {
            diags.push(
                Diagnostic::at_value(path.clone(), format!("step `{id}` has no step kind"))
                    .with_help(format!("add one of {}", quoted_list(KIND_KEYS))),
            );
            None
        }
    };
    if diags.len() > before {
        return None;
    }
    Some(common?.with(action?))
}

/// Reads a step kind's body into its typed spec: field mistakes point at the field, and fields
/// that do not go together at the body.
fn read_action(
    kind: &str,
    id: &str,
    body: Value,
    path: &YamlPath,
    diags: &mut Vec<Diagnostic>,
) -> Option<Action> {
    let body = if body.is_null() {
        Value::Mapping(Mapping::new())
    } else {
        body
    };
    match Action::read(kind, body)? {
        Ok(action) => Some(action),
        Err(ReadError::Fields(err)) => {
            diags.push(path_error(path, err));
            None
        }
        Err(ReadError::Shape(Invalid(messages))) => {
            diags.extend(
                messages
                    .into_iter()
                    .map(|m| Diagnostic::at_value(path.clone(), format!("{kind} step `{id}` {m}"))),
            );
            None
        }
    }
}

fn salvage(value: &Value, list: &str, index: usize) -> Salvaged {
    let id = value.get("id").and_then(Value::as_str).map(str::to_string);
    let outputs = value
        .get("outputs")
        .and_then(Value::as_mapping)
        .map(|m| {
            m.keys()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let needs = value
        .get("needs")
        .and_then(Value::as_sequence)
        .map(|s| {
            s.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    Salvaged {
        id,
        outputs,
        needs,
        list: list.to_string(),
        index,
    }
}

fn required<T: DeserializeOwned>(
    root: &mut Mapping,
    key: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<T> {
    match root.remove(key) {
        Some(v) => read(v, &key_path(key), diags),
        None => {
            diags.push(Diagnostic::at_value(
                Vec::new(),
                format!("missing field `{key}`"),
            ));
            None
        }
    }
}

fn optional<T: DeserializeOwned>(
    root: &mut Mapping,
    key: &str,
    diags: &mut Vec<Diagnostic>,
) -> Option<T> {
    match root.remove(key) {
        Some(Value::Null) | None => None,
        Some(v) => read(v, &key_path(key), diags),
    }
}

/// Deserializes `value` (found at `base`), turning a failure into a diagnostic at the exact node.
pub(crate) fn read<T: DeserializeOwned>(
    value: Value,
    base: &YamlPath,
    diags: &mut Vec<Diagnostic>,
) -> Option<T> {
    serde_path_to_error::deserialize::<_, T>(value)
        .map_err(|err| diags.push(path_error(base, err)))
        .ok()
}

#[cfg(test)]
mod tests;
