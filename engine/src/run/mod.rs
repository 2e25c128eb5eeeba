//! Running a runbook: the scheduler and its events, the executor boundary, retries, waits,
//! fingerprints and resume planning. The engine decides; executors act; sinks record and report.

pub mod executor;
pub(crate) mod fingerprint;
pub(crate) mod policy;
pub mod resume;
pub(crate) mod retry;
pub mod scheduler;
#[cfg(test)]
pub(crate) mod testkit;
