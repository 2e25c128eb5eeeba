//! `kube.apply`: apply (server-side where the server has it, see `applier`) of every document of the step's
//! manifests. Namespaces go first, then CRDs; once the CRDs are established, discovery is read
//! again so that their custom resources, in the same step, resolve.

use std::path::{Path, PathBuf};
use std::time::Duration;

use indexmap::IndexMap;
use meshbook_engine::model::{KubeApply, Manifests, OutputSpec, Rendered, WaitFor};
use meshbook_inspect::file_glob::{FilePattern, GlobError};
use serde::Deserialize;
use serde_json::Value;

use super::applier::{ApplyMode, Change, apply_object};
use super::client::{Clients, in_workdir};
use super::error::KubeError;
use super::objects::{Selection, Target};
use super::request::{ApiFailure, retrying};
use super::resolve::ResolveError;
use super::wait::judge;
use super::watch::watch_until;
use super::{Outputs, StepEnv};

const CRD_TIMEOUT: Duration = Duration::from_secs(60);

/// Reads every object of a multi-document YAML text; `List` documents give their items.
pub(crate) fn parse_documents(text: &str, origin: &str) -> Result<Vec<Value>, KubeError> {
    let mut out = Vec::new();
    for (i, doc) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let index = i + 1;
        let value = Value::deserialize(doc).map_err(|e| KubeError::Yaml {
            origin: origin.to_string(),
            index,
            reason: e.to_string(),
        })?;
        let objects = match value {
            Value::Null => continue,
            Value::Object(ref m)
                if m.get("kind")
                    .and_then(Value::as_str)
                    .is_some_and(|k| k.ends_with("List"))
                    && m.get("items").is_some_and(Value::is_array) =>
            {
                m["items"].as_array().cloned().unwrap_or_default()
            }
            other => vec![other],
        };
        for object in objects {
            let complete = object["apiVersion"].is_string()
                && object["kind"].is_string()
                && object["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| !n.is_empty());
            if !complete {
                return Err(KubeError::Incomplete {
                    origin: origin.to_string(),
                    index,
                });
            }
            out.push(object);
        }
    }
    Ok(out)
}

/// Every document of the step's manifests, namespaces first, then CRDs, then the rest in order.
pub(crate) fn documents(
    spec: &KubeApply<Rendered>,
    workdir: &Path,
) -> Result<Vec<Value>, KubeError> {
    let mut docs = Vec::new();
    let files = match &spec.manifests {
        Manifests::Inline(text) => {
            docs.extend(parse_documents(text, "manifest")?);
            &[][..]
        }
        Manifests::File(file) => std::slice::from_ref(file),
        Manifests::Files(files) => files.as_slice(),
    };
    for (origin, path) in manifest_files(workdir, files)? {
        let text = std::fs::read_to_string(&path).map_err(|source| KubeError::Read {
            path: path.display().to_string(),
            source,
        })?;
        docs.extend(parse_documents(&text, &origin)?);
    }
    if let Some(selector) = &spec.selector {
        docs.retain(|d| selector.matches(d));
        if docs.is_empty() {
            return Err(KubeError::NoneSelected(selector.as_str().to_string()));
        }
    }
    docs.sort_by_key(rank);
    Ok(docs)
}

/// Why a `kube.apply` path names no file to read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestPathError {
    /// The path's wildcards match no file.
    #[error("no file matches {0}")]
    NoMatch(String),
    /// The path is not a valid pattern.
    #[error("{pattern}: {source}")]
    Glob {
        /// The path as rendered.
        pattern: String,
        /// What is wrong with it.
        #[source]
        source: GlobError,
    },
    /// The folder of a path with wildcards cannot be listed.
    #[error("cannot list {path}")]
    List {
        /// The folder.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// The files a step's `file`/`files` name, in order, each as written (a glob's matches as the
/// glob's folder plus the file name) and as a path: a path with wildcards in its file name stands
/// for every file that matches, in bash's order, and must match at least one.
pub fn manifest_files(
    workdir: &Path,
    paths: &[String],
) -> Result<Vec<(String, PathBuf)>, ManifestPathError> {
    let mut out = Vec::new();
    for written in paths {
        let pattern = FilePattern::parse(written).map_err(|source| ManifestPathError::Glob {
            pattern: written.clone(),
            source,
        })?;
        if !pattern.is_glob() {
            out.push((written.clone(), in_workdir(workdir, written)));
            continue;
        }
        let folder = in_workdir(workdir, pattern.folder());
        let listing = std::fs::read_dir(&folder).map_err(|source| ManifestPathError::List {
            path: folder.display().to_string(),
            source,
        })?;
        let names: Vec<String> = listing
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| !t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        let found = pattern.select(names.iter().map(String::as_str));
        let literal = in_workdir(workdir, written);
        if found.is_empty() && literal.is_file() {
            // As in bash, a pattern that matches nothing stands for itself: a file may be named so.
            out.push((written.clone(), literal));
            continue;
        }
        if found.is_empty() {
            return Err(ManifestPathError::NoMatch(written.clone()));
        }
        for name in found {
            out.push((format!("{}{name}", pattern.folder()), folder.join(name)));
        }
    }
    Ok(out)
}

fn rank(object: &Value) -> u8 {
    match object["kind"].as_str() {
        Some("Namespace") => 0,
        Some("CustomResourceDefinition") => 1,
        _ => 2,
    }
}

fn is_crd(object: &Value) -> bool {
    object["kind"] == "CustomResourceDefinition"
        && object["apiVersion"]
            .as_str()
            .is_some_and(|v| v.starts_with("apiextensions.k8s.io/"))
}

/// Runs a `kube.apply` step.
pub(crate) async fn run(
    clients: &Clients,
    spec: &KubeApply<Rendered>,
    _outputs: &IndexMap<String, OutputSpec>,
    env: &StepEnv,
) -> Result<Outputs, KubeError> {
    apply(clients, spec, env).await?;
    Ok(Outputs::new())
}

/// Applies every object and reports what happened to each.
pub(crate) async fn apply(
    clients: &Clients,
    spec: &KubeApply<Rendered>,
    env: &StepEnv,
) -> Result<(), KubeError> {
    let docs = documents(spec, &env.workdir)?;
    let cluster = clients.cluster(spec.place.context.as_deref()).await?;
    let mode = ApplyMode {
        force: spec.force,
        dry_run: env.dry_run,
    };
    let mut crds = Vec::new();
    let new_kinds: Vec<(String, String)> = docs
        .iter()
        .filter(|d| is_crd(d))
        .map(|d| {
            let spec = &d["spec"];
            let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
            (text(&spec["group"]), text(&spec["names"]["kind"]))
        })
        .collect();
    let mut new_namespaces = Vec::new();
    if env.dry_run {
        for d in docs.iter().filter(|d| d["kind"] == "Namespace") {
            let name = d["metadata"]["name"].as_str().unwrap_or_default();
            if cluster_lacks_namespace(&cluster, name).await {
                new_namespaces.push(name.to_string());
            }
        }
    }
    for doc in docs {
        // The first object after the CRDs: wait for them, then read discovery again.
        if !crds.is_empty() && !is_crd(&doc) {
            settle_crds(&crds, env).await?;
            crds.clear();
        }
        let api_version = doc["apiVersion"].as_str().unwrap_or_default();
        let kind = doc["kind"].as_str().unwrap_or_default();
        let resolved = match cluster
            .resolver()
            .resolve_kind(cluster.client(), cluster.context(), api_version, kind)
            .await
        {
            Ok(r) => r,
            // A dry run creates no CRD, so the kinds it would define stay unknown.
            Err(ResolveError::UnknownKind { .. })
                if env.dry_run && defined_here(&new_kinds, api_version, kind) =>
            {
                env.progress.line(&format!(
                    "{kind} {} not checked (server dry run): its CRD is applied by this step",
                    doc["metadata"]["name"].as_str().unwrap_or_default()
                ));
                continue;
            }
            Err(e) => return Err(e.into()),
        };
        let mut object = doc.clone();
        let own_ns = object["metadata"]["namespace"].as_str().map(str::to_string);
        let target = Target::of(
            &cluster,
            resolved,
            own_ns.as_deref().or(spec.place.namespace.as_deref()),
        );
        if env.dry_run
            && let Some(ns) = &target.namespace
            && new_namespaces.contains(ns)
        {
            // Nor does it create namespaces, and the server refuses objects in missing ones.
            env.progress.line(&format!(
                "{} not checked (server dry run): namespace {ns} is created by this step",
                target
                    .resolved
                    .object_name(object["metadata"]["name"].as_str().unwrap_or_default())
            ));
            continue;
        }
        match &target.namespace {
            Some(ns) => object["metadata"]["namespace"] = Value::String(ns.clone()),
            None => {
                if let Some(m) = object["metadata"].as_object_mut() {
                    m.remove("namespace");
                }
            }
        }
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let described = target.describe(&name);
        let quiet = kind == "Secret";
        let refused = |e: kube::Error| {
            let source = ApiFailure::new(&e, quiet);
            let hint = if source.is_conflict() {
                " (another field manager owns these fields; set `force: true` to take them over)"
            } else {
                ""
            };
            KubeError::Api {
                action: format!("apply {described}"),
                hint,
                source,
            }
        };
        let before = target.get(&name).await.map_err(refused)?;
        let after = apply_object(&target, &name, &object, before.as_ref(), mode)
            .await
            .map_err(refused)?;
        let change = Change::between(before.as_ref(), &after);
        let suffix = if env.dry_run { " (server dry run)" } else { "" };
        env.progress.line(&format!(
            "{} {}{suffix} ({})",
            target.resolved.object_name(&name),
            change.as_str(),
            target.place()
        ));
        if is_crd(&doc) && !env.dry_run {
            crds.push((target, name));
        }
    }
    if !crds.is_empty() {
        settle_crds(&crds, env).await?;
    }
    Ok(())
}

fn defined_here(new_kinds: &[(String, String)], api_version: &str, kind: &str) -> bool {
    let group = api_version.rsplit_once('/').map_or("", |(g, _)| g);
    new_kinds.iter().any(|(g, k)| g == group && k == kind)
}

async fn cluster_lacks_namespace(
    cluster: &std::sync::Arc<super::client::Cluster>,
    name: &str,
) -> bool {
    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(cluster.client().clone());
    matches!(retrying(|| api.get_opt(name)).await, Ok(None))
}

/// Waits until every CRD just applied is established, then forgets the cluster's catalog.
async fn settle_crds(crds: &[(Target, String)], env: &StepEnv) -> Result<(), KubeError> {
    for (target, name) in crds {
        let selection = Selection::Name(name.clone());
        watch_until(target, &selection, CRD_TIMEOUT, &env.progress, |objects| {
            judge(&WaitFor::Ready, objects, 1)
        })
        .await
        .map_err(|e| KubeError::Crd(Box::new(e)))?;
    }
    if let Some((t, _)) = crds.first() {
        t.cluster.resolver().invalidate().await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshbook_engine::model::Place;
    use meshbook_inspect::labels::Selector;

    #[test]
    fn a_selector_keeps_only_matching_objects() {
        let dir = tempfile::tempdir().unwrap();
        let text = "apiVersion: v1\nkind: Service\nmetadata: {name: helloworld, labels: {app: helloworld}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: helloworld-v1, labels: {app: helloworld, version: v1}}\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: helloworld-v2, labels: {app: helloworld, version: v2}}\n";
        std::fs::write(dir.path().join("hw.yaml"), text).unwrap();
        let spec = |sel: &str| KubeApply::<Rendered> {
            place: Place::default(),
            manifests: Manifests::File("hw.yaml".into()),
            selector: Some(Selector::parse(sel).unwrap()),
            force: false,
        };
        let names = |sel: &str| -> Vec<String> {
            documents(&spec(sel), dir.path())
                .unwrap()
                .iter()
                .map(|d| d["metadata"]["name"].as_str().unwrap().to_string())
                .collect()
        };
        assert_eq!(names("version=v1"), ["helloworld-v1"]);
        assert_eq!(names("app=helloworld").len(), 3);
        assert!(matches!(
            documents(&spec("version=v3"), dir.path()),
            Err(KubeError::NoneSelected(_))
        ));
    }

    #[test]
    fn documents_are_split_ordered_and_checked() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: a}\n---\n---\n\
                    apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: w.example.com}\n---\n\
                    apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: n}}\n";
        let spec = KubeApply::<Rendered> {
            place: Place::default(),
            manifests: Manifests::Inline(text.into()),
            selector: None,
            force: false,
        };
        let docs = documents(&spec, Path::new("/")).unwrap();
        let kinds: Vec<&str> = docs.iter().map(|d| d["kind"].as_str().unwrap()).collect();
        assert_eq!(
            kinds,
            ["Namespace", "CustomResourceDefinition", "ConfigMap"]
        );

        let err = parse_documents("apiVersion: v1\nkind: ConfigMap\n", "m.yaml").unwrap_err();
        assert_eq!(
            err.to_string(),
            "m.yaml: document 1 needs apiVersion, kind and metadata.name"
        );
        let err = parse_documents("a: [\n", "m.yaml").unwrap_err();
        assert!(
            err.to_string()
                .starts_with("m.yaml: document 1 is not valid YAML"),
            "{err}"
        );
    }
}
