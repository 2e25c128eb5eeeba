//! `kube.patch`: a merge, strategic or JSON patch of one object, or `yaml_in`: edits by dotted
//! path of a YAML document held as text in a ConfigMap (or Secret) data key, written back with
//! the object's resourceVersion as a precondition so that a concurrent change is not lost.

use base64::Engine as _;
use indexmap::IndexMap;
use kube::api::{Patch, PatchParams};
use kube::core::DynamicObject;
use meshbook_engine::model::{KubePatch, OutputSpec, PatchChange, PatchType, YamlIn};
use serde_json::{Value, json};
use serde_yaml::Value as Yaml;

use super::applier::FIELD_MANAGER;
use super::client::Clients;
use super::error::KubeError;
use super::objects::{Target, resource_version_of};
use super::request::{ApiFailure, retrying};
use super::{Outputs, StepEnv};

const CONFLICT_RETRIES: usize = 5;

/// Runs a `kube.patch` step.
pub(crate) async fn run(
    clients: &Clients,
    spec: &KubePatch,
    _outputs: &IndexMap<String, OutputSpec>,
    env: &StepEnv,
) -> Result<Outputs, KubeError> {
    let (target, _) = Target::of_view(clients, spec.view(), None).await?;
    match &spec.change {
        PatchChange::Patch { patch_type, body } => {
            patch(&target, &spec.name, *patch_type, body, env).await?
        }
        PatchChange::YamlIn(y) => edit_yaml_in(&target, &spec.name, y, env).await?,
    }
    Ok(Outputs::new())
}

async fn patch(
    target: &Target,
    name: &str,
    kind: PatchType,
    body: &Value,
    env: &StepEnv,
) -> Result<(), KubeError> {
    let what = target.describe(name);
    let quiet = target.resolved.resource.kind == "Secret";
    let fail = |e: kube::Error| {
        if matches!(&e, kube::Error::Api(s) if s.code == 404) {
            KubeError::NotFound(what.clone())
        } else {
            KubeError::api(format!("patch {what}"), ApiFailure::new(&e, quiet))
        }
    };
    let api = target.api();
    let mut params = PatchParams {
        field_manager: Some(FIELD_MANAGER.to_string()),
        ..PatchParams::default()
    };
    if env.dry_run {
        params = params.dry_run();
    }
    let before = target.get(name).await.map_err(fail)?;
    let before = before.ok_or_else(|| KubeError::NotFound(what.clone()))?;
    let after: DynamicObject = match kind {
        PatchType::Merge => {
            let p = Patch::Merge(body);
            retrying(|| api.patch(name, &params, &p))
                .await
                .map_err(fail)?
        }
        PatchType::Strategic => {
            let p = Patch::Strategic(body);
            retrying(|| api.patch(name, &params, &p))
                .await
                .map_err(fail)?
        }
        PatchType::Json => {
            let url = format!(
                "{}/{name}?fieldManager={FIELD_MANAGER}{}",
                api.resource_url(),
                if env.dry_run { "&dryRun=All" } else { "" }
            );
            let bytes = serde_json::to_vec(body).unwrap_or_default();
            let client = target.cluster.client();
            retrying(|| {
                let request = http::Request::patch(&url)
                    .header(http::header::CONTENT_TYPE, "application/json-patch+json")
                    .body(bytes.clone());
                async move {
                    let request = request.map_err(kube::Error::HttpError)?;
                    client.request::<DynamicObject>(request).await
                }
            })
            .await
            .map_err(fail)?
        }
    };
    let after = target.to_value(after);
    let changed = resource_version_of(&before) != resource_version_of(&after);
    env.progress.line(&format!(
        "{} {} ({})",
        target.resolved.object_name(name),
        if changed {
            "patched"
        } else {
            "patched (no change)"
        },
        target.place()
    ));
    Ok(())
}

async fn edit_yaml_in(
    target: &Target,
    name: &str,
    edit: &YamlIn,
    env: &StepEnv,
) -> Result<(), KubeError> {
    let what = target.describe(name);
    let quiet = target.resolved.resource.kind == "Secret";
    let fail = |e: kube::Error| KubeError::api(format!("patch {what}"), ApiFailure::new(&e, quiet));
    for _ in 0..CONFLICT_RETRIES {
        let object = target
            .get(name)
            .await
            .map_err(fail)?
            .ok_or_else(|| KubeError::NotFound(what.clone()))?;
        let is_secret = object["kind"] == "Secret";
        let raw = object["data"][&edit.key].as_str().unwrap_or_default();
        let text = if is_secret {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(raw)
                .unwrap_or_default();
            String::from_utf8_lossy(&bytes).into_owned()
        } else {
            raw.to_string()
        };
        let edited = edit_yaml_text(&text, &edit.set).map_err(|(path, reason)| match path {
            None => KubeError::BadYaml {
                object: what.clone(),
                key: edit.key.clone(),
                reason,
            },
            Some(path) => KubeError::BadPath {
                object: what.clone(),
                key: edit.key.clone(),
                path,
                reason,
            },
        })?;
        if edited == text {
            env.progress.line(&format!(
                "{} data key {} unchanged ({})",
                target.resolved.object_name(name),
                edit.key,
                target.place()
            ));
            return Ok(());
        }
        let stored = if is_secret {
            base64::engine::general_purpose::STANDARD.encode(edited.as_bytes())
        } else {
            edited
        };
        // The resourceVersion makes the write conditional: 409 if someone changed it since.
        let body = json!({
            "metadata": {"resourceVersion": resource_version_of(&object)},
            "data": {edit.key.as_str(): stored},
        });
        if env.dry_run {
            env.progress.line(&format!(
                "{} data key {} would change",
                target.resolved.object_name(name),
                edit.key
            ));
            return Ok(());
        }
        match target.merge_patch(name, &body).await {
            Ok(_) => {
                env.progress.line(&format!(
                    "{} data key {} edited: {} ({})",
                    target.resolved.object_name(name),
                    edit.key,
                    edit.set.keys().cloned().collect::<Vec<_>>().join(", "),
                    target.place()
                ));
                return Ok(());
            }
            Err(kube::Error::Api(s)) if s.code == 409 => continue,
            Err(e) => return Err(fail(e)),
        }
    }
    Err(KubeError::Contended {
        what,
        tries: CONFLICT_RETRIES,
    })
}

/// Splits a dotted path; `\.` keeps a dot inside a key.
fn segments(path: &str) -> Vec<String> {
    let mut out = vec![String::new()];
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let (Some(n), Some(s)) = (chars.next(), out.last_mut()) {
                    s.push(n);
                }
            }
            '.' => out.push(String::new()),
            c => {
                if let Some(s) = out.last_mut() {
                    s.push(c)
                }
            }
        }
    }
    out
}

/// Sets `value` at the dotted `path` in `doc`, creating maps (or, for a numeric segment,
/// lists) on the way; an index one past a list's end appends.
pub(crate) fn set_path(doc: &mut Yaml, path: &str, value: Yaml) -> Result<(), String> {
    let segs = segments(path);
    if segs.iter().any(String::is_empty) {
        return Err("empty path segment".into());
    }
    let mut node = doc;
    for (i, seg) in segs.iter().enumerate() {
        let index = seg.parse::<usize>().ok();
        if node.is_null() {
            *node = match index {
                Some(_) => Yaml::Sequence(Vec::new()),
                None => Yaml::Mapping(serde_yaml::Mapping::new()),
            };
        }
        let last = i + 1 == segs.len();
        node = match node {
            Yaml::Mapping(m) => {
                let key = Yaml::String(seg.clone());
                if !m.contains_key(&key) {
                    m.insert(key.clone(), Yaml::Null);
                }
                m.get_mut(&key).ok_or("unreachable")?
            }
            Yaml::Sequence(list) => {
                let Some(ix) = index else {
                    return Err(format!("{seg:?} is not an index into a list"));
                };
                if ix == list.len() {
                    list.push(Yaml::Null);
                } else if ix > list.len() {
                    return Err(format!(
                        "index {ix} is past the end of a list of {}",
                        list.len()
                    ));
                }
                &mut list[ix]
            }
            _ => {
                let at = segs[..i].join(".");
                return Err(format!("{at:?} holds a scalar, not a map or list"));
            }
        };
        if last {
            *node = value;
            return Ok(());
        }
    }
    Ok(())
}

/// Applies every `set` edit to a YAML text; errors are `(path, reason)`, with no path when
/// the text itself does not parse. Unchanged documents come back byte for byte.
pub(crate) fn edit_yaml_text(
    text: &str,
    set: &IndexMap<String, Value>,
) -> Result<String, (Option<String>, String)> {
    let original: Yaml = if text.trim().is_empty() {
        Yaml::Null
    } else {
        serde_yaml::from_str(text).map_err(|e| (None, e.to_string()))?
    };
    let mut doc = original.clone();
    for (path, value) in set {
        let v: Yaml = match value {
            // A string is read as it would be written unquoted in the YAML being edited, so a
            // templated `"{{PORT}}"` becomes the number 443, as a person editing it would type it.
            Value::String(text) => plain_scalar(text),
            other => {
                serde_yaml::to_value(other).map_err(|e| (Some(path.clone()), e.to_string()))?
            }
        };
        set_path(&mut doc, path, v).map_err(|r| (Some(path.clone()), r))?;
    }
    if doc == original {
        return Ok(text.to_string());
    }
    serde_yaml::to_string(&doc).map_err(|e| (None, e.to_string()))
}

/// `text` as a YAML plain scalar: a number or boolean when it reads as one, else the string.
fn plain_scalar(text: &str) -> Yaml {
    match serde_yaml::from_str::<Yaml>(text) {
        Ok(v @ (Yaml::Number(_) | Yaml::Bool(_))) => v,
        _ => Yaml::String(text.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templated_numbers_become_numbers_and_addresses_stay_strings() {
        let out = edit_yaml_text(
            MESH_NETWORKS,
            &set(&[
                ("networks.network1.gateways.0.port", json!("15443")),
                ("networks.network1.gateways.0.address", json!("35.1.2.3")),
            ]),
        )
        .unwrap();
        assert!(out.contains("port: 15443\n"), "{out}");
        assert!(out.contains("address: 35.1.2.3\n"), "{out}");
        assert_eq!(plain_scalar("true"), Yaml::Bool(true));
        assert_eq!(plain_scalar("a: b"), Yaml::String("a: b".into()));
    }

    const MESH_NETWORKS: &str = "networks:\n  network1:\n    endpoints:\n    - fromRegistry: Kubernetes\n    gateways:\n    - address: 0.0.0.0\n      port: 443\n";

    fn set(pairs: &[(&str, Value)]) -> IndexMap<String, Value> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn mesh_networks_gateway_address_is_set() {
        let out = edit_yaml_text(
            MESH_NETWORKS,
            &set(&[("networks.network1.gateways.0.address", json!("172.18.0.10"))]),
        )
        .unwrap();
        let doc: Value = serde_yaml::from_str(&out).unwrap();
        assert_eq!(
            doc["networks"]["network1"]["gateways"][0]["address"],
            "172.18.0.10"
        );
        assert_eq!(doc["networks"]["network1"]["gateways"][0]["port"], 443);
        assert_eq!(
            doc["networks"]["network1"]["endpoints"][0]["fromRegistry"],
            "Kubernetes"
        );
    }

    #[test]
    fn paths_create_append_and_refuse() {
        let out = edit_yaml_text(
            "",
            &set(&[
                (
                    "networks.network2.endpoints.0.fromRegistry",
                    json!("n2-k8s-config"),
                ),
                ("a\\.b.c", json!(1)),
            ]),
        )
        .unwrap();
        let doc: Value = serde_yaml::from_str(&out).unwrap();
        assert_eq!(
            doc["networks"]["network2"]["endpoints"][0]["fromRegistry"],
            "n2-k8s-config"
        );
        assert_eq!(doc["a.b"]["c"], 1);

        let err = edit_yaml_text(
            MESH_NETWORKS,
            &set(&[("networks.network1.gateways.5.port", json!(1))]),
        )
        .unwrap_err();
        assert_eq!(err.1, "index 5 is past the end of a list of 1");
        let err = edit_yaml_text(
            MESH_NETWORKS,
            &set(&[("networks.network1.gateways.0.port.x", json!(1))]),
        )
        .unwrap_err();
        assert!(err.1.contains("holds a scalar"), "{err:?}");
        assert_eq!(
            edit_yaml_text(
                MESH_NETWORKS,
                &set(&[("networks.network1.gateways.0.port", json!(443))])
            )
            .unwrap(),
            MESH_NETWORKS
        );
    }
}
