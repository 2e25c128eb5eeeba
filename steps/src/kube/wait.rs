//! `kube.wait`: until objects are ready (kstatus), have a condition, show a JSONPath value, or
//! are gone. Objects that do not exist yet are waited for until the timeout.

use std::time::Duration;

use indexmap::IndexMap;
use meshbook_engine::model::{KubeWait, OutputSpec, Rendered, WaitFor};
use meshbook_inspect::readiness::{self, Status};
use serde_json::Value;

use super::client::Clients;
use super::error::KubeError;
use super::objects::{Selection, Target, name_of};
use super::watch::{Verdict, watch_until};
use super::{Outputs, Progress, StepEnv};

/// Judges one object: `Ok(())` when it satisfies the goal, else what was observed.
fn judge_one(goal: &WaitFor<Rendered>, object: &Value) -> Result<(), Verdict> {
    let name = name_of(object);
    match goal {
        WaitFor::Ready | WaitFor::Deleted => {
            let r = readiness::compute(object);
            match r.status {
                Status::Current => Ok(()),
                Status::Failed => Err(Verdict::Failed(format!("{name}: {}", r.message))),
                s => Err(Verdict::Pending(format!("{name}: {s}: {}", r.message))),
            }
        }
        WaitFor::Condition(c) => {
            let found = object["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|x| {
                    x["type"]
                        .as_str()
                        .is_some_and(|t| t.eq_ignore_ascii_case(&c.kind))
                });
            match found {
                Some(x)
                    if x["status"]
                        .as_str()
                        .is_some_and(|s| s.eq_ignore_ascii_case(&c.status)) =>
                {
                    Ok(())
                }
                Some(x) => Err(Verdict::Pending(format!(
                    "{name}: condition {} is {}",
                    x["type"].as_str().unwrap_or(&c.kind),
                    x["status"].as_str().unwrap_or("unset")
                ))),
                None => Err(Verdict::Pending(format!(
                    "{name}: no condition {} yet",
                    c.kind
                ))),
            }
        }
        WaitFor::Value { jsonpath, until } => {
            let value = jsonpath
                .render(object, true)
                .map_err(|e| Verdict::Pending(format!("{name}: {e}")))?;
            if until.holds(&value) {
                Ok(())
            } else if value.trim().is_empty() {
                Err(Verdict::Pending(format!(
                    "{name}: {} is empty",
                    jsonpath.template()
                )))
            } else if object["kind"] == "Secret"
                || object.get("type").is_some() && object.get("data").is_some()
            {
                // A Secret's value is never shown.
                Err(Verdict::Pending(format!(
                    "{name}: {} is not the expected value yet",
                    jsonpath.template()
                )))
            } else {
                Err(Verdict::Pending(format!(
                    "{name}: {} is {value:?}",
                    jsonpath.template()
                )))
            }
        }
    }
}

/// Judges the selected objects: all must satisfy the goal, and at least `min` must exist.
pub(crate) fn judge(goal: &WaitFor<Rendered>, objects: &[&Value], min: usize) -> Verdict {
    if matches!(goal, WaitFor::Deleted) {
        return match objects.len() {
            0 => Verdict::Done,
            1 => Verdict::Pending(format!("{} still exists", name_of(objects[0]))),
            n => Verdict::Pending(format!("{n} objects still exist")),
        };
    }
    if objects.len() < min {
        return Verdict::Pending(match objects.len() {
            0 => "not found yet".to_string(),
            n => format!("{n} of at least {min} objects exist"),
        });
    }
    let mut pending = Vec::new();
    for o in objects {
        match judge_one(goal, o) {
            Ok(()) | Err(Verdict::Done) => {}
            Err(Verdict::Failed(why)) => return Verdict::Failed(why),
            Err(Verdict::Pending(why)) => pending.push(why),
        }
    }
    match pending.len() {
        0 => Verdict::Done,
        1 => Verdict::Pending(pending.remove(0)),
        n => Verdict::Pending(format!("{n} not ready; {}", pending[0])),
    }
}

/// Runs a `kube.wait` step.
pub(crate) async fn run(
    clients: &Clients,
    spec: &KubeWait<Rendered>,
    _outputs: &IndexMap<String, OutputSpec>,
    env: &StepEnv,
) -> Result<Outputs, KubeError> {
    let (target, selection) = Target::of_view(clients, spec.objects.view(), None).await?;
    let min = match (&selection, spec.min) {
        (Selection::Name(_), _) | (_, None) => 1,
        (_, Some(n)) => n as usize,
    };
    let timeout = spec.patience().get();
    let goal = &spec.wait_for;
    let ready = watch_until(&target, &selection, timeout, &env.progress, |objects| {
        judge(goal, objects, min)
    });
    let generates_pods = matches!(goal, WaitFor::Ready)
        && matches!(
            target.resolved.resource.kind.as_str(),
            "Deployment" | "ReplicaSet" | "StatefulSet"
        );
    if generates_pods {
        tokio::select! {
            done = ready => done?,
            failed = failed_pods(&target, &selection, timeout) => return Err(failed),
        };
    } else {
        ready.await?;
    }
    Ok(Outputs::new())
}

/// kstatus's polling layer: a workload whose generated pods have failed (crash-looping, say)
/// has failed too. Resolves only with such a failure; otherwise it waits forever.
async fn failed_pods(target: &Target, selection: &Selection, timeout: Duration) -> KubeError {
    let quiet = Progress::none();
    let exists = |objects: &[&Value]| {
        if objects.is_empty() {
            Verdict::Pending(String::new())
        } else {
            Verdict::Done
        }
    };
    let found = async {
        let owners = watch_until(target, selection, timeout, &quiet, exists)
            .await
            .ok()?;
        let owner = owners.first()?;
        let labels = owner["spec"]["selector"]["matchLabels"]
            .as_object()
            .filter(|m| !m.is_empty())?
            .iter()
            .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
            .collect::<Vec<_>>()
            .join(",");
        let pods = Target::new(&target.cluster, "pods", target.namespace.as_deref())
            .await
            .ok()?;
        let by_labels = Selection::Selector {
            labels,
            fields: String::new(),
        };
        let failed = watch_until(&pods, &by_labels, timeout, &quiet, |pods| {
            if pods
                .iter()
                .any(|p| readiness::compute(p).status == Status::Failed)
            {
                Verdict::Done
            } else {
                Verdict::Pending(String::new())
            }
        })
        .await
        .ok()?;
        let failing: Vec<String> = failed
            .iter()
            .filter_map(|p| {
                let r = readiness::compute(p);
                (r.status == Status::Failed).then(|| format!("{}: {}", name_of(p), r.message))
            })
            .collect();
        Some(KubeError::Failed {
            what: target.describe_selection(selection),
            reason: format!(
                "{} pods have failed ({})",
                failing.len(),
                failing.join("; ")
            ),
        })
    };
    match found.await {
        Some(e) => e,
        None => std::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use meshbook_engine::model::{Condition, Grammar, Until};
    use meshbook_inspect::jsonpath::JsonPath;
    use serde_json::json;

    fn value(path: &str, until: Until<Rendered>) -> WaitFor<Rendered> {
        WaitFor::Value {
            jsonpath: JsonPath::parse(path).unwrap(),
            until,
        }
    }

    #[test]
    fn conditions_default_to_true_and_ignore_case() {
        let goal = WaitFor::Condition(Condition::parse("available").unwrap());
        let ok = json!({"metadata": {"name": "a"}, "status": {"conditions": [{"type": "Available", "status": "True"}]}});
        let no = json!({"metadata": {"name": "b"}, "status": {"conditions": [{"type": "Available", "status": "False"}]}});
        assert_eq!(judge(&goal, &[&ok], 1), Verdict::Done);
        assert_eq!(
            judge(&goal, &[&ok, &no], 1),
            Verdict::Pending("b: condition Available is False".into())
        );
        assert_eq!(
            judge(&goal, &[], 1),
            Verdict::Pending("not found yet".into())
        );
    }

    #[test]
    fn values_compare_by_jsonpath() {
        let goal = value("{.status.phase}", Until::Equals("Running".into()));
        let pending = json!({"metadata": {"name": "p"}, "status": {"phase": "Pending"}});
        let running = json!({"metadata": {"name": "p"}, "status": {"phase": "Running"}});
        assert_eq!(
            judge(&goal, &[&pending], 1),
            Verdict::Pending("p: {.status.phase} is \"Pending\"".into())
        );
        assert_eq!(judge(&goal, &[&running], 1), Verdict::Done);

        let nonempty = value("{.status.loadBalancer.ingress[0].ip}", Until::NonEmpty);
        let svc = json!({"metadata": {"name": "s"}, "status": {"loadBalancer": {}}});
        assert!(matches!(judge(&nonempty, &[&svc], 1), Verdict::Pending(_)));
    }

    #[test]
    fn readiness_fails_early_and_counts_minimum() {
        let goal = WaitFor::Ready;
        let crashing = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "status": {"phase": "Running", "containerStatuses": [{"name": "c", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        assert!(
            matches!(judge(&goal, &[&crashing], 1), Verdict::Failed(m) if m.contains("CrashLoop"))
        );
        let ready = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert_eq!(
            judge(&goal, &[&ready], 2),
            Verdict::Pending("1 of at least 2 objects exist".into())
        );
        assert_eq!(judge(&goal, &[&ready], 1), Verdict::Done);
    }
}
