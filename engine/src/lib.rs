//! Runbook model, loading with source locations, validation, DAG, templating and planning.
//!
//! The pipeline is `load → validate → plan`; each stage is a module named after it. The engine
//! knows no Kubernetes, spawns no process and never prints: executors and reporters plug in.

// Libraries report through return values and sinks; only the CLI writes to the terminal.
#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(unreachable_pub, missing_docs)]

pub mod diag;
pub mod events;
pub mod graph;
pub mod load;
pub mod locate;
pub(crate) mod mask;
pub mod model;
pub mod params;
pub mod plan;
pub mod render;
pub mod run;
pub mod schema;
pub(crate) mod shellvars;
pub mod state;
pub mod suggest;
pub mod template;
pub mod validate;
pub mod values;

/// Reads runbook text: loads and validates it in one go.
pub fn read_runbook(text: &str) -> Result<validate::Validated, Vec<diag::Diagnostic>> {
    validate::validate(load::load(text)?)
}
