//! Pure kubectl JSONPath and kstatus readiness over JSON objects.
//!
//! Two questions meshbook asks of Kubernetes objects, answered without any I/O:
//!
//! - [`jsonpath`]: what would `kubectl get -o jsonpath=TEMPLATE` print for this object?
//!   The kubectl dialect is reproduced exactly (see the module docs for its quirks).
//! - [`readiness`]: is this object ready? The kstatus rules from
//!   `sigs.k8s.io/cli-utils` turn an object into `Current`, `InProgress`, `Failed`, ...
//!
//! Both work on `serde_json::Value` as returned by the API server, so they serve real
//! clusters and the sandbox alike.

// Libraries report through return values and sinks; only the CLI writes to the terminal.
#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(unreachable_pub, missing_docs)]

pub mod jsonpath;
pub mod labels;
pub mod readiness;
