//! Step executors: shell steps through duct, kube steps through kube-rs.

// Libraries report through return values and sinks; only the CLI writes to the terminal.
#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(unreachable_pub, missing_docs)]

pub mod kube;
mod leftovers;
pub mod shell;
