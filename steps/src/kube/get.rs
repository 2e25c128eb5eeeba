//! `kube.get`: read one object by name, or a `List` by selector, and give each declared output
//! what `kubectl get -o jsonpath=...` would print for it.

use indexmap::IndexMap;
use meshbook_engine::model::{KubeGet, OutputSpec};
use meshbook_inspect::jsonpath::JsonPath;
use serde_json::Value;

use super::client::{ClientError, Clients};
use super::objects::{Selection, Target, as_list};
use super::request::ApiFailure;
use super::resolve::ResolveError;
use super::{Outputs, StepEnv};

/// Why a get failed.
#[derive(Debug, thiserror::Error)]
pub enum GetError {
    /// The cluster could not be reached.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The resource type is unknown.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// An output would hold a Secret's data without being declared secret.
    #[error(
        "output `{0}` reads a Secret's data: declare it `secret: true` so it is sealed and masked"
    )]
    NotSecret(String),
    /// An output has no JSONPath to take its value from.
    #[error(
        "output `{0}` needs a `jsonpath` (or the step's `jsonpath` when it is the only output)"
    )]
    NoPath(String),
    /// A template does not parse (kubectl's wording).
    #[error("output `{output}`: error parsing jsonpath {template}, {reason}")]
    Parse {
        /// The output.
        output: String,
        /// The template.
        template: String,
        /// The parser's message.
        reason: String,
    },
    /// A template failed on the object (kubectl's wording).
    #[error("output `{output}`: error executing jsonpath {template:?}: {reason}")]
    Execute {
        /// The output.
        output: String,
        /// The template.
        template: String,
        /// The evaluator's message.
        reason: String,
    },
    /// The named object does not exist.
    #[error("{0} not found")]
    NotFound(String),
    /// The read failed.
    #[error("cannot read {what}")]
    Api {
        /// The objects.
        what: String,
        /// The failed request.
        #[source]
        source: ApiFailure,
    },
}

/// Which template each declared output takes its value from.
fn templates(
    spec: &KubeGet,
    outputs: &IndexMap<String, OutputSpec>,
) -> Result<Vec<(String, JsonPath)>, GetError> {
    let mut out = Vec::new();
    for (name, decl) in outputs {
        let template = match (&decl.jsonpath, &spec.jsonpath) {
            (Some(t), _) => t,
            (None, Some(t)) if outputs.len() == 1 => t,
            _ => return Err(GetError::NoPath(name.clone())),
        };
        let path = JsonPath::parse(template).map_err(|e| GetError::Parse {
            output: name.clone(),
            template: template.clone(),
            reason: e.to_string(),
        })?;
        out.push((name.clone(), path));
    }
    Ok(out)
}

/// Runs a `kube.get` step.
pub async fn run(
    clients: &Clients,
    spec: &KubeGet,
    outputs: &IndexMap<String, OutputSpec>,
    env: &StepEnv,
) -> Result<Outputs, GetError> {
    let paths = templates(spec, outputs)?;
    let cluster = clients.cluster(spec.context.as_deref()).await?;
    let target = Target::new(&cluster, &spec.resource, spec.namespace.as_deref()).await?;
    if target.resolved.resource.kind == "Secret" {
        for (name, path) in &paths {
            let template = path.template();
            let reads_data =
                template.contains("data") || template.contains("..") || template.contains('*');
            if reads_data && !outputs.get(name).is_some_and(|o| o.secret) {
                return Err(GetError::NotSecret(name.clone()));
            }
        }
    }
    let data = read(&target, spec).await?;
    if data["kind"] == "List" && data["items"].as_array().is_some_and(Vec::is_empty) {
        // Nothing selected yet: every value is empty (kubectl would fail on `items[0]`), so
        // that `wait: {until: nonempty}` waits for the objects as well as for their values.
        env.progress.line(&format!(
            "no {} yet: outputs are empty",
            describe_selection(&target, spec)
        ));
        return Ok(paths
            .iter()
            .map(|(n, _)| (n.clone(), String::new()))
            .collect());
    }
    extract(&paths, &data, spec.allow_missing_keys)
}

fn describe_selection(target: &Target, spec: &KubeGet) -> String {
    target.describe_selection(&Selection::Selector {
        labels: spec.selector.clone().unwrap_or_default(),
        fields: spec.field_selector.clone().unwrap_or_default(),
    })
}

async fn read(target: &Target, spec: &KubeGet) -> Result<Value, GetError> {
    let quiet = target.resolved.resource.kind == "Secret";
    match spec.name.as_deref().filter(|n| !n.is_empty()) {
        Some(name) => {
            let what = target.describe(name);
            target
                .get(name)
                .await
                .map_err(|e| GetError::Api {
                    source: ApiFailure::new(&e, quiet),
                    what: what.clone(),
                })?
                .ok_or(GetError::NotFound(what))
        }
        None => {
            let selection = Selection::Selector {
                labels: spec.selector.clone().unwrap_or_default(),
                fields: spec.field_selector.clone().unwrap_or_default(),
            };
            let (items, _) = target.list(&selection).await.map_err(|e| GetError::Api {
                what: target.describe_selection(&selection),
                source: ApiFailure::new(&e, quiet),
            })?;
            Ok(as_list(items))
        }
    }
}

/// Renders each output's template over `data`, exactly as kubectl prints it.
pub fn extract(
    paths: &[(String, JsonPath)],
    data: &Value,
    allow_missing_keys: bool,
) -> Result<Outputs, GetError> {
    let mut produced = Outputs::new();
    for (name, path) in paths {
        let value = path
            .render(data, allow_missing_keys)
            .map_err(|e| GetError::Execute {
                output: name.clone(),
                template: path.template().to_string(),
                reason: e.to_string(),
            })?;
        produced.insert(name.clone(), value);
    }
    Ok(produced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn out(jsonpath: Option<&str>) -> OutputSpec {
        OutputSpec {
            jsonpath: jsonpath.map(str::to_string),
            ..OutputSpec::default()
        }
    }

    #[test]
    fn outputs_take_their_own_or_the_steps_template() {
        let spec = KubeGet {
            resource: "svc".into(),
            jsonpath: Some("{.items[0].status.loadBalancer.ingress[0].ip}".into()),
            allow_missing_keys: true,
            ..KubeGet::default()
        };
        let data = as_list(vec![json!({"metadata": {"name": "gw"},
            "status": {"loadBalancer": {"ingress": [{"ip": "172.18.0.10"}]}}})]);
        let one: IndexMap<String, OutputSpec> =
            [("GW".to_string(), out(None))].into_iter().collect();
        let got = extract(&templates(&spec, &one).unwrap(), &data, true).unwrap();
        assert_eq!(got["GW"], "172.18.0.10");

        let two: IndexMap<String, OutputSpec> = [
            ("A".to_string(), out(Some("{.items[*].metadata.name}"))),
            ("B".to_string(), out(None)),
        ]
        .into_iter()
        .collect();
        assert_eq!(
            templates(&spec, &two).unwrap_err().to_string(),
            "output `B` needs a `jsonpath` (or the step's `jsonpath` when it is the only output)"
        );
    }

    #[test]
    fn missing_keys_follow_kubectl() {
        let paths = vec![("X".to_string(), JsonPath::parse("{.status.podIP}").unwrap())];
        let pod = json!({"status": {}});
        assert_eq!(extract(&paths, &pod, true).unwrap()["X"], "");
        assert_eq!(
            extract(&paths, &pod, false).unwrap_err().to_string(),
            "output `X`: error executing jsonpath \"{.status.podIP}\": podIP is not found"
        );
    }
}
