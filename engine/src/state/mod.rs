//! Durable run state: run directories under a state dir ([`RunDir`] owns every path of one), the
//! append-only event journal, the lock that keeps a run to one process, step logs, and the
//! sealing of secret values at rest.

pub mod fsutil;
pub mod journal;
pub mod lock;
pub mod log;
pub mod replay;
pub mod run_dir;
pub mod secrets;
pub mod store;

pub use run_dir::RunDir;
