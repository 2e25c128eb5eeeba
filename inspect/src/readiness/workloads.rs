//! Rules for the pod controllers: Deployment, ReplicaSet, StatefulSet and DaemonSet.

use serde_json::Value;

use super::generic;
use super::object::{self, conditions, find_condition, int};
use super::{Assessment, ReadinessError};

/// The controller-manager's special "no deadline" value of `progressDeadlineSeconds`.
const NO_PROGRESS_DEADLINE: i64 = i32::MAX as i64;

/// A count that has not reached what it should: `Label: have/want`, in progress.
fn short(reason: &'static str, label: &str, have: i64, want: i64) -> Option<Assessment> {
    (want > have).then(|| Assessment::in_progress(reason, format!("{label}: {have}/{want}")))
}

/// More pods than wanted: the extra ones are still being terminated.
fn extra_pods(replicas: i64, spec: i64) -> Option<Assessment> {
    (replicas > spec).then(|| {
        let extra = replicas.wrapping_sub(spec);
        Assessment::in_progress("ExtraPods", format!("Pending termination: {extra}"))
    })
}

pub(crate) fn deployment(obj: &Value) -> Result<Assessment, ReadinessError> {
    // Without a deadline the controller never sets Progressing, so assume progress.
    let mut progressing = int(
        obj,
        &["spec", "progressDeadlineSeconds"],
        NO_PROGRESS_DEADLINE,
    ) == NO_PROGRESS_DEADLINE;
    let mut available = false;
    for cond in conditions(obj).map_err(ReadinessError::Conditions)? {
        match cond.type_.as_str() {
            "Progressing" => {
                if cond.reason == "ProgressDeadlineExceeded" {
                    let mut result = Assessment::failed(cond.reason, cond.message);
                    result.message = "Progress deadline exceeded".to_string();
                    return Ok(result);
                }
                if cond.status == "True" && cond.reason == "NewReplicaSetAvailable" {
                    progressing = true;
                }
            }
            "Available" if cond.status == "True" => available = true,
            _ => {}
        }
    }

    let spec = int(obj, &["spec", "replicas"], 1);
    let replicas = int(obj, &["status", "replicas"], 0);
    let updated = int(obj, &["status", "updatedReplicas"], 0);
    let ready = int(obj, &["status", "readyReplicas"], 0);
    let available_replicas = int(obj, &["status", "availableReplicas"], 0);

    let counts = [
        short("LessReplicas", "Replicas", replicas, spec),
        short("LessUpdated", "Updated", updated, spec),
        extra_pods(replicas, spec),
        short("LessAvailable", "Available", available_replicas, updated),
        short("LessReady", "Ready", ready, spec),
    ];
    if let Some(short) = counts.into_iter().flatten().next() {
        return Ok(short);
    }
    if !progressing {
        return Ok(Assessment::in_progress(
            "ReplicaSetNotAvailable",
            "ReplicaSet not Available",
        ));
    }
    if !available {
        return Ok(Assessment::in_progress(
            "DeploymentNotAvailable",
            "Deployment not Available",
        ));
    }
    Ok(Assessment::current(format!(
        "Deployment is available. Replicas: {replicas}"
    )))
}

pub(crate) fn replica_set(obj: &Value) -> Result<Assessment, ReadinessError> {
    let conds = conditions(obj).map_err(ReadinessError::Conditions)?;
    if find_condition(&conds, "ReplicaFailure", "True").is_some() {
        return Ok(Assessment::in_progress(
            "ReplicaFailure",
            "Replica Failure condition. Check Pods",
        ));
    }

    let spec = int(obj, &["spec", "replicas"], 1);
    let replicas = int(obj, &["status", "replicas"], 0);
    let ready = int(obj, &["status", "readyReplicas"], 0);
    let available = int(obj, &["status", "availableReplicas"], 0);
    let labelled = int(obj, &["status", "fullyLabeledReplicas"], 0);

    let counts = [
        short("LessLabelled", "Labelled", labelled, spec),
        short("LessAvailable", "Available", available, spec),
        short("LessReady", "Ready", ready, spec),
        extra_pods(replicas, spec),
    ];
    if let Some(short) = counts.into_iter().flatten().next() {
        return Ok(short);
    }
    Ok(Assessment::current(format!(
        "ReplicaSet is available. Replicas: {replicas}"
    )))
}

pub(crate) fn stateful_set(obj: &Value) -> Assessment {
    // OnDelete means the user rolls pods by hand; the controller has nothing to wait for.
    if object::string(obj, &["spec", "updateStrategy", "type"], "") == "OnDelete" {
        return Assessment::current("StatefulSet is using the ondelete update strategy");
    }

    let spec = int(obj, &["spec", "replicas"], 1);
    let ready = int(obj, &["status", "readyReplicas"], 0);
    let current = int(obj, &["status", "currentReplicas"], 0);
    let updated = int(obj, &["status", "updatedReplicas"], 0);
    let replicas = int(obj, &["status", "replicas"], 0);
    let partition = int(
        obj,
        &["spec", "updateStrategy", "rollingUpdate", "partition"],
        -1,
    );

    let counts = [
        short("LessReplicas", "Replicas", replicas, spec),
        short("LessReady", "Ready", ready, spec),
        extra_pods(replicas, spec),
    ];
    if let Some(short) = counts.into_iter().flatten().next() {
        return short;
    }
    if partition != -1 {
        let target = spec.wrapping_sub(partition);
        if updated < target {
            return Assessment::in_progress(
                "PartitionRollout",
                format!("updated: {updated}/{target}"),
            );
        }
        return Assessment::current(format!("Partition rollout complete. updated: {updated}"));
    }
    if let Some(short) = short("LessCurrent", "current", current, spec) {
        return short;
    }
    let current_revision = object::string(obj, &["status", "currentRevision"], "");
    let update_revision = object::string(obj, &["status", "updateRevision"], "");
    if current_revision != update_revision {
        return Assessment::in_progress(
            "RevisionMismatch",
            "Waiting for updated revision to match current",
        );
    }
    Assessment::current(format!(
        "All replicas scheduled as expected. Replicas: {replicas}"
    ))
}

pub(crate) fn daemon_set(obj: &Value) -> Result<Assessment, ReadinessError> {
    // The generic check skips unset generations; a DaemonSet the controller has seen
    // always has both, so their absence means "not observed yet".
    let kind = object::kind(obj);
    if generic::generation(obj)?.is_none() {
        let message = format!("{kind} metadata.generation not found");
        return Ok(Assessment::in_progress("NoGeneration", message));
    }
    if generic::observed_generation(obj)?.is_none() {
        let message = format!("{kind} status.observedGeneration not found");
        return Ok(Assessment::in_progress("NoObservedGeneration", message));
    }

    let desired = int(obj, &["status", "desiredNumberScheduled"], -1);
    let current = int(obj, &["status", "currentNumberScheduled"], 0);
    let updated = int(obj, &["status", "updatedNumberScheduled"], 0);
    let available = int(obj, &["status", "numberAvailable"], 0);
    let ready = int(obj, &["status", "numberReady"], 0);

    if desired == -1 {
        return Ok(Assessment::in_progress(
            "NoDesiredNumber",
            "Missing .status.desiredNumberScheduled",
        ));
    }
    let counts = [
        short("LessCurrent", "Current", current, desired),
        short("LessUpdated", "Updated", updated, desired),
        short("LessAvailable", "Available", available, desired),
        short("LessReady", "Ready", ready, desired),
    ];
    if let Some(short) = counts.into_iter().flatten().next() {
        return Ok(short);
    }
    Ok(Assessment::current(format!(
        "All replicas scheduled as expected. Replicas: {desired}"
    )))
}
