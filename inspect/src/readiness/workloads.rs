//! Rules for the pod controllers: Deployment, ReplicaSet, StatefulSet and DaemonSet.

use serde_json::Value;

use super::generic;
use super::object::{self, conditions, find_condition, int};
use super::{Assessment, ReadinessError};

/// The controller-manager's special "no deadline" value of `progressDeadlineSeconds`.
const NO_PROGRESS_DEADLINE: i64 = i32::MAX as i64;

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

    if spec > replicas {
        return Ok(Assessment::in_progress(
            "LessReplicas",
            format!("Replicas: {replicas}/{spec}"),
        ));
    }
    if spec > updated {
        return Ok(Assessment::in_progress(
            "LessUpdated",
            format!("Updated: {updated}/{spec}"),
        ));
    }
    if replicas > spec {
        let extra = replicas.wrapping_sub(spec);
        return Ok(Assessment::in_progress(
            "ExtraPods",
            format!("Pending termination: {extra}"),
        ));
    }
    if updated > available_replicas {
        let message = format!("Available: {available_replicas}/{updated}");
        return Ok(Assessment::in_progress("LessAvailable", message));
    }
    if spec > ready {
        return Ok(Assessment::in_progress(
            "LessReady",
            format!("Ready: {ready}/{spec}"),
        ));
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

    if spec > labelled {
        return Ok(Assessment::in_progress(
            "LessLabelled",
            format!("Labelled: {labelled}/{spec}"),
        ));
    }
    if spec > available {
        return Ok(Assessment::in_progress(
            "LessAvailable",
            format!("Available: {available}/{spec}"),
        ));
    }
    if spec > ready {
        return Ok(Assessment::in_progress(
            "LessReady",
            format!("Ready: {ready}/{spec}"),
        ));
    }
    if replicas > spec {
        let extra = replicas.wrapping_sub(spec);
        return Ok(Assessment::in_progress(
            "ExtraPods",
            format!("Pending termination: {extra}"),
        ));
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

    if spec > replicas {
        return Assessment::in_progress("LessReplicas", format!("Replicas: {replicas}/{spec}"));
    }
    if spec > ready {
        return Assessment::in_progress("LessReady", format!("Ready: {ready}/{spec}"));
    }
    if replicas > spec {
        let extra = replicas.wrapping_sub(spec);
        return Assessment::in_progress("ExtraPods", format!("Pending termination: {extra}"));
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
    if spec > current {
        return Assessment::in_progress("LessCurrent", format!("current: {current}/{spec}"));
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
    if desired > current {
        return Ok(Assessment::in_progress(
            "LessCurrent",
            format!("Current: {current}/{desired}"),
        ));
    }
    if desired > updated {
        return Ok(Assessment::in_progress(
            "LessUpdated",
            format!("Updated: {updated}/{desired}"),
        ));
    }
    if desired > available {
        return Ok(Assessment::in_progress(
            "LessAvailable",
            format!("Available: {available}/{desired}"),
        ));
    }
    if desired > ready {
        return Ok(Assessment::in_progress(
            "LessReady",
            format!("Ready: {ready}/{desired}"),
        ));
    }
    Ok(Assessment::current(format!(
        "All replicas scheduled as expected. Replicas: {desired}"
    )))
}
