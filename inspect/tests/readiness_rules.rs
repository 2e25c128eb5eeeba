//! Focused checks of kstatus rules the conformance cases leave implicit.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use meshbook_inspect::readiness::{
    Readiness, Status, assess, compute, compute_at, with_generated_pods,
};
use serde_json::{Value, json};

fn at(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds)
}

/// 2024-01-01T00:00:00Z
const JAN_1_2024: u64 = 1_704_067_200;

fn unschedulable_pod(created: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "p", "creationTimestamp": created},
        "status": {"phase": "Pending", "conditions": [
            {"type": "PodScheduled", "status": "False", "reason": "Unschedulable"}
        ]}
    })
}

#[test]
fn unschedulable_pod_gets_fifteen_seconds_before_failing() {
    let pod = unschedulable_pod("2024-01-01T00:00:00Z");
    let young = compute_at(&pod, at(JAN_1_2024 + 14));
    assert_eq!(young.status, Status::InProgress);
    assert_eq!(young.message, "Pod has not been scheduled");
    let old = compute_at(&pod, at(JAN_1_2024 + 15));
    assert_eq!(old.status, Status::Failed);
    assert_eq!(old.message, "Pod could not be scheduled");
}

#[test]
fn unknown_pod_phase_is_unknown_with_the_error_text() {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "status": {"phase": "Weird"}});
    assert!(assess(&pod, SystemTime::now()).is_err());
    assert_eq!(
        compute(&pod),
        Readiness {
            status: Status::Unknown,
            message: "unknown phase Weird".into()
        }
    );
}

#[test]
fn malformed_generation_is_unknown() {
    let obj = json!({"apiVersion": "v1", "kind": "Thing", "metadata": {"generation": "2"}});
    let readiness = compute(&obj);
    assert_eq!(readiness.status, Status::Unknown);
    assert_eq!(
        readiness.message,
        "looking up metadata.generation from resource: .metadata.generation accessor error: \
         2 is of the type string, expected int64"
    );
}

#[test]
fn generation_check_comes_before_conditions() {
    let obj = json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "metadata": {"generation": 3},
        "status": {"observedGeneration": 2, "conditions": [{"type": "Ready", "status": "True"}]}
    });
    let readiness = compute(&obj);
    assert_eq!(readiness.status, Status::InProgress);
    assert_eq!(
        readiness.message,
        "Widget generation is 3, but latest observed generation is 2"
    );
}

#[test]
fn stalled_before_reconciling_wins_by_list_order() {
    let obj = json!({
        "apiVersion": "example.com/v1", "kind": "Widget",
        "status": {"conditions": [
            {"type": "Stalled", "status": "True", "reason": "Bad", "message": "stuck"},
            {"type": "Reconciling", "status": "True", "reason": "Busy", "message": "working"}
        ]}
    });
    assert_eq!(compute(&obj).status, Status::Failed);
}

#[test]
fn custom_resource_without_conditions_is_current() {
    let obj = json!({"apiVersion": "example.com/v1", "kind": "Widget", "status": {}});
    assert_eq!(
        compute(&obj),
        Readiness {
            status: Status::Current,
            message: "Resource is current".into()
        }
    );
}

#[test]
fn kind_rules_ignore_the_version_but_not_the_group() {
    let deployment = |api_version: &str| json!({"apiVersion": api_version, "kind": "Deployment", "spec": {"replicas": 2}});
    assert_eq!(
        compute(&deployment("apps/v1beta2")).message,
        "Replicas: 0/2"
    );
    assert_eq!(
        compute(&deployment("example.com/v1")).message,
        "Resource is current"
    );
}

#[test]
fn load_balancer_service_needs_only_a_cluster_ip() {
    let lb = |ip: &str| json!({"apiVersion": "v1", "kind": "Service", "spec": {"type": "LoadBalancer", "clusterIP": ip}});
    assert_eq!(compute(&lb("")).status, Status::InProgress);
    assert_eq!(compute(&lb("10.0.0.1")).status, Status::Current);
}

#[test]
fn daemon_set_with_nothing_to_schedule_is_current() {
    let ds = json!({
        "apiVersion": "apps/v1", "kind": "DaemonSet",
        "metadata": {"generation": 1},
        "status": {"observedGeneration": 1, "desiredNumberScheduled": 0}
    });
    assert_eq!(
        compute(&ds).message,
        "All replicas scheduled as expected. Replicas: 0"
    );
}

#[test]
fn started_job_is_current_while_running() {
    let job = json!({
        "apiVersion": "batch/v1", "kind": "Job",
        "spec": {"completions": 3},
        "status": {"startTime": "2024-01-01T00:00:00Z", "active": 1, "succeeded": 1}
    });
    assert_eq!(
        compute(&job),
        Readiness {
            status: Status::Current,
            message: "Job in progress. success:1, active: 1, failed: 0".into()
        }
    );
}

#[test]
fn crd_installing_is_in_progress_and_other_false_reasons_fail() {
    let crd = |reason: &str| {
        json!({
            "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
            "status": {"conditions": [{"type": "Established", "status": "False", "reason": reason, "message": "m"}]}
        })
    };
    assert_eq!(compute(&crd("Installing")).status, Status::InProgress);
    assert_eq!(
        compute(&crd("Broken")),
        Readiness {
            status: Status::Failed,
            message: "m".into()
        }
    );
}

#[test]
fn deployment_without_deadline_needs_no_progressing_condition() {
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "spec": {"replicas": 1},
        "status": {"replicas": 1, "updatedReplicas": 1, "readyReplicas": 1, "availableReplicas": 1,
                   "conditions": [{"type": "Available", "status": "True"}]}
    });
    assert_eq!(
        compute(&deployment).message,
        "Deployment is available. Replicas: 1"
    );
}

#[test]
fn failed_generated_pods_fail_an_in_progress_owner() {
    let owner = Readiness {
        status: Status::InProgress,
        message: "Ready: 0/2".into(),
    };
    let crashing = json!({
        "apiVersion": "v1", "kind": "Pod",
        "status": {"phase": "Running", "containerStatuses": [
            {"name": "app", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}
        ]}
    });
    let healthy = json!({"apiVersion": "v1", "kind": "Pod", "status": {"phase": "Pending"}});
    let result = with_generated_pods(owner.clone(), [&crashing, &healthy], SystemTime::now());
    assert_eq!(
        result,
        Readiness {
            status: Status::Failed,
            message: "1 pods have failed".into()
        }
    );
    assert_eq!(
        with_generated_pods(owner.clone(), [&healthy], SystemTime::now()),
        owner
    );
}

#[test]
fn statuses_serialize_with_kstatus_names() {
    let json = serde_json::to_string(&Readiness::not_found()).expect("serializes");
    assert_eq!(
        json,
        r#"{"status":"NotFound","message":"Resource not found"}"#
    );
    assert_eq!(
        serde_json::to_string(&Status::InProgress).expect("serializes"),
        r#""InProgress""#
    );
    assert_eq!(Status::Current.to_string(), "Current");
}
