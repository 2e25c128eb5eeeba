//! kstatus readiness: is a Kubernetes object `Current`, still `InProgress`, `Failed`, ...?
//!
//! The rules are those of `sigs.k8s.io/cli-utils/pkg/kstatus/status` (`Compute`), in
//! the same order: deletion, generation, the standard `Reconciling`/`Stalled`
//! conditions, per-kind rules, a `Ready` condition, and finally "current".
//! `NotFound` and `Unknown` belong to the polling layer: [`Readiness::not_found`] is what
//! a 404 means, and [`compute`] reports objects it cannot read as `Unknown`.
//!
//! Note that kstatus calls a `LoadBalancer` Service ready as soon as it has a cluster
//! IP; waiting for an ingress address is a separate JSONPath question.

mod augment;
mod generic;
mod kinds;
mod object;
mod time;
mod workloads;

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::Value;

pub use augment::augment;
pub use object::FieldError;

/// kstatus's status of one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Status {
    /// Not yet reconciled: rolling out, scaling, waiting for a condition.
    InProgress,
    /// Reconciliation failed and is unlikely to recover on its own.
    Failed,
    /// Fully reconciled: the object is ready.
    Current,
    /// The object is being deleted.
    Terminating,
    /// The object does not exist.
    NotFound,
    /// The object could not be read or evaluated.
    Unknown,
}

impl Status {
    /// The name kstatus uses (`InProgress`, `Current`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Status::InProgress => "InProgress",
            Status::Failed => "Failed",
            Status::Current => "Current",
            Status::Terminating => "Terminating",
            Status::NotFound => "NotFound",
            Status::Unknown => "Unknown",
        }
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The readiness of one object: a status and kstatus's human-readable message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    /// The kstatus status.
    pub status: Status,
    /// Why, in kstatus's words (e.g. "Replicas: 1/3").
    pub message: String,
}

impl Readiness {
    /// What kstatus reports when the object is missing (an HTTP 404).
    pub fn not_found() -> Readiness {
        Readiness {
            status: Status::NotFound,
            message: "Resource not found".to_string(),
        }
    }
}

/// The kind of standard condition kstatus attaches to a result.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConditionType {
    /// Attached to `InProgress` results.
    Reconciling,
    /// Attached to `Failed` results.
    Stalled,
}

/// The standard condition (status `True`) kstatus derives for a result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Condition {
    /// `Reconciling` or `Stalled`.
    #[serde(rename = "type")]
    pub type_: ConditionType,
    /// A CamelCase reason such as `LessReplicas`.
    pub reason: String,
    /// The same message as the result's.
    pub message: String,
}

/// kstatus's full `Result`: status, message and the derived condition, if any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assessment {
    /// The kstatus status (never `NotFound` or `Unknown`).
    pub status: Status,
    /// Why, in kstatus's words.
    pub message: String,
    /// `Reconciling` for `InProgress`, `Stalled` for `Failed`, none otherwise.
    pub condition: Option<Condition>,
}

impl Assessment {
    fn current(message: impl Into<String>) -> Self {
        Assessment {
            status: Status::Current,
            message: message.into(),
            condition: None,
        }
    }

    fn in_progress(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self::with_condition(
            Status::InProgress,
            ConditionType::Reconciling,
            reason,
            message,
        )
    }

    fn failed(reason: impl Into<String>, message: impl Into<String>) -> Self {
        Self::with_condition(Status::Failed, ConditionType::Stalled, reason, message)
    }

    fn with_condition(
        status: Status,
        type_: ConditionType,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        let message = message.into();
        Assessment {
            status,
            message: message.clone(),
            condition: Some(Condition {
                type_,
                reason: reason.into(),
                message,
            }),
        }
    }
}

impl From<Assessment> for Readiness {
    fn from(assessment: Assessment) -> Self {
        Readiness {
            status: assessment.status,
            message: assessment.message,
        }
    }
}

/// Why kstatus could not evaluate an object (reported as `Unknown` by [`compute`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadinessError {
    /// A field kstatus reads strictly has the wrong type.
    #[error("looking up {field} from resource: {source}")]
    Lookup {
        /// The field, such as `metadata.generation`.
        field: &'static str,
        /// The type mismatch.
        #[source]
        source: FieldError,
    },
    /// `status.conditions` is not a list of conditions.
    #[error("reading status.conditions: {0}")]
    Conditions(#[source] FieldError),
    /// A Pod's `status.containerStatuses` is not a list.
    #[error(transparent)]
    ContainerStatuses(FieldError),
    /// [`augment`] found conditions it cannot update.
    #[error("{0}")]
    Augment(&'static str),
    /// A Pod phase kstatus does not know.
    #[error("unknown phase {0}")]
    UnknownPhase(String),
}

/// The readiness of `object` now; objects that cannot be evaluated are `Unknown`.
pub fn compute(object: &Value) -> Readiness {
    compute_at(object, SystemTime::now())
}

/// The readiness of `object` at time `now` (only unschedulable Pods depend on time).
pub fn compute_at(object: &Value, now: SystemTime) -> Readiness {
    match assess(object, now) {
        Ok(assessment) => assessment.into(),
        Err(error) => Readiness {
            status: Status::Unknown,
            message: error.to_string(),
        },
    }
}

/// kstatus's `Compute`: the full result, or why the object cannot be evaluated.
pub fn assess(object: &Value, now: SystemTime) -> Result<Assessment, ReadinessError> {
    if let Some(result) = generic::generic_properties(object)? {
        return Ok(result);
    }
    if let Some(result) = kinds::by_kind(object, unix_seconds(now))? {
        return Ok(result);
    }
    Ok(generic::ready_condition(object)?
        .unwrap_or_else(|| Assessment::current("Resource is current")))
}

/// What kstatus's Deployment, ReplicaSet and StatefulSet readers add: an `InProgress`
/// owner with any `Failed` pod among the pods it generated is `Failed`.
pub fn with_generated_pods<'p>(
    owner: Readiness,
    pods: impl IntoIterator<Item = &'p Value>,
    now: SystemTime,
) -> Readiness {
    if owner.status != Status::InProgress {
        return owner;
    }
    let failed = pods
        .into_iter()
        .filter(|pod| compute_at(pod, now).status == Status::Failed)
        .count();
    if failed == 0 {
        return owner;
    }
    Readiness {
        status: Status::Failed,
        message: format!("{failed} pods have failed"),
    }
}

fn unix_seconds(time: SystemTime) -> f64 {
    match time.duration_since(UNIX_EPOCH) {
        Ok(after) => after.as_secs_f64(),
        Err(before) => -before.duration().as_secs_f64(),
    }
}
