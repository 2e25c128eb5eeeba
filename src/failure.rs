//! How a command ends: the documented exit codes and the message the user sees. Errors of the
//! libraries become failures through `From`, so commands use `?`.

use std::process::ExitCode;

use meshbook_engine::diag::{Diagnostic, Finding};
use meshbook_engine::run::scheduler::SchedulerError;
use meshbook_engine::state::secrets::SecretError;
use meshbook_engine::state::store::StateError;

/// A command's failure, mapped to an exit code.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Invalid input (runbook, params, flags) in one line: exit 2.
    Invalid(String),
    /// Invalid input with located diagnostics: exit 2.
    Diagnostics(Diagnosed),
    /// A step failed; state is kept and `resume` continues: exit 1.
    StepFailed(String),
    /// A run's state was changed, removed or added by something other than meshbook: nothing is
    /// done from it: exit 3.
    Damaged(String),
    /// Interrupted by a signal; state is kept: exit 130.
    Interrupted(String),
    /// Anything else that went wrong at the edges (I/O, a cluster): exit 1.
    Other(anyhow::Error),
}

impl Failure {
    /// The process exit code for this failure.
    pub(crate) fn exit_code(&self) -> ExitCode {
        match self {
            Failure::Invalid(_) | Failure::Diagnostics(_) => ExitCode::from(2),
            Failure::StepFailed(_) | Failure::Other(_) => ExitCode::from(1),
            Failure::Damaged(_) => ExitCode::from(3),
            Failure::Interrupted(_) => ExitCode::from(130),
        }
    }

    /// The message to print on stderr; one-line errors get their `error:` here, and only here.
    pub(crate) fn message(&self) -> String {
        match self {
            Failure::Invalid(m) => format!("error: {m}"),
            Failure::Damaged(m) => format!(
                "error: damaged run state: {m}\n  nothing was run from it; see docs/run-state.md, \"Damaged state\""
            ),
            Failure::Other(e) => format!("error: {}", said_once(e)),
            Failure::Diagnostics(d) => d.text.clone(),
            Failure::StepFailed(m) | Failure::Interrupted(m) => m.clone(),
        }
    }
}

/// Problems in a runbook or its params, both as people read them and as machines do.
#[derive(Debug, Default)]
pub(crate) struct Diagnosed {
    /// Rendered with source lines and carets.
    pub(crate) text: String,
    /// The same problems, placed.
    pub(crate) findings: Vec<Finding>,
}

impl Diagnosed {
    /// Adds the diagnostics of one file.
    pub(crate) fn add(&mut self, file: &str, text: &str, diagnostics: &[Diagnostic]) {
        self.text
            .push_str(&meshbook_engine::diag::render(file, text, diagnostics));
        self.findings
            .extend(meshbook_engine::diag::findings(file, text, diagnostics));
    }

    /// Adds diagnostics about flags: there is no file to point into, and people read
    /// `command line: ...`.
    pub(crate) fn add_command_line(&mut self, diagnostics: &[Diagnostic]) {
        self.text.push_str(&meshbook_engine::diag::render(
            "command line",
            "",
            diagnostics,
        ));
        self.findings.extend(diagnostics.iter().map(|d| Finding {
            file: None,
            line: None,
            column: None,
            message: d.message.clone(),
            suggestion: d.help.clone(),
        }));
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Other(e)
    }
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Self {
        Failure::Other(e.into())
    }
}

impl From<serde_json::Error> for Failure {
    fn from(e: serde_json::Error) -> Self {
        Failure::Other(e.into())
    }
}

impl From<SecretError> for Failure {
    /// A key file others can read is the user's to fix, like a bad flag.
    fn from(e: SecretError) -> Self {
        match e {
            SecretError::Exposed { .. } => Failure::Invalid(e.to_string()),
            other => Failure::Other(other.into()),
        }
    }
}

impl From<SchedulerError> for Failure {
    fn from(e: SchedulerError) -> Self {
        Failure::Other(e.into())
    }
}

impl From<StateError> for Failure {
    /// A run that does not exist or that another process drives is the user's input; the rest
    /// (I/O, a damaged journal) is not.
    fn from(e: StateError) -> Self {
        match e {
            StateError::NoSuchRun { .. }
            | StateError::Locked { .. }
            | StateError::Exists { .. } => Failure::Invalid(e.to_string()),
            e if e.is_damage() => Failure::Damaged(e.to_string()),
            other => Failure::Other(other.into()),
        }
    }
}

/// An error and its causes, each said once: a cause that the message above it already quotes
/// (errors such as `"{path}: {source}"` that also keep the source) is not repeated.
fn said_once(e: &anyhow::Error) -> String {
    let mut text = e.to_string();
    for cause in e.chain().skip(1) {
        let cause = cause.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
    }
    text
}

/// The result of a command.
pub(crate) type CmdResult = Result<(), Failure>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn causes_already_quoted_are_not_repeated() {
        let parse = serde_json::from_str::<serde_json::Value>("").unwrap_err();
        let e = StateError::BadMeta {
            path: "/s/runs/r/run.json".into(),
            source: parse,
        };
        // An unreadable run.json is damage: said once, with what to do.
        let message = Failure::from(e).message();
        assert_eq!(
            message,
            "error: damaged run state: /s/runs/r/run.json: not a meshbook run description: EOF while parsing a value at line 1 column 0\n  nothing was run from it; see docs/run-state.md, \"Damaged state\""
        );
        let wrapped = anyhow::Error::from(std::io::Error::other("disk on fire")).context("saving");
        assert_eq!(
            Failure::Other(wrapped).message(),
            "error: saving: disk on fire"
        );
    }
}
