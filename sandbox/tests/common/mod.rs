//! The sandbox crate's tests use the shared test environment.

#![allow(unused_imports)]

pub use meshbook_sandbox::testing::{Out, TestEnv as Env, config, within};
