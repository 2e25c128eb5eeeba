//! The step kinds: what a step does. Each kind is one key of the step (`shell:`, `kube.get:`, ...)
//! holding that kind's fields. Every string field is a template rendered before the step runs.

use indexmap::IndexMap;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

use super::Duration;

/// What a step does: exactly one of the step kinds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub enum Action {
    /// Run a script under `bash -euo pipefail`, or an argv without a shell.
    #[serde(rename = "shell")]
    Shell(ShellSpec),
    /// Server-side apply of one or many manifests.
    #[serde(rename = "kube.apply")]
    KubeApply(KubeApply),
    /// Wait until objects are ready, match a condition or value, or are gone.
    #[serde(rename = "kube.wait")]
    KubeWait(KubeWait),
    /// Read objects and extract values by kubectl JSONPath into outputs.
    #[serde(rename = "kube.get")]
    KubeGet(KubeGet),
    /// Create or update a Secret from files and literals.
    #[serde(rename = "kube.secret")]
    KubeSecret(KubeSecret),
    /// Add, overwrite or remove labels.
    #[serde(rename = "kube.label")]
    KubeLabel(KubeLabel),
    /// Add, overwrite or remove annotations.
    #[serde(rename = "kube.annotate")]
    KubeAnnotate(KubeAnnotate),
    /// Merge, JSON or strategic patch, or an edit of YAML held in a ConfigMap key.
    #[serde(rename = "kube.patch")]
    KubePatch(KubePatch),
    /// Delete objects by name or selector and wait until they are gone.
    #[serde(rename = "kube.delete")]
    KubeDelete(KubeDelete),
    /// Run a command in a pod chosen by name or selector.
    #[serde(rename = "kube.exec")]
    KubeExec(KubeExec),
    /// Build a kubeconfig for a service account.
    #[serde(rename = "kube.kubeconfig")]
    KubeKubeconfig(KubeKubeconfig),
}

/// Every step kind key, in the order the docs list them.
pub const KIND_KEYS: [&str; 11] = [
    "shell",
    "kube.apply",
    "kube.wait",
    "kube.get",
    "kube.secret",
    "kube.label",
    "kube.annotate",
    "kube.patch",
    "kube.delete",
    "kube.exec",
    "kube.kubeconfig",
];

impl Action {
    /// The kind key this action is written under.
    pub fn kind(&self) -> &'static str {
        match self {
            Action::Shell(_) => "shell",
            Action::KubeApply(_) => "kube.apply",
            Action::KubeWait(_) => "kube.wait",
            Action::KubeGet(_) => "kube.get",
            Action::KubeSecret(_) => "kube.secret",
            Action::KubeLabel(_) => "kube.label",
            Action::KubeAnnotate(_) => "kube.annotate",
            Action::KubePatch(_) => "kube.patch",
            Action::KubeDelete(_) => "kube.delete",
            Action::KubeExec(_) => "kube.exec",
            Action::KubeKubeconfig(_) => "kube.kubeconfig",
        }
    }

    /// The kubeconfig context a kube step targets (`None` for shell steps, or the current context).
    pub fn context(&self) -> Option<&str> {
        match self {
            Action::Shell(_) => None,
            Action::KubeApply(s) => s.context.as_deref(),
            Action::KubeWait(s) => s.context.as_deref(),
            Action::KubeGet(s) => s.context.as_deref(),
            Action::KubeSecret(s) => s.context.as_deref(),
            Action::KubeLabel(s) => s.context.as_deref(),
            Action::KubeAnnotate(s) => s.context.as_deref(),
            Action::KubePatch(s) => s.context.as_deref(),
            Action::KubeDelete(s) => s.context.as_deref(),
            Action::KubeExec(s) => s.context.as_deref(),
            Action::KubeKubeconfig(s) => s.context.as_deref(),
        }
    }
}

/// A shell step: `shell: "script"` or `shell: {script | argv, env}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ShellSpec {
    /// A bash script, run with `bash -euo pipefail`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script: Option<String>,
    /// A program and its arguments, run without a shell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub argv: Option<Vec<String>>,
    /// Extra environment variables (templates allowed).
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub env: IndexMap<String, String>,
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

impl<'de> Deserialize<'de> for ShellSpec {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = ShellSpec;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a script, or a map with `script` or `argv`")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ShellSpec, E> {
                Ok(ShellSpec {
                    script: Some(v.to_string()),
                    ..ShellSpec::default()
                })
            }
            // `shell: true` is the command `true`, not a YAML boolean.
            fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<ShellSpec, E> {
                self.visit_str(if v { "true" } else { "false" })
            }
            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<ShellSpec, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<ShellSpec, E> {
                self.visit_str(&v.to_string())
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                map: A,
            ) -> Result<ShellSpec, A::Error> {
                let f =
                    ShellFields::deserialize(serde::de::value::MapAccessDeserializer::new(map))?;
                Ok(ShellSpec {
                    script: f.script,
                    argv: f.argv,
                    env: f.env,
                })
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// `kube.apply`: server-side apply of manifests from inline text, files, or another step's output.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubeApply {
    /// Kubeconfig context; the current context when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Namespace for namespaced objects that name none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Inline YAML, one or many documents (an output can be spliced in with a template).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest: Option<String>,
    /// A manifest file, relative to the working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
    /// Several manifest files, applied in order (CRDs first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<String>,
    /// Apply only the objects whose labels match this selector (`kubectl apply -f F -l app=web`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// Take ownership of fields other managers own.
    #[serde(default, skip_serializing_if = "is_false")]
    pub force: bool,
}

/// `kube.wait`: by kstatus readiness (default), a condition, a JSONPath value, or deletion.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubeWait {
    /// Kubeconfig context; the current context when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Namespace of the objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Resource type, as kubectl accepts it: `deployment`, `pods`, `svc`, `gateways.networking.istio.io`.
    pub resource: String,
    /// One object by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Objects by label selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// `Type` or `Type=Status`, as in `kubectl wait --for=condition=...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// A kubectl JSONPath whose value is tested with `equals`, `matches`, or (by default) non-empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsonpath: Option<String>,
    /// The JSONPath value must equal this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub equals: Option<String>,
    /// The JSONPath value must match this regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matches: Option<String>,
    /// Wait until the objects are gone.
    #[serde(default, skip_serializing_if = "is_false")]
    pub deleted: bool,
    /// With a selector: at least this many objects must exist and be ready (default: 1, and all that exist).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<u32>,
    /// How long to wait (default 5m).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Duration>,
}

/// `kube.get`: read objects and extract values into outputs by kubectl JSONPath.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubeGet {
    /// Kubeconfig context; the current context when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Namespace of the objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Resource type, as kubectl accepts it.
    pub resource: String,
    /// One object by name (the JSONPath sees the object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Objects by label selector (the JSONPath sees a List with `items`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// Objects by field selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_selector: Option<String>,
    /// The JSONPath of the step's single output; several outputs give one each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jsonpath: Option<String>,
    /// Print nothing, rather than fail, for a missing key (kubectl's `--allow-missing-template-keys`, on by default).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub allow_missing_keys: bool,
}

/// `kube.secret`: create or update a Secret.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubeSecret {
    /// Kubeconfig context; the current context when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Namespace of the Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Name of the Secret.
    pub name: String,
    /// Secret type (default `Opaque`).
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub secret_type: Option<String>,
    /// Files to store, as `PATH` (key = file name) or `KEY=PATH`, relative to the working directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub from_files: Vec<String>,
    /// Literal keys and values.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub literals: IndexMap<String, String>,
    /// Labels on the Secret.
    #[serde(default, skip_serializing_if = "IndexMap::is_empty")]
    pub labels: IndexMap<String, String>,
}

/// `kube.label`: `kubectl label` as a step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubeLabel {
    /// Kubeconfig context; the current context when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Namespace of the objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Resource type, as kubectl accepts it.
    pub resource: String,
    /// One object by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Objects by label selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// `key=value` to set, `key-` to remove.
    pub labels: Vec<String>,
    /// Replace values that differ (kubectl refuses without `--overwrite`).
    #[serde(default, skip_serializing_if = "is_false")]
    pub overwrite: bool,
}

/// `kube.annotate`: `kubectl annotate` as a step.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubeAnnotate {
    /// Kubeconfig context; the current context when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Namespace of the objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Resource type, as kubectl accepts it.
    pub resource: String,
    /// One object by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Objects by label selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// `key=value` to set, `key-` to remove.
    pub annotations: Vec<String>,
    /// Replace values that differ.
    #[serde(default, skip_serializing_if = "is_false")]
    pub overwrite: bool,
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

/// `kube.patch`: patch one object, or edit YAML held inside one of its data keys.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubePatch {
    /// Kubeconfig context; the current context when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Namespace of the object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Resource type, as kubectl accepts it.
    pub resource: String,
    /// Name of the object.
    pub name: String,
    /// Patch type (default `merge`).
    #[serde(default, rename = "type")]
    pub patch_type: PatchType,
    /// The patch body, as YAML.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<serde_json::Value>,
    /// Edit YAML stored as text under `data.<key>` (e.g. meshNetworks in the `istio` ConfigMap).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub yaml_in: Option<YamlIn>,
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

/// `kube.delete`: delete by name or selector.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubeDelete {
    /// Kubeconfig context; the current context when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Namespace of the objects.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Resource type, as kubectl accepts it.
    pub resource: String,
    /// One object by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Objects by label selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// Wait until the objects are gone (default true).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub wait: bool,
    /// Succeed when nothing matches (default true).
    #[serde(default = "yes", skip_serializing_if = "is_true")]
    pub ignore_not_found: bool,
}

/// `kube.exec`: run a command in a pod.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubeExec {
    /// Kubeconfig context; the current context when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Namespace of the pod.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The pod by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<String>,
    /// The first running pod matching this label selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<String>,
    /// Container name, when the pod has several.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container: Option<String>,
    /// The command and its arguments.
    pub command: Vec<String>,
    /// Run the command this many times (default 1); all outputs are captured.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub repeat: u32,
    /// Each of these texts must appear in the combined output.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub contains: Vec<String>,
}

/// `kube.kubeconfig`: a kubeconfig for a service account (server, CA data, token).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KubeKubeconfig {
    /// Kubeconfig context of the cluster the service account lives in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<String>,
    /// Namespace of the service account.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// The service account.
    pub service_account: String,
    /// The token Secret; found from the service account when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
    /// Cluster (and context) name inside the kubeconfig.
    pub cluster_name: String,
    /// API server address; the context's own server when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
    /// Also write the kubeconfig to this file (mode 0600), relative to the working directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<String>,
}

fn yes() -> bool {
    true
}
fn one() -> u32 {
    1
}
fn is_false(b: &bool) -> bool {
    !*b
}
fn is_true(b: &bool) -> bool {
    *b
}
fn is_one(n: &u32) -> bool {
    *n == 1
}
