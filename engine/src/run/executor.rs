//! The boundary between the scheduler and whatever carries a step out: the scheduler hands an
//! executor a fully rendered [`StepRequest`] and gets back raw outputs or a typed failure.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::time::Duration;

use indexmap::IndexMap;
use tokio_util::sync::CancellationToken;

use crate::events::Rehearsed;
use crate::model::{Action, OutputSpec, Rendered, Step, Until};
use crate::render::{Render, RenderError};
use crate::state::RunDir;
use crate::state::log::{Echo, StepLog};
use crate::template;
use crate::values::Values;

/// A boxed, sendable future: keeps [`Executor`] object-safe.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Signals from outside: `stop` ends a run gracefully, `kill` at once.
#[derive(Debug, Clone, Default)]
pub struct Controls {
    /// Stop starting steps; running ones get a grace period.
    pub stop: CancellationToken,
    /// Kill running steps now.
    pub kill: CancellationToken,
}

/// What every request of one run carries: where steps run and where their logs go.
#[derive(Clone)]
pub struct Site {
    /// The run's id.
    pub run_id: String,
    /// The directory steps run in.
    pub workdir: PathBuf,
    /// The run's directory (logs, scratch space).
    pub dir: RunDir,
    /// How long a stopped step may take to exit before it is killed.
    pub grace: Duration,
    /// Where step output goes live, when someone watches (`-v`).
    pub echo: Option<Echo>,
}

impl std::fmt::Debug for Site {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Site")
            .field("run_id", &self.run_id)
            .field("workdir", &self.workdir)
            .field("dir", &self.dir)
            .finish_non_exhaustive()
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
    /// The params and upstream outputs the step uses, each knowing whether it is secret.
    pub env: Values,
    /// The outputs the step declares.
    pub outputs: IndexMap<String, OutputSpec>,
    /// The working directory.
    pub workdir: PathBuf,
    /// A private directory for files that must not outlive the attempt.
    pub scratch: PathBuf,
    /// Where output goes: the step's log (masking the secret values of `env`), and a viewer.
    pub log: StepLog,
    /// Cancelled to stop the attempt gracefully (terminate, then kill after `grace`).
    pub stop: CancellationToken,
    /// Cancelled to kill the attempt at once.
    pub kill: CancellationToken,
    /// How long a stopped attempt may take to exit before it is killed.
    pub grace: Duration,
    /// The step's `wait.until`, for executors that can watch for it rather than be asked again.
    pub wait: Option<Waiting>,
}

/// A step's `wait.until` as one attempt sees it. An executor that can watch its values change
/// (a kube read) returns once they meet it, or after `within` with what it last saw; the
/// scheduler judges the values either way, so an executor that ignores this stays correct.
#[derive(Debug, Clone)]
pub struct Waiting {
    /// The condition the outputs must meet, rendered.
    pub until: Until<Rendered>,
    /// How long this attempt may watch.
    pub within: Duration,
}

impl StepRequest {
    /// The request for `attempt` of `step`, `waited` after its first attempt started: its action
    /// and `wait.until` rendered with `values` (the values it uses), its log masking the secret
    /// ones. The one way requests are made.
    pub fn build(
        site: &Site,
        step: &Step,
        attempt: u32,
        values: Values,
        controls: &Controls,
        waited: Duration,
    ) -> Result<StepRequest, StepFailure> {
        let data = values.data();
        let mut render = Render::new(template::renderer(), &data);
        let failed = |e: RenderError| StepFailure::Render(e.to_string());
        let action = render.action(&step.action).map_err(failed)?;
        let wait = match &step.wait {
            Some(policy) => Some(Waiting {
                until: render.until(&policy.until).map_err(failed)?,
                within: policy.timeout.get().saturating_sub(waited),
            }),
            None => None,
        };
        let log = StepLog::new(
            site.dir.log(&step.id),
            &step.id,
            site.echo.clone(),
            values.secrets(),
        );
        Ok(StepRequest {
            run_id: site.run_id.clone(),
            step: step.id.clone(),
            attempt,
            action,
            env: values,
            outputs: step.outputs.clone(),
            workdir: site.workdir.clone(),
            scratch: site.dir.scratch(),
            log,
            stop: controls.stop.child_token(),
            kill: controls.kill.child_token(),
            grace: site.grace,
            wait,
        })
    }
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

/// What a successful attempt gives back: its raw outputs and, in a rehearsal, how the step was
/// carried out (recorded with its success).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Done {
    /// The raw output values.
    pub outputs: Produced,
    /// How a rehearsal carried the step out; `None` outside rehearsals.
    pub rehearsed: Option<Rehearsed>,
    /// Processes the step left running when it ended (killed then).
    pub left_running: usize,
}

impl From<Produced> for Done {
    fn from(outputs: Produced) -> Done {
        Done {
            outputs,
            rehearsed: None,
            left_running: 0,
        }
    }
}

/// Carries out steps. Implementations must honour `stop` and `kill` promptly.
pub trait Executor: Send + Sync {
    /// Runs one attempt.
    fn execute(&self, request: StepRequest) -> BoxFuture<'_, Result<Done, StepFailure>>;
}
