//! Compute Engine v1: the project and its metadata, zones and regions, machine types, the default
//! network, firewall rules, public images, instances and operations.
//!
//! Every instance gets an internal IP from its region's default subnet and (unless asked for
//! none) an external IP from 127.64.0.0/16, so a host tool that dials it stays on loopback; its
//! filesystem stand-in is a folder under `CLOUD_DIR/instances/`.

use serde_json::{Value, json};

use crate::catalog;
use crate::error::{ApiError, ApiResult};
use crate::filter::Filter;
use crate::service::{self, Call, Scope, Service};
use crate::state::{Kind, Record, State};
use crate::util;

/// Serves one Compute Engine request (`segments` start after `compute/v1/`).
pub fn route(svc: &Service, call: &Call) -> ApiResult {
    let parts = call.parts();
    let ["projects", project, rest @ ..] = parts.as_slice() else {
        return Err(call.unsupported());
    };
    let filter = Filter::parse(call.query.get("filter").map(String::as_str))?;
    let mut state = svc.lock();
    service::project(&mut state, project)?;
    let project = service::project_id(&state, project);
    let p = project.as_str();
    let body = &call.body;
    let out = match (call.method.as_str(), rest) {
        ("GET", []) => Ok(project_resource(svc, &state, p)),
        ("POST", ["setCommonInstanceMetadata"]) => set_project_metadata(svc, &mut state, p, body),
        ("GET", ["zones"]) => Ok(list(
            svc,
            &filter,
            p,
            "zones",
            "compute#zoneList",
            catalog::zones().map(|(z, r)| zone(svc, p, &z, r)).collect(),
        )),
        ("GET", ["zones", z]) => find_zone(z).map(|r| zone(svc, p, z, r)),
        ("GET", ["regions"]) => Ok(list(
            svc,
            &filter,
            p,
            "regions",
            "compute#regionList",
            catalog::REGIONS
                .iter()
                .map(|r| region(svc, &state, p, r))
                .collect(),
        )),
        ("GET", ["regions", r]) => catalog::region(r)
            .map(|reg| region(svc, &state, p, reg))
            .ok_or_else(|| not_found(&format!("projects/{p}/regions/{r}"))),
        ("GET", ["zones", z, "machineTypes"]) => {
            find_zone(z)?;
            Ok(list(
                svc,
                &filter,
                p,
                &format!("zones/{z}/machineTypes"),
                "compute#machineTypeList",
                catalog::MACHINE_TYPES
                    .iter()
                    .map(|m| machine_type(svc, p, z, m))
                    .collect(),
            ))
        }
        ("GET", ["zones", z, "machineTypes", t]) => {
            find_zone(z)?;
            catalog::machine_type(t)
                .map(|m| machine_type(svc, p, z, m))
                .ok_or_else(|| not_found(&format!("projects/{p}/zones/{z}/machineTypes/{t}")))
        }
        ("GET", ["global", "networks"]) => Ok(list(
            svc,
            &filter,
            p,
            "global/networks",
            "compute#networkList",
            vec![network(svc, p)],
        )),
        ("GET", ["global", "networks", "default"]) => Ok(network(svc, p)),
        ("GET", ["global", "networks", n]) => {
            Err(not_found(&format!("projects/{p}/global/networks/{n}")))
        }
        ("GET", ["regions", r, "subnetworks"]) => {
            let reg = catalog::region(r)
                .ok_or_else(|| not_found(&format!("projects/{p}/regions/{r}")))?;
            Ok(list(
                svc,
                &filter,
                p,
                &format!("regions/{r}/subnetworks"),
                "compute#subnetworkList",
                vec![subnetwork(svc, p, reg)],
            ))
        }
        ("GET", ["regions", r, "subnetworks", "default"]) => catalog::region(r)
            .map(|reg| subnetwork(svc, p, reg))
            .ok_or_else(|| not_found(&format!("projects/{p}/regions/{r}"))),
        ("GET", ["regions", r, "subnetworks", s]) => Err(not_found(&format!(
            "projects/{p}/regions/{r}/subnetworks/{s}"
        ))),
        ("GET", ["global", "firewalls"]) => {
            let items = state
                .list(Kind::Firewall)
                .iter()
                .filter(|r| r.project == p)
                .map(|r| r.body.clone())
                .collect();
            Ok(list(
                svc,
                &filter,
                p,
                "global/firewalls",
                "compute#firewallList",
                items,
            ))
        }
        ("POST", ["global", "firewalls"]) => insert_firewall(svc, &mut state, p, body),
        ("GET", ["global", "firewalls", name]) => state
            .get(Kind::Firewall, p, "global", name)
            .map(|r| r.body.clone())
            .ok_or_else(|| not_found(&format!("projects/{p}/global/firewalls/{name}"))),
        ("DELETE", ["global", "firewalls", name]) => {
            let rec = state
                .remove(Kind::Firewall, p, "global", name)
                .ok_or_else(|| not_found(&format!("projects/{p}/global/firewalls/{name}")))?;
            let id = rec.body["id"].as_str().unwrap_or_default().to_string();
            Ok(service::compute_operation(
                svc,
                &mut state,
                p,
                Scope::Global,
                "delete",
                &svc.compute_url(&format!("projects/{p}/global/firewalls/{name}")),
                &id,
            ))
        }
        ("PATCH" | "PUT", ["global", "firewalls", name]) => {
            update_firewall(svc, &mut state, p, name, body, call.method == "PUT")
        }
        ("GET", ["global", "images", "family", family]) => image_by_family(svc, p, family),
        ("GET", ["zones", z, "imageFamilyViews", family]) => {
            find_zone(z)?;
            image_by_family(svc, p, family).map(|image| json!({"image": image}))
        }
        ("GET", ["global", "images", name]) => catalog::IMAGES
            .iter()
            .find(|i| i.project == p && i.name == *name)
            .map(|i| image(svc, i))
            .ok_or_else(|| not_found(&format!("projects/{p}/global/images/{name}"))),
        ("GET", ["global", "images"]) => Ok(list(
            svc,
            &filter,
            p,
            "global/images",
            "compute#imageList",
            catalog::IMAGES
                .iter()
                .filter(|i| i.project == p)
                .map(|i| image(svc, i))
                .collect(),
        )),
        ("GET", ["zones", z, "instances"]) => {
            find_zone(z)?;
            let items = state
                .list(Kind::Instance)
                .iter()
                .filter(|r| r.project == p && r.scope == *z)
                .map(|r| r.body.clone())
                .collect();
            Ok(list(
                svc,
                &filter,
                p,
                &format!("zones/{z}/instances"),
                "compute#instanceList",
                items,
            ))
        }
        ("GET", ["aggregated", "instances"]) => Ok(aggregated(
            svc,
            &filter,
            &state,
            Kind::Instance,
            p,
            "instances",
        )),
        ("POST", ["zones", z, "instances"]) => insert_instance(svc, &mut state, p, z, body),
        ("GET", ["zones", z, "instances", name]) => {
            find_instance(&state, p, z, name).map(|r| r.body.clone())
        }
        ("DELETE", ["zones", z, "instances", name]) => {
            let rec = find_instance(&state, p, z, name)?.clone();
            drop_instance(&mut state, p, z, name);
            Ok(instance_op(svc, &mut state, &rec, "delete"))
        }
        ("POST", ["zones", z, "instances", name, action]) => {
            instance_action(svc, &mut state, p, z, name, action, body)
        }
        ("GET", ["aggregated", "operations"]) => Ok(aggregated(
            svc,
            &filter,
            &state,
            Kind::Operation,
            p,
            "operations",
        )),
        (method, ops) if operation_path(ops).is_some() => {
            let (scope, name, wait) = operation_path(ops).unwrap_or_default();
            operations(
                svc,
                &filter,
                &mut state,
                p,
                method,
                &scope,
                name.as_deref(),
                wait,
            )
        }
        _ => Err(call.unsupported()),
    };
    if out.is_ok() && call.method != "GET" {
        svc.save(&state)?;
    }
    out
}

fn not_found(path: &str) -> ApiError {
    ApiError::not_found(format!("The resource '{path}' was not found"))
}

fn already_exists(path: &str) -> ApiError {
    ApiError::conflict(format!("The resource '{path}' already exists"))
}

fn find_zone(z: &str) -> ApiResult<&'static catalog::Region> {
    catalog::zone_region(z).ok_or_else(|| {
        ApiError::invalid(format!(
            "Invalid value for field 'zone': '{z}'. Unknown zone."
        ))
    })
}

fn list(
    svc: &Service,
    filter: &Filter,
    project: &str,
    path: &str,
    kind: &str,
    items: Vec<Value>,
) -> Value {
    let items: Vec<Value> = items.into_iter().filter(|i| filter.matches(i)).collect();
    let mut out = json!({"kind": kind, "id": format!("projects/{project}/{path}"),
        "selfLink": svc.compute_url(&format!("projects/{project}/{path}"))});
    if !items.is_empty() {
        out["items"] = Value::Array(items);
    }
    out
}

fn project_resource(svc: &Service, state: &State, project: &str) -> Value {
    let p = &state.projects[project];
    json!({
        "kind": "compute#project",
        "id": p.number,
        "name": project,
        "creationTimestamp": p.created,
        "commonInstanceMetadata": {"kind": "compute#metadata", "fingerprint": p.fingerprint,
                                   "items": p.metadata},
        "quotas": [{"metric": "FIREWALLS", "limit": 200.0,
                    "usage": state.list(Kind::Firewall).iter().filter(|r| r.project == project).count() as f64},
                   {"metric": "NETWORKS", "limit": 15.0, "usage": 1.0}],
        "selfLink": svc.compute_url(&format!("projects/{project}")),
        "defaultServiceAccount": format!("{}-compute@developer.gserviceaccount.com", p.number),
        "xpnProjectStatus": "UNSPECIFIED_XPN_PROJECT_STATUS",
        "defaultNetworkTier": "PREMIUM",
        "vmDnsSetting": "ZONAL_ONLY",
    })
}

/// Replaces metadata `items` guarded by `fingerprint`; returns the new fingerprint.
fn replace_metadata(current: &str, body: &Value) -> ApiResult<(Vec<Value>, String)> {
    if let Some(given) = body["fingerprint"].as_str().filter(|f| !f.is_empty())
        && given != current
    {
        return Err(ApiError::fingerprint());
    }
    let items = body["items"].as_array().cloned().unwrap_or_default();
    for item in &items {
        let key = item["key"].as_str().unwrap_or_default();
        let ok = !key.is_empty()
            && key.len() <= 128
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !ok {
            return Err(ApiError::invalid(format!(
                "Invalid value for field 'resource.items[].key': '{key}'. Must be a match of regex '[a-zA-Z0-9-_]{{1,128}}'"
            )));
        }
    }
    let fingerprint = base64_fingerprint();
    Ok((items, fingerprint))
}

fn base64_fingerprint() -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(util::random_hex(8).as_bytes())[..12]
        .to_string()
}

fn set_project_metadata(
    svc: &Service,
    state: &mut State,
    project: &str,
    body: &Value,
) -> ApiResult {
    let current = state.projects[project].fingerprint.clone();
    let (items, fingerprint) = replace_metadata(&current, body)?;
    let number = {
        let p = service::project(state, project)?;
        p.metadata = items;
        p.fingerprint = fingerprint;
        p.number.clone()
    };
    Ok(service::compute_operation(
        svc,
        state,
        project,
        Scope::Global,
        "compute.projects.setCommonInstanceMetadata",
        &svc.compute_url(&format!("projects/{project}")),
        &number,
    ))
}

fn zone(svc: &Service, project: &str, name: &str, region: &catalog::Region) -> Value {
    json!({
        "kind": "compute#zone",
        "id": util::number(&format!("zone/{name}"), 13),
        "creationTimestamp": "1969-12-31T16:00:00.000-08:00",
        "name": name,
        "description": name,
        "status": "UP",
        "region": svc.compute_url(&format!("projects/{project}/regions/{}", region.name)),
        "selfLink": svc.compute_url(&format!("projects/{project}/zones/{name}")),
        "availableCpuPlatforms": ["Intel Broadwell", "Intel Cascade Lake", "AMD Milan"],
        "supportsPzs": false,
    })
}

fn region(svc: &Service, state: &State, project: &str, r: &catalog::Region) -> Value {
    let in_region: Vec<&Record> = state
        .list(Kind::Instance)
        .iter()
        .filter(|i| {
            i.project == project && catalog::zone_region(&i.scope).is_some_and(|z| z.name == r.name)
        })
        .collect();
    let running: Vec<&&Record> = in_region
        .iter()
        .filter(|i| i.body["status"] == "RUNNING")
        .collect();
    let cpus: u32 = running
        .iter()
        .filter_map(|i| {
            catalog::machine_type(util::last_segment(
                i.body["machineType"].as_str().unwrap_or_default(),
            ))
        })
        .map(|m| m.1)
        .sum();
    let disks: i64 = in_region
        .iter()
        .filter_map(|i| {
            i.body["disks"][0]["diskSizeGb"]
                .as_str()
                .and_then(|s| s.parse::<i64>().ok())
        })
        .sum();
    let addresses = running
        .iter()
        .filter(|i| i.body["networkInterfaces"][0]["accessConfigs"][0]["natIP"].is_string())
        .count();
    json!({
        "kind": "compute#region",
        "id": util::number(&format!("region/{}", r.name), 4),
        "creationTimestamp": "1969-12-31T16:00:00.000-08:00",
        "name": r.name,
        "description": r.name,
        "status": "UP",
        "zones": r.zones.iter().map(|z| svc.compute_url(&format!("projects/{project}/zones/{}-{z}", r.name))).collect::<Vec<_>>(),
        "quotas": [
            {"metric": "CPUS", "limit": 24.0, "usage": f64::from(cpus)},
            {"metric": "DISKS_TOTAL_GB", "limit": 4096.0, "usage": disks as f64},
            {"metric": "STATIC_ADDRESSES", "limit": 8.0, "usage": 0.0},
            {"metric": "IN_USE_ADDRESSES", "limit": 8.0, "usage": addresses as f64},
        ],
        "selfLink": svc.compute_url(&format!("projects/{project}/regions/{}", r.name)),
        "supportsPzs": false,
    })
}

fn machine_type(svc: &Service, project: &str, zone: &str, m: &catalog::MachineType) -> Value {
    json!({
        "kind": "compute#machineType",
        "id": util::number(&format!("machineType/{}", m.0), 10),
        "creationTimestamp": "1969-12-31T16:00:00.000-08:00",
        "name": m.0,
        "description": format!("{} vCPU{}, {} MB RAM", m.1, if m.1 == 1 { "" } else { "s" }, m.2),
        "guestCpus": m.1,
        "memoryMb": m.2,
        "maximumPersistentDisks": 128,
        "maximumPersistentDisksSizeGb": "263168",
        "zone": zone,
        "selfLink": svc.compute_url(&format!("projects/{project}/zones/{zone}/machineTypes/{}", m.0)),
        "isSharedCpu": m.0.starts_with("f1") || m.0.starts_with("g1") || m.0 == "e2-micro" || m.0 == "e2-small" || m.0 == "e2-medium",
    })
}

fn network(svc: &Service, project: &str) -> Value {
    json!({
        "kind": "compute#network",
        "id": util::number(&format!("network/{project}/default"), 19),
        "creationTimestamp": "2018-01-01T00:00:00.000-08:00",
        "name": "default",
        "description": "Default network for the project",
        "selfLink": svc.compute_url(&format!("projects/{project}/global/networks/default")),
        "autoCreateSubnetworks": true,
        "subnetworks": catalog::REGIONS.iter()
            .map(|r| svc.compute_url(&format!("projects/{project}/regions/{}/subnetworks/default", r.name)))
            .collect::<Vec<_>>(),
        "routingConfig": {"routingMode": "REGIONAL"},
        "networkFirewallPolicyEnforcementOrder": "AFTER_CLASSIC_FIREWALL",
    })
}

fn subnetwork(svc: &Service, project: &str, r: &catalog::Region) -> Value {
    let [a, b, c] = r.subnet;
    json!({
        "kind": "compute#subnetwork",
        "id": util::number(&format!("subnetwork/{project}/{}", r.name), 19),
        "creationTimestamp": "2018-01-01T00:00:00.000-08:00",
        "name": "default",
        "network": svc.compute_url(&format!("projects/{project}/global/networks/default")),
        "ipCidrRange": format!("{a}.{b}.{c}.0/20"),
        "gatewayAddress": format!("{a}.{b}.{c}.1"),
        "region": svc.compute_url(&format!("projects/{project}/regions/{}", r.name)),
        "selfLink": svc.compute_url(&format!("projects/{project}/regions/{}/subnetworks/default", r.name)),
        "privateIpGoogleAccess": false,
        "purpose": "PRIVATE",
        "stackType": "IPV4_ONLY",
    })
}

fn image(svc: &Service, i: &catalog::Image) -> Value {
    let mut out = json!({
        "kind": "compute#image",
        "id": util::number(&format!("image/{}", i.name), 19),
        "creationTimestamp": "2020-01-01T00:00:00.000-08:00",
        "name": i.name,
        "family": i.family,
        "description": format!("{} ({})", i.family, i.name),
        "sourceType": "RAW",
        "status": "READY",
        "archiveSizeBytes": "2000000000",
        "diskSizeGb": "10",
        "architecture": "X86_64",
        "licenses": [svc.compute_url(&format!("projects/{}/global/licenses/{}", i.project, i.family))],
        "selfLink": svc.compute_url(&format!("projects/{}/global/images/{}", i.project, i.name)),
        "storageLocations": ["us", "eu", "asia"],
    });
    if i.retired {
        out["deprecated"] = json!({"state": "DEPRECATED"});
    }
    out
}

fn image_by_family(svc: &Service, project: &str, family: &str) -> ApiResult {
    catalog::IMAGES
        .iter()
        .find(|i| i.project == project && i.family == family)
        .map(|i| image(svc, i))
        .ok_or_else(|| not_found(&format!("projects/{project}/global/images/family/{family}")))
}

/// The image a `sourceImage` (URL, `projects/P/global/images/NAME` or `.../family/F`) names.
fn source_image(source: &str) -> ApiResult<&'static catalog::Image> {
    let path = source
        .find("projects/")
        .map(|i| &source[i..])
        .unwrap_or(source);
    let parts: Vec<&str> = path.split('/').collect();
    let found = match parts.as_slice() {
        // GKE nodes boot GKE's own COS images.
        ["projects", "gke-node-images", ..] => {
            catalog::IMAGES.iter().find(|i| i.family == "cos-stable")
        }
        ["projects", p, "global", "images", "family", f]
        | ["projects", p, "zones", _, "imageFamilyViews", f] => catalog::IMAGES
            .iter()
            .find(|i| i.project == *p && i.family == *f),
        ["projects", p, "global", "images", n] => catalog::IMAGES
            .iter()
            .find(|i| i.project == *p && i.name == *n),
        _ => None,
    };
    found.ok_or_else(|| not_found(path))
}

// --- firewall rules -------------------------------------------------------------------------

const PROTOCOLS: &[&str] = &["tcp", "udp", "icmp", "esp", "ah", "sctp", "ipip", "all"];

fn check_rules(list: &Value, field: &str) -> ApiResult<()> {
    for (i, rule) in list.as_array().into_iter().flatten().enumerate() {
        let proto = rule["IPProtocol"].as_str().unwrap_or_default();
        let known =
            PROTOCOLS.contains(&proto.to_ascii_lowercase().as_str()) || proto.parse::<u8>().is_ok();
        if !known {
            return Err(ApiError::invalid(format!(
                "Invalid value for field 'resource.{field}[{i}].IPProtocol': '{proto}'. Invalid IP protocol specification."
            )));
        }
        for (j, port) in rule["ports"].as_array().into_iter().flatten().enumerate() {
            let text = port.as_str().unwrap_or_default();
            let valid = |s: &str| s.parse::<u16>().is_ok();
            let ok = match text.split_once('-') {
                Some((a, b)) => {
                    valid(a) && valid(b) && a.parse::<u16>().ok() <= b.parse::<u16>().ok()
                }
                None => valid(text),
            };
            if !ok {
                return Err(ApiError::invalid(format!(
                    "Invalid value for field 'resource.{field}[{i}].ports[{j}]': '{text}'. Invalid port specification."
                )));
            }
            if !matches!(proto.to_ascii_lowercase().as_str(), "tcp" | "udp" | "sctp") {
                return Err(ApiError::invalid(format!(
                    "Invalid value for field 'resource.{field}[{i}].ports[{j}]': '{text}'. Ports may only be specified on rules whose protocol is one of [TCP, UDP, SCTP]."
                )));
            }
        }
    }
    Ok(())
}

fn check_ranges(list: &Value, field: &str) -> ApiResult<()> {
    for (i, r) in list.as_array().into_iter().flatten().enumerate() {
        let text = r.as_str().unwrap_or_default();
        let ok = util::parse_cidr(text).is_some() || text.parse::<std::net::Ipv4Addr>().is_ok();
        if !ok {
            return Err(ApiError::invalid(format!(
                "Invalid value for field 'resource.{field}[{i}]': '{text}'. Must be a CIDR address range that is contained in the network's IP range."
            )));
        }
    }
    Ok(())
}

/// Checks a firewall rule and fills in what Compute Engine fills in.
fn complete_firewall(svc: &Service, project: &str, mut fw: Value, id: String) -> ApiResult {
    let name = fw["name"].as_str().unwrap_or_default().to_string();
    check_name(&name)?;
    let network = fw["network"]
        .as_str()
        .map(util::last_segment)
        .unwrap_or("default")
        .to_string();
    if network != "default" {
        return Err(not_found(&format!(
            "projects/{project}/global/networks/{network}"
        )));
    }
    let allowed = fw["allowed"].as_array().is_some_and(|a| !a.is_empty());
    let denied = fw["denied"].as_array().is_some_and(|a| !a.is_empty());
    if allowed == denied {
        return Err(ApiError::invalid(
            "Invalid value for field 'resource': ''. Exactly one of allowed or denied must be specified.",
        ));
    }
    check_rules(&fw["allowed"], "allowed")?;
    check_rules(&fw["denied"], "denied")?;
    check_ranges(&fw["sourceRanges"], "sourceRanges")?;
    check_ranges(&fw["destinationRanges"], "destinationRanges")?;
    let priority = fw["priority"].as_i64().unwrap_or(1000);
    if !(0..=65535).contains(&priority) {
        return Err(ApiError::invalid(format!(
            "Invalid value for field 'resource.priority': '{priority}'. Must be less than or equal to 65535"
        )));
    }
    let direction = fw["direction"].as_str().unwrap_or("INGRESS").to_string();
    if direction != "INGRESS" && direction != "EGRESS" {
        return Err(ApiError::invalid(format!(
            "Invalid value for field 'resource.direction': '{direction}'."
        )));
    }
    let no_source = ["sourceRanges", "sourceTags", "sourceServiceAccounts"]
        .iter()
        .all(|k| fw[*k].as_array().is_none_or(|a| a.is_empty()));
    let obj = fw
        .as_object_mut()
        .ok_or_else(|| ApiError::invalid("a firewall rule is an object"))?;
    if direction == "INGRESS" && no_source {
        obj.insert("sourceRanges".into(), json!(["0.0.0.0/0"]));
    }
    if direction == "EGRESS" && obj.get("destinationRanges").is_none() {
        obj.insert("destinationRanges".into(), json!(["0.0.0.0/0"]));
    }
    obj.insert("kind".into(), json!("compute#firewall"));
    obj.insert("id".into(), json!(id));
    obj.entry("creationTimestamp")
        .or_insert_with(|| json!(util::now()));
    obj.insert(
        "network".into(),
        json!(svc.compute_url(&format!("projects/{project}/global/networks/default"))),
    );
    obj.insert("priority".into(), json!(priority));
    obj.insert("direction".into(), json!(direction));
    obj.entry("description").or_insert_with(|| json!(""));
    obj.insert("logConfig".into(), json!({"enable": fw_log(obj)}));
    obj.entry("disabled").or_insert(json!(false));
    obj.insert(
        "selfLink".into(),
        json!(svc.compute_url(&format!("projects/{project}/global/firewalls/{name}"))),
    );
    Ok(fw)
}

fn fw_log(obj: &serde_json::Map<String, Value>) -> bool {
    obj.get("logConfig")
        .and_then(|l| l["enable"].as_bool())
        .unwrap_or(false)
}

fn check_name(name: &str) -> ApiResult<()> {
    if util::valid_name(name, 63) {
        return Ok(());
    }
    Err(ApiError::invalid(format!(
        "Invalid value for field 'resource.name': '{name}'. Must be a match of regex '(?:[a-z](?:[-a-z0-9]{{0,61}}[a-z0-9])?)'"
    )))
}

fn insert_firewall(svc: &Service, state: &mut State, project: &str, body: &Value) -> ApiResult {
    let name = body["name"].as_str().unwrap_or_default().to_string();
    check_name(&name)?;
    let path = format!("projects/{project}/global/firewalls/{name}");
    if state
        .get(Kind::Firewall, project, "global", &name)
        .is_some()
    {
        return Err(already_exists(&path));
    }
    let serial = state.next_serial();
    let id = util::number(&format!("firewall/{project}/{name}/{serial}"), 19);
    let fw = complete_firewall(svc, project, body.clone(), id.clone())?;
    state.insert(Kind::Firewall, Record::new(project, "global", &name, fw));
    Ok(service::compute_operation(
        svc,
        state,
        project,
        Scope::Global,
        "insert",
        &svc.compute_url(&path),
        &id,
    ))
}

fn update_firewall(
    svc: &Service,
    state: &mut State,
    project: &str,
    name: &str,
    body: &Value,
    replace: bool,
) -> ApiResult {
    let path = format!("projects/{project}/global/firewalls/{name}");
    let rec = state
        .get(Kind::Firewall, project, "global", name)
        .cloned()
        .ok_or_else(|| not_found(&path))?;
    let mut merged = if replace { json!({}) } else { rec.body.clone() };
    if let (Some(dst), Some(src)) = (merged.as_object_mut(), body.as_object()) {
        for (k, v) in src {
            dst.insert(k.clone(), v.clone());
        }
    }
    merged["name"] = json!(name);
    merged["creationTimestamp"] = rec.body["creationTimestamp"].clone();
    let id = rec.body["id"].as_str().unwrap_or_default().to_string();
    let fw = complete_firewall(svc, project, merged, id.clone())?;
    if let Some(r) = state.get_mut(Kind::Firewall, project, "global", name) {
        r.body = fw;
    }
    Ok(service::compute_operation(
        svc,
        state,
        project,
        Scope::Global,
        "patch",
        &svc.compute_url(&path),
        &id,
    ))
}

// --- instances ------------------------------------------------------------------------------

/// What a new instance is made of.
pub struct InstanceSpec {
    /// The machine type's name.
    pub machine_type: String,
    /// The `tags.items` list.
    pub tags: Value,
    /// Labels.
    pub labels: Value,
    /// Metadata items.
    pub metadata: Vec<Value>,
    /// The boot image (`projects/P/global/images/...`).
    pub image: String,
    /// The boot disk's size.
    pub disk_gb: i64,
    /// Whether it gets an external IP.
    pub external_ip: bool,
}

fn used_ips(state: &State, which: &str) -> std::collections::BTreeSet<String> {
    state
        .list(Kind::Instance)
        .iter()
        .filter_map(|r| {
            let nic = &r.body["networkInterfaces"][0];
            let v = if which == "nat" {
                &nic["accessConfigs"][0]["natIP"]
            } else {
                &nic["networkIP"]
            };
            v.as_str().map(str::to_string)
        })
        .collect()
}

/// A free external IP in 127.64.0.0/16 (loopback: nothing that dials it leaves the machine).
fn external_ip(state: &State) -> String {
    let used = used_ips(state, "nat");
    (0..64_000u32)
        .map(|n| format!("127.64.{}.{}", n / 250, n % 250 + 2))
        .find(|ip| !used.contains(ip))
        .unwrap_or_else(|| "127.64.255.254".to_string())
}

/// A free internal IP in the zone's default subnet (x.y.z.2 on; .1 is the gateway).
fn internal_ip(state: &State, project: &str, region: &catalog::Region) -> String {
    let used: std::collections::BTreeSet<String> = state
        .list(Kind::Instance)
        .iter()
        .filter(|r| r.project == project)
        .filter_map(|r| {
            r.body["networkInterfaces"][0]["networkIP"]
                .as_str()
                .map(str::to_string)
        })
        .collect();
    let [a, b, c] = region.subnet;
    (0..4000u32)
        .map(|n| format!("{a}.{b}.{}.{}", u32::from(c) + n / 253, n % 253 + 2))
        .find(|ip| !used.contains(ip))
        .unwrap_or_else(|| format!("{a}.{b}.{c}.254"))
}

/// Builds an instance record, its addresses and its stand-in folder (not yet stored).
pub fn new_instance(
    svc: &Service,
    state: &mut State,
    project: &str,
    zone: &str,
    name: &str,
    spec: InstanceSpec,
) -> ApiResult<Record> {
    check_name(name)?;
    let region = find_zone(zone)?;
    let path = format!("projects/{project}/zones/{zone}/instances/{name}");
    if state.get(Kind::Instance, project, zone, name).is_some() {
        return Err(already_exists(&path));
    }
    if catalog::machine_type(&spec.machine_type).is_none() {
        return Err(ApiError::invalid(format!(
            "Invalid value for field 'resource.machineType': 'projects/{project}/zones/{zone}/machineTypes/{}'. Machine type with name '{}' does not exist in zone '{zone}'.",
            spec.machine_type, spec.machine_type
        )));
    }
    let image = source_image(&spec.image)?;
    let serial = state.next_serial();
    let number = state
        .projects
        .get(project)
        .map(|p| p.number.clone())
        .unwrap_or_default();
    let now = util::now();
    let mut nic = json!({
        "kind": "compute#networkInterface",
        "network": svc.compute_url(&format!("projects/{project}/global/networks/default")),
        "subnetwork": svc.compute_url(&format!("projects/{project}/regions/{}/subnetworks/default", region.name)),
        "networkIP": internal_ip(state, project, region),
        "name": "nic0",
        "fingerprint": base64_fingerprint(),
        "stackType": "IPV4_ONLY",
    });
    if spec.external_ip {
        nic["accessConfigs"] = json!([{"kind": "compute#accessConfig", "type": "ONE_TO_ONE_NAT",
            "name": "External NAT", "natIP": external_ip(state), "networkTier": "PREMIUM"}]);
    }
    let body = json!({
        "kind": "compute#instance",
        "id": util::number(&format!("instance/{path}/{serial}"), 19),
        "creationTimestamp": now,
        "name": name,
        "tags": {"items": spec.tags.as_array().cloned().unwrap_or_default(), "fingerprint": base64_fingerprint()},
        "machineType": svc.compute_url(&format!("projects/{project}/zones/{zone}/machineTypes/{}", spec.machine_type)),
        "status": "RUNNING",
        "zone": svc.compute_url(&format!("projects/{project}/zones/{zone}")),
        "canIpForward": false,
        "networkInterfaces": [nic],
        "disks": [{
            "kind": "compute#attachedDisk", "type": "PERSISTENT", "mode": "READ_WRITE",
            "source": svc.compute_url(&format!("projects/{project}/zones/{zone}/disks/{name}")),
            "deviceName": name, "index": 0, "boot": true, "autoDelete": true,
            "licenses": [svc.compute_url(&format!("projects/{}/global/licenses/{}", image.project, image.family))],
            "interface": "SCSI", "diskSizeGb": spec.disk_gb.to_string(), "architecture": "X86_64",
        }],
        "metadata": {"kind": "compute#metadata", "fingerprint": base64_fingerprint(), "items": spec.metadata},
        "serviceAccounts": [{"email": format!("{number}-compute@developer.gserviceaccount.com"),
            "scopes": ["https://www.googleapis.com/auth/devstorage.read_only",
                       "https://www.googleapis.com/auth/logging.write",
                       "https://www.googleapis.com/auth/monitoring.write"]}],
        "selfLink": svc.compute_url(&path),
        "scheduling": {"onHostMaintenance": "MIGRATE", "automaticRestart": true, "preemptible": false,
                       "provisioningModel": "STANDARD"},
        "cpuPlatform": "Intel Broadwell",
        "labels": spec.labels,
        "labelFingerprint": base64_fingerprint(),
        "startRestricted": false,
        "deletionProtection": false,
        "shieldedInstanceConfig": {"enableSecureBoot": false, "enableVtpm": true, "enableIntegrityMonitoring": true},
        "fingerprint": base64_fingerprint(),
        "lastStartTimestamp": now,
    });
    let mut rec = Record::new(project, zone, name, body);
    rec.root = Some(instance_root(svc, state, project, zone, name));
    Ok(rec)
}

/// `CLOUD_DIR/instances/NAME/root`, or (when another zone or project has an instance of that
/// name) `CLOUD_DIR/instances/NAME.ZONE.PROJECT/root`; `instances.json` always names it.
fn instance_root(
    svc: &Service,
    state: &State,
    project: &str,
    zone: &str,
    name: &str,
) -> std::path::PathBuf {
    let plain = svc.dir.join("instances").join(name).join("root");
    let taken = state
        .list(Kind::Instance)
        .iter()
        .any(|r| r.root.as_ref() == Some(&plain));
    if taken {
        svc.dir
            .join("instances")
            .join(format!("{name}.{zone}.{project}"))
            .join("root")
    } else {
        plain
    }
}

/// Stores an instance made by [`new_instance`] and creates its stand-in folder.
pub fn add_instance(state: &mut State, rec: Record) {
    if let Some(root) = &rec.root {
        // A folder that cannot be made shows up when a double uses it; the instance exists.
        let _ = crate::util::create_private_dir(root);
    }
    state.insert(Kind::Instance, rec);
}

/// Removes an instance and its stand-in folder.
pub fn drop_instance(state: &mut State, project: &str, zone: &str, name: &str) {
    if let Some(rec) = state.remove(Kind::Instance, project, zone, name)
        && let Some(dir) = rec.root.as_ref().and_then(|r| r.parent())
    {
        let _ = std::fs::remove_dir_all(dir);
    }
}

fn find_instance<'a>(
    state: &'a State,
    project: &str,
    zone: &str,
    name: &str,
) -> ApiResult<&'a Record> {
    find_zone(zone)?;
    state
        .get(Kind::Instance, project, zone, name)
        .ok_or_else(|| not_found(&format!("projects/{project}/zones/{zone}/instances/{name}")))
}

fn instance_op(svc: &Service, state: &mut State, rec: &Record, kind: &str) -> Value {
    let link = svc.compute_url(&format!(
        "projects/{}/zones/{}/instances/{}",
        rec.project, rec.scope, rec.name
    ));
    let id = rec.body["id"].as_str().unwrap_or_default().to_string();
    service::compute_operation(
        svc,
        state,
        &rec.project,
        Scope::Zone(rec.scope.clone()),
        kind,
        &link,
        &id,
    )
}

fn insert_instance(
    svc: &Service,
    state: &mut State,
    project: &str,
    zone: &str,
    body: &Value,
) -> ApiResult {
    let name = body["name"].as_str().unwrap_or_default().to_string();
    let boot = body["disks"]
        .as_array()
        .and_then(|d| {
            d.iter()
                .find(|d| d["boot"].as_bool().unwrap_or(false))
                .or(d.first())
        })
        .cloned()
        .unwrap_or(Value::Null);
    let image = boot["initializeParams"]["sourceImage"]
        .as_str()
        .unwrap_or("projects/debian-cloud/global/images/family/debian-12")
        .to_string();
    let disk_gb = boot["initializeParams"]["diskSizeGb"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| boot["initializeParams"]["diskSizeGb"].as_i64())
        .unwrap_or(10);
    let nic = &body["networkInterfaces"][0];
    let spec = InstanceSpec {
        machine_type: util::last_segment(body["machineType"].as_str().unwrap_or("n1-standard-1"))
            .to_string(),
        tags: body["tags"]["items"].clone(),
        labels: body["labels"].clone(),
        metadata: body["metadata"]["items"]
            .as_array()
            .cloned()
            .unwrap_or_default(),
        image,
        disk_gb,
        external_ip: nic["accessConfigs"]
            .as_array()
            .is_some_and(|a| !a.is_empty()),
    };
    if let Some(net) = nic["network"].as_str().map(util::last_segment)
        && net != "default"
    {
        return Err(not_found(&format!(
            "projects/{project}/global/networks/{net}"
        )));
    }
    let mut rec = new_instance(svc, state, project, zone, &name, spec)?;
    if let Some(desc) = body["description"].as_str() {
        rec.body["description"] = json!(desc);
    }
    if let Some(sched) = body["scheduling"].as_object() {
        for (k, v) in sched {
            rec.body["scheduling"][k] = v.clone();
        }
    }
    if let Some(accounts) = body["serviceAccounts"].as_array().filter(|a| !a.is_empty()) {
        rec.body["serviceAccounts"] = json!(accounts);
    }
    if let Some(tier) = nic["accessConfigs"][0]["networkTier"].as_str() {
        rec.body["networkInterfaces"][0]["accessConfigs"][0]["networkTier"] = json!(tier);
    }
    let op_rec = rec.clone();
    add_instance(state, rec);
    Ok(instance_op(svc, state, &op_rec, "insert"))
}

fn instance_action(
    svc: &Service,
    state: &mut State,
    project: &str,
    zone: &str,
    name: &str,
    action: &str,
    body: &Value,
) -> ApiResult {
    let rec = find_instance(state, project, zone, name)?.clone();
    let now = util::now();
    let external = if rec.body["networkInterfaces"][0]["accessConfigs"].is_array() {
        Some(external_ip(state))
    } else {
        None
    };
    let mut b = rec.body.clone();
    let kind = match action {
        "stop" => {
            b["status"] = json!("TERMINATED");
            b["lastStopTimestamp"] = json!(now);
            // An ephemeral external IP is released when the instance stops.
            if let Some(ac) = b["networkInterfaces"][0]["accessConfigs"][0].as_object_mut() {
                ac.remove("natIP");
            }
            "stop"
        }
        "start" => {
            if b["status"] != "RUNNING" {
                b["status"] = json!("RUNNING");
                b["lastStartTimestamp"] = json!(now);
                if let Some(ip) = external {
                    b["networkInterfaces"][0]["accessConfigs"][0]["natIP"] = json!(ip);
                }
            }
            "start"
        }
        "reset" => "reset",
        "setMetadata" => {
            let current = b["metadata"]["fingerprint"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let (items, fingerprint) = replace_metadata(&current, body)?;
            b["metadata"] =
                json!({"kind": "compute#metadata", "fingerprint": fingerprint, "items": items});
            "setMetadata"
        }
        "setTags" => {
            let current = b["tags"]["fingerprint"].as_str().unwrap_or_default();
            if body["fingerprint"]
                .as_str()
                .is_some_and(|f| !f.is_empty() && f != current)
            {
                return Err(ApiError::fingerprint());
            }
            b["tags"] = json!({"items": body["items"].as_array().cloned().unwrap_or_default(),
                               "fingerprint": base64_fingerprint()});
            "setTags"
        }
        "setLabels" => {
            b["labels"] = body["labels"].clone();
            b["labelFingerprint"] = json!(base64_fingerprint());
            "setLabels"
        }
        _ => {
            return Err(ApiError::unsupported(
                "POST",
                &format!("projects/{project}/zones/{zone}/instances/{name}/{action}"),
            ));
        }
    };
    if let Some(r) = state.get_mut(Kind::Instance, project, zone, name) {
        r.body = b;
    }
    Ok(instance_op(svc, state, &rec, kind))
}

/// An aggregated list: `items` keyed by scope (`zones/Z`), each with its resources under `key`.
fn aggregated(
    svc: &Service,
    filter: &Filter,
    state: &State,
    kind: Kind,
    project: &str,
    key: &str,
) -> Value {
    let mut items = serde_json::Map::new();
    for r in state
        .list(kind)
        .iter()
        .filter(|r| r.project == project && filter.matches(&r.body))
    {
        let scope = if r.scope.contains('/') || r.scope == "global" {
            r.scope.clone()
        } else {
            format!("zones/{}", r.scope)
        };
        let entry = items.entry(scope).or_insert_with(|| json!({key: []}));
        if let Some(a) = entry[key].as_array_mut() {
            a.push(r.body.clone());
        }
    }
    let kind_name = match key {
        "instances" => "compute#instanceAggregatedList",
        _ => "compute#operationAggregatedList",
    };
    json!({"kind": kind_name,
           "id": format!("projects/{project}/aggregated/{key}"),
           "items": items,
           "selfLink": svc.compute_url(&format!("projects/{project}/aggregated/{key}"))})
}

// --- operations -----------------------------------------------------------------------------

/// `(scope, operation name, wait)` of an operations path.
fn operation_path(rest: &[&str]) -> Option<(String, Option<String>, bool)> {
    let (scope, tail) = match rest {
        ["global", "operations", tail @ ..] => ("global".to_string(), tail),
        ["regions", r, "operations", tail @ ..] => (format!("regions/{r}"), tail),
        ["zones", z, "operations", tail @ ..] => (format!("zones/{z}"), tail),
        _ => return None,
    };
    match tail {
        [] => Some((scope, None, false)),
        [name] => Some((scope, Some(name.to_string()), false)),
        [name, "wait"] => Some((scope, Some(name.to_string()), true)),
        _ => None,
    }
}

#[allow(clippy::too_many_arguments)]
fn operations(
    svc: &Service,
    filter: &Filter,
    state: &mut State,
    project: &str,
    method: &str,
    scope: &str,
    name: Option<&str>,
    wait: bool,
) -> ApiResult {
    let Some(name) = name else {
        let items = state
            .list(Kind::Operation)
            .iter()
            .filter(|r| r.project == project && r.scope == scope)
            .map(|r| r.body.clone())
            .collect();
        return Ok(list(
            svc,
            filter,
            project,
            &format!("{scope}/operations"),
            "compute#operationList",
            items,
        ));
    };
    let path = format!("projects/{project}/{scope}/operations/{name}");
    match (method, wait) {
        ("GET", false) | ("POST", true) => state
            .get(Kind::Operation, project, scope, name)
            .map(|r| r.body.clone())
            .ok_or_else(|| not_found(&path)),
        ("DELETE", false) => state
            .remove(Kind::Operation, project, scope, name)
            .map(|_| json!({}))
            .ok_or_else(|| not_found(&path)),
        _ => Err(ApiError::unsupported(method, &path)),
    }
}
