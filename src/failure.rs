//! How a command ends: the documented exit codes and the message the user sees.

use std::process::ExitCode;

/// A command's failure, mapped to an exit code.
#[derive(Debug)]
pub enum Failure {
    /// Invalid input (runbook, params, flags): exit 2. The text is already formatted.
    Invalid(String),
    /// A step failed; state is kept and `resume` continues: exit 1.
    StepFailed(String),
    /// Interrupted by a signal; state is kept: exit 130.
    Interrupted(String),
    /// Anything else that went wrong at the edges (I/O, a cluster): exit 1.
    Other(anyhow::Error),
}

impl Failure {
    /// The process exit code for this failure.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Invalid(_) => ExitCode::from(2),
            Failure::StepFailed(_) | Failure::Other(_) => ExitCode::from(1),
            Failure::Interrupted(_) => ExitCode::from(130),
        }
    }

    /// The message to print on stderr.
    pub fn message(&self) -> String {
        match self {
            Failure::Invalid(m) | Failure::StepFailed(m) | Failure::Interrupted(m) => m.clone(),
            Failure::Other(e) => format!("error: {e:#}"),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

/// The result of a command.
pub type CmdResult = Result<(), Failure>;
