//! Runbook model, loading with source locations, validation, DAG, templating and planning.
//!
//! The pipeline is `load → validate → plan`; each stage is a module named after it. The engine
//! knows no Kubernetes, spawns no process and never prints: executors and reporters plug in.

pub mod diag;
pub mod load;
pub mod locate;
pub mod model;
pub mod shellvars;
pub mod suggest;
pub mod template;
