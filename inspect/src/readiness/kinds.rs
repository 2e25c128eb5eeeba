//! Which rule applies to which kind, and the rules for the non-controller kinds.

use serde_json::Value;

use super::object::{self, conditions, find_condition, int};
use super::time::parse_rfc3339;
use super::workloads;
use super::{Assessment, ReadinessError};

/// How long a Pod may stay unschedulable before kstatus calls it failed.
const SCHEDULE_WINDOW_SECONDS: f64 = 15.0;

/// Runs the rules for the object's group and kind (the version does not matter).
pub(crate) fn by_kind(obj: &Value, now: f64) -> Result<Option<Assessment>, ReadinessError> {
    let Some(key) = object::group_kind(obj) else {
        return Ok(None);
    };
    let result = match key.as_str() {
        "Service" => service(obj),
        "Pod" => pod(obj, now)?,
        "Secret" | "ConfigMap" | "batch/CronJob" => Assessment::current("Resource is always ready"),
        "PersistentVolumeClaim" => persistent_volume_claim(obj),
        "apps/StatefulSet" => workloads::stateful_set(obj),
        "apps/DaemonSet" | "extensions/DaemonSet" => workloads::daemon_set(obj)?,
        "apps/Deployment" | "extensions/Deployment" => workloads::deployment(obj)?,
        "apps/ReplicaSet" | "extensions/ReplicaSet" => workloads::replica_set(obj)?,
        // The generic generation check has already passed, so the budget is computed.
        "policy/PodDisruptionBudget" => {
            Assessment::current("AllowedDisruptions has been computed.")
        }
        "batch/Job" => job(obj)?,
        "apiextensions.k8s.io/CustomResourceDefinition" => custom_resource_definition(obj)?,
        _ => return Ok(None),
    };
    Ok(Some(result))
}

fn service(obj: &Value) -> Assessment {
    let service_type = object::string(obj, &["spec", "type"], "ClusterIP");
    let cluster_ip = object::string(obj, &["spec", "clusterIP"], "");
    if service_type == "LoadBalancer" && cluster_ip.is_empty() {
        return Assessment::in_progress(
            "NoIPAssigned",
            "ClusterIP not set. Service type: LoadBalancer",
        );
    }
    Assessment::current("Service is ready")
}

fn persistent_volume_claim(obj: &Value) -> Assessment {
    let phase = object::string(obj, &["status", "phase"], "unknown");
    if phase != "Bound" {
        return Assessment::in_progress("NotBound", format!("PVC is not Bound. phase: {phase}"));
    }
    Assessment::current("PVC is Bound")
}

fn pod(obj: &Value, now: f64) -> Result<Assessment, ReadinessError> {
    let conds = conditions(obj).map_err(ReadinessError::Conditions)?;
    let phase = object::string(obj, &["status", "phase"], "");
    Ok(match phase {
        "Succeeded" => Assessment::current("Pod has completed successfully"),
        "Failed" => Assessment::current("Pod has completed, but not successfully"),
        "Running" => {
            if find_condition(&conds, "Ready", "True").is_some() {
                return Ok(Assessment::current("Pod is Ready"));
            }
            let crashing = crash_looping_containers(obj)?;
            if !crashing.is_empty() {
                let message = format!("Containers in CrashLoop state: {}", crashing.join(","));
                return Ok(Assessment::failed("ContainerCrashLooping", message));
            }
            Assessment::in_progress("PodRunningNotReady", "Pod is running but is not Ready")
        }
        "Pending" => {
            let unschedulable = find_condition(&conds, "PodScheduled", "False")
                .is_some_and(|c| c.reason == "Unschedulable");
            if !unschedulable {
                return Ok(Assessment::in_progress(
                    "PodPending",
                    "Pod is in the Pending phase",
                ));
            }
            // A missing or malformed timestamp is Go's zero time: long ago.
            let created =
                parse_rfc3339(object::string(obj, &["metadata", "creationTimestamp"], ""))
                    .unwrap_or(f64::NEG_INFINITY);
            if now - SCHEDULE_WINDOW_SECONDS < created {
                Assessment::in_progress("PodNotScheduled", "Pod has not been scheduled")
            } else {
                Assessment::failed("PodUnschedulable", "Pod could not be scheduled")
            }
        }
        "" => Assessment::in_progress("PodNotObserved", "Pod phase not available"),
        other => return Err(ReadinessError::UnknownPhase(other.to_string())),
    })
}

/// Names of containers waiting in `CrashLoopBackOff`, in status order.
fn crash_looping_containers(obj: &Value) -> Result<Vec<&str>, ReadinessError> {
    let statuses = object::nested_slice(obj, &["status", "containerStatuses"])
        .map_err(ReadinessError::ContainerStatuses)?;
    let Some(statuses) = statuses else {
        return Ok(Vec::new());
    };
    Ok(statuses
        .iter()
        .filter(|status| {
            status
                .pointer("/state/waiting/reason")
                .and_then(Value::as_str)
                == Some("CrashLoopBackOff")
        })
        .filter_map(|status| status.get("name").and_then(Value::as_str))
        .collect())
}

fn job(obj: &Value) -> Result<Assessment, ReadinessError> {
    let parallelism = int(obj, &["spec", "parallelism"], 1);
    let completions = int(obj, &["spec", "completions"], parallelism);
    let succeeded = int(obj, &["status", "succeeded"], 0);
    let active = int(obj, &["status", "active"], 0);
    let failed = int(obj, &["status", "failed"], 0);
    let suspend = object::boolean(obj, &["spec", "suspend"], false);

    for cond in conditions(obj).map_err(ReadinessError::Conditions)? {
        if cond.status != "True" {
            continue;
        }
        match cond.type_.as_str() {
            "Complete" => {
                let message = format!("Job Completed. succeeded: {succeeded}/{completions}");
                return Ok(Assessment::current(message));
            }
            "Failed" => {
                let message = format!("Job Failed. failed: {failed}/{completions}");
                return Ok(Assessment::failed("JobFailed", message));
            }
            // A Suspended condition left over after resuming must not count.
            "Suspended" if suspend => return Ok(Assessment::current("Job is suspended")),
            _ => {}
        }
    }

    if object::string(obj, &["status", "startTime"], "").is_empty() {
        return Ok(Assessment::in_progress("JobNotStarted", "Job not started"));
    }
    Ok(Assessment::current(format!(
        "Job in progress. success:{succeeded}, active: {active}, failed: {failed}"
    )))
}

fn custom_resource_definition(obj: &Value) -> Result<Assessment, ReadinessError> {
    for cond in conditions(obj).map_err(ReadinessError::Conditions)? {
        if cond.type_ == "NamesAccepted" && cond.status == "False" {
            return Ok(Assessment::failed(cond.reason, cond.message));
        }
        if cond.type_ == "Established" {
            if cond.status == "False" && cond.reason != "Installing" {
                return Ok(Assessment::failed(cond.reason, cond.message));
            }
            if cond.status == "True" {
                return Ok(Assessment::current("CRD is established"));
            }
        }
    }
    Ok(Assessment::in_progress("Installing", "Install in progress"))
}
