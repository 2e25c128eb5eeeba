//! Why a kube step failed, and whether trying again can help. Messages name the objects as
//! kubectl does, with where they are (`deployment.apps/web in namespace x of context c1`), and
//! never hold object data a server may echo (see [`ApiFailure`]).

use std::time::Duration;

use meshbook_engine::run::executor::Permanence;

use super::client::ClientError;
use super::request::ApiFailure;
use super::resolve::ResolveError;

/// Why a kube step failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KubeError {
    /// The cluster could not be reached or identified.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The resource type or kind is not served.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// A request failed for good (after sending again what could be).
    #[error("cannot {action}{hint}")]
    Api {
        /// What was being done: `apply configmap/c in namespace default of context c1`.
        action: String,
        /// Advice, for conflicts.
        hint: &'static str,
        /// The failed request.
        #[source]
        source: ApiFailure,
    },
    /// The named object does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// Nothing matches the selection.
    #[error("no {0}")]
    NothingSelected(String),
    /// A manifest file could not be read.
    #[error("cannot read manifest {path}")]
    Read {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A manifest path names no file it can be read from.
    #[error(transparent)]
    ManifestPath(#[from] super::apply::ManifestPathError),
    /// A manifest document is not YAML.
    #[error("{origin}: document {index} is not valid YAML: {reason}")]
    Yaml {
        /// The manifest.
        origin: String,
        /// 1-based document number.
        index: usize,
        /// The parser's complaint.
        reason: String,
    },
    /// A manifest document lacks what every object needs.
    #[error("{origin}: document {index} needs apiVersion, kind and metadata.name")]
    Incomplete {
        /// The manifest.
        origin: String,
        /// 1-based document number.
        index: usize,
    },
    /// An apply's selector leaves no object to apply.
    #[error("the selector {0:?} matches none of the manifests' objects")]
    NoneSelected(String),
    /// The CRDs an apply made did not become established.
    #[error("CRD not established")]
    Crd(#[source] Box<KubeError>),
    /// A wait's deadline passed; `last` is what was last observed.
    #[error("timed out after {after:?} waiting for {what}: {last}")]
    Timeout {
        /// The objects.
        what: String,
        /// The timeout.
        after: Duration,
        /// What was last observed.
        last: String,
    },
    /// An object reached a state it will not recover from by itself (kstatus `Failed`).
    #[error("{what} failed: {reason}")]
    Failed {
        /// The objects.
        what: String,
        /// The observed failure.
        reason: String,
    },
    /// An output would hold a Secret's data without being declared secret.
    #[error(
        "output `{0}` reads a Secret's data: declare it `secret: true` so it is sealed and masked"
    )]
    NotSecret(String),
    /// A JSONPath failed on the object (kubectl's wording).
    #[error("output `{output}`: error executing jsonpath {template:?}: {reason}")]
    Execute {
        /// The output.
        output: String,
        /// The template.
        template: String,
        /// The evaluator's message.
        reason: String,
    },
    /// A label or annotation would change without `overwrite`.
    #[error("{object}: '{key}' already has a value ({value}), and overwrite is false")]
    WouldOverwrite {
        /// The object and where.
        object: String,
        /// The key.
        key: String,
        /// The current value.
        value: String,
    },
    /// The YAML in a data key does not parse.
    #[error("{object}: data key {key:?} does not hold valid YAML: {reason}")]
    BadYaml {
        /// The object.
        object: String,
        /// The key.
        key: String,
        /// The parser's complaint.
        reason: String,
    },
    /// A dotted path cannot be followed in the YAML of a data key.
    #[error("{object}: cannot set {path:?} in data key {key:?}: {reason}")]
    BadPath {
        /// The object.
        object: String,
        /// The key.
        key: String,
        /// The dotted path.
        path: String,
        /// Why.
        reason: String,
    },
    /// The object kept changing while it was being edited.
    #[error("{what} kept changing while it was being edited; gave up after {tries} tries")]
    Contended {
        /// The object.
        what: String,
        /// How many tries were made.
        tries: usize,
    },
    /// No running pod matches.
    #[error("no running pod {0}")]
    NoPod(String),
    /// A command run in a pod failed.
    #[error("command {command:?} failed in {what} (run {run} of {of}): {status}")]
    Command {
        /// The command's first word.
        command: String,
        /// The pod and where.
        what: String,
        /// Which run.
        run: u32,
        /// Of how many.
        of: u32,
        /// The exit status as the server reported it.
        status: String,
    },
    /// An expected text is missing from a command's output.
    #[error("the output of {command:?} in {what} does not contain {missing:?}")]
    Missing {
        /// The command's first word.
        command: String,
        /// The pod and where.
        what: String,
        /// The missing text.
        missing: String,
    },
    /// A service account has no token Secret.
    #[error("no token secret for {0} (name one with `secret`)")]
    NoTokenSecret(String),
    /// A token Secret lacks a field after waiting for it.
    #[error("{what} has no {field} after {after:?}")]
    Unfilled {
        /// The Secret.
        what: String,
        /// The missing field.
        field: &'static str,
        /// How long it was waited for.
        after: Duration,
    },
    /// A file could not be read or written.
    #[error("{what} {path}")]
    File {
        /// What was being done: `cannot write kubeconfig`, `secret cacerts: cannot read`.
        what: String,
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A Secret key is given twice.
    #[error("secret {secret}: key {key:?} is given twice")]
    DuplicateKey {
        /// The Secret.
        secret: String,
        /// The key.
        key: String,
    },
    /// A Secret key is not a valid key.
    #[error("secret {secret}: {key:?} is not a valid key (letters, digits, '-', '_' and '.')")]
    BadKey {
        /// The Secret.
        secret: String,
        /// The key.
        key: String,
    },
}

impl KubeError {
    /// A failed request while doing `action`.
    pub(crate) fn api(action: impl Into<String>, source: ApiFailure) -> KubeError {
        KubeError::Api {
            action: action.into(),
            hint: "",
            source,
        }
    }

    /// Whether trying the step again can help: not for a refusal (403, 422), a kind the cluster
    /// does not serve or a mistake in the step; yes for throttling, server errors, timeouts,
    /// dropped connections and what may change with time (an object not there yet).
    pub(crate) fn permanence(&self) -> Permanence {
        use Permanence::{Permanent, Transient};
        match self {
            KubeError::Client(e) => e.permanence(),
            KubeError::Resolve(e) => e.permanence(),
            KubeError::Api { source, .. } => source.permanence(),
            KubeError::Crd(e) => e.permanence(),
            KubeError::Read { .. }
            | KubeError::ManifestPath(_)
            | KubeError::Yaml { .. }
            | KubeError::Incomplete { .. }
            | KubeError::NoneSelected(_)
            | KubeError::NotSecret(_)
            | KubeError::WouldOverwrite { .. }
            | KubeError::BadYaml { .. }
            | KubeError::BadPath { .. }
            | KubeError::File { .. }
            | KubeError::DuplicateKey { .. }
            | KubeError::BadKey { .. } => Permanent,
            KubeError::NotFound(_)
            | KubeError::NothingSelected(_)
            | KubeError::Timeout { .. }
            | KubeError::Failed { .. }
            | KubeError::Execute { .. }
            | KubeError::Contended { .. }
            | KubeError::NoPod(_)
            | KubeError::Command { .. }
            | KubeError::Missing { .. }
            | KubeError::NoTokenSecret(_)
            | KubeError::Unfilled { .. } => Transient,
        }
    }
}

/// An error and its causes on one line, `outer: inner: innermost`.
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        let s = e.to_string();
        if !text.contains(&s) {
            text.push_str(": ");
            text.push_str(&s);
        }
        source = e.source();
    }
    text
}
