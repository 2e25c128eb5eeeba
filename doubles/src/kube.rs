//! Reaching the simulated clusters as the real tools reach real ones: the kubeconfig named by
//! `--kubeconfig`, else every file of `KUBECONFIG` merged, else `~/.kube/config`; the context
//! named by `--context`, else the kubeconfig's current one.
//!
//! In a rehearsal the rehearsal's own kubeconfig is merged after those (entries that the user's
//! files define win): a runbook's stand-in kubeconfig that only names its context and sets it
//! current (asm-east-west's `KUBECONFIG_1`) then reaches the simulated cluster of that context.

use std::path::PathBuf;
use std::time::Duration;

use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::GroupVersionKind;
use kube::discovery::{ApiCapabilities, ApiResource, Scope};
use serde_json::Value;

use crate::{Call, Env};

/// A connection to one cluster.
#[derive(Clone)]
pub struct Cluster {
    /// The client.
    pub client: kube::Client,
    /// The context's name.
    pub context: String,
    /// The context's namespace (`default` when it names none).
    pub namespace: String,
}

/// The kubeconfig files a tool reads, in merge order.
fn kubeconfig_paths(env: &Env, explicit: Option<&str>) -> Result<Vec<PathBuf>, String> {
    if let Some(path) = explicit.filter(|p| !p.is_empty()) {
        let path = env.resolve(path);
        if !path.is_file() {
            return Err(format!(
                "stat {}: no such file or directory",
                path.display()
            ));
        }
        return Ok(vec![path]);
    }
    if let Some(list) = env.var("KUBECONFIG").filter(|l| !l.is_empty()) {
        return Ok(std::env::split_paths(list)
            .filter(|p| !p.as_os_str().is_empty() && p.is_file())
            .collect());
    }
    let default = env.home().join(".kube").join("config");
    Ok(if default.is_file() {
        vec![default]
    } else {
        vec![]
    })
}

/// Loads the kubeconfig a tool would read, with the rehearsal's merged last.
pub fn kubeconfig(env: &Env, explicit: Option<&str>) -> Result<Kubeconfig, String> {
    let mut paths = kubeconfig_paths(env, explicit)?;
    if let Some(rehearsal) = &env.config.kubeconfig
        && !paths.contains(rehearsal)
    {
        paths.push(rehearsal.clone());
    }
    let mut merged: Option<Kubeconfig> = None;
    for path in paths {
        let next = Kubeconfig::read_from(&path)
            .map_err(|e| format!("error loading config file \"{}\": {e}", path.display()))?;
        merged = Some(match merged {
            None => next,
            Some(m) => m.merge(next).map_err(|e| e.to_string())?,
        });
    }
    merged.ok_or_else(|| {
        "invalid configuration: no configuration has been provided, try setting KUBERNETES_MASTER environment variable".to_string()
    })
}

/// The context a tool would use: `context`, else the kubeconfig's current one.
pub fn context_name(config: &Kubeconfig, context: Option<&str>) -> Result<String, String> {
    match context.filter(|c| !c.is_empty()) {
        Some(c) => Ok(c.to_string()),
        None => config
            .current_context
            .clone()
            .filter(|c| !c.is_empty())
            .ok_or_else(|| "invalid configuration: no configuration has been provided".to_string()),
    }
}

/// Connects to the cluster of `context` (else the current one) in the kubeconfig a tool reads.
pub async fn connect(
    env: &Env,
    explicit: Option<&str>,
    context: Option<&str>,
) -> Result<Cluster, String> {
    let config = kubeconfig(env, explicit)?;
    let name = context_name(&config, context)?;
    let known = config.contexts.iter().find(|c| c.name == name);
    let Some(named) = known else {
        return Err(format!("context \"{name}\" does not exist"));
    };
    let namespace = named
        .context
        .as_ref()
        .and_then(|c| c.namespace.clone())
        .unwrap_or_else(|| "default".into());
    let options = KubeConfigOptions {
        context: Some(name.clone()),
        ..KubeConfigOptions::default()
    };
    let client_config = kube::Config::from_custom_kubeconfig(config, &options)
        .await
        .map_err(|e| e.to_string())?;
    let client = kube::Client::try_from(client_config).map_err(|e| e.to_string())?;
    Ok(Cluster {
        client,
        context: name,
        namespace,
    })
}

fn gvk_of(object: &Value) -> Result<GroupVersionKind, String> {
    let api_version = object["apiVersion"].as_str().unwrap_or_default();
    let kind = object["kind"].as_str().unwrap_or_default();
    if api_version.is_empty() || kind.is_empty() {
        return Err("an object without apiVersion or kind".into());
    }
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    Ok(GroupVersionKind::gvk(group, version, kind))
}

/// Finds a kind's resource; kinds whose CRD was just created may take a moment to appear.
async fn resolve(
    cluster: &Cluster,
    gvk: &GroupVersionKind,
) -> Result<(ApiResource, ApiCapabilities), String> {
    let mut last = String::new();
    for _ in 0..50 {
        match kube::discovery::pinned_kind(&cluster.client, gvk).await {
            Ok(found) => return Ok(found),
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(format!(
        "no matches for kind \"{}\" in version \"{}\": {last}",
        gvk.kind,
        gvk.api_version()
    ))
}

fn api_for(
    cluster: &Cluster,
    ar: &ApiResource,
    caps: &ApiCapabilities,
    ns: Option<&str>,
) -> Api<DynamicObject> {
    match caps.scope {
        Scope::Cluster => Api::all_with(cluster.client.clone(), ar),
        Scope::Namespaced => {
            Api::namespaced_with(cluster.client.clone(), ns.unwrap_or(&cluster.namespace), ar)
        }
    }
}

fn rank(object: &Value) -> u8 {
    match object["kind"].as_str() {
        Some("Namespace") => 0,
        Some("CustomResourceDefinition") => 1,
        _ => 2,
    }
}

/// Applies `objects` (server-side, or client-side on servers without it) (namespaces and CRDs first) as field manager `manager`,
/// recording each object in `call`. Namespaced objects without a namespace go to the context's.
pub async fn apply(
    cluster: &Cluster,
    objects: &[Value],
    manager: &str,
    call: &mut Call,
) -> Result<(), String> {
    let mut sorted: Vec<&Value> = objects.iter().filter(|o| o.is_object()).collect();
    sorted.sort_by_key(|o| rank(o));
    let params = PatchParams::apply(manager).force();
    let mut server_side = true;
    for object in sorted {
        let gvk = gvk_of(object)?;
        let (ar, caps) = resolve(cluster, &gvk).await?;
        let name = object["metadata"]["name"].as_str().unwrap_or_default();
        let ns = object["metadata"]["namespace"].as_str();
        let api = api_for(cluster, &ar, &caps, ns);
        let mut body = object.clone();
        if caps.scope == Scope::Namespaced {
            body["metadata"]["namespace"] =
                Value::String(ns.unwrap_or(&cluster.namespace).to_string());
        }
        if server_side {
            match api.patch(name, &params, &Patch::Apply(&body)).await {
                Ok(_) => {}
                // Servers before 1.16 have no server-side apply: apply client-side from now on.
                Err(kube::Error::Api(s)) if s.code == 415 => server_side = false,
                Err(e) => return Err(format!("failed to apply {} {name}: {e}", gvk.kind)),
            }
        }
        if !server_side {
            client_side_apply(&api, name, &body, manager)
                .await
                .map_err(|e| format!("failed to apply {} {name}: {e}", gvk.kind))?;
        }
        let place = match caps.scope {
            Scope::Namespaced => format!("{}/", ns.unwrap_or(&cluster.namespace)),
            Scope::Cluster => String::new(),
        };
        call.effect(format!(
            "applied {} {place}{name} to {}",
            gvk.kind, cluster.context
        ));
    }
    Ok(())
}

/// `kubectl apply` without server-side apply: create with the last-applied annotation, or send
/// the three-way merge patch (nothing when it is empty).
async fn client_side_apply(
    api: &Api<DynamicObject>,
    name: &str,
    object: &Value,
    manager: &str,
) -> Result<(), kube::Error> {
    use meshbook_inspect::client_apply::{
        is_empty, last_applied, three_way_merge_patch, with_last_applied,
    };
    let modified = with_last_applied(object);
    // A create that loses a race with another writer (409) reads the object again and patches.
    let mut attempt = 0;
    loop {
        attempt += 1;
        match api.get_opt(name).await? {
            None => {
                let params = PostParams {
                    field_manager: Some(manager.to_string()),
                    ..PostParams::default()
                };
                let body: DynamicObject =
                    serde_json::from_value(modified.clone()).map_err(kube::Error::SerdeError)?;
                match api.create(&params, &body).await {
                    Err(kube::Error::Api(s)) if s.code == 409 && attempt < 3 => continue,
                    other => return other.map(|_| ()),
                }
            }
            Some(live) => {
                let current = serde_json::to_value(live).map_err(kube::Error::SerdeError)?;
                let patch =
                    three_way_merge_patch(last_applied(&current).as_ref(), &modified, &current);
                if !is_empty(&patch) {
                    let params = PatchParams {
                        field_manager: Some(manager.to_string()),
                        ..PatchParams::default()
                    };
                    api.patch(name, &params, &Patch::Merge(&patch)).await?;
                }
                return Ok(());
            }
        }
    }
}

/// Reads one object; `None` when it does not exist.
pub async fn get(
    cluster: &Cluster,
    api_version: &str,
    kind: &str,
    ns: Option<&str>,
    name: &str,
) -> Result<Option<Value>, String> {
    let gvk = gvk_of(&serde_json::json!({"apiVersion": api_version, "kind": kind}))?;
    let (ar, caps) = kube::discovery::pinned_kind(&cluster.client, &gvk)
        .await
        .map_err(|e| e.to_string())?;
    let api = api_for(cluster, &ar, &caps, ns);
    let found = api.get_opt(name).await.map_err(|e| e.to_string())?;
    Ok(found.map(|o| serde_json::to_value(o).unwrap_or_default()))
}

/// Lists objects of a kind in a namespace, by label selector.
pub async fn list(
    cluster: &Cluster,
    api_version: &str,
    kind: &str,
    ns: &str,
    selector: &str,
) -> Result<Vec<Value>, String> {
    let gvk = gvk_of(&serde_json::json!({"apiVersion": api_version, "kind": kind}))?;
    let (ar, caps) = kube::discovery::pinned_kind(&cluster.client, &gvk)
        .await
        .map_err(|e| e.to_string())?;
    let api = api_for(cluster, &ar, &caps, Some(ns));
    let list = api
        .list(&ListParams::default().labels(selector))
        .await
        .map_err(|e| e.to_string())?;
    Ok(list
        .items
        .into_iter()
        .map(|o| serde_json::to_value(o).unwrap_or_default())
        .collect())
}

/// The API server address and CA of a context, as a kubeconfig holds them.
pub fn server_of(config: &Kubeconfig, context: &str) -> Option<(String, Option<String>)> {
    let ctx = config.contexts.iter().find(|c| c.name == context)?;
    let cluster_name = ctx.context.as_ref()?.cluster.clone();
    let cluster = config.clusters.iter().find(|c| c.name == cluster_name)?;
    let c = cluster.cluster.as_ref()?;
    Some((c.server.clone()?, c.certificate_authority_data.clone()))
}

/// Parses YAML text holding one or many documents into objects (empty documents dropped).
pub fn documents(text: &str) -> Result<Vec<Value>, String> {
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(text) {
        let value: Value = serde::Deserialize::deserialize(doc).map_err(|e| e.to_string())?;
        match value {
            Value::Null => {}
            Value::Object(_) => out.push(value),
            _ => return Err("a YAML document that is not an object".into()),
        }
    }
    Ok(out)
}
