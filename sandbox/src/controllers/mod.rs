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

mod accounts;
mod aggregation;
mod root_ca;
mod services;
mod timers;
mod workloads;

/// Runs the controllers of one cluster until `shutdown` turns true.
pub fn spawn(cluster: Arc<Cluster>, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    let ctl = Controllers {
        cluster,
        timers: Arc::new(Mutex::new(HashSet::new())),
        shutdown: shutdown.clone(),
    };
    let mut changes = ctl.cluster.store.subscribe();
    let mut cursor = ctl.cluster.store.current_rv();
    // Before the cluster serves its first request, as a real cluster has long been reconciled
    // by then: default ServiceAccounts, every namespace's root CA bundle, aggregated roles.
    ctl.resync();
    tokio::spawn(async move {
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
            self.on_event(&Event::new(0, EventType::Added, key, obj, None));
        }
        self.aggregate_cluster_roles();
    }

    /// The garbage collector's and namespace controller's part: terminating owners and
    /// namespaces finish once what they wait for is gone.
    fn finish_deletions(&self, e: &Event, deleted: bool) {
        let ns = namespace_of(&e.obj);
        if deleted {
            if !ns.is_empty()
                && self
                    .store()
                    .get("namespaces", "", ns)
                    .is_some_and(|n| is_deleting(&n))
            {
                gc::finish_namespace(&self.cluster, ns);
            }
            for r in e.obj["metadata"]["ownerReferences"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let uid = r["uid"].as_str().unwrap_or_default();
                let owners = self
                    .store()
                    .select_all(|o| uid_of(o) == uid && is_deleting(o));
                for (key, owner) in owners {
                    gc::finish_foreground(&self.cluster, &key, &owner);
                }
            }
        } else if is_deleting(&e.obj) {
            if e.key == "namespaces" {
                gc::finish_namespace(&self.cluster, name_of(&e.obj));
            } else {
                gc::finish_foreground(&self.cluster, &e.key, &e.obj);
            }
        }
    }

    fn on_event(&self, e: &Event) {
        let ns = namespace_of(&e.obj).to_string();
        let name = name_of(&e.obj).to_string();
        let deleted = e.kind == EventType::Deleted;
        self.finish_deletions(e, deleted);
        match e.key.as_str() {
            "pods" => {
                if deleted {
                    // A new pod of the same name starts with an empty filesystem, as a real one would.
                    let _ = std::fs::remove_dir_all(self.cluster.pod_dir(&ns, &e.obj));
                }
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
            "serviceaccounts"
                if !deleted && crate::version::auto_creates_token_secrets(self.cluster.version) =>
            {
                self.ensure_sa_token(&e.obj)
            }
            "namespaces" if !deleted && !is_deleting(&e.obj) => {
                self.ensure_default_sa(&name);
                self.ensure_root_ca(&name);
            }
            "configmaps" if name == root_ca::NAME => self.ensure_root_ca(&ns),
            // A resync (rv 0) aggregates once, after every object was seen.
            crate::rbac::CLUSTER_ROLES if e.rv != 0 => self.aggregate_cluster_roles(),
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
        if rt.namespaced {
            let ns = self.store().get("namespaces", "", namespace_of(&obj))?;
            if is_deleting(&ns) {
                return None;
            }
        }
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
}
