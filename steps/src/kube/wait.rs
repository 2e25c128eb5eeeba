//! `kube.wait`: until objects are ready (kstatus), have a condition, show a JSONPath value, or
//! are gone. Waits list the objects, then watch from the list's resourceVersion; a dropped
//! watch (or a watch error) leads to a fresh list, so no change is missed. Objects that do not
//! exist yet are waited for until the timeout.

use std::time::Duration;

use futures::StreamExt;
use indexmap::IndexMap;
use kube::api::WatchParams;
use kube::core::WatchEvent;
use meshbook_engine::model::{KubeWait, OutputSpec};
use meshbook_inspect::jsonpath::JsonPath;
use meshbook_inspect::readiness::{self, Status};
use serde_json::Value;

use super::client::{ClientError, Clients};
use super::objects::{Selection, Target, name_of};
use super::request::ApiFailure;
use super::resolve::ResolveError;
use super::{Outputs, Progress, StepEnv};

/// How long a `kube.wait` waits unless it says otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Why a wait failed.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The cluster could not be reached.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The resource type is unknown.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// The step's fields do not describe a wait.
    #[error("kube.wait: {0}")]
    Spec(String),
    /// Listing or watching failed for good.
    #[error("cannot watch {what}")]
    Api {
        /// The objects.
        what: String,
        /// The failed request.
        #[source]
        source: ApiFailure,
    },
    /// The deadline passed; `last` is the status last observed.
    #[error("timed out after {after:?} waiting for {what}: {last}")]
    Timeout {
        /// The objects.
        what: String,
        /// The timeout.
        after: Duration,
        /// What was last observed.
        last: String,
    },
    /// An object reached a state it will not recover from (kstatus `Failed`).
    #[error("{what} failed: {reason}")]
    Failed {
        /// The objects.
        what: String,
        /// The observed failure.
        reason: String,
    },
}

/// What a check makes of the objects currently selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// The wait is over.
    Done,
    /// Not yet; what was observed.
    Pending(String),
    /// It will not happen; why.
    Failed(String),
}

/// What a `kube.wait` step waits for.
#[derive(Debug, Clone)]
pub enum Goal {
    /// kstatus readiness (`Current`); kstatus `Failed` ends the wait early.
    Ready,
    /// A condition of this type, with this status (`True` by default).
    Condition {
        /// The condition type.
        kind: String,
        /// The wanted status.
        status: String,
    },
    /// A JSONPath value that equals, matches, or (with neither) is non-empty.
    Value {
        /// The parsed template.
        path: Box<JsonPath>,
        /// Must equal this.
        equals: Option<String>,
        /// Must match this.
        matches: Option<regex::Regex>,
    },
    /// The objects are gone.
    Deleted,
}

impl Goal {
    /// The goal a step's fields describe.
    pub fn from_spec(spec: &KubeWait) -> Result<Goal, WaitError> {
        let given = [
            spec.condition.is_some(),
            spec.jsonpath.is_some(),
            spec.deleted,
        ]
        .iter()
        .filter(|b| **b)
        .count();
        if given > 1 {
            return Err(WaitError::Spec(
                "give at most one of `condition`, `jsonpath` and `deleted`".into(),
            ));
        }
        if (spec.equals.is_some() || spec.matches.is_some()) && spec.jsonpath.is_none() {
            return Err(WaitError::Spec(
                "`equals` and `matches` need a `jsonpath`".into(),
            ));
        }
        if let Some(c) = &spec.condition {
            let (kind, status) = match c.split_once('=') {
                Some((k, s)) => (k.trim(), s.trim()),
                None => (c.trim(), "True"),
            };
            let kind = kind.strip_prefix("condition=").unwrap_or(kind);
            if kind.is_empty() {
                return Err(WaitError::Spec(format!("condition {c:?} names no type")));
            }
            return Ok(Goal::Condition {
                kind: kind.to_string(),
                status: status.to_string(),
            });
        }
        if let Some(p) = &spec.jsonpath {
            let path = JsonPath::parse(p)
                .map_err(|e| WaitError::Spec(format!("error parsing jsonpath {p}, {e}")))?;
            let matches = match &spec.matches {
                Some(m) => Some(
                    regex::Regex::new(m)
                        .map_err(|_| WaitError::Spec(format!("invalid pattern /{m}/")))?,
                ),
                None => None,
            };
            return Ok(Goal::Value {
                path: Box::new(path),
                equals: spec.equals.clone(),
                matches,
            });
        }
        if spec.deleted {
            return Ok(Goal::Deleted);
        }
        Ok(Goal::Ready)
    }

    /// Judges one object: `Ok(())` when it satisfies the goal, else what was observed.
    fn judge_one(&self, object: &Value) -> Result<(), Verdict> {
        let name = name_of(object);
        match self {
            Goal::Ready | Goal::Deleted => {
                let r = readiness::compute(object);
                match r.status {
                    Status::Current => Ok(()),
                    Status::Failed => Err(Verdict::Failed(format!("{name}: {}", r.message))),
                    s => Err(Verdict::Pending(format!("{name}: {s}: {}", r.message))),
                }
            }
            Goal::Condition { kind, status } => {
                let found = object["status"]["conditions"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|c| {
                        c["type"]
                            .as_str()
                            .is_some_and(|t| t.eq_ignore_ascii_case(kind))
                    });
                match found {
                    Some(c)
                        if c["status"]
                            .as_str()
                            .is_some_and(|s| s.eq_ignore_ascii_case(status)) =>
                    {
                        Ok(())
                    }
                    Some(c) => Err(Verdict::Pending(format!(
                        "{name}: condition {} is {}",
                        c["type"].as_str().unwrap_or(kind),
                        c["status"].as_str().unwrap_or("unset")
                    ))),
                    None => Err(Verdict::Pending(format!("{name}: no condition {kind} yet"))),
                }
            }
            Goal::Value {
                path,
                equals,
                matches,
            } => {
                let value = path
                    .render(object, true)
                    .map_err(|e| Verdict::Pending(format!("{name}: {e}")))?;
                let ok = match (equals, matches) {
                    (Some(e), _) => value.trim() == e,
                    (None, Some(m)) => m.is_match(&value),
                    (None, None) => !value.trim().is_empty(),
                };
                if ok {
                    Ok(())
                } else if value.trim().is_empty() {
                    Err(Verdict::Pending(format!(
                        "{name}: {} is empty",
                        path.template()
                    )))
                } else if object["kind"] == "Secret"
                    || object.get("type").is_some() && object.get("data").is_some()
                {
                    // A Secret's value is never shown.
                    Err(Verdict::Pending(format!(
                        "{name}: {} is not the expected value yet",
                        path.template()
                    )))
                } else {
                    Err(Verdict::Pending(format!(
                        "{name}: {} is {value:?}",
                        path.template()
                    )))
                }
            }
        }
    }

    /// Judges the selected objects: all must satisfy the goal, and at least `min` must exist.
    pub fn judge(&self, objects: &[&Value], min: usize) -> Verdict {
        if matches!(self, Goal::Deleted) {
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
            match self.judge_one(o) {
                Ok(()) => {}
                Err(Verdict::Failed(why)) => return Verdict::Failed(why),
                Err(Verdict::Pending(why)) => pending.push(why),
                Err(Verdict::Done) => {}
            }
        }
        match pending.len() {
            0 => Verdict::Done,
            1 => Verdict::Pending(pending.remove(0)),
            n => Verdict::Pending(format!("{n} not ready; {}", pending[0])),
        }
    }
}

/// Runs a `kube.wait` step.
pub async fn run(
    clients: &Clients,
    spec: &KubeWait,
    _outputs: &IndexMap<String, OutputSpec>,
    env: &StepEnv,
) -> Result<Outputs, WaitError> {
    let goal = Goal::from_spec(spec)?;
    let cluster = clients.cluster(spec.context.as_deref()).await?;
    let target = Target::new(&cluster, &spec.resource, spec.namespace.as_deref()).await?;
    let selection = Selection::from_fields(spec.name.as_deref(), spec.selector.as_deref());
    let min = match (&selection, spec.min) {
        (Selection::Name(_), _) => 1,
        (_, Some(n)) => n as usize,
        (_, None) => 1,
    };
    let timeout = spec.timeout.map(|d| d.0).unwrap_or(DEFAULT_TIMEOUT);
    let ready = until(&target, &selection, timeout, &env.progress, |objects| {
        goal.judge(objects, min)
    });
    let generates_pods = matches!(goal, Goal::Ready)
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
async fn failed_pods(target: &Target, selection: &Selection, timeout: Duration) -> WaitError {
    let quiet = Progress::none();
    let exists = |objects: &[&Value]| {
        if objects.is_empty() {
            Verdict::Pending(String::new())
        } else {
            Verdict::Done
        }
    };
    let found = async {
        let owners = until(target, selection, timeout, &quiet, exists)
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
        let failed = until(&pods, &by_labels, timeout, &quiet, |pods| {
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
        Some(WaitError::Failed {
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

/// Waits until `check` says the selected objects are done: list, then watch from the list's
/// resourceVersion, listing again whenever the watch ends or fails. Reports each new observation.
pub async fn until(
    target: &Target,
    selection: &Selection,
    timeout: Duration,
    progress: &Progress,
    check: impl Fn(&[&Value]) -> Verdict,
) -> Result<Vec<Value>, WaitError> {
    let what = target.describe_selection(selection);
    let mut last = String::from("nothing observed yet");
    let watching = watch_loop(target, selection, progress, &check, &what, &mut last);
    match tokio::time::timeout(timeout, watching).await {
        Ok(result) => result,
        Err(_) => Err(WaitError::Timeout {
            what,
            after: timeout,
            last,
        }),
    }
}

async fn watch_loop(
    target: &Target,
    selection: &Selection,
    progress: &Progress,
    check: &impl Fn(&[&Value]) -> Verdict,
    what: &str,
    last: &mut String,
) -> Result<Vec<Value>, WaitError> {
    let api = target.api();
    let api_error = |e: kube::Error| WaitError::Api {
        what: what.to_string(),
        source: e.into(),
    };
    let mut observe = |objects: &IndexMap<String, Value>| -> Option<Result<Vec<Value>, WaitError>> {
        let refs: Vec<&Value> = objects.values().collect();
        match check(&refs) {
            Verdict::Done => Some(Ok(objects.values().cloned().collect())),
            Verdict::Failed(reason) => Some(Err(WaitError::Failed {
                what: what.to_string(),
                reason,
            })),
            Verdict::Pending(seen) => {
                if *last != seen {
                    progress.line(&format!("waiting for {what}: {seen}"));
                    *last = seen;
                }
                None
            }
        }
    };
    let mut failures = 0u32;
    let mut idle = Duration::ZERO;
    loop {
        let (items, rv) = match target.list(selection).await {
            Ok(l) => l,
            Err(e) if failures < 5 && super::request::is_transient(&e) => {
                failures += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(e) => return Err(api_error(e)),
        };
        let mut objects: IndexMap<String, Value> = items
            .into_iter()
            .map(|o| (name_of(&o).to_string(), o))
            .collect();
        if let Some(done) = observe(&objects) {
            return done;
        }
        let mut wp = WatchParams::default().timeout(290);
        let lp = selection.list_params();
        if let Some(l) = &lp.label_selector {
            wp = wp.labels(l);
        }
        if let Some(f) = &lp.field_selector {
            wp = wp.fields(f);
        }
        let stream = match api.watch(&wp, &rv).await {
            Ok(s) => s,
            Err(e) if super::request::is_transient(&e) || is_gone(&e) => {
                failures += 1;
                if failures > 20 {
                    return Err(api_error(e));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Err(e) => return Err(api_error(e)),
        };
        let mut stream = std::pin::pin!(stream);
        let mut delivered = false;
        while let Some(event) = stream.next().await {
            let changed = match event {
                Ok(WatchEvent::Added(o)) | Ok(WatchEvent::Modified(o)) => {
                    let v = target.to_value(o);
                    objects.insert(name_of(&v).to_string(), v);
                    true
                }
                Ok(WatchEvent::Deleted(o)) => {
                    let v = target.to_value(o);
                    objects.shift_remove(name_of(&v));
                    true
                }
                Ok(WatchEvent::Bookmark(_)) => false,
                // A watch error (410 Gone, a server error) ends this watch; list again.
                Ok(WatchEvent::Error(_)) | Err(_) => break,
            };
            if changed {
                failures = 0;
                delivered = true;
                if let Some(done) = observe(&objects) {
                    return done;
                }
            }
        }
        // The watch ended (dropped, timed out or failed): list again so no change is missed,
        // after a pause when it carried nothing, so a server that closes watches at once is
        // not listed in a tight loop.
        if !delivered {
            idle = (idle * 2).clamp(Duration::from_millis(50), Duration::from_secs(1));
            tokio::time::sleep(idle).await;
        } else {
            idle = Duration::ZERO;
        }
    }
}

fn is_gone(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 410)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spec() -> KubeWait {
        KubeWait {
            resource: "deploy".into(),
            ..KubeWait::default()
        }
    }

    #[test]
    fn conditions_default_to_true_and_ignore_case() {
        let goal = Goal::from_spec(&KubeWait {
            condition: Some("available".into()),
            ..spec()
        })
        .unwrap();
        let ok = json!({"metadata": {"name": "a"}, "status": {"conditions": [{"type": "Available", "status": "True"}]}});
        let no = json!({"metadata": {"name": "b"}, "status": {"conditions": [{"type": "Available", "status": "False"}]}});
        assert_eq!(goal.judge(&[&ok], 1), Verdict::Done);
        assert_eq!(
            goal.judge(&[&ok, &no], 1),
            Verdict::Pending("b: condition Available is False".into())
        );
        assert_eq!(goal.judge(&[], 1), Verdict::Pending("not found yet".into()));
    }

    #[test]
    fn values_compare_by_jsonpath() {
        let goal = Goal::from_spec(&KubeWait {
            jsonpath: Some("{.status.phase}".into()),
            equals: Some("Running".into()),
            ..spec()
        })
        .unwrap();
        let pending = json!({"metadata": {"name": "p"}, "status": {"phase": "Pending"}});
        let running = json!({"metadata": {"name": "p"}, "status": {"phase": "Running"}});
        assert_eq!(
            goal.judge(&[&pending], 1),
            Verdict::Pending("p: {.status.phase} is \"Pending\"".into())
        );
        assert_eq!(goal.judge(&[&running], 1), Verdict::Done);

        let nonempty = Goal::from_spec(&KubeWait {
            jsonpath: Some("{.status.loadBalancer.ingress[0].ip}".into()),
            ..spec()
        })
        .unwrap();
        let svc = json!({"metadata": {"name": "s"}, "status": {"loadBalancer": {}}});
        assert!(matches!(nonempty.judge(&[&svc], 1), Verdict::Pending(_)));
    }

    #[test]
    fn readiness_fails_early_and_counts_minimum() {
        let goal = Goal::from_spec(&spec()).unwrap();
        let crashing = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
            "status": {"phase": "Running", "containerStatuses": [{"name": "c", "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]}});
        assert!(
            matches!(goal.judge(&[&crashing], 1), Verdict::Failed(m) if m.contains("CrashLoop"))
        );
        let ready = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
        assert_eq!(
            goal.judge(&[&ready], 2),
            Verdict::Pending("1 of at least 2 objects exist".into())
        );
        assert_eq!(goal.judge(&[&ready], 1), Verdict::Done);
    }

    #[test]
    fn contradictory_specs_are_refused() {
        assert!(
            Goal::from_spec(&KubeWait {
                condition: Some("Ready".into()),
                deleted: true,
                ..spec()
            })
            .is_err()
        );
        assert!(
            Goal::from_spec(&KubeWait {
                equals: Some("x".into()),
                ..spec()
            })
            .is_err()
        );
    }
}
