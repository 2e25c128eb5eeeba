//! Server-side printing: `meta.k8s.io/v1` Tables, so `kubectl get` shows the usual columns.

use serde_json::{Value, json};

use crate::util::{str_at, unix_seconds};

/// The content type of a Table response.
pub const CONTENT_TYPE: &str = "application/json;as=Table;v=v1;g=meta.k8s.io";

/// Whether the Accept header asks for object metadata only (`PartialObjectMetadata[List]`).
pub fn metadata_wanted(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=PartialObjectMetadata"))
}

/// The metadata-only view of an object.
pub fn partial(obj: &Value) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]})
}

/// Whether the Accept header asks for a Table.
pub fn wanted(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table"))
}

/// Formats an age the way kubectl does (`45s`, `3m12s`, `5h`, `2d3h`).
pub fn human_age(secs: u64) -> String {
    let (m, h, d) = (secs / 60, secs / 3600, secs / 86_400);
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 600 => match s % 60 {
            0 => format!("{m}m"),
            r => format!("{m}m{r}s"),
        },
        s if s < 3 * 3600 => format!("{m}m"),
        s if s < 8 * 3600 => match (s / 60) % 60 {
            0 => format!("{h}h"),
            r => format!("{h}h{r}m"),
        },
        s if s < 48 * 3600 => format!("{h}h"),
        s if s < 8 * 86_400 => match h % 24 {
            0 => format!("{d}d"),
            r => format!("{d}d{r}h"),
        },
        _ => format!("{d}d"),
    }
}

fn age(obj: &Value) -> String {
    let created = str_at(obj, "metadata.creationTimestamp").and_then(crate::util::parse_rfc3339);
    match created {
        Some(c) => human_age(unix_seconds().saturating_sub(c)),
        None => "<unknown>".to_string(),
    }
}

fn col(name: &str, ty: &str, priority: u8) -> Value {
    let format = if name == "Name" { "name" } else { "" };
    json!({"name": name, "type": ty, "format": format, "description": "", "priority": priority})
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or(0)
}

fn ports(svc: &Value) -> String {
    let ps = svc["spec"]["ports"].as_array().cloned().unwrap_or_default();
    if ps.is_empty() {
        return "<none>".into();
    }
    ps.iter()
        .map(|p| {
            let proto = p["protocol"].as_str().unwrap_or("TCP");
            match p["nodePort"].as_u64() {
                Some(np) => format!("{}:{np}/{proto}", n(&p["port"])),
                None => format!("{}/{proto}", n(&p["port"])),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn joined(v: &Value, f: impl Fn(&Value) -> Option<String>) -> String {
    let items: Vec<String> = v
        .as_array()
        .map(|a| a.iter().filter_map(&f).collect())
        .unwrap_or_default();
    if items.is_empty() {
        "<none>".into()
    } else {
        items.join(",")
    }
}

/// A label selector as kubectl prints it (`app=web`).
fn selector(o: &Value) -> String {
    let sel = &o["spec"]["selector"];
    let q = if sel.get("matchLabels").is_some() || sel.get("matchExpressions").is_some() {
        crate::selector::LabelSelector::from_object(sel).to_query()
    } else {
        crate::selector::LabelSelector::from_map(sel).to_query()
    };
    if q.is_empty() { "<none>".into() } else { q }
}

/// Readiness gates as `ready/total`, `<none>` without gates.
fn readiness_gates(o: &Value) -> String {
    let gates = o["spec"]["readinessGates"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if gates.is_empty() {
        return "<none>".into();
    }
    let ready = gates
        .iter()
        .filter(|g| {
            o["status"]["conditions"].as_array().is_some_and(|cs| {
                cs.iter()
                    .any(|c| c["type"] == g["conditionType"] && c["status"] == "True")
            })
        })
        .count();
    format!("{ready}/{}", gates.len())
}

/// Builds the cells after the name of one row.
type Cells = fn(&Value) -> Vec<Value>;

/// Column definitions and a row builder for one kind.
fn columns(kind: &str) -> (Vec<Value>, Cells) {
    match kind {
        "Pod" => (
            vec![
                col("Name", "string", 0),
                col("Ready", "string", 0),
                col("Status", "string", 0),
                col("Restarts", "string", 0),
                col("Age", "string", 0),
                col("IP", "string", 1),
                col("Node", "string", 1),
                col("Nominated Node", "string", 1),
                col("Readiness Gates", "string", 1),
            ],
            |o| {
                let cs = o["status"]["containerStatuses"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let total = o["spec"]["containers"].as_array().map_or(0, Vec::len);
                let ready = cs.iter().filter(|c| c["ready"] == true).count();
                let restarts: u64 = cs.iter().map(|c| n(&c["restartCount"])).sum();
                let status = if o["metadata"]["deletionTimestamp"].is_string() {
                    "Terminating".to_string()
                } else if str_at(o, "status.phase") == Some("Succeeded") {
                    "Completed".to_string()
                } else if str_at(o, "status.phase") == Some("Pending") {
                    "ContainerCreating".to_string()
                } else {
                    str_at(o, "status.phase").unwrap_or("Unknown").to_string()
                };
                vec![
                    json!(format!("{ready}/{total}")),
                    json!(status),
                    json!(restarts.to_string()),
                    json!(age(o)),
                    json!(str_at(o, "status.podIP").unwrap_or("<none>")),
                    json!(str_at(o, "spec.nodeName").unwrap_or("<none>")),
                    json!(str_at(o, "status.nominatedNodeName").unwrap_or("<none>")),
                    json!(readiness_gates(o)),
                ]
            },
        ),
        "Deployment" => (
            vec![
                col("Name", "string", 0),
                col("Ready", "string", 0),
                col("Up-to-date", "integer", 0),
                col("Available", "integer", 0),
                col("Age", "string", 0),
                col("Containers", "string", 1),
                col("Images", "string", 1),
                col("Selector", "string", 1),
            ],
            |o| {
                let cs = &o["spec"]["template"]["spec"]["containers"];
                vec![
                    json!(format!(
                        "{}/{}",
                        n(&o["status"]["readyReplicas"]),
                        n(&o["spec"]["replicas"])
                    )),
                    json!(n(&o["status"]["updatedReplicas"])),
                    json!(n(&o["status"]["availableReplicas"])),
                    json!(age(o)),
                    json!(joined(cs, |c| c["name"].as_str().map(str::to_string))),
                    json!(joined(cs, |c| c["image"].as_str().map(str::to_string))),
                    json!(selector(o)),
                ]
            },
        ),
        "ReplicaSet" => (
            vec![
                col("Name", "string", 0),
                col("Desired", "integer", 0),
                col("Current", "integer", 0),
                col("Ready", "integer", 0),
                col("Age", "string", 0),
                col("Containers", "string", 1),
                col("Images", "string", 1),
                col("Selector", "string", 1),
            ],
            |o| {
                let cs = &o["spec"]["template"]["spec"]["containers"];
                vec![
                    json!(n(&o["spec"]["replicas"])),
                    json!(n(&o["status"]["replicas"])),
                    json!(n(&o["status"]["readyReplicas"])),
                    json!(age(o)),
                    json!(joined(cs, |c| c["name"].as_str().map(str::to_string))),
                    json!(joined(cs, |c| c["image"].as_str().map(str::to_string))),
                    json!(selector(o)),
                ]
            },
        ),
        "StatefulSet" => (
            vec![
                col("Name", "string", 0),
                col("Ready", "string", 0),
                col("Age", "string", 0),
            ],
            |o| {
                vec![
                    json!(format!(
                        "{}/{}",
                        n(&o["status"]["readyReplicas"]),
                        n(&o["spec"]["replicas"])
                    )),
                    json!(age(o)),
                ]
            },
        ),
        "DaemonSet" => (
            vec![
                col("Name", "string", 0),
                col("Desired", "integer", 0),
                col("Current", "integer", 0),
                col("Ready", "integer", 0),
                col("Up-to-date", "integer", 0),
                col("Available", "integer", 0),
                col("Age", "string", 0),
            ],
            |o| {
                let s = &o["status"];
                vec![
                    json!(n(&s["desiredNumberScheduled"])),
                    json!(n(&s["currentNumberScheduled"])),
                    json!(n(&s["numberReady"])),
                    json!(n(&s["updatedNumberScheduled"])),
                    json!(n(&s["numberAvailable"])),
                    json!(age(o)),
                ]
            },
        ),
        "Job" => (
            vec![
                col("Name", "string", 0),
                col("Status", "string", 0),
                col("Completions", "string", 0),
                col("Age", "string", 0),
            ],
            |o| {
                let done =
                    n(&o["status"]["succeeded"]) >= o["spec"]["completions"].as_u64().unwrap_or(1);
                vec![
                    json!(if done { "Complete" } else { "Running" }),
                    json!(format!(
                        "{}/{}",
                        n(&o["status"]["succeeded"]),
                        o["spec"]["completions"].as_u64().unwrap_or(1)
                    )),
                    json!(age(o)),
                ]
            },
        ),
        "Service" => (
            vec![
                col("Name", "string", 0),
                col("Type", "string", 0),
                col("Cluster-IP", "string", 0),
                col("External-IP", "string", 0),
                col("Port(s)", "string", 0),
                col("Age", "string", 0),
                col("Selector", "string", 1),
            ],
            |o| {
                let ty = str_at(o, "spec.type").unwrap_or("ClusterIP");
                let external = match ty {
                    "LoadBalancer" => joined(&o["status"]["loadBalancer"]["ingress"], |i| {
                        i["ip"].as_str().map(str::to_string)
                    })
                    .replace("<none>", "<pending>"),
                    "ExternalName" => str_at(o, "spec.externalName")
                        .unwrap_or("<none>")
                        .to_string(),
                    _ => "<none>".to_string(),
                };
                let selector = o["spec"]["selector"]
                    .as_object()
                    .map(|m| {
                        m.iter()
                            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                            .collect::<Vec<_>>()
                            .join(",")
                    })
                    .filter(|s| !s.is_empty())
                    .unwrap_or_else(|| "<none>".into());
                vec![
                    json!(ty),
                    json!(str_at(o, "spec.clusterIP").unwrap_or("<none>")),
                    json!(external),
                    json!(ports(o)),
                    json!(age(o)),
                    json!(selector),
                ]
            },
        ),
        "Endpoints" => (
            vec![
                col("Name", "string", 0),
                col("Endpoints", "string", 0),
                col("Age", "string", 0),
            ],
            |o| {
                let mut eps = Vec::new();
                for s in o["subsets"].as_array().cloned().unwrap_or_default() {
                    for a in s["addresses"].as_array().cloned().unwrap_or_default() {
                        for p in s["ports"].as_array().cloned().unwrap_or_default() {
                            eps.push(format!(
                                "{}:{}",
                                a["ip"].as_str().unwrap_or_default(),
                                n(&p["port"])
                            ));
                        }
                    }
                }
                vec![
                    json!(if eps.is_empty() {
                        "<none>".to_string()
                    } else {
                        eps.join(",")
                    }),
                    json!(age(o)),
                ]
            },
        ),
        "Namespace" => (
            vec![
                col("Name", "string", 0),
                col("Status", "string", 0),
                col("Age", "string", 0),
            ],
            |o| {
                vec![
                    json!(str_at(o, "status.phase").unwrap_or("Active")),
                    json!(age(o)),
                ]
            },
        ),
        "Secret" => (
            vec![
                col("Name", "string", 0),
                col("Type", "string", 0),
                col("Data", "string", 0),
                col("Age", "string", 0),
            ],
            |o| {
                vec![
                    json!(str_at(o, "type").unwrap_or("Opaque")),
                    json!(o["data"].as_object().map_or(0, |m| m.len())),
                    json!(age(o)),
                ]
            },
        ),
        "ConfigMap" => (
            vec![
                col("Name", "string", 0),
                col("Data", "string", 0),
                col("Age", "string", 0),
            ],
            |o| {
                vec![
                    json!(
                        o["data"].as_object().map_or(0, |m| m.len())
                            + o["binaryData"].as_object().map_or(0, |m| m.len())
                    ),
                    json!(age(o)),
                ]
            },
        ),
        "ServiceAccount" => (
            vec![
                col("Name", "string", 0),
                col("Secrets", "string", 0),
                col("Age", "string", 0),
            ],
            |o| {
                vec![
                    json!(o["secrets"].as_array().map_or(0, Vec::len)),
                    json!(age(o)),
                ]
            },
        ),
        "Node" => (
            vec![
                col("Name", "string", 0),
                col("Status", "string", 0),
                col("Roles", "string", 0),
                col("Age", "string", 0),
                col("Version", "string", 0),
                col("Internal-IP", "string", 1),
                col("External-IP", "string", 1),
                col("OS-Image", "string", 1),
                col("Kernel-Version", "string", 1),
                col("Container-Runtime", "string", 1),
            ],
            |o| {
                let address = |ty: &str| {
                    o["status"]["addresses"]
                        .as_array()
                        .and_then(|a| a.iter().find(|x| x["type"] == ty))
                        .and_then(|x| x["address"].as_str())
                        .unwrap_or("<none>")
                        .to_string()
                };
                let info = |k: &str| {
                    o["status"]["nodeInfo"][k]
                        .as_str()
                        .unwrap_or("<unknown>")
                        .to_string()
                };
                vec![
                    json!("Ready"),
                    json!("<none>"),
                    json!(age(o)),
                    json!(str_at(o, "status.nodeInfo.kubeletVersion").unwrap_or_default()),
                    json!(address("InternalIP")),
                    json!(address("ExternalIP")),
                    json!(info("osImage")),
                    json!(info("kernelVersion")),
                    json!(info("containerRuntimeVersion")),
                ]
            },
        ),
        _ => (
            vec![col("Name", "string", 0), col("Age", "string", 0)],
            |o| vec![json!(age(o))],
        ),
    }
}

fn row(obj: &Value, build: Cells, full_object: bool) -> Value {
    let mut cells = vec![obj["metadata"]["name"].clone()];
    cells.extend(build(obj));
    let object = if full_object {
        obj.clone()
    } else {
        json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]})
    };
    json!({"cells": cells, "object": object})
}

/// A Table of `items`; `full_object` follows `includeObject=Object`, and column definitions are
/// left out for watch events after the first, as the API server does.
pub fn table(
    kind: &str,
    items: &[Value],
    rv: &str,
    full_object: bool,
    with_columns: bool,
) -> Value {
    let (cols, build) = columns(kind);
    let rows: Vec<Value> = items.iter().map(|o| row(o, build, full_object)).collect();
    let mut t = json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {"resourceVersion": rv},
                       "rows": rows});
    t["columnDefinitions"] = if with_columns { json!(cols) } else { json!([]) };
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_like_kubectl() {
        assert_eq!(human_age(5), "5s");
        assert_eq!(human_age(190), "3m10s");
        assert_eq!(human_age(3600), "60m");
        assert_eq!(human_age(4 * 3600 + 120), "4h2m");
        assert_eq!(human_age(3 * 86_400 + 3600), "3d1h");
    }

    #[test]
    fn service_rows_show_ports_and_pending_lb() {
        let svc = json!({"metadata": {"name": "gw", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "spec": {"type": "LoadBalancer", "clusterIP": "10.100.0.5",
                     "ports": [{"port": 80, "nodePort": 31000, "protocol": "TCP"}]}, "status": {"loadBalancer": {}}});
        let t = table("Service", &[svc], "1", false, true);
        let cells = &t["rows"][0]["cells"];
        assert_eq!(cells[0], "gw");
        assert_eq!(cells[3], "<pending>");
        assert_eq!(cells[4], "80:31000/TCP");
        assert!(wanted(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        ));
        assert!(!wanted("application/json"));
    }
}
