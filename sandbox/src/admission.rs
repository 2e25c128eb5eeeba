//! Defaulting and validation applied to every write, like the API server's registry strategies.

use base64::Engine;
use serde_json::{Map, Value, json};

use crate::cluster::Cluster;
use crate::resources::ResourceType;
use crate::status::ApiError;
use crate::util::{name_of, now_rfc3339, obj_mut, str_at, uid_of};

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
        if let Some(old) = old {
            immutable(rt, obj, old)?;
        }
    }
    Ok(())
}

/// Fields the API server refuses to change once set (422 `field is immutable`).
fn immutable(rt: &ResourceType, obj: &Value, old: &Value) -> Result<(), ApiError> {
    let name = name_of(obj).to_string();
    let refuse = |field: &str, value: &Value, detail: &str| {
        Err(ApiError::invalid(
            &rt.group,
            &rt.kind,
            &name,
            field,
            &format!("Invalid value: {value}: {detail}"),
        ))
    };
    match rt.kind.as_str() {
        "ConfigMap" | "Secret" if old["immutable"] == true => {
            for f in ["data", "binaryData", "immutable"] {
                if obj.get(f) != old.get(f) {
                    return refuse(
                        f,
                        obj.get(f).unwrap_or(&Value::Null),
                        "field is immutable when `immutable` is set",
                    );
                }
            }
        }
        "Deployment" | "ReplicaSet" | "StatefulSet" | "DaemonSet"
            if rt.group == "apps" && obj["spec"]["selector"] != old["spec"]["selector"] =>
        {
            return refuse(
                "spec.selector",
                &obj["spec"]["selector"],
                "field is immutable",
            );
        }
        "Service" => {
            let (new_ip, old_ip) = (&obj["spec"]["clusterIP"], &old["spec"]["clusterIP"]);
            let same_type = obj["spec"]["type"] == old["spec"]["type"];
            if same_type && old_ip.is_string() && new_ip != old_ip {
                return refuse("spec.clusterIPs[0]", new_ip, "may not change once set");
            }
        }
        "Job"
            if obj["spec"]["template"] != old["spec"]["template"]
                && old["spec"]["template"].is_object() =>
        {
            return refuse(
                "spec.template",
                &obj["spec"]["template"],
                "field is immutable",
            );
        }
        _ => {}
    }
    Ok(())
}

/// Keys of ConfigMap and Secret data: alphanumerics, `-`, `_` and `.`, at most 253 bytes.
fn config_keys(obj: &Value) -> Result<(), (String, String)> {
    for field in ["data", "binaryData", "stringData"] {
        for key in obj[field].as_object().into_iter().flat_map(|m| m.keys()) {
            let ok = !key.is_empty()
                && key.len() <= 253
                && key
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            if !ok {
                return Err((
                    format!("{field}[{key}]"),
                    format!(
                        "Invalid value: \"{key}\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
                    ),
                ));
            }
        }
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
            if name.len() > 63 || name.contains('.') {
                return Err(invalid(
                    "metadata.name",
                    &format!(
                        "Invalid value: \"{name}\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (must be no more than 63 characters)"
                    ),
                ));
            }
            if !obj["spec"]["finalizers"].is_array() {
                obj_mut(obj, "spec").insert("finalizers".into(), json!(["kubernetes"]));
            }
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
            pod_spec_defaults(spec);
            spec.entry("nodeName").or_insert(json!(cluster.node_name()));
            spec.entry("serviceAccountName").or_insert(json!("default"));
            let account = spec_value(spec, "serviceAccountName");
            spec.entry("serviceAccount").or_insert(account);
            spec.entry("enableServiceLinks").or_insert(json!(true));
            spec.entry("priority").or_insert(json!(0));
            spec.entry("preemptionPolicy")
                .or_insert(json!("PreemptLowerPriority"));
            if old.is_none() {
                pod_admission(spec);
                // Mutating webhooks run after the built-in admission plugins; what they add
                // is defaulted again.
                let ns = crate::util::namespace_of(obj).to_string();
                crate::injection::inject(cluster, &ns, obj);
                pod_spec_defaults(obj_mut(obj, "spec"));
            }
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
        "Secret" => {
            secret(cluster, obj);
            config_keys(obj).map_err(|(f, m)| invalid(&f, &m))?;
        }
        "ConfigMap" => config_keys(obj).map_err(|(f, m)| invalid(&f, &m))?,
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
            template_defaults(obj);
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
            template_defaults(obj);
            let spec = obj_mut(obj, "spec");
            spec.entry("revisionHistoryLimit").or_insert(json!(10));
            spec.entry("updateStrategy")
                .or_insert(json!({"type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}));
        }
        "Job" => {
            template_defaults(obj);
            job(obj, old);
        }
        "CustomResourceDefinition" => crd(obj).map_err(|m| invalid("spec", &m))?,
        _ => {}
    }
    Ok(())
}

fn spec_value(spec: &Map<String, Value>, key: &str) -> Value {
    spec.get(key).cloned().unwrap_or(Value::Null)
}

/// The defaults the API server gives every pod spec (also inside workload templates).
fn pod_spec_defaults(spec: &mut Map<String, Value>) {
    spec.entry("restartPolicy").or_insert(json!("Always"));
    spec.entry("dnsPolicy").or_insert(json!("ClusterFirst"));
    spec.entry("schedulerName")
        .or_insert(json!("default-scheduler"));
    spec.entry("terminationGracePeriodSeconds")
        .or_insert(json!(30));
    spec.entry("securityContext").or_insert(json!({}));
    for list in ["containers", "initContainers"] {
        let Some(Value::Array(cs)) = spec.get_mut(list) else {
            continue;
        };
        for c in cs.iter_mut().filter_map(Value::as_object_mut) {
            let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
            // `:latest` or no tag pulls always; a tag or digest pulls if not present.
            let last = image.rsplit('/').next().unwrap_or_default();
            let policy =
                if image.contains('@') || (last.contains(':') && !last.ends_with(":latest")) {
                    "IfNotPresent"
                } else {
                    "Always"
                };
            c.entry("imagePullPolicy").or_insert(json!(policy));
            c.entry("terminationMessagePath")
                .or_insert(json!("/dev/termination-log"));
            c.entry("terminationMessagePolicy").or_insert(json!("File"));
            c.entry("resources").or_insert(json!({}));
            if let Some(Value::Array(ports)) = c.get_mut("ports") {
                for p in ports.iter_mut().filter_map(Value::as_object_mut) {
                    p.entry("protocol").or_insert(json!("TCP"));
                }
            }
        }
    }
}

/// What admission plugins add to a new pod: the projected service-account token volume and
/// its mount (ServiceAccount), and the not-ready/unreachable tolerations (DefaultTolerationSeconds).
fn pod_admission(spec: &mut Map<String, Value>) {
    let automount = spec.get("automountServiceAccountToken") != Some(&json!(false));
    let volume = format!("kube-api-access-{}", crate::util::random_suffix(5));
    if automount {
        let vol = json!({"name": volume, "projected": {"defaultMode": 420, "sources": [
            {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
            {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            {"downwardAPI": {"items": [{"path": "namespace",
                "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}});
        match spec.get_mut("volumes") {
            Some(Value::Array(v)) => v.push(vol),
            _ => {
                spec.insert("volumes".into(), json!([vol]));
            }
        }
        if let Some(Value::Array(cs)) = spec.get_mut("containers") {
            for c in cs.iter_mut().filter_map(Value::as_object_mut) {
                let mount = json!({"name": volume, "readOnly": true,
                                   "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"});
                match c.get_mut("volumeMounts") {
                    Some(Value::Array(m)) => m.push(mount),
                    _ => {
                        c.insert("volumeMounts".into(), json!([mount]));
                    }
                }
            }
        }
    }
    let tolerations = match spec.get_mut("tolerations") {
        Some(Value::Array(t)) => t,
        _ => {
            spec.insert("tolerations".into(), json!([]));
            match spec.get_mut("tolerations") {
                Some(Value::Array(t)) => t,
                _ => return,
            }
        }
    };
    for key in [
        "node.kubernetes.io/not-ready",
        "node.kubernetes.io/unreachable",
    ] {
        if !tolerations.iter().any(|t| t["key"] == key) {
            tolerations.push(
                json!({"key": key, "operator": "Exists", "effect": "NoExecute",
                                    "tolerationSeconds": 300}),
            );
        }
    }
}

/// Pod-spec defaults inside a workload's `spec.template`.
fn template_defaults(obj: &mut Value) {
    if let Some(spec) = obj
        .get_mut("spec")
        .and_then(|s| s.get_mut("template"))
        .and_then(|t| t.get_mut("spec"))
        .and_then(Value::as_object_mut)
    {
        pod_spec_defaults(spec);
    }
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
    let headless = spec.get("clusterIP").and_then(Value::as_str) == Some("None");
    if ty != "ExternalName"
        && !headless
        && spec
            .get("ports")
            .and_then(Value::as_array)
            .is_none_or(|p| p.is_empty())
    {
        return Err("Required value".into());
    }
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
    // The status keeps what clients wrote (conditions); only LoadBalancers have ingress.
    let status = obj_mut(obj, "status");
    if ty != "LoadBalancer" {
        status.insert("loadBalancer".into(), json!({}));
    } else {
        status.entry("loadBalancer").or_insert(json!({}));
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
            let secret_name = name_of(obj).to_string();
            let data = obj_mut(obj, "data");
            if data
                .get("token")
                .and_then(Value::as_str)
                .is_none_or(str::is_empty)
            {
                // A long-lived token bound to this Secret, as the token controller mints it.
                let token = cluster.minter.mint(&crate::tokens::Claims {
                    namespace: ns.clone(),
                    account: sa_name,
                    expires: None,
                    secret: Some(secret_name),
                });
                data.insert("token".into(), json!(b64.encode(token)));
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
