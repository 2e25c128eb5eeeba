//! Kubernetes Engine v1: server config, clusters, node pools and operations.
//!
//! A created cluster is a simulated Kubernetes cluster from the host, with its endpoint and CA
//! in the resource, so `gcloud container clusters get-credentials` writes a kubeconfig entry that
//! kubectl and kube-rs use unchanged. Its nodes are Compute Engine instances, as on GKE.

use base64::Engine;
use serde_json::{Value, json};

use crate::catalog;
use crate::compute::{self, InstanceSpec};
use crate::error::{ApiError, ApiResult};
use crate::rules;
use crate::service::{self, Call, Service};
use crate::state::{Kind, Record, State};
use crate::util;

/// Serves one Kubernetes Engine request (`segments` start after `v1/`).
pub async fn route(svc: &Service, call: Call) -> ApiResult {
    let parts = call.parts();
    let (project, location, rest) = match parts.as_slice() {
        ["projects", p, "locations" | "zones", l, rest @ ..] => (*p, *l, rest),
        _ => return Err(call.unsupported()),
    };
    {
        let mut state = svc.lock();
        service::project(&mut state, project)?;
    }
    let project = service::project_id(&svc.lock(), project);
    let project = project.as_str();
    let method = call.method.as_str();
    let verb = call.verb.as_deref();
    match (method, rest, verb) {
        ("GET", ["serverConfig" | "serverconfig"], None) => {
            check_location(location)?;
            Ok(server_config())
        }
        ("GET", ["clusters"], None) => Ok(list_clusters(&svc.lock(), project, location)),
        ("POST", ["clusters"], None) => create_cluster(svc, project, location, &call.body).await,
        ("GET", ["clusters", name], None) => {
            Ok(find_cluster(&svc.lock(), project, location, name)?
                .body
                .clone())
        }
        ("DELETE", ["clusters", name], None) => delete_cluster(svc, project, location, name).await,
        ("PUT", ["clusters", name], None) | ("POST", ["clusters", name], Some("update")) => {
            update_cluster(svc, project, location, name, &call.body)
        }
        ("GET", ["clusters", name, "nodePools"], None) => {
            let state = svc.lock();
            let c = find_cluster(&state, project, location, name)?;
            Ok(json!({"nodePools": c.body["nodePools"]}))
        }
        ("POST", ["clusters", name, "nodePools"], None) => {
            create_node_pool(svc, project, location, name, &call.body)
        }
        ("GET", ["clusters", name, "nodePools", pool], None) => {
            let state = svc.lock();
            let c = find_cluster(&state, project, location, name)?;
            Ok(find_pool(&c.body, project, location, name, pool)?.clone())
        }
        ("DELETE", ["clusters", name, "nodePools", pool], None) => {
            delete_node_pool(svc, project, location, name, pool)
        }
        ("POST", ["clusters", name, "nodePools", pool], Some("setSize"))
        | ("POST", ["clusters", name, "nodePools", pool, "setSize"], None) => {
            let count = call.body["nodeCount"]
                .as_i64()
                .or_else(|| call.body["nodeCount"].as_str().and_then(|s| s.parse().ok()))
                .unwrap_or(-1);
            set_pool_size(svc, project, location, name, pool, count)
        }
        ("GET", ["operations"], None) => {
            let state = svc.lock();
            let ops: Vec<Value> = state
                .list(Kind::ClusterOperation)
                .iter()
                .filter(|r| r.project == project && (location == "-" || r.scope == location))
                .map(|r| r.body.clone())
                .collect();
            Ok(json!({"operations": ops}))
        }
        ("GET", ["operations", name], None) => {
            let state = svc.lock();
            state
                .list(Kind::ClusterOperation)
                .iter()
                .find(|r| r.project == project && r.name == *name)
                .map(|r| r.body.clone())
                .ok_or_else(|| {
                    ApiError::not_found(format!(
                        "Not found: {}.",
                        resource_path(project, location, &format!("operations/{name}"))
                    ))
                })
        }
        _ => Err(call.unsupported()),
    }
}

/// `projects/P/zones/Z/...` for a zone, `projects/P/locations/R/...` for a region, as GKE's
/// messages name resources.
fn resource_path(project: &str, location: &str, rest: &str) -> String {
    if catalog::zone_region(location).is_some() {
        format!("projects/{project}/zones/{location}/{rest}")
    } else {
        format!("projects/{project}/locations/{location}/{rest}")
    }
}

fn check_location(location: &str) -> ApiResult<()> {
    if catalog::zone_region(location).is_some() || catalog::region(location).is_some() {
        Ok(())
    } else {
        Err(ApiError::not_found(format!(
            "Location \"{location}\" does not exist."
        )))
    }
}

/// Valid versions, image types and release channels.
fn server_config() -> Value {
    let versions: Vec<&str> = catalog::GKE_VERSIONS.to_vec();
    let channel = |name: &str| {
        json!({"channel": name, "defaultVersion": catalog::DEFAULT_GKE_VERSION,
               "validVersions": versions})
    };
    json!({
        "defaultClusterVersion": catalog::DEFAULT_GKE_VERSION,
        "validMasterVersions": versions,
        "validNodeVersions": versions,
        "defaultImageType": "COS_CONTAINERD",
        "validImageTypes": catalog::IMAGE_TYPES,
        "channels": [channel("RAPID"), channel("REGULAR"), channel("STABLE")],
    })
}

fn list_clusters(state: &State, project: &str, location: &str) -> Value {
    let clusters: Vec<Value> = state
        .list(Kind::Cluster)
        .iter()
        .filter(|r| r.project == project && (location == "-" || r.scope == location))
        .map(|r| r.body.clone())
        .collect();
    json!({"clusters": clusters})
}

fn find_cluster<'a>(
    state: &'a State,
    project: &str,
    location: &str,
    name: &str,
) -> ApiResult<&'a Record> {
    state
        .get(Kind::Cluster, project, location, name)
        .ok_or_else(|| cluster_not_found(project, location, name))
}

fn cluster_not_found(project: &str, location: &str, name: &str) -> ApiError {
    ApiError::not_found(format!(
        "Not found: {}.",
        resource_path(project, location, &format!("clusters/{name}"))
    ))
}

fn find_pool<'a>(
    cluster: &'a Value,
    project: &str,
    location: &str,
    name: &str,
    pool: &str,
) -> ApiResult<&'a Value> {
    cluster["nodePools"]
        .as_array()
        .and_then(|pools| pools.iter().find(|p| p["name"] == pool))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Not found: {}.",
                resource_path(
                    project,
                    location,
                    &format!("clusters/{name}/nodePools/{pool}")
                )
            ))
        })
}

/// Records a GKE operation; returns it as it looked when the request was accepted (RUNNING)
/// and stores it finished (DONE), so gcloud's first poll sees the end.
fn operation(
    svc: &Service,
    state: &mut State,
    project: &str,
    location: &str,
    kind: &str,
    target: &str,
    error: Option<&ApiError>,
) -> Value {
    let now = util::now_ms();
    let name = format!("operation-{now}-{}", util::random_hex(8));
    let number = state
        .projects
        .get(project)
        .map(|p| p.number.clone())
        .unwrap_or_default();
    let self_link = format!(
        "{}{}",
        svc.container_base(),
        resource_path(&number, location, &format!("operations/{name}"))
    );
    let target_link = format!(
        "{}{}",
        svc.container_base(),
        resource_path(&number, location, target)
    );
    let accepted = json!({
        "name": name,
        "zone": location,
        "location": location,
        "operationType": kind,
        "status": "RUNNING",
        "selfLink": self_link,
        "targetLink": target_link,
        "startTime": util::rfc3339(now),
    });
    let mut done = accepted.clone();
    done["status"] = json!("DONE");
    done["endTime"] = json!(util::now());
    if let Some(e) = error {
        done["statusMessage"] = json!(e.message);
        done["error"] = json!({"code": e.code, "message": e.message});
    }
    state.insert(
        Kind::ClusterOperation,
        Record::new(project, location, &name, done),
    );
    accepted
}

/// A pod range (`/14`) and a Service range (`/20`) per cluster that never overlap.
fn ranges(seq: u32) -> (String, String) {
    let seq = seq % 60;
    (
        format!("10.{}.0.0/14", 8 + 4 * seq),
        format!("172.{}.{}.0/20", 16 + seq / 16, (seq % 16) * 16),
    )
}

/// The tag every node of a cluster carries (`gke-NAME-HASH-node`), as GKE names it.
fn node_tag(cluster: &str, hash: &str) -> String {
    format!("gke-{}-{hash}-node", truncate(cluster, 40))
}

fn truncate(s: &str, n: usize) -> &str {
    &s[..s.len().min(n)]
}

struct NewCluster {
    body: Value,
    version: &'static str,
}

/// Checks a create against the service's rules and fills in what GKE fills in.
fn prepare_cluster(
    svc: &Service,
    state: &mut State,
    project: &str,
    location: &str,
    request: &Value,
) -> ApiResult<NewCluster> {
    let mut c = request["cluster"].clone();
    if !c.is_object() {
        return Err(ApiError::invalid("Cluster.name cannot be empty."));
    }
    let name = c["name"].as_str().unwrap_or_default().to_string();
    if name.is_empty() {
        return Err(ApiError::invalid("Cluster.name cannot be empty."));
    }
    rules::check_cluster_name(&name)?;
    check_location(location)?;
    let requested = c["initialClusterVersion"].as_str().map(str::to_string);
    let version = rules::resolve_version(requested.as_deref())?;
    rules::check_pinned(svc.pinned_version.as_deref(), requested.as_deref(), version)?;
    rules::check_version_rules(&c, version)?;
    if state.get(Kind::Cluster, project, location, &name).is_some() {
        return Err(ApiError::conflict(format!(
            "Already exists: {}.",
            resource_path(project, location, &format!("clusters/{name}"))
        )));
    }
    let zone = match catalog::zone_region(location) {
        Some(_) => location.to_string(),
        None => catalog::region(location)
            .map(|r| format!("{}-{}", r.name, r.zones[0]))
            .unwrap_or_else(|| location.to_string()),
    };
    let region = catalog::zone_region(&zone)
        .map(|r| r.name)
        .unwrap_or(location);
    let seq = state.cluster_count;
    state.cluster_count += 1;
    let (pods, services) = ranges(seq);
    let hash = util::digest(&format!("{project}/{location}/{name}/{seq}"))[..8].to_string();
    let self_link = format!(
        "{}{}",
        svc.container_base(),
        resource_path(project, location, &format!("clusters/{name}"))
    );
    let node_config_default = json!({
        "machineType": "e2-medium", "diskSizeGb": 100, "diskType": "pd-balanced",
        "imageType": "COS_CONTAINERD", "serviceAccount": "default",
        "oauthScopes": ["https://www.googleapis.com/auth/devstorage.read_only",
                        "https://www.googleapis.com/auth/logging.write",
                        "https://www.googleapis.com/auth/monitoring"],
        "metadata": {"disable-legacy-endpoints": "true"},
    });
    let mut pools = c["nodePools"].as_array().cloned().unwrap_or_default();
    if pools.is_empty() {
        pools.push(json!({"name": "default-pool",
            "initialNodeCount": c["initialNodeCount"].as_i64().unwrap_or(3),
            "config": c["nodeConfig"].clone()}));
    }
    let tag = node_tag(&name, &hash);
    for pool in &mut pools {
        fill_pool(
            svc,
            pool,
            project,
            location,
            &name,
            version,
            &node_config_default,
            &hash,
            &tag,
        )?;
    }
    let masters = c["masterAuth"].clone();
    let mut master_auth = json!({});
    if let Some(user) = masters["username"].as_str().filter(|u| !u.is_empty()) {
        master_auth["username"] = json!(user);
        master_auth["password"] = json!(
            masters["password"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| util::random_hex(16))
        );
    }
    let network = c["network"].as_str().unwrap_or("default").to_string();
    let subnetwork = c["subnetwork"].as_str().unwrap_or(&network).to_string();
    let ip_alias = c["ipAllocationPolicy"]["useIpAliases"]
        .as_bool()
        .unwrap_or(false);
    let pods = c["clusterIpv4Cidr"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .unwrap_or(pods);
    let obj = c
        .as_object_mut()
        .ok_or_else(|| ApiError::invalid("cluster is not an object"))?;
    let first_config = pools[0]["config"].clone();
    let fields = json!({
        "name": name,
        "nodeConfig": first_config,
        "masterAuth": master_auth,
        "loggingService": c_or(obj, "loggingService", "logging.googleapis.com/kubernetes"),
        "monitoringService": c_or(obj, "monitoringService", "monitoring.googleapis.com/kubernetes"),
        "network": util::last_segment(&network),
        "subnetwork": util::last_segment(&subnetwork),
        "clusterIpv4Cidr": pods,
        "servicesIpv4Cidr": services,
        "nodeIpv4CidrSize": 24,
        "addonsConfig": obj.get("addonsConfig").cloned().unwrap_or_else(|| json!({
            "httpLoadBalancing": {}, "horizontalPodAutoscaling": {},
            "networkPolicyConfig": {"disabled": true}})),
        "nodePools": pools,
        "locations": [zone],
        "labelFingerprint": util::random_hex(8),
        "legacyAbac": {},
        "networkPolicy": {},
        "ipAllocationPolicy": if ip_alias {
            json!({"useIpAliases": true, "clusterIpv4Cidr": pods, "clusterIpv4CidrBlock": pods,
                   "servicesIpv4Cidr": services, "servicesIpv4CidrBlock": services,
                   "clusterSecondaryRangeName": format!("gke-{}-pods-{hash}", truncate(&name, 40)),
                   "servicesSecondaryRangeName": format!("gke-{}-services-{hash}", truncate(&name, 40)),
                   "stackType": "IPV4"})
        } else {
            json!({"useRoutes": true, "stackType": "IPV4"})
        },
        "masterAuthorizedNetworksConfig": {},
        "networkConfig": {
            "network": format!("projects/{project}/global/networks/{}", util::last_segment(&network)),
            "subnetwork": format!("projects/{project}/regions/{region}/subnetworks/{}",
                                  util::last_segment(&subnetwork)),
        },
        "defaultMaxPodsConstraint": {"maxPodsPerNode": "110"},
        "databaseEncryption": {"state": "DECRYPTED"},
        "selfLink": self_link,
        "zone": location,
        "location": location,
        "initialClusterVersion": version,
        "currentMasterVersion": version,
        "currentNodeVersion": version,
        "createTime": util::now(),
        "status": "PROVISIONING",
        "currentNodeCount": 0,
        "id": util::digest(&format!("cluster/{self_link}/{seq}"))[..32].to_string(),
        "etag": util::random_hex(8),
        "releaseChannel": obj.get("releaseChannel").cloned().unwrap_or_else(|| json!({})),
    });
    if let Value::Object(f) = fields {
        for (k, v) in f {
            obj.insert(k, v);
        }
    }
    Ok(NewCluster { body: c, version })
}

fn c_or(obj: &serde_json::Map<String, Value>, key: &str, default: &str) -> Value {
    obj.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(|s| json!(s))
        .unwrap_or_else(|| json!(default))
}

#[allow(clippy::too_many_arguments)]
fn fill_pool(
    svc: &Service,
    pool: &mut Value,
    project: &str,
    location: &str,
    cluster: &str,
    version: &str,
    default_config: &Value,
    hash: &str,
    tag: &str,
) -> ApiResult<()> {
    let name = pool["name"].as_str().unwrap_or("default-pool").to_string();
    if !util::valid_name(&name, 40) {
        return Err(ApiError::invalid(format!(
            "Invalid value for field \"node_pool.name\": \"{name}\". Must be a match of regex \
             '(?:[a-z](?:[-a-z0-9]{{0,38}}[a-z0-9])?)'."
        )));
    }
    let count = pool["initialNodeCount"].as_i64().unwrap_or(3);
    if count < 0 {
        return Err(ApiError::invalid(format!(
            "Invalid value for field \"node_pool.initial_node_count\": {count}."
        )));
    }
    let mut config = default_config.clone();
    if let (Some(dst), Some(src)) = (config.as_object_mut(), pool["config"].as_object()) {
        for (k, v) in src {
            if !v.is_null() {
                dst.insert(k.clone(), v.clone());
            }
        }
    }
    let mut tags: Vec<Value> = config["tags"].as_array().cloned().unwrap_or_default();
    tags.insert(0, json!(tag));
    config["tags"] = json!(tags);
    let zone = catalog::zone_region(location)
        .map(|_| location.to_string())
        .unwrap_or_else(|| format!("{location}-a"));
    let group = format!(
        "gke-{}-{}-{hash}-grp",
        truncate(cluster, 20),
        truncate(&name, 20)
    );
    let pool_link = format!(
        "{}{}",
        svc.container_base(),
        resource_path(
            project,
            location,
            &format!("clusters/{cluster}/nodePools/{name}")
        )
    );
    let fields = json!({
        "name": name,
        "config": config,
        "initialNodeCount": count,
        "locations": [zone],
        "version": version,
        "status": "RUNNING",
        "selfLink": pool_link,
        "instanceGroupUrls": [svc.compute_url(&format!(
            "projects/{project}/zones/{zone}/instanceGroupManagers/{group}"))],
        "management": {"autoUpgrade": true, "autoRepair": true},
        "maxPodsConstraint": {"maxPodsPerNode": "110"},
        "podIpv4CidrSize": 24,
        "upgradeSettings": {"maxSurge": 1, "strategy": "SURGE"},
        "autoscaling": pool["autoscaling"].clone(),
    });
    *pool = fields;
    Ok(())
}

/// Creates the node instances of `pool` up to `count` (or deletes those past it).
fn size_nodes(
    svc: &Service,
    state: &mut State,
    project: &str,
    cluster: &Record,
    pool: &Value,
    count: usize,
) -> ApiResult<usize> {
    let owner = owner_key(project, &cluster.scope, &cluster.name);
    let pool_name = pool["name"].as_str().unwrap_or_default();
    let prefix = pool["instanceGroupUrls"][0]
        .as_str()
        .map(util::last_segment)
        .unwrap_or_default()
        .trim_end_matches("-grp")
        .to_string();
    let zone = pool["locations"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut existing: Vec<String> = state
        .list(Kind::Instance)
        .iter()
        .filter(|r| r.owner.as_deref() == Some(&owner) && r.name.starts_with(&format!("{prefix}-")))
        .map(|r| r.name.clone())
        .collect();
    while existing.len() > count {
        if let Some(name) = existing.pop() {
            compute::drop_instance(state, project, &zone, &name);
        }
    }
    while existing.len() < count {
        let name = format!("{prefix}-{}", util::random_hex(4));
        let spec = InstanceSpec {
            machine_type: pool["config"]["machineType"]
                .as_str()
                .unwrap_or("e2-medium")
                .to_string(),
            tags: pool["config"]["tags"].clone(),
            labels: json!({"goog-gke-node": ""}),
            metadata: vec![
                json!({"key": "cluster-name", "value": cluster.name}),
                json!({"key": "cluster-location", "value": cluster.scope}),
                json!({"key": "gke-node-pool", "value": pool_name}),
            ],
            image: format!(
                "projects/gke-node-images/global/images/gke-{}-cos",
                cluster.body["currentNodeVersion"]
                    .as_str()
                    .unwrap_or_default()
                    .replace('.', "-")
            ),
            disk_gb: pool["config"]["diskSizeGb"].as_i64().unwrap_or(100),
            external_ip: true,
        };
        let mut rec = compute::new_instance(svc, state, project, &zone, &name, spec)?;
        rec.owner = Some(owner.clone());
        compute::add_instance(state, rec);
        existing.push(name);
    }
    Ok(existing.len())
}

fn owner_key(project: &str, location: &str, name: &str) -> String {
    format!("{project}/{location}/{name}")
}

fn node_count(state: &State, project: &str, location: &str, name: &str) -> usize {
    let owner = owner_key(project, location, name);
    state
        .list(Kind::Instance)
        .iter()
        .filter(|r| r.owner.as_deref() == Some(&owner))
        .count()
}

/// A name for the simulated cluster behind a GKE cluster that no running or earlier cluster has.
fn backend_name(svc: &Service, state: &State, name: &str) -> String {
    let running = svc.host.names();
    let taken = |n: &str| state.backends.contains(n) || running.iter().any(|r| r == n);
    let mut candidate = name.to_string();
    let mut n = 2;
    while taken(&candidate) {
        candidate = format!("{}-{n}", truncate(name, 55));
        n += 1;
    }
    candidate
}

/// Makes a provisioned cluster RUNNING: its nodes, endpoint and CA.
fn finish_create(
    svc: &Service,
    state: &mut State,
    project: &str,
    location: &str,
    name: &str,
    endpoint: &crate::host::Endpoint,
) -> ApiResult<()> {
    let cluster = state
        .get(Kind::Cluster, project, location, name)
        .cloned()
        .ok_or_else(|| ApiError::internal("the new cluster vanished"))?;
    let pools = cluster.body["nodePools"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut total = 0;
    for pool in &pools {
        let count = pool["initialNodeCount"].as_u64().unwrap_or(0) as usize;
        total += size_nodes(svc, state, project, &cluster, pool, count)?;
    }
    let groups: Vec<Value> = pools
        .iter()
        .flat_map(|p| {
            p["instanceGroupUrls"]
                .as_array()
                .cloned()
                .unwrap_or_default()
        })
        .collect();
    if let Some(rec) = state.get_mut(Kind::Cluster, project, location, name) {
        rec.body["endpoint"] = json!(endpoint.address);
        rec.body["masterAuth"]["clusterCaCertificate"] =
            json!(base64::engine::general_purpose::STANDARD.encode(&endpoint.ca_pem));
        rec.body["status"] = json!("RUNNING");
        rec.body["currentNodeCount"] = json!(total);
        rec.body["instanceGroupUrls"] = json!(groups);
    }
    Ok(())
}

async fn create_cluster(
    svc: &Service,
    project: &str,
    location: &str,
    request: &Value,
) -> ApiResult {
    let _serial = svc.cluster_lock.lock().await;
    let (name, backend, version, token) = {
        let mut state = svc.lock();
        let new = prepare_cluster(svc, &mut state, project, location, request)?;
        let name = new.body["name"].as_str().unwrap_or_default().to_string();
        let backend = backend_name(svc, &state, &name);
        state.backends.insert(backend.clone());
        let mut rec = Record::new(project, location, &name, new.body);
        rec.backend = Some(backend.clone());
        state.insert(Kind::Cluster, rec);
        svc.save(&state)?;
        (name, backend, new.version, state.token.clone())
    };
    let started = svc.host.start(&backend, version, &token).await;
    let mut state = svc.lock();
    let target = format!("clusters/{name}");
    let op = match started {
        Ok(endpoint) => {
            finish_create(svc, &mut state, project, location, &name, &endpoint)?;
            operation(
                svc,
                &mut state,
                project,
                location,
                "CREATE_CLUSTER",
                &target,
                None,
            )
        }
        Err(reason) => {
            let e = ApiError::internal(format!("the simulated cluster could not start: {reason}"));
            if let Some(rec) = state.get_mut(Kind::Cluster, project, location, &name) {
                rec.body["status"] = json!("ERROR");
                rec.body["statusMessage"] = json!(e.message);
            }
            operation(
                svc,
                &mut state,
                project,
                location,
                "CREATE_CLUSTER",
                &target,
                Some(&e),
            )
        }
    };
    svc.save(&state)?;
    Ok(op)
}

async fn delete_cluster(svc: &Service, project: &str, location: &str, name: &str) -> ApiResult {
    let _serial = svc.cluster_lock.lock().await;
    let mut state = svc.lock();
    let rec = state
        .remove(Kind::Cluster, project, location, name)
        .ok_or_else(|| cluster_not_found(project, location, name))?;
    if let Some(backend) = &rec.backend {
        svc.host.stop(backend);
    }
    let owner = owner_key(project, location, name);
    let nodes: Vec<(String, String)> = state
        .list(Kind::Instance)
        .iter()
        .filter(|r| r.owner.as_deref() == Some(&owner))
        .map(|r| (r.scope.clone(), r.name.clone()))
        .collect();
    for (zone, node) in nodes {
        compute::drop_instance(&mut state, project, &zone, &node);
    }
    let op = operation(
        svc,
        &mut state,
        project,
        location,
        "DELETE_CLUSTER",
        &format!("clusters/{name}"),
        None,
    );
    svc.save(&state)?;
    Ok(op)
}

fn update_cluster(
    svc: &Service,
    project: &str,
    location: &str,
    name: &str,
    body: &Value,
) -> ApiResult {
    let mut state = svc.lock();
    let mut rec = find_cluster(&state, project, location, name)?.clone();
    let update = body["update"].as_object().cloned().unwrap_or_default();
    for (key, value) in &update {
        match key.as_str() {
            "desiredMasterVersion" => {
                let v = rules::resolve_version(value.as_str())?;
                rules::check_version_rules(&rec.body, v)?;
                rec.body["currentMasterVersion"] = json!(v);
            }
            "desiredNodeVersion" => {
                let v = rules::resolve_version(value.as_str())?;
                rec.body["currentNodeVersion"] = json!(v);
                if let Some(pools) = rec.body["nodePools"].as_array_mut() {
                    for p in pools {
                        p["version"] = json!(v);
                    }
                }
            }
            "desiredNodePoolId" => {}
            "desiredLoggingService" => rec.body["loggingService"] = value.clone(),
            "desiredMonitoringService" => rec.body["monitoringService"] = value.clone(),
            "desiredAddonsConfig" => rec.body["addonsConfig"] = value.clone(),
            other => {
                return Err(ApiError::invalid(format!(
                    "The simulated Kubernetes Engine does not model the update field \"{other}\"."
                )));
            }
        }
    }
    let kind = if update.contains_key("desiredMasterVersion") {
        "UPGRADE_MASTER"
    } else {
        "UPDATE_CLUSTER"
    };
    if let Some(r) = state.get_mut(Kind::Cluster, project, location, name) {
        *r = rec;
    }
    let op = operation(
        svc,
        &mut state,
        project,
        location,
        kind,
        &format!("clusters/{name}"),
        None,
    );
    svc.save(&state)?;
    Ok(op)
}

fn create_node_pool(
    svc: &Service,
    project: &str,
    location: &str,
    name: &str,
    body: &Value,
) -> ApiResult {
    let mut state = svc.lock();
    let cluster = find_cluster(&state, project, location, name)?.clone();
    let mut pool = body["nodePool"].clone();
    let pool_name = pool["name"].as_str().unwrap_or_default().to_string();
    if find_pool(&cluster.body, project, location, name, &pool_name).is_ok() {
        return Err(ApiError::conflict(format!(
            "Already exists: {}.",
            resource_path(
                project,
                location,
                &format!("clusters/{name}/nodePools/{pool_name}")
            )
        )));
    }
    let version = pool["version"]
        .as_str()
        .filter(|v| !v.is_empty())
        .map(|v| rules::resolve_version(Some(v)))
        .transpose()?
        .unwrap_or_else(|| {
            catalog::GKE_VERSIONS
                .iter()
                .copied()
                .find(|v| cluster.body["currentNodeVersion"] == *v)
                .unwrap_or(catalog::DEFAULT_GKE_VERSION)
        });
    rules::check_version_rules(&json!({"nodePools": [pool.clone()]}), version)?;
    let hash = util::digest(&format!("{project}/{location}/{name}/{pool_name}"))[..8].to_string();
    let tag = cluster.body["nodePools"][0]["config"]["tags"][0]
        .as_str()
        .unwrap_or_default()
        .to_string();
    fill_pool(
        svc,
        &mut pool,
        project,
        location,
        name,
        version,
        &cluster.body["nodeConfig"],
        &hash,
        &tag,
    )?;
    let count = pool["initialNodeCount"].as_u64().unwrap_or(0) as usize;
    size_nodes(svc, &mut state, project, &cluster, &pool, count)?;
    let total = node_count(&state, project, location, name);
    if let Some(rec) = state.get_mut(Kind::Cluster, project, location, name) {
        if let Some(pools) = rec.body["nodePools"].as_array_mut() {
            pools.push(pool);
        }
        rec.body["currentNodeCount"] = json!(total);
    }
    let op = operation(
        svc,
        &mut state,
        project,
        location,
        "CREATE_NODE_POOL",
        &format!("clusters/{name}/nodePools/{pool_name}"),
        None,
    );
    svc.save(&state)?;
    Ok(op)
}

fn delete_node_pool(
    svc: &Service,
    project: &str,
    location: &str,
    name: &str,
    pool: &str,
) -> ApiResult {
    let mut state = svc.lock();
    let cluster = find_cluster(&state, project, location, name)?.clone();
    let found = find_pool(&cluster.body, project, location, name, pool)?.clone();
    size_nodes(svc, &mut state, project, &cluster, &found, 0)?;
    let total = node_count(&state, project, location, name);
    if let Some(rec) = state.get_mut(Kind::Cluster, project, location, name) {
        if let Some(pools) = rec.body["nodePools"].as_array_mut() {
            pools.retain(|p| p["name"] != pool);
        }
        rec.body["currentNodeCount"] = json!(total);
    }
    let op = operation(
        svc,
        &mut state,
        project,
        location,
        "DELETE_NODE_POOL",
        &format!("clusters/{name}/nodePools/{pool}"),
        None,
    );
    svc.save(&state)?;
    Ok(op)
}

fn set_pool_size(
    svc: &Service,
    project: &str,
    location: &str,
    name: &str,
    pool: &str,
    count: i64,
) -> ApiResult {
    if count < 0 {
        return Err(ApiError::invalid(format!(
            "Invalid value for field \"node_count\": {count}. Must be a non-negative number."
        )));
    }
    let mut state = svc.lock();
    let cluster = find_cluster(&state, project, location, name)?.clone();
    let found = find_pool(&cluster.body, project, location, name, pool)?.clone();
    size_nodes(svc, &mut state, project, &cluster, &found, count as usize)?;
    let total = node_count(&state, project, location, name);
    if let Some(rec) = state.get_mut(Kind::Cluster, project, location, name) {
        rec.body["currentNodeCount"] = json!(total);
    }
    let op = operation(
        svc,
        &mut state,
        project,
        location,
        "SET_NODE_POOL_SIZE",
        &format!("clusters/{name}/nodePools/{pool}"),
        None,
    );
    svc.save(&state)?;
    Ok(op)
}

/// Starts again the simulated clusters of every RUNNING cluster (after a restart), records
/// where each now answers, and finishes creates a restart interrupted.
pub async fn restore(svc: &Service) -> Result<(), String> {
    let (clusters, token) = {
        let state = svc.lock();
        let list: Vec<Record> = state
            .list(Kind::Cluster)
            .iter()
            .filter(|r| {
                (r.body["status"] == "RUNNING" || r.body["status"] == "PROVISIONING")
                    && r.backend.is_some()
            })
            .cloned()
            .collect();
        (list, state.token.clone())
    };
    for rec in clusters {
        let backend = rec.backend.clone().unwrap_or_default();
        let version = rec.body["currentMasterVersion"]
            .as_str()
            .unwrap_or_default();
        let endpoint = svc
            .host
            .start(&backend, version, &token)
            .await
            .map_err(|e| format!("cluster {}: {e}", rec.name))?;
        let mut state = svc.lock();
        if rec.body["status"] == "PROVISIONING" {
            // Interrupted while creating: the service finishes what it accepted.
            finish_create(
                svc,
                &mut state,
                &rec.project,
                &rec.scope,
                &rec.name,
                &endpoint,
            )
            .map_err(|e| e.message)?;
        } else if let Some(r) = state.get_mut(Kind::Cluster, &rec.project, &rec.scope, &rec.name) {
            r.body["endpoint"] = json!(endpoint.address);
        }
    }
    let state = svc.lock();
    svc.save(&state).map_err(|e| e.message)
}
