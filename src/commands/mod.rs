//! One module per group of subcommands; none uses another (what they share is in `cli`,
//! `session`, `recorded` and `prepare`).

pub(crate) mod catalog;
pub(crate) mod cleanup;
pub(crate) mod inspect;
pub(crate) mod logs;
pub(crate) mod offline;
pub(crate) mod resume;
pub(crate) mod run;
pub(crate) mod runs;
pub(crate) mod sandbox;
pub(crate) mod state;
