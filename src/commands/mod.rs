//! One module per group of subcommands.

pub mod catalog;
pub mod check;
pub mod cleanup;
pub mod dry_run;
pub mod inspect;
pub mod resume;
pub mod run;
pub mod runs;
pub mod sandbox;
