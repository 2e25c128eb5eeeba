//! Durable run state: run directories under a state dir, the append-only event journal, the lock
//! that keeps a run to one process, and the sealing of secret values at rest.

pub mod fsutil;
pub mod journal;
pub mod replay;
pub mod secrets;
pub mod store;
