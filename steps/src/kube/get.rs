//! `kube.get`: read one object by name, or a `List` by selector, and give each declared output
//! what `kubectl get -o jsonpath=...` would print for it.

use indexmap::IndexMap;
use meshbook_engine::model::{KubeGet, OutputSpec, Rendered, reads_secret_data};
use meshbook_engine::run::executor::Waiting;
use meshbook_inspect::jsonpath::JsonPath;
use serde_json::Value;

use super::client::Clients;
use super::error::KubeError;
use super::objects::{Selection, Target, as_list};
use super::request::ApiFailure;
use super::watch::{Verdict, watch_until};
use super::{Outputs, StepEnv};

/// The output name and JSONPath of each declared output.
type Paths<'a> = Vec<(&'a str, &'a JsonPath)>;

/// Runs a `kube.get` step.
pub(crate) async fn run(
    clients: &Clients,
    spec: &KubeGet<Rendered>,
    outputs: &IndexMap<String, OutputSpec>,
    env: &StepEnv,
) -> Result<Outputs, KubeError> {
    let paths: Paths<'_> = spec.extraction(outputs).collect();
    let (target, selection) =
        Target::of_view(clients, spec.objects.view(), spec.field_selector.as_deref()).await?;
    if target.resolved.resource.kind == "Secret" {
        for (name, path) in &paths {
            // Validation refuses this when the resource is written out; a template may still
            // turn out to name Secrets.
            if reads_secret_data(path.template()) && !outputs.get(*name).is_some_and(|o| o.secret) {
                return Err(KubeError::NotSecret(name.to_string()));
            }
        }
    }
    if let Some(wait) = env.wait.as_ref().filter(|_| !env.dry_run) {
        return watch(
            &target,
            &selection,
            &paths,
            spec.allow_missing_keys,
            wait,
            env,
        )
        .await;
    }
    let data = read(&target, &selection).await?;
    if data["kind"] == "List" && data["items"].as_array().is_some_and(Vec::is_empty) {
        // Nothing selected yet: every value is empty (kubectl would fail on `items[0]`), so
        // that `wait: {until: nonempty}` waits for the objects as well as for their values.
        env.progress.line(&format!(
            "no {} yet: outputs are empty",
            target.describe_selection(&selection)
        ));
        return Ok(empty(&paths));
    }
    extract(&paths, &data, spec.allow_missing_keys)
}

/// Watches the selected objects until the values the step's outputs read meet its
/// `wait.until`, or `wait.within` passes; either way gives back the values last seen (empty
/// while nothing is selected: a named object that does not exist yet is a value not there
/// yet), and the scheduler judges them as it judges a single read.
async fn watch(
    target: &Target,
    selection: &Selection,
    paths: &Paths<'_>,
    allow_missing_keys: bool,
    wait: &Waiting,
    env: &StepEnv,
) -> Result<Outputs, KubeError> {
    let by_name = matches!(selection, Selection::Name(_));
    let values_of = |objects: &[&Value]| -> Result<Outputs, KubeError> {
        let data = match (by_name, objects) {
            (_, []) => return Ok(empty(paths)),
            (true, [object, ..]) => (*object).clone(),
            (false, objects) => as_list(objects.iter().map(|o| (*o).clone()).collect()),
        };
        extract(paths, &data, allow_missing_keys)
    };
    let last = std::sync::Mutex::new(empty(paths));
    let met = |objects: &[&Value]| match values_of(objects) {
        Ok(values) => {
            let done = values.values().all(|v| wait.until.holds(v));
            let seen = pending(&values, objects.len());
            *last.lock().unwrap_or_else(|e| e.into_inner()) = values;
            if done {
                Verdict::Done
            } else {
                Verdict::Pending(seen)
            }
        }
        // A path the objects do not have yet (kubectl's "is not found"): not there yet.
        Err(e) => Verdict::Pending(e.to_string()),
    };
    match watch_until(target, selection, wait.within, &env.progress, met).await {
        Ok(objects) => values_of(&objects.iter().collect::<Vec<_>>()),
        Err(KubeError::Timeout { .. }) => Ok(last.into_inner().unwrap_or_else(|e| e.into_inner())),
        Err(e) => Err(e),
    }
}

/// Every output empty.
fn empty(paths: &Paths<'_>) -> Outputs {
    paths
        .iter()
        .map(|(n, _)| (n.to_string(), String::new()))
        .collect()
}

/// What a watching read saw, for progress lines: which outputs are still empty (values are
/// never shown: they may be secret).
fn pending(values: &Outputs, objects: usize) -> String {
    if objects == 0 {
        return "nothing selected yet".to_string();
    }
    let empty: Vec<&str> = values
        .iter()
        .filter(|(_, v)| v.trim().is_empty())
        .map(|(n, _)| n.as_str())
        .collect();
    if empty.is_empty() {
        "values read, condition not met yet".to_string()
    } else {
        format!("{} empty", empty.join(", "))
    }
}

async fn read(target: &Target, selection: &Selection) -> Result<Value, KubeError> {
    let quiet = target.resolved.resource.kind == "Secret";
    let what = target.describe_selection(selection);
    let failed =
        |e: kube::Error| KubeError::api(format!("read {what}"), ApiFailure::new(&e, quiet));
    match selection {
        Selection::Name(name) => target
            .get(name)
            .await
            .map_err(failed)?
            .ok_or_else(|| KubeError::NotFound(what.clone())),
        Selection::Selector { .. } => {
            let (items, _) = target.list(selection).await.map_err(failed)?;
            Ok(as_list(items))
        }
    }
}

/// Renders each output's template over `data`, exactly as kubectl prints it.
fn extract(
    paths: &Paths<'_>,
    data: &Value,
    allow_missing_keys: bool,
) -> Result<Outputs, KubeError> {
    let mut produced = Outputs::new();
    for (name, path) in paths {
        let value = path
            .render(data, allow_missing_keys)
            .map_err(|e| KubeError::Execute {
                output: name.to_string(),
                template: path.template().to_string(),
                reason: e.to_string(),
            })?;
        produced.insert(name.to_string(), value);
    }
    Ok(produced)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn values_are_what_kubectl_prints() {
        let path = JsonPath::parse("{.items[0].status.loadBalancer.ingress[0].ip}").unwrap();
        let data = as_list(vec![json!({"metadata": {"name": "gw"},
            "status": {"loadBalancer": {"ingress": [{"ip": "172.18.0.10"}]}}})]);
        let got = extract(&vec![("GW", &path)], &data, true).unwrap();
        assert_eq!(got["GW"], "172.18.0.10");
    }

    #[test]
    fn missing_keys_follow_kubectl() {
        let path = JsonPath::parse("{.status.podIP}").unwrap();
        let paths = vec![("X", &path)];
        let pod = json!({"status": {}});
        assert_eq!(extract(&paths, &pod, true).unwrap()["X"], "");
        assert_eq!(
            extract(&paths, &pod, false).unwrap_err().to_string(),
            "output `X`: error executing jsonpath \"{.status.podIP}\": podIP is not found"
        );
    }
}
