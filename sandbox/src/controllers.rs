//! Simulated controllers: workloads create Pods that become Ready, Services get addresses and
//! Endpoints, ServiceAccounts get token Secrets, Jobs complete.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admission::admit;
use crate::cluster::Cluster;
use crate::gc::{self, Propagation};
use crate::resources::{ResourceType, builtins};
use crate::selector::LabelSelector;
use crate::store::{Event, EventType};
use crate::util::{name_of, namespace_of, now_rfc3339, random_suffix, short_hash, str_at, uid_of};

const DEPLOY: &str = "deployments.apps";
const RS: &str = "replicasets.apps";
const STS: &str = "statefulsets.apps";
const DS: &str = "daemonsets.apps";
const JOB: &str = "jobs.batch";

/// Runs the controllers of one cluster until `shutdown` turns true.
pub fn spawn(cluster: Arc<Cluster>, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let ctl = Controllers {
            cluster,
            timers: Arc::new(Mutex::new(HashSet::new())),
            shutdown: shutdown.clone(),
        };
        let mut changes = ctl.cluster.store.subscribe();
        let mut cursor = ctl.cluster.store.current_rv();
        ctl.resync();
        loop {
            changes.borrow_and_update();
            match ctl.cluster.store.events_since(cursor) {
                Some(events) => {
                    for e in events {
                        cursor = e.rv;
                        ctl.on_event(&e);
                    }
                }
                None => {
                    cursor = ctl.cluster.store.current_rv();
                    ctl.resync();
                }
            }
            tokio::select! {
                r = changes.changed() => if r.is_err() { return },
                _ = shutdown.changed() => return,
            }
        }
    })
}

struct Controllers {
    cluster: Arc<Cluster>,
    timers: Arc<Mutex<HashSet<String>>>,
    shutdown: watch::Receiver<bool>,
}

fn rtype(key: &str) -> Option<ResourceType> {
    builtins().into_iter().find(|t| t.key() == key)
}

fn is_deleting(o: &Value) -> bool {
    o["metadata"]["deletionTimestamp"].is_string()
}

fn owned_by(o: &Value, uid: &str) -> bool {
    o["metadata"]["ownerReferences"]
        .as_array()
        .is_some_and(|r| r.iter().any(|x| x["uid"] == uid))
}

fn controller_of(o: &Value) -> Option<(String, String)> {
    o["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find_map(|r| {
            (r["controller"].as_bool() == Some(true)).then(|| {
                (
                    r["kind"].as_str().unwrap_or_default().to_string(),
                    r["name"].as_str().unwrap_or_default().to_string(),
                )
            })
        })
}

fn is_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

fn owner_ref(owner: &Value) -> Value {
    json!({"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": owner["metadata"]["name"],
           "uid": owner["metadata"]["uid"], "controller": true, "blockOwnerDeletion": true})
}

fn replicas(o: &Value) -> usize {
    o["spec"]["replicas"].as_u64().unwrap_or(1) as usize
}

/// Keeps `lastTransitionTime` of conditions whose status did not change, so unchanged status
/// writes stay no-ops.
fn conditions(old: &Value, new: Vec<Value>) -> Value {
    let now = now_rfc3339();
    let out: Vec<Value> = new
        .into_iter()
        .map(|mut c| {
            let prev = old
                .as_array()
                .and_then(|cs| cs.iter().find(|p| p["type"] == c["type"]).cloned());
            let same = prev
                .as_ref()
                .is_some_and(|p| p["status"] == c["status"] && p["reason"] == c["reason"]);
            let (t, u) = match &prev {
                Some(p) if same => (p["lastTransitionTime"].clone(), p["lastUpdateTime"].clone()),
                Some(p) if p["status"] == c["status"] => {
                    (p["lastTransitionTime"].clone(), json!(now))
                }
                _ => (json!(now), json!(now)),
            };
            c["lastTransitionTime"] = t;
            if c.get("lastUpdateTime").is_some() {
                c["lastUpdateTime"] = if u.is_null() { json!(now) } else { u };
            }
            c
        })
        .collect();
    Value::Array(out)
}

impl Controllers {
    fn store(&self) -> &crate::store::Store {
        &self.cluster.store
    }

    fn resync(&self) {
        for (key, obj) in self.store().all() {
            self.on_event(&Event {
                rv: 0,
                kind: EventType::Added,
                key,
                obj,
                prev: None,
            });
        }
    }

    fn on_event(&self, e: &Event) {
        let ns = namespace_of(&e.obj).to_string();
        let name = name_of(&e.obj).to_string();
        let deleted = e.kind == EventType::Deleted;
        match e.key.as_str() {
            "pods" => {
                if !deleted
                    && str_at(&e.obj, "status.phase") == Some("Pending")
                    && !is_deleting(&e.obj)
                {
                    self.schedule_ready(&ns, &name, uid_of(&e.obj));
                }
                if let Some((kind, owner)) = controller_of(&e.obj) {
                    self.reconcile_owner(&kind, &ns, &owner);
                }
                self.endpoints_for_namespace(&ns);
            }
            RS => {
                if !deleted {
                    self.reconcile_rs(&ns, &name);
                }
                if let Some((kind, owner)) = controller_of(&e.obj) {
                    self.reconcile_owner(&kind, &ns, &owner);
                }
            }
            DEPLOY if !deleted => self.reconcile_deployment(&ns, &name),
            STS if !deleted => self.reconcile_sts(&ns, &name),
            DS if !deleted => self.reconcile_ds(&ns, &name),
            JOB if !deleted => self.reconcile_job(&ns, &name),
            "services" => {
                if deleted {
                    self.store().delete("endpoints", &ns, &name);
                } else {
                    self.reconcile_endpoints(&e.obj);
                    if str_at(&e.obj, "spec.type") == Some("LoadBalancer")
                        && !e.obj["status"]["loadBalancer"]["ingress"].is_array()
                    {
                        self.schedule_lb(&ns, &name, uid_of(&e.obj));
                    }
                }
            }
            "serviceaccounts" if !deleted => self.ensure_sa_token(&e.obj),
            "namespaces" if !deleted && !is_deleting(&e.obj) => self.ensure_default_sa(&name),
            _ => {}
        }
    }

    fn reconcile_owner(&self, kind: &str, ns: &str, name: &str) {
        match kind {
            "ReplicaSet" => {
                self.reconcile_rs(ns, name);
                if let Some(rs) = self.store().get(RS, ns, name)
                    && let Some((k, owner)) = controller_of(&rs)
                    && k == "Deployment"
                {
                    self.reconcile_deployment(ns, &owner);
                }
            }
            "Deployment" => self.reconcile_deployment(ns, name),
            "StatefulSet" => self.reconcile_sts(ns, name),
            "DaemonSet" => self.reconcile_ds(ns, name),
            "Job" => self.reconcile_job(ns, name),
            _ => {}
        }
    }

    /// Creates an object through admission, as a controller would through the API.
    fn create(&self, key: &str, mut obj: Value) -> Option<Value> {
        let rt = rtype(key)?;
        admit(&self.cluster, &rt, &mut obj, None).ok()?;
        self.store().create(key, obj, false).ok()
    }

    fn set_status(&self, key: &str, ns: &str, name: &str, status: Value) {
        let _ = self.store().modify::<()>(key, ns, name, false, |c| {
            let mut c = c.clone();
            c["status"] = status;
            Ok(c)
        });
    }

    fn set_field(&self, key: &str, ns: &str, name: &str, f: impl FnOnce(&mut Value)) {
        let _ = self.store().modify::<()>(key, ns, name, false, |c| {
            let mut c = c.clone();
            f(&mut c);
            Ok(c)
        });
    }

    fn owned_pods(&self, ns: &str, uid: &str) -> Vec<Value> {
        self.store()
            .list("pods", Some(ns))
            .0
            .into_iter()
            .filter(|p| owned_by(p, uid) && !is_deleting(p))
            .collect()
    }

    fn pod_from_template(
        &self,
        owner: &Value,
        name: &str,
        extra_labels: &[(&str, String)],
    ) -> Value {
        let t = &owner["spec"]["template"];
        let mut labels = t["metadata"]["labels"].clone();
        if !labels.is_object() {
            labels = json!({});
        }
        for (k, v) in extra_labels {
            labels[*k] = json!(v);
        }
        let mut meta = json!({"name": name, "namespace": namespace_of(owner), "labels": labels,
                              "ownerReferences": [owner_ref(owner)]});
        if t["metadata"]["annotations"].is_object() {
            meta["annotations"] = t["metadata"]["annotations"].clone();
        }
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": t["spec"].clone()})
    }

    fn reconcile_rs(&self, ns: &str, name: &str) {
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

    fn reconcile_deployment(&self, ns: &str, name: &str) {
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
            template["metadata"]["labels"]["pod-template-hash"] = json!(hash);
            let mut selector = d["spec"]["selector"].clone();
            selector["matchLabels"]["pod-template-hash"] = json!(hash);
            let rs = json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {"name": rs_name, "namespace": ns, "labels": template["metadata"]["labels"],
                             "annotations": {"deployment.kubernetes.io/revision": rev.to_string(),
                                             "deployment.kubernetes.io/desired-replicas": want.to_string()},
                             "ownerReferences": [owner_ref(&d)]},
                "spec": {"replicas": want, "selector": selector, "template": template}});
            self.create(RS, rs);
            revision = Some(rev);
        }
        for r in owned(self) {
            let target = if name_of(&r) == rs_name { want } else { 0 };
            if replicas(&r) != target || r["spec"]["replicas"].is_null() {
                self.set_field(RS, ns, name_of(&r), |c| {
                    c["spec"]["replicas"] = json!(target)
                });
            }
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
        let is_available = available >= want;
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
        let mut status = json!({"observedGeneration": d["metadata"]["generation"], "replicas": total,
            "updatedReplicas": updated, "readyReplicas": ready, "availableReplicas": available,
            "conditions": conditions(&d["status"]["conditions"], conds)});
        if want > available {
            status["unavailableReplicas"] = json!(want - available);
        }
        let rev = revision.unwrap_or(1).to_string();
        let _ = self.store().modify::<()>(DEPLOY, ns, name, false, |c| {
            let mut c = c.clone();
            c["status"] = status;
            c["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = json!(rev);
            Ok(c)
        });
    }

    fn reconcile_sts(&self, ns: &str, name: &str) {
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

    fn reconcile_ds(&self, ns: &str, name: &str) {
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

    fn reconcile_job(&self, ns: &str, name: &str) {
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

    fn endpoints_for_namespace(&self, ns: &str) {
        for svc in self.store().list("services", Some(ns)).0 {
            self.reconcile_endpoints(&svc);
        }
    }

    fn reconcile_endpoints(&self, svc: &Value) {
        let sel = &svc["spec"]["selector"];
        if sel.as_object().is_none_or(|m| m.is_empty())
            || str_at(svc, "spec.type") == Some("ExternalName")
        {
            return;
        }
        let ns = namespace_of(svc).to_string();
        let name = name_of(svc).to_string();
        let selector = LabelSelector::from_map(sel);
        let pods: Vec<Value> = self
            .store()
            .list("pods", Some(&ns))
            .0
            .into_iter()
            .filter(|p| {
                selector.matches(p)
                    && !is_deleting(p)
                    && str_at(p, "status.podIP").is_some()
                    && !matches!(str_at(p, "status.phase"), Some("Succeeded" | "Failed"))
            })
            .collect();
        let address = |p: &Value| {
            json!({"ip": p["status"]["podIP"], "nodeName": p["spec"]["nodeName"],
                   "targetRef": {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"], "uid": p["metadata"]["uid"]}})
        };
        let ready: Vec<Value> = pods.iter().filter(|p| is_ready(p)).map(address).collect();
        let not_ready: Vec<Value> = pods.iter().filter(|p| !is_ready(p)).map(address).collect();
        let ports: Vec<Value> = svc["spec"]["ports"]
            .as_array()
            .cloned()
            .unwrap_or_default()
            .iter()
            .map(|p| {
                let target = match &p["targetPort"] {
                    Value::String(named) => pods
                        .iter()
                        .flat_map(|pod| {
                            pod["spec"]["containers"]
                                .as_array()
                                .cloned()
                                .unwrap_or_default()
                        })
                        .flat_map(|c| c["ports"].as_array().cloned().unwrap_or_default())
                        .find(|cp| cp["name"] == named.as_str())
                        .map(|cp| cp["containerPort"].clone())
                        .unwrap_or(Value::Null),
                    Value::Null => p["port"].clone(),
                    other => other.clone(),
                };
                let mut port = json!({"port": target, "protocol": p["protocol"]});
                if let Some(n) = p["name"].as_str() {
                    port["name"] = json!(n);
                }
                port
            })
            .filter(|p| !p["port"].is_null())
            .collect();
        let mut subset = json!({"ports": ports});
        if !ready.is_empty() {
            subset["addresses"] = json!(ready);
        }
        if !not_ready.is_empty() {
            subset["notReadyAddresses"] = json!(not_ready);
        }
        let subsets = if pods.is_empty() {
            json!([])
        } else {
            json!([subset])
        };
        let labels = svc["metadata"]["labels"].clone();
        if self.store().get("endpoints", &ns, &name).is_some() {
            self.set_field("endpoints", &ns, &name, |c| {
                c["subsets"] = subsets;
                if labels.is_object() {
                    c["metadata"]["labels"] = labels;
                }
            });
        } else {
            let mut ep = json!({"apiVersion": "v1", "kind": "Endpoints",
                                "metadata": {"name": name, "namespace": ns}, "subsets": subsets});
            if labels.is_object() {
                ep["metadata"]["labels"] = labels;
            }
            self.create("endpoints", ep);
        }
    }

    fn ensure_default_sa(&self, ns: &str) {
        if self.store().get("serviceaccounts", ns, "default").is_none() {
            self.create(
                "serviceaccounts",
                json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}}),
            );
        }
    }

    fn ensure_sa_token(&self, sa: &Value) {
        if sa["secrets"].as_array().is_some_and(|s| !s.is_empty()) || is_deleting(sa) {
            return;
        }
        let ns = namespace_of(sa).to_string();
        let name = name_of(sa).to_string();
        let existing = self
            .store()
            .list("secrets", Some(&ns))
            .0
            .into_iter()
            .find(|s| {
                str_at(s, "type") == Some("kubernetes.io/service-account-token")
                    && s["metadata"]["annotations"]["kubernetes.io/service-account.name"]
                        == name.as_str()
            });
        let secret_name = match existing {
            Some(s) => name_of(&s).to_string(),
            None => {
                let secret = json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/service-account-token",
                    "metadata": {"name": format!("{name}-token-{}", random_suffix(5)), "namespace": ns,
                                 "annotations": {"kubernetes.io/service-account.name": name,
                                                 "kubernetes.io/service-account.uid": uid_of(sa)}}});
                match self.create("secrets", secret) {
                    Some(s) => name_of(&s).to_string(),
                    None => return,
                }
            }
        };
        self.set_field("serviceaccounts", &ns, &name, |c| {
            c["secrets"] = json!([{"name": secret_name}])
        });
    }

    fn schedule_ready(&self, ns: &str, name: &str, uid: &str) {
        let timer = format!("ready/{uid}");
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
        let (ns, name, uid) = (ns.to_string(), name.to_string(), uid.to_string());
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(cluster.pod_ready_delay) => {}
                _ = shutdown.changed() => return,
            }
            timers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&timer);
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

    fn schedule_lb(&self, ns: &str, name: &str, uid: &str) {
        let timer = format!("lb/{uid}");
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
        let (ns, name, uid) = (ns.to_string(), name.to_string(), uid.to_string());
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(cluster.lb_ip_delay) => {}
                _ = shutdown.changed() => return,
            }
            timers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&timer);
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
