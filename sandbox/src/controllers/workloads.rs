//! ReplicaSets, Deployments, StatefulSets, DaemonSets and Jobs: pods from templates and
//! status like the real controllers report it.

use serde_json::{Value, json};

use super::*;
use crate::util::set_at;

/// `maxSurge` and `maxUnavailable` of a Deployment as replica counts: percentages of `want`,
/// surge rounded up and unavailability down; both zero means one may be unavailable.
/// Recreate allows no surge and every pod down.
fn rollout_bounds(d: &Value, want: usize) -> (usize, usize) {
    let strategy = &d["spec"]["strategy"];
    if strategy["type"] == "Recreate" {
        return (0, want);
    }
    let count = |v: &Value, up: bool| -> usize {
        match v {
            Value::Number(n) => n.as_u64().unwrap_or(0) as usize,
            Value::String(s) => {
                let pct: usize = s.trim_end_matches('%').parse().unwrap_or(25);
                if up {
                    (want * pct).div_ceil(100)
                } else {
                    want * pct / 100
                }
            }
            _ => {
                if up {
                    want.div_ceil(4)
                } else {
                    want / 4
                }
            }
        }
    };
    let surge = count(&strategy["rollingUpdate"]["maxSurge"], true);
    let unavailable = count(&strategy["rollingUpdate"]["maxUnavailable"], false);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable)
    }
}

/// One step of a rollout: the replica counts to set, as the Deployment controller computes
/// them. The new ReplicaSet grows while the total stays within `want + surge`; old ones
/// shrink (not-yet-available pods first) while available pods stay at least
/// `want - unavailable`. Readiness of the new pods drives the next step.
fn rollout_step(
    d: &Value,
    want: usize,
    new_rs: Option<&Value>,
    old_rs: &[&Value],
    surge: usize,
    unavailable: usize,
) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    let spec = |r: &Value| replicas(r);
    let avail = |r: &Value| r["status"]["availableReplicas"].as_u64().unwrap_or(0) as usize;
    let Some(new_rs) = new_rs else {
        return out;
    };
    let old_total: usize = old_rs.iter().map(|r| spec(r)).sum();
    let recreate = d["spec"]["strategy"]["type"] == "Recreate";
    // Recreate: the new pods start only once every old one is gone.
    let new_target = if old_total == 0 {
        want
    } else if recreate {
        0
    } else {
        let room = (want + surge).saturating_sub(old_total + spec(new_rs));
        (spec(new_rs) + room).min(want)
    };
    if new_target != spec(new_rs) || new_rs["spec"]["replicas"].is_null() {
        out.push((name_of(new_rs).to_string(), new_target));
        // As the real controller: a pass that scales the new set up scales nothing down, so
        // old pods go only after the new ones are counted.
        if new_target > spec(new_rs) {
            return out;
        }
    }
    // As the Deployment controller bounds it: counted on the sets' specs, so a status that
    // lags behind never lets more go than allowed.
    let floor = want.saturating_sub(unavailable);
    let all_spec = old_total + new_target.max(spec(new_rs));
    let new_unavailable = new_target.max(spec(new_rs)).saturating_sub(avail(new_rs));
    let mut budget = all_spec.saturating_sub(floor + new_unavailable);
    let available: usize = avail(new_rs) + old_rs.iter().map(|r| avail(r)).sum::<usize>();
    let mut healthy_budget = available.saturating_sub(floor);
    let mut olds: Vec<&&Value> = old_rs.iter().collect();
    olds.sort_by_key(|r| {
        r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
            .as_str()
            .and_then(|v| v.parse::<u64>().ok())
            .unwrap_or(0)
    });
    for r in olds {
        // Pods that are not available yet go first: removing them costs no availability.
        let unhealthy = spec(r).saturating_sub(avail(r)).min(budget);
        budget -= unhealthy;
        let healthy = (spec(r) - unhealthy).min(budget).min(healthy_budget);
        budget -= healthy;
        healthy_budget -= healthy;
        let cut = unhealthy + healthy;
        if cut > 0 || r["spec"]["replicas"].is_null() {
            out.push((name_of(r).to_string(), spec(r) - cut));
        }
    }
    out
}

impl Controllers {
    pub(super) fn reconcile_rs(&self, ns: &str, name: &str) {
        let Some(rs) = self.store().get(RS, ns, name) else {
            return;
        };
        if is_deleting(&rs) {
            return;
        }
        let want = replicas(&rs);
        let mut pods = self.owned_pods(ns, uid_of(&rs));
        let hash = rs["metadata"]["labels"]["pod-template-hash"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        while pods.len() < want {
            let pod_name = format!("{name}-{}", random_suffix(5));
            let extra = if hash.is_empty() {
                vec![]
            } else {
                vec![("pod-template-hash", hash.clone())]
            };
            match self.create("pods", self.pod_from_template(&rs, &pod_name, &extra)) {
                Some(p) => pods.push(p),
                None => break,
            }
        }
        if pods.len() > want {
            // Remove not-ready pods first, then the newest.
            pods.sort_by_key(|p| {
                (
                    is_ready(p),
                    std::cmp::Reverse(
                        str_at(p, "metadata.creationTimestamp")
                            .unwrap_or_default()
                            .to_string(),
                    ),
                )
            });
            for p in pods.drain(..pods.len() - want) {
                gc::delete(&self.cluster, "pods", ns, name_of(&p), Propagation::Cascade);
            }
        }
        let ready = pods.iter().filter(|p| is_ready(p)).count();
        let status = json!({"replicas": pods.len(), "fullyLabeledReplicas": pods.len(), "readyReplicas": ready,
                            "availableReplicas": ready, "observedGeneration": rs["metadata"]["generation"]});
        self.set_status(RS, ns, name, status);
    }

    pub(super) fn reconcile_deployment(&self, ns: &str, name: &str) {
        let Some(d) = self.store().get(DEPLOY, ns, name) else {
            return;
        };
        if is_deleting(&d) {
            return;
        }
        let want = replicas(&d);
        let hash = short_hash(&d["spec"]["template"]);
        let rs_name = format!("{name}-{hash}");
        let uid = uid_of(&d).to_string();
        let owned = |me: &Self| -> Vec<Value> {
            me.store()
                .list(RS, Some(ns))
                .0
                .into_iter()
                .filter(|r| owned_by(r, &uid))
                .collect()
        };
        let revision_of = |r: &Value| -> u64 {
            r["metadata"]["annotations"]["deployment.kubernetes.io/revision"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or(0)
        };
        let existing = owned(self);
        let mut revision = existing
            .iter()
            .find(|r| name_of(r) == rs_name)
            .map(&revision_of);
        if revision.is_none() {
            let rev = existing.iter().map(&revision_of).max().unwrap_or(0) + 1;
            let mut template = d["spec"]["template"].clone();
            set_at(
                &mut template,
                &["metadata", "labels", "pod-template-hash"],
                json!(hash),
            );
            let mut selector = d["spec"]["selector"].clone();
            set_at(
                &mut selector,
                &["matchLabels", "pod-template-hash"],
                json!(hash),
            );
            let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": rs_name, "namespace": ns, "labels": template["metadata"]["labels"],
                             "annotations": {"deployment.kubernetes.io/revision": rev.to_string(),
                                             "deployment.kubernetes.io/desired-replicas": want.to_string()},
                             "ownerReferences": [owner_ref(&d)]},
                // During a rollout the new set starts empty and grows as the strategy allows.
                "spec": {"replicas": if existing.iter().any(|r| replicas(r) > 0) { 0 } else { want },
                         "selector": selector, "template": template}});
            self.create(RS, rs);
            revision = Some(rev);
        }
        let sets = owned(self);
        let (new_rs, old_rs): (Vec<&Value>, Vec<&Value>) =
            sets.iter().partition(|r| name_of(r) == rs_name);
        let (surge, unavailable) = rollout_bounds(&d, want);
        for (name, target) in rollout_step(
            &d,
            want,
            new_rs.first().copied(),
            &old_rs,
            surge,
            unavailable,
        ) {
            self.set_field(RS, ns, &name, |c| c["spec"]["replicas"] = json!(target));
        }
        let all = owned(self);
        let sum = |f: &str| -> usize {
            all.iter()
                .map(|r| r["status"][f].as_u64().unwrap_or(0) as usize)
                .sum()
        };
        let total = sum("replicas");
        let available = sum("availableReplicas");
        let ready = sum("readyReplicas");
        let updated = all
            .iter()
            .find(|r| name_of(r) == rs_name)
            .map(|r| r["status"]["replicas"].as_u64().unwrap_or(0) as usize)
            .unwrap_or(0);
        // Available while no more pods are down than the rollout allows, as the real
        // controller reports it.
        let is_available = available + unavailable >= want;
        let complete = updated == want && total == want && available == want;
        let conds = vec![
            if is_available {
                json!({"type": "Available", "status": "True", "reason": "MinimumReplicasAvailable",
                       "message": "Deployment has minimum availability.", "lastUpdateTime": null})
            } else {
                json!({"type": "Available", "status": "False", "reason": "MinimumReplicasUnavailable",
                       "message": "Deployment does not have minimum availability.", "lastUpdateTime": null})
            },
            if complete {
                json!({"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                       "message": format!("ReplicaSet \"{rs_name}\" has successfully progressed."), "lastUpdateTime": null})
            } else {
                json!({"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated",
                       "message": format!("ReplicaSet \"{rs_name}\" is progressing."), "lastUpdateTime": null})
            },
        ];
        // Conditions other writers set (types this controller does not own) are kept.
        let mut all_conditions = conditions(&d["status"]["conditions"], conds);
        if let (Some(list), Some(old)) = (
            all_conditions.as_array_mut(),
            d["status"]["conditions"].as_array(),
        ) {
            list.extend(
                old.iter()
                    .filter(|c| !matches!(c["type"].as_str(), Some("Available" | "Progressing")))
                    .cloned(),
            );
        }
        let mut status = json!({"observedGeneration": d["metadata"]["generation"], "replicas": total,
            "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": available,
            "conditions": all_conditions});
        if want > available {
            status["unavailableReplicas"] = json!(want - available);
        }
        let rev = revision.unwrap_or(1).to_string();
        let _ = self.store().modify::<()>(DEPLOY, ns, name, false, |c| {
            let mut c = c.clone();
            c["status"] = status;
            set_at(
                &mut c,
                &[
                    "metadata",
                    "annotations",
                    "deployment.kubernetes.io/revision",
                ],
                json!(rev),
            );
            Ok(c)
        });
    }

    pub(super) fn reconcile_sts(&self, ns: &str, name: &str) {
        let Some(s) = self.store().get(STS, ns, name) else {
            return;
        };
        if is_deleting(&s) {
            return;
        }
        let want = replicas(&s);
        let revision = format!("{name}-{}", short_hash(&s["spec"]["template"]));
        let mut pods = self.owned_pods(ns, uid_of(&s));
        for p in pods
            .iter()
            .filter(|p| p["metadata"]["labels"]["controller-revision-hash"] != revision.as_str())
        {
            gc::delete(&self.cluster, "pods", ns, name_of(p), Propagation::Cascade);
        }
        pods.retain(|p| p["metadata"]["labels"]["controller-revision-hash"] == revision.as_str());
        for i in 0..want {
            let pod_name = format!("{name}-{i}");
            if pods.iter().any(|p| name_of(p) == pod_name)
                || self.store().get("pods", ns, &pod_name).is_some()
            {
                continue;
            }
            let mut pod = self.pod_from_template(
                &s,
                &pod_name,
                &[
                    ("statefulset.kubernetes.io/pod-name", pod_name.clone()),
                    ("controller-revision-hash", revision.clone()),
                    ("apps.kubernetes.io/pod-index", i.to_string()),
                ],
            );
            pod["spec"]["hostname"] = json!(pod_name);
            if let Some(svc) = str_at(&s, "spec.serviceName") {
                pod["spec"]["subdomain"] = json!(svc);
            }
            if let Some(p) = self.create("pods", pod) {
                pods.push(p);
            }
        }
        for p in pods.iter().filter(|p| {
            name_of(p)
                .rsplit_once('-')
                .and_then(|(_, i)| i.parse::<usize>().ok())
                .is_some_and(|i| i >= want)
        }) {
            gc::delete(&self.cluster, "pods", ns, name_of(p), Propagation::Cascade);
        }
        let pods = self.owned_pods(ns, uid_of(&s));
        let ready = pods.iter().filter(|p| is_ready(p)).count();
        let status = json!({"observedGeneration": s["metadata"]["generation"], "replicas": pods.len(),
            "readyReplicas": ready, "currentReplicas": pods.len(), "updatedReplicas": pods.len(),
            "availableReplicas": ready, "currentRevision": revision, "updateRevision": revision,
            "collisionCount": 0});
        self.set_status(STS, ns, name, status);
    }

    pub(super) fn reconcile_ds(&self, ns: &str, name: &str) {
        let Some(d) = self.store().get(DS, ns, name) else {
            return;
        };
        if is_deleting(&d) {
            return;
        }
        let hash = short_hash(&d["spec"]["template"]);
        let mut pods = self.owned_pods(ns, uid_of(&d));
        for p in pods
            .iter()
            .filter(|p| p["metadata"]["labels"]["controller-revision-hash"] != hash.as_str())
        {
            gc::delete(&self.cluster, "pods", ns, name_of(p), Propagation::Cascade);
        }
        pods.retain(|p| p["metadata"]["labels"]["controller-revision-hash"] == hash.as_str());
        if pods.is_empty() {
            let pod_name = format!("{name}-{}", random_suffix(5));
            let pod = self.pod_from_template(
                &d,
                &pod_name,
                &[("controller-revision-hash", hash.clone())],
            );
            if let Some(p) = self.create("pods", pod) {
                pods.push(p);
            }
        }
        let ready = pods.iter().filter(|p| is_ready(p)).count();
        let status = json!({"observedGeneration": d["metadata"]["generation"], "desiredNumberScheduled": 1,
            "currentNumberScheduled": pods.len(), "updatedNumberScheduled": pods.len(), "numberReady": ready,
            "numberAvailable": ready, "numberMisscheduled": 0});
        self.set_status(DS, ns, name, status);
    }

    pub(super) fn reconcile_job(&self, ns: &str, name: &str) {
        let Some(j) = self.store().get(JOB, ns, name) else {
            return;
        };
        if is_deleting(&j) {
            return;
        }
        let completions = j["spec"]["completions"].as_u64().unwrap_or(1) as usize;
        let parallelism = j["spec"]["parallelism"].as_u64().unwrap_or(1) as usize;
        let uid = uid_of(&j).to_string();
        let mut pods = self.owned_pods(ns, &uid);
        let phase = |p: &Value| str_at(p, "status.phase").unwrap_or_default().to_string();
        let succeeded = pods.iter().filter(|p| phase(p) == "Succeeded").count();
        let done = j["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Complete" && c["status"] == "True")
        });
        if !done {
            let mut active = pods
                .iter()
                .filter(|p| !matches!(phase(p).as_str(), "Succeeded" | "Failed"))
                .count();
            while active < parallelism && succeeded + active < completions {
                let pod_name = format!("{name}-{}", random_suffix(5));
                let mut pod = self.pod_from_template(
                    &j,
                    &pod_name,
                    &[
                        ("batch.kubernetes.io/controller-uid", uid.clone()),
                        ("batch.kubernetes.io/job-name", name.to_string()),
                        ("controller-uid", uid.clone()),
                        ("job-name", name.to_string()),
                    ],
                );
                pod["spec"]["restartPolicy"] =
                    j["spec"]["template"]["spec"]["restartPolicy"].clone();
                if pod["spec"]["restartPolicy"].is_null() {
                    pod["spec"]["restartPolicy"] = json!("Never");
                }
                match self.create("pods", pod) {
                    Some(p) => pods.push(p),
                    None => break,
                }
                active += 1;
            }
        }
        let active = pods
            .iter()
            .filter(|p| !matches!(phase(p).as_str(), "Succeeded" | "Failed"))
            .count();
        let ready = pods.iter().filter(|p| is_ready(p)).count();
        let start = j["status"]["startTime"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(now_rfc3339);
        let mut status = json!({"active": active, "succeeded": succeeded, "ready": ready, "terminating": 0,
                                "startTime": start, "uncountedTerminatedPods": {}});
        if active == 0 {
            status.as_object_mut().map(|m| m.remove("active"));
        }
        if succeeded >= completions {
            let finished = j["status"]["completionTime"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(now_rfc3339);
            status["completionTime"] = json!(finished);
            status["conditions"] = conditions(
                &j["status"]["conditions"],
                vec![
                    json!({"type": "SuccessCriteriaMet", "status": "True", "reason": "CompletionsReached",
                           "message": "Reached expected number of succeeded pods", "lastProbeTime": null}),
                    json!({"type": "Complete", "status": "True", "reason": "CompletionsReached",
                           "message": "Reached expected number of succeeded pods", "lastProbeTime": null}),
                ],
            );
        }
        self.set_status(JOB, ns, name, status);
    }
}
