//! Delayed transitions: pods becoming Running and Ready, LoadBalancers getting an IP.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::*;

impl Controllers {
    pub(super) fn schedule_ready(&self, ns: &str, name: &str, uid: &str) {
        let (ns, name, uid) = (ns.to_string(), name.to_string(), uid.to_string());
        let delay = self.cluster.pod_ready_delay;
        self.after(format!("ready/{uid}"), delay, move |cluster| {
            let _ = cluster.store.modify::<()>("pods", &ns, &name, false, |c| {
                let mut c = c.clone();
                if uid_of(&c) != uid || str_at(&c, "status.phase") != Some("Pending") {
                    return Ok(c);
                }
                mark_started(&mut c);
                Ok(c)
            });
        });
    }

    pub(super) fn schedule_lb(&self, ns: &str, name: &str, uid: &str) {
        let (ns, name, uid) = (ns.to_string(), name.to_string(), uid.to_string());
        let delay = self.cluster.lb_ip_delay;
        self.after(format!("lb/{uid}"), delay, move |cluster| {
            let ip = cluster.alloc_lb_ip();
            let _ = cluster
                .store
                .modify::<()>("services", &ns, &name, false, |c| {
                    let mut c = c.clone();
                    if uid_of(&c) == uid
                        && str_at(&c, "spec.type") == Some("LoadBalancer")
                        && !c["status"]["loadBalancer"]["ingress"].is_array()
                    {
                        c["status"]["loadBalancer"] =
                            json!({"ingress": [{"ip": ip, "ipMode": "VIP"}]});
                    }
                    Ok(c)
                });
        });
    }

    /// Runs `then` once `delay` has passed, unless a timer of the same name is pending (an
    /// object is scheduled once however often it is seen) or the cluster shuts down first.
    fn after(&self, timer: String, delay: Duration, then: impl FnOnce(&Cluster) + Send + 'static) {
        if !self
            .timers
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(timer.clone())
        {
            return;
        }
        let cluster = Arc::clone(&self.cluster);
        let timers = Arc::clone(&self.timers);
        let mut shutdown = self.shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = shutdown.changed() => return,
            }
            timers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&timer);
            then(&cluster);
        });
    }
}

/// Moves a Pending pod to Running and Ready (or Succeeded, for run-to-completion pods).
fn mark_started(pod: &mut Value) {
    let now = now_rfc3339();
    let run_once = matches!(
        str_at(pod, "spec.restartPolicy"),
        Some("Never" | "OnFailure")
    ) && controller_of(pod).is_some_and(|(k, _)| k == "Job");
    let containers = pod["spec"]["containers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let statuses: Vec<Value> = containers
        .iter()
        .map(|c| {
            let state = if run_once {
                json!({"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": now, "finishedAt": now}})
            } else {
                json!({"running": {"startedAt": now}})
            };
            json!({"name": c["name"], "image": c["image"], "imageID": format!("sandbox://{}", c["image"].as_str().unwrap_or_default()),
                   "containerID": format!("sandbox://{}", short_hash(&json!([c["name"], now]))),
                   "ready": !run_once, "started": !run_once, "restartCount": 0, "state": state})
        })
        .collect();
    let ready = if run_once { "False" } else { "True" };
    let reason = if run_once {
        json!("PodCompleted")
    } else {
        Value::Null
    };
    let cond = |t: &str, s: &str| {
        let mut c =
            json!({"type": t, "status": s, "lastProbeTime": null, "lastTransitionTime": now});
        if !reason.is_null() && s == "False" {
            c["reason"] = reason.clone();
        }
        c
    };
    pod["status"]["phase"] = json!(if run_once { "Succeeded" } else { "Running" });
    pod["status"]["conditions"] = json!([
        cond("PodReadyToStartContainers", "True"),
        cond("Initialized", "True"),
        cond("Ready", ready),
        cond("ContainersReady", ready),
        cond("PodScheduled", "True"),
    ]);
    pod["status"]["containerStatuses"] = json!(statuses);
}
