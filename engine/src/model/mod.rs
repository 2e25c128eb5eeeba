//! The runbook model (format `meshbook/v1`): what a loaded, well-formed runbook holds.

mod duration;
pub(crate) mod fold;
pub mod grammar;
mod kind;
pub mod names;
mod until;
mod value_type;

pub use duration::{Duration, DurationError};
pub use grammar::{Condition, Edit, Grammar, Parsed, Pattern, Rendered, Stage, Templated, Written};
pub use kind::*;
pub use until::Until;
pub use value_type::{TypeMismatch, ValueType};

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The only `apiVersion` this engine reads.
pub const API_VERSION: &str = "meshbook/v1";

/// A runbook: typed params, steps that form a DAG, and `finally` steps for cleanup.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(deny_unknown_fields)]
pub struct Runbook {
    /// Always `meshbook/v1`.
    pub api_version: String,
    /// Always `Runbook`.
    pub kind: String,
    /// Name, title and source tutorial.
    pub metadata: Metadata,
    /// Inputs, by name; they reach templates as `{{NAME}}` and shell steps as `$NAME`.
    #[serde(default)]
    pub params: IndexMap<String, ParamSpec>,
    /// Policies every step inherits unless it sets its own.
    #[serde(default)]
    pub defaults: Defaults,
    /// The work, ordered by `needs` and by the outputs steps use.
    pub steps: Vec<Step>,
    /// Cleanup steps, run only by `meshbook cleanup`.
    #[serde(default)]
    pub finally: Vec<Step>,
}

/// Who a runbook is and where it comes from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Metadata {
    /// The runbook's name, used by `meshbook run NAME`.
    pub name: String,
    /// A one-line title.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// The tutorial or document this runbook transcribes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// A longer description.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// A declared input.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParamSpec {
    /// The value's type (default `string`).
    #[serde(default, rename = "type")]
    pub ty: ValueType,
    /// The value used when none is given; without one the param is required.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Scalar>,
    /// What the param means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Never shown in plans, logs or status.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
}

/// A scalar written in YAML (`8080`, `true`, `c1`), kept as the text a shell would see.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct Scalar(pub String);

impl JsonSchema for Scalar {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Scalar".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": ["string", "number", "boolean"],
            "description": "a string, number or boolean, kept as the text a shell would see"
        })
    }
}

impl<'de> Deserialize<'de> for Scalar {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Bool(bool),
            Int(i64),
            Float(f64),
            Text(String),
        }
        let raw = Raw::deserialize(deserializer)
            .map_err(|_| serde::de::Error::custom("expected a string, number or boolean"))?;
        Ok(Scalar(match raw {
            Raw::Bool(b) => b.to_string(),
            Raw::Int(i) => i.to_string(),
            Raw::Float(f) => f.to_string(),
            Raw::Text(s) => s,
        }))
    }
}

/// Policies inherited by every step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Retry policy for steps that set none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// Per-attempt timeout for steps that set none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// One unit of work: an id, its dependencies and policies, and exactly one step kind.
#[derive(Clone, Debug, PartialEq, Serialize, JsonSchema)]
pub struct Step {
    /// Unique id; other steps name it in `needs`.
    pub id: String,
    /// A one-line description shown in plans.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// Steps that must succeed first (in addition to the producers of outputs this step uses).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<String>,
    /// Per-attempt timeout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
    /// How often and how patiently to retry a failed attempt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetryPolicy>,
    /// Repeat the step until its outputs satisfy a condition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait: Option<WaitPolicy>,
    /// Values this step produces, by name, in the run's flat namespace.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub outputs: IndexMap<String, OutputSpec>,
    /// What a sandbox rehearsal does instead of this step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sandbox: Option<SandboxStandIn>,
    /// The step kind and its fields.
    #[serde(flatten)]
    pub action: Action,
}

/// Retry a failed attempt with exponential backoff and jitter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub attempts: u32,
    /// Delay between attempts.
    #[serde(default)]
    pub backoff: Backoff,
}

/// Exponential backoff: `initial`, doubling up to `max`, with jitter.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Backoff {
    /// First delay (default 1s).
    #[serde(default = "Backoff::default_initial")]
    pub initial: Duration,
    /// Largest delay (default 30s).
    #[serde(default = "Backoff::default_max")]
    pub max: Duration,
}

impl Backoff {
    fn default_initial() -> Duration {
        Duration(std::time::Duration::from_secs(1))
    }
    fn default_max() -> Duration {
        Duration(std::time::Duration::from_secs(30))
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial: Backoff::default_initial(),
            max: Backoff::default_max(),
        }
    }
}

/// Repeat a step until every output satisfies `until`, polling at `interval`, giving up at `timeout`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct WaitPolicy {
    /// The condition on the outputs.
    pub until: Until,
    /// Deadline for the whole wait (default 5m).
    #[serde(default = "WaitPolicy::default_timeout")]
    pub timeout: Duration,
    /// Delay between tries (default 2s).
    #[serde(default = "WaitPolicy::default_interval")]
    pub interval: Duration,
}

impl WaitPolicy {
    fn default_timeout() -> Duration {
        Duration(std::time::Duration::from_secs(300))
    }
    fn default_interval() -> Duration {
        Duration(std::time::Duration::from_secs(2))
    }
}

/// A declared output.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct OutputSpec {
    /// The value's type, checked when the step produces it (default `string`).
    #[serde(default, rename = "type")]
    pub ty: ValueType,
    /// Never shown in plans, logs or status, and never stored in clear text.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub secret: bool,
    /// For `kube.get`: the kubectl JSONPath that yields this output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsonpath: Option<Parsed<meshbook_inspect::jsonpath::JsonPath>>,
    /// Decode the produced text before it is checked and stored (`base64`: a Secret's data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decode: Option<Decode>,
    /// What the value means.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

/// How a produced value is decoded before use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Decode {
    /// Standard base64 to UTF-8 text, as `base64 --decode` does for a Secret's `data`.
    Base64,
}

/// What a sandbox rehearsal does instead of a step that cannot run offline, and the values it
/// gives the step's outputs (templates allowed), since the real step does not run.
#[derive(Clone, Debug, PartialEq)]
pub struct SandboxStandIn {
    /// Apply a manifest, or skip.
    pub instead: Instead,
    /// A value for every declared output.
    pub outputs: IndexMap<String, String>,
}

/// What a rehearsal does in place of a step.
#[derive(Clone, Debug, PartialEq)]
pub enum Instead {
    /// Apply a manifest from the runbook's folder, rendered as a template.
    Apply {
        /// The manifest, relative to the runbook's folder.
        file: String,
        /// The cluster; the kube step's own context when absent.
        context: Option<String>,
    },
    /// Skip the step, for this reason.
    Skip(String),
}

/// `sandbox:` as written: `{apply: FILE, context: CTX}` or `{skip: REASON}`.
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "SandboxStandIn")]
struct RawStandIn {
    /// A manifest, relative to the runbook's folder, rendered as a template and applied instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    apply: Option<String>,
    /// The cluster to apply it to; a kube step's own context when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    context: Option<String>,
    /// Skip the step, for this reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    skip: Option<String>,
    /// Values (templates allowed) the stand-in gives the step's outputs, since the real step
    /// does not run: every declared output needs one.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    outputs: IndexMap<String, String>,
}

impl TryFrom<RawStandIn> for SandboxStandIn {
    type Error = &'static str;
    fn try_from(raw: RawStandIn) -> Result<Self, &'static str> {
        let instead = match (raw.apply, raw.skip, raw.context) {
            (Some(file), None, context) => Instead::Apply { file, context },
            (None, Some(_), Some(_)) => return Err("`context` goes with `apply`, not `skip`"),
            (None, Some(reason), None) => Instead::Skip(reason),
            _ => return Err("a sandbox stand-in is either `{apply: FILE}` or `{skip: REASON}`"),
        };
        Ok(SandboxStandIn {
            instead,
            outputs: raw.outputs,
        })
    }
}

impl From<&SandboxStandIn> for RawStandIn {
    fn from(s: &SandboxStandIn) -> Self {
        let (apply, context, skip) = match &s.instead {
            Instead::Apply { file, context } => (Some(file.clone()), context.clone(), None),
            Instead::Skip(reason) => (None, None, Some(reason.clone())),
        };
        RawStandIn {
            apply,
            context,
            skip,
            outputs: s.outputs.clone(),
        }
    }
}

impl<'de> Deserialize<'de> for SandboxStandIn {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        RawStandIn::deserialize(deserializer)?
            .try_into()
            .map_err(serde::de::Error::custom)
    }
}

impl Serialize for SandboxStandIn {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        RawStandIn::from(self).serialize(serializer)
    }
}

impl JsonSchema for SandboxStandIn {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        RawStandIn::schema_name()
    }
    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        RawStandIn::json_schema(generator)
    }
}

impl Step {
    /// The effective retry policy: the step's own, else the runbook default, else one attempt.
    pub(crate) fn retry_policy<'a>(&'a self, defaults: &'a Defaults) -> Option<&'a RetryPolicy> {
        self.retry.as_ref().or(defaults.retry.as_ref())
    }
}
