//! One module per group of subcommands.

pub mod catalog;
pub mod check;
pub mod sandbox;
