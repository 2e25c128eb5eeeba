//! Endpoints that follow the pods selected by each Service.

use serde_json::{Value, json};

use super::*;

impl Controllers {
    pub(super) fn endpoints_for_namespace(&self, ns: &str) {
        for svc in self.store().list("services", Some(ns)).0 {
            self.reconcile_endpoints(&svc);
        }
    }

    pub(super) fn reconcile_endpoints(&self, svc: &Value) {
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
        self.reconcile_slice(svc, &pods, &ports);
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

    /// The Service's EndpointSlice (`discovery.k8s.io/v1`), as the EndpointSlice controller
    /// keeps it: one slice per Service, owned by it.
    fn reconcile_slice(&self, svc: &Value, pods: &[Value], ports: &[Value]) {
        const SLICES: &str = "endpointslices.discovery.k8s.io";
        let ns = namespace_of(svc).to_string();
        let svc_name = name_of(svc).to_string();
        let name = format!("{svc_name}-{}", &short_hash(&json!(uid_of(svc)))[..5]);
        let endpoints: Vec<Value> = pods
            .iter()
            .map(|p| {
                let ready = is_ready(p);
                json!({"addresses": [p["status"]["podIP"]],
                       "conditions": {"ready": ready, "serving": ready, "terminating": false},
                       "nodeName": p["spec"]["nodeName"],
                       "targetRef": {"kind": "Pod", "namespace": ns, "name": p["metadata"]["name"],
                                     "uid": p["metadata"]["uid"]}})
            })
            .collect();
        let mut labels = svc["metadata"]["labels"].clone();
        if !labels.is_object() {
            labels = json!({});
        }
        labels["kubernetes.io/service-name"] = json!(svc_name);
        labels["endpointslice.kubernetes.io/managed-by"] = json!("endpointslice-controller.k8s.io");
        if self.store().get(SLICES, &ns, &name).is_some() {
            self.set_field(SLICES, &ns, &name, |c| {
                c["endpoints"] = json!(endpoints);
                c["ports"] = json!(ports);
                c["metadata"]["labels"] = labels;
            });
        } else {
            let slice = json!({"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": name, "namespace": ns, "labels": labels,
                             "ownerReferences": [owner_ref(svc)]},
                "addressType": "IPv4", "endpoints": endpoints, "ports": ports});
            self.create(SLICES, slice);
        }
    }
}
