//! The boundary between the scheduler and whatever carries a step out: the scheduler hands an
//! executor a fully rendered [`StepRequest`] and gets back raw outputs or a typed failure.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use indexmap::IndexMap;
use tokio_util::sync::CancellationToken;

use crate::model::{Action, OutputSpec, Rendered};

/// A boxed, sendable future: keeps [`Executor`] object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Which stream a line of step output came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

/// Receives a step's output lines as they appear (for `-v`).
pub type Echo = Arc<dyn Fn(&str, Stream, &str) + Send + Sync>;

/// Where a step's output goes: its log file, and optionally live to a viewer.
#[derive(Clone)]
pub struct LogSink {
    /// The step's log file (appended to, one section per attempt).
    pub path: PathBuf,
    /// Called with (step id, stream, line) for every line, when set.
    pub echo: Option<Echo>,
}

impl std::fmt::Debug for LogSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogSink")
            .field("path", &self.path)
            .field("echo", &self.echo.is_some())
            .finish()
    }
}

/// Everything an executor needs to carry out one attempt of a step.
#[derive(Debug, Clone)]
pub struct StepRequest {
    /// The run's id.
    pub run_id: String,
    /// The step's id.
    pub step: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// The step's action with every template rendered.
    pub action: Action<Rendered>,
    /// Params and upstream outputs, by name.
    pub env: IndexMap<String, String>,
    /// Secret values among `env`: an executor masks them in everything it logs or echoes.
    pub secrets: Vec<String>,
    /// The outputs the step declares.
    pub outputs: IndexMap<String, OutputSpec>,
    /// The working directory.
    pub workdir: PathBuf,
    /// A private directory for files that must not outlive the attempt.
    pub scratch: PathBuf,
    /// Where output goes.
    pub log: LogSink,
    /// Cancelled to stop the attempt gracefully (terminate, then kill after `grace`).
    pub stop: CancellationToken,
    /// Cancelled to kill the attempt at once.
    pub kill: CancellationToken,
    /// How long a stopped attempt may take to exit before it is killed.
    pub grace: Duration,
}

/// Why an attempt failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StepFailure {
    /// The process exited unsuccessfully.
    #[error("exited with status {code}")]
    Exit {
        /// The exit status.
        code: i32,
    },
    /// The process was ended by a signal it did not expect.
    #[error("killed by signal {signal}")]
    Signal {
        /// The signal number.
        signal: i32,
    },
    /// The process could not be started.
    #[error("could not start: {0}")]
    Spawn(String),
    /// The attempt ran past the step's timeout and was killed.
    #[error("timed out after {0}")]
    Timeout(crate::model::Duration),
    /// A declared output was not produced.
    #[error("did not produce output `{0}`")]
    MissingOutput(String),
    /// An output is not of its declared type. `shown` is the value, absent for secrets.
    #[error("output `{name}`{} {mismatch}", shown.as_ref().map(|v| format!(" = {v:?}")).unwrap_or_default())]
    BadOutput {
        /// The output's name.
        name: String,
        /// The value, unless the output is secret.
        shown: Option<String>,
        /// What is wrong.
        mismatch: crate::model::TypeMismatch,
    },
    /// The `$MESHBOOK_OUTPUT` file is malformed.
    #[error("malformed output file: {0}")]
    OutputFile(String),
    /// The step's templates could not be rendered.
    #[error("cannot render the step: {0}")]
    Render(String),
    /// This executor cannot run this kind of step.
    #[error("no executor for `{0}` steps")]
    Unsupported(String),
    /// The attempt was stopped by a signal.
    #[error("interrupted")]
    Interrupted,
    /// The step's work failed, phrased for the user (never holding a secret).
    #[error("{message}")]
    Failed {
        /// What went wrong.
        message: String,
        /// Whether trying again can help.
        permanence: Permanence,
    },
}

/// Whether trying a failed step again can help.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permanence {
    /// It may pass when tried again: throttling, a server error, a timeout, a dropped
    /// connection, something not there yet, a command that failed.
    Transient,
    /// Trying again cannot help: a refusal (403, 422), a kind the cluster does not serve, a
    /// mistake in the step; its retries are not spent on it.
    Permanent,
}

impl StepFailure {
    /// A failure that may pass when tried again.
    pub fn transient(message: impl Into<String>) -> StepFailure {
        StepFailure::Failed {
            message: message.into(),
            permanence: Permanence::Transient,
        }
    }

    /// A failure that trying again cannot mend.
    pub fn permanent(message: impl Into<String>) -> StepFailure {
        StepFailure::Failed {
            message: message.into(),
            permanence: Permanence::Permanent,
        }
    }

    /// Whether trying again can help.
    pub fn permanence(&self) -> Permanence {
        match self {
            StepFailure::Render(_) | StepFailure::Unsupported(_) | StepFailure::Spawn(_) => {
                Permanence::Permanent
            }
            StepFailure::Failed { permanence, .. } => *permanence,
            _ => Permanence::Transient,
        }
    }
}

/// What a successful attempt produced: raw output values, checked by the scheduler.
pub type Produced = IndexMap<String, String>;

/// Carries out steps. Implementations must honour `stop` and `kill` promptly.
pub trait Executor: Send + Sync {
    /// Runs one attempt.
    fn execute(&self, request: StepRequest) -> BoxFuture<'_, Result<Produced, StepFailure>>;
}

/// `text` with every one of `secrets` replaced by `***`, longest first (so a secret that
/// contains another is masked whole). A multi-line secret (a kubeconfig, a PEM key) is also
/// masked line by line, since output is often read and shown one line at a time; lines too
/// short to identify it (`apiVersion: v1`) are left alone.
pub fn mask(text: &str, secrets: &[String]) -> String {
    let mut pieces: Vec<&str> = Vec::new();
    for s in secrets {
        let s = s.trim();
        if s.is_empty() {
            continue;
        }
        pieces.push(s);
        if s.contains('\n') {
            pieces.extend(s.lines().map(str::trim).filter(|l| l.len() >= 16));
        }
    }
    pieces.sort_by_key(|s| std::cmp::Reverse(s.len()));
    let mut out = text.to_string();
    for s in pieces {
        if out.contains(s) {
            out = out.replace(s, "***");
        }
    }
    out
}

/// Applies an output's `decode` to the produced text. Errors never show the value.
pub fn decode(name: &str, spec: &OutputSpec, value: String) -> Result<String, StepFailure> {
    use base64::Engine as _;
    match spec.decode {
        None => Ok(value),
        Some(crate::model::Decode::Base64) => base64::engine::general_purpose::STANDARD
            .decode(value.trim())
            .ok()
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .ok_or_else(|| {
                StepFailure::transient(format!(
                    "output `{name}` is not base64-encoded text, so it cannot be decoded"
                ))
            }),
    }
}

/// Checks produced values against the declarations: every declared output present and of its
/// type. Errors name the value unless the output is secret.
pub fn check_outputs(
    declared: &IndexMap<String, OutputSpec>,
    produced: &Produced,
) -> Result<(), StepFailure> {
    for (name, spec) in declared {
        let Some(value) = produced.get(name) else {
            return Err(StepFailure::MissingOutput(name.clone()));
        };
        if let Err(mismatch) = spec.ty.check(value) {
            let shown = (!spec.secret).then(|| value.clone());
            return Err(StepFailure::BadOutput {
                name: name.clone(),
                shown,
                mismatch,
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ValueType;

    #[test]
    fn masking_hides_every_secret_and_the_longest_first() {
        let secrets = vec!["abc".to_string(), "abcdef".to_string(), "  ".to_string()];
        assert_eq!(mask("token=abcdef and abc", &secrets), "token=*** and ***");
        assert_eq!(mask("nothing here", &secrets), "nothing here");
        let kubeconfig =
            "apiVersion: v1\nusers:\n- user: {token: eyJhbGciOiJSUzI1NiIsImtpZCI6}\n".to_string();
        let line = "  - user: {token: eyJhbGciOiJSUzI1NiIsImtpZCI6}";
        assert_eq!(mask(line, std::slice::from_ref(&kubeconfig)), "  ***");
        assert_eq!(mask("apiVersion: v1", &[kubeconfig]), "apiVersion: v1");
    }

    #[test]
    fn decoding_turns_base64_into_text_and_hides_bad_values() {
        let spec = OutputSpec {
            decode: Some(crate::model::Decode::Base64),
            secret: true,
            ..Default::default()
        };
        assert_eq!(
            decode("TOKEN", &spec, "czNjcjN0\n".into()).unwrap(),
            "s3cr3t"
        );
        let err = decode("TOKEN", &spec, "not base64!".into())
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("TOKEN") && !err.contains("not base64!"),
            "{err}"
        );
        assert_eq!(
            decode("X", &OutputSpec::default(), "as is".into()).unwrap(),
            "as is"
        );
    }

    #[test]
    fn bad_values_are_named_unless_secret() {
        let mut declared = IndexMap::new();
        declared.insert(
            "ADDR".to_string(),
            OutputSpec {
                ty: ValueType::Ip,
                ..Default::default()
            },
        );
        let mut produced = IndexMap::new();
        produced.insert("ADDR".to_string(), "pending".to_string());
        let err = check_outputs(&declared, &produced).unwrap_err().to_string();
        assert_eq!(
            err,
            r#"output `ADDR` = "pending" is not a valid ip: expected an IPv4 or IPv6 address"#
        );

        declared[0].secret = true;
        let err = check_outputs(&declared, &produced).unwrap_err().to_string();
        assert!(!err.contains("pending"), "{err}");

        produced.clear();
        assert_eq!(
            check_outputs(&declared, &produced),
            Err(StepFailure::MissingOutput("ADDR".into()))
        );
    }
}
