//! Step executors: shell steps through duct, kube steps through kube-rs.

pub mod kube;
pub mod shell;
