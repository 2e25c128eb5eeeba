//! Pure answers about Kubernetes objects and versions, without any I/O.
//!
//! - [`client_apply`]: the three-way merge patch of `kubectl apply` for servers without
//!   server-side apply.
//! - [`jsonpath`]: what would `kubectl get -o jsonpath=TEMPLATE` print for this object?
//!   The kubectl dialect is reproduced exactly (see the module docs for its quirks).
//! - [`readiness`]: is this object ready? The kstatus rules from
//!   `sigs.k8s.io/cli-utils` turn an object into `Current`, `InProgress`, `Failed`, ...
//! - [`version`]: Kubernetes and tool versions, and version ranges (`">=1.9, <1.16"`, `"2.x"`).
//! - [`served_apis`]: which group/version of which kind each Kubernetes minor serves.
//! - [`manifest_lint`]: which objects of a manifest a cluster of a given minor would refuse.
//! - [`file_glob`]: shell wildcards in a manifest path's file name (`files/crd*yaml`).
//!
//! They work on `serde_json::Value` and text as returned by API servers and tools, so they serve
//! real clusters and the sandbox alike.

// Libraries report through return values and sinks; only the CLI writes to the terminal.
#![deny(clippy::print_stdout, clippy::print_stderr)]
#![warn(unreachable_pub, missing_docs)]

pub mod calendar;
pub mod client_apply;
pub mod file_glob;
pub mod jsonpath;
pub mod labels;
pub mod manifest_lint;
pub mod readiness;
pub mod served_apis;
pub mod version;
