//! Defaulting and validation applied to every write, like the API server's registry strategies.

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::cluster::Cluster;
use crate::resources::ResourceType;
use crate::status::ApiError;
use crate::util::{name_of, now_rfc3339, obj_mut, random_hex, str_at, uid_of};

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.as_bytes()[name.len() - 1].is_ascii_alphanumeric()
}

/// Defaults and validates `obj` before it is stored; `old` is the current object on updates.
pub fn admit(
    cluster: &Cluster,
    rt: &ResourceType,
    obj: &mut Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    let name = name_of(obj).to_string();
    if !valid_name(&name) {
        return Err(ApiError::invalid(
            &rt.group,
            &rt.kind,
            &name,
            "metadata.name",
            &format!(
                "Invalid value: \"{name}\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
            ),
        ));
    }
    if rt.group.is_empty() || !rt.group.contains('.') || rt.group.ends_with(".k8s.io") {
        builtin(cluster, rt, obj, old)?;
    }
    Ok(())
}

fn builtin(
    cluster: &Cluster,
    rt: &ResourceType,
    obj: &mut Value,
    old: Option<&Value>,
) -> Result<(), ApiError> {
    let obj_name = name_of(obj).to_string();
    let invalid =
        |field: &str, msg: &str| ApiError::invalid(&rt.group, &rt.kind, &obj_name, field, msg);
    match rt.kind.as_str() {
        "Namespace" => {
            let name = name_of(obj).to_string();
            obj_mut(obj, "metadata");
            if crate::version::labels_namespace_names(cluster.version) {
                let labels = obj_mut(&mut obj["metadata"], "labels");
                labels.insert("kubernetes.io/metadata.name".into(), json!(name));
            }
            if str_at(obj, "status.phase").is_none() {
                obj["status"] = json!({"phase": "Active"});
            }
        }
        "Pod" => {
            if obj["spec"]["containers"]
                .as_array()
                .is_none_or(|c| c.is_empty())
            {
                return Err(invalid("spec.containers", "Required value"));
            }
            let spec = obj_mut(obj, "spec");
            spec.entry("nodeName").or_insert(json!(cluster.node_name()));
            spec.entry("restartPolicy").or_insert(json!("Always"));
            spec.entry("dnsPolicy").or_insert(json!("ClusterFirst"));
            spec.entry("serviceAccountName").or_insert(json!("default"));
            spec.entry("schedulerName")
                .or_insert(json!("default-scheduler"));
            spec.entry("terminationGracePeriodSeconds")
                .or_insert(json!(30));
            if old.is_none() && str_at(obj, "status.podIP").is_none() {
                let ip = cluster.alloc_pod_ip();
                let host = cluster.host_ip();
                let now = now_rfc3339();
                obj["status"] = json!({"phase": "Pending", "podIP": ip, "podIPs": [{"ip": ip}],
                    "hostIP": host, "hostIPs": [{"ip": host}], "qosClass": "BestEffort", "startTime": now,
                    "conditions": [{"type": "PodScheduled", "status": "True", "lastProbeTime": null,
                                    "lastTransitionTime": now}]});
            }
        }
        "Service" => service(cluster, obj, old).map_err(|m| invalid("spec.ports", &m))?,
        "Secret" => secret(cluster, obj),
        "ConfigMap" => {}
        "Deployment" | "ReplicaSet" | "StatefulSet" => {
            let replicas = obj["spec"]["replicas"].as_i64();
            if replicas.is_some_and(|r| r < 0) {
                return Err(invalid(
                    "spec.replicas",
                    &format!(
                        "Invalid value: {}: must be greater than or equal to 0",
                        replicas.unwrap_or(0)
                    ),
                ));
            }
            if !obj["spec"]["selector"].is_object() {
                return Err(invalid("spec.selector", "Required value"));
            }
            let sel = crate::selector::LabelSelector::from_object(&obj["spec"]["selector"]);
            if !sel.matches(&obj["spec"]["template"]) {
                return Err(invalid(
                    "spec.template.metadata.labels",
                    "Invalid value: `selector` does not match template `labels`",
                ));
            }
            let spec = obj_mut(obj, "spec");
            spec.entry("replicas").or_insert(json!(1));
            spec.entry("revisionHistoryLimit").or_insert(json!(10));
            match rt.kind.as_str() {
                "Deployment" => {
                    spec.entry("progressDeadlineSeconds").or_insert(json!(600));
                    spec.entry("strategy")
                        .or_insert(json!({"type": "RollingUpdate",
                        "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}));
                }
                "StatefulSet" => {
                    spec.entry("podManagementPolicy")
                        .or_insert(json!("OrderedReady"));
                    spec.entry("updateStrategy")
                        .or_insert(json!({"type": "RollingUpdate",
                        "rollingUpdate": {"partition": 0}}));
                }
                _ => {}
            }
        }
        "DaemonSet" => {
            if !obj["spec"]["selector"].is_object() {
                return Err(invalid("spec.selector", "Required value"));
            }
            let spec = obj_mut(obj, "spec");
            spec.entry("revisionHistoryLimit").or_insert(json!(10));
            spec.entry("updateStrategy")
                .or_insert(json!({"type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}));
        }
        "Job" => job(obj, old),
        "CustomResourceDefinition" => crd(obj).map_err(|m| invalid("spec", &m))?,
        _ => {}
    }
    Ok(())
}

fn service(cluster: &Cluster, obj: &mut Value, old: Option<&Value>) -> Result<(), String> {
    let spec = obj_mut(obj, "spec");
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    spec.insert("type".into(), json!(ty));
    spec.entry("sessionAffinity").or_insert(json!("None"));
    if ty != "ExternalName" {
        spec.entry("ipFamilies").or_insert(json!(["IPv4"]));
        spec.entry("ipFamilyPolicy").or_insert(json!("SingleStack"));
        spec.entry("internalTrafficPolicy")
            .or_insert(json!("Cluster"));
        let old_ip = old
            .and_then(|o| str_at(o, "spec.clusterIP"))
            .map(str::to_string);
        let ip = match (spec.get("clusterIP").and_then(Value::as_str), old_ip) {
            (Some(ip), _) if !ip.is_empty() => ip.to_string(),
            (_, Some(ip)) => ip,
            _ => cluster.alloc_cluster_ip(),
        };
        spec.insert("clusterIP".into(), json!(ip));
        spec.insert("clusterIPs".into(), json!([ip]));
    }
    let mut used = cluster.used_node_ports();
    let old_ports = old
        .and_then(|o| o["spec"]["ports"].as_array().cloned())
        .unwrap_or_default();
    let wants_node_ports = ty == "NodePort" || ty == "LoadBalancer";
    if let Some(Value::Array(ports)) = spec.get_mut("ports") {
        for p in ports.iter_mut() {
            let Some(pm) = p.as_object_mut() else {
                return Err("Invalid value: port must be an object".into());
            };
            let port = pm
                .get("port")
                .and_then(Value::as_u64)
                .ok_or("Required value: port")?;
            pm.entry("protocol").or_insert(json!("TCP"));
            pm.entry("targetPort").or_insert(json!(port));
            if wants_node_ports && pm.get("nodePort").and_then(Value::as_u64).is_none() {
                let same = old_ports.iter().find(|o| {
                    o["port"].as_u64() == Some(port)
                        && o["name"] == pm.get("name").cloned().unwrap_or(Value::Null)
                });
                let np = match same.and_then(|o| o["nodePort"].as_u64()) {
                    Some(np) => np,
                    None => (30000..32768)
                        .find(|n| !used.contains(n))
                        .ok_or("no free node ports")?,
                };
                used.insert(np);
                pm.insert("nodePort".into(), json!(np));
            }
            if !wants_node_ports {
                pm.remove("nodePort");
            }
        }
    }
    if ty == "LoadBalancer" {
        spec.entry("externalTrafficPolicy")
            .or_insert(json!("Cluster"));
        spec.entry("allocateLoadBalancerNodePorts")
            .or_insert(json!(true));
    }
    if !obj["status"].is_object() || ty != "LoadBalancer" {
        obj["status"] = json!({"loadBalancer": {}});
    }
    Ok(())
}

fn secret(cluster: &Cluster, obj: &mut Value) {
    let b64 = base64::engine::general_purpose::STANDARD;
    if str_at(obj, "type").is_none_or(str::is_empty) {
        obj["type"] = json!("Opaque");
    }
    if let Some(Value::Object(sd)) = obj.as_object_mut().and_then(|m| m.remove("stringData")) {
        let data = obj_mut(obj, "data");
        for (k, v) in sd {
            data.insert(k, json!(b64.encode(v.as_str().unwrap_or_default())));
        }
    }
    // The token controller fills legacy service-account token Secrets.
    if str_at(obj, "type") == Some("kubernetes.io/service-account-token") {
        let ns = crate::util::namespace_of(obj).to_string();
        let sa_name = obj["metadata"]["annotations"]["kubernetes.io/service-account.name"]
            .as_str()
            .map(str::to_string);
        if let Some(sa_name) = sa_name {
            if let Some(sa) = cluster.store.get("serviceaccounts", &ns, &sa_name) {
                let uid = uid_of(&sa).to_string();
                obj_mut(&mut obj["metadata"], "annotations")
                    .insert("kubernetes.io/service-account.uid".into(), json!(uid));
            }
            let data = obj_mut(obj, "data");
            if data
                .get("token")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                data.insert(
                    "token".into(),
                    json!(b64.encode(format!("sa-{}", random_hex(24)))),
                );
            }
            data.insert("ca.crt".into(), json!(b64.encode(&cluster.ca_pem)));
            data.insert("namespace".into(), json!(b64.encode(&ns)));
        }
    }
}

fn job(obj: &mut Value, old: Option<&Value>) {
    let uid = old.map(uid_of).unwrap_or_default().to_string();
    let spec = obj_mut(obj, "spec");
    spec.entry("completions").or_insert(json!(1));
    spec.entry("parallelism").or_insert(json!(1));
    spec.entry("backoffLimit").or_insert(json!(6));
    spec.entry("completionMode").or_insert(json!("NonIndexed"));
    spec.entry("suspend").or_insert(json!(false));
    if !spec.contains_key("selector") && !uid.is_empty() {
        spec.insert(
            "selector".into(),
            json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
        );
    }
}

fn crd(obj: &mut Value) -> Result<(), String> {
    let spec = &obj["spec"];
    let group = str_at(spec, "group").ok_or("Required value: spec.group")?;
    let plural = str_at(spec, "names.plural").ok_or("Required value: spec.names.plural")?;
    str_at(spec, "names.kind").ok_or("Required value: spec.names.kind")?;
    if name_of(obj) != format!("{plural}.{group}") {
        return Err(format!(
            "Invalid value: metadata.name must be spec.names.plural+\".\"+spec.group ({plural}.{group})"
        ));
    }
    if obj["status"]["conditions"].is_array() {
        return Ok(());
    }
    let mut names = obj["spec"]["names"].clone();
    if let Some(m) = names.as_object_mut() {
        let kind = m
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_lowercase();
        m.entry("singular").or_insert(json!(kind));
        let list_kind = format!(
            "{}List",
            m.get("kind").and_then(Value::as_str).unwrap_or_default()
        );
        m.entry("listKind").or_insert(json!(list_kind));
    }
    let stored: Vec<Value> = obj["spec"]["versions"]
        .as_array()
        .map(|vs| {
            vs.iter()
                .filter(|v| v["storage"].as_bool() == Some(true))
                .map(|v| v["name"].clone())
                .collect()
        })
        .unwrap_or_default();
    let now = now_rfc3339();
    let mut status = Map::new();
    status.insert("acceptedNames".into(), names);
    status.insert("storedVersions".into(), json!(stored));
    status.insert(
        "conditions".into(),
        json!([
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts",
             "message": "no conflicts found", "lastTransitionTime": now},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted",
             "message": "the initial names have been accepted", "lastTransitionTime": now}
        ]),
    );
    obj["status"] = Value::Object(status);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_rfc1123() {
        assert!(valid_name("web-1.example"));
        assert!(!valid_name("Web"));
        assert!(!valid_name("-a"));
        assert!(!valid_name(""));
    }
}
