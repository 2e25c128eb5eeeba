//! `kube.exec`: run a command in a pod (by name, or the first ready pod of a selector)
//! through the exec WebSocket, `repeat` times, capturing stdout for the step's output and
//! checking that every `contains` text appears in it.

use indexmap::IndexMap;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::AttachParams;
use meshbook_engine::model::{KubeExec, OutputSpec};
use serde_json::Value;
use tokio::io::AsyncReadExt;

use super::client::{ClientError, Clients};
use super::objects::{Selection, Target, name_of};
use super::request::ApiFailure;
use super::resolve::ResolveError;
use super::{Outputs, Progress, StepEnv};

/// Why an exec failed.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// Neither or both of `pod` and `selector`.
    #[error("kube.exec needs exactly one of `pod` and `selector`")]
    Shape,
    /// An empty command.
    #[error("kube.exec needs a command")]
    NoCommand,
    /// More than one output declared.
    #[error("kube.exec captures stdout into one output; {0} are declared")]
    TooManyOutputs(usize),
    /// No running pod matches.
    #[error("no running pod {0}")]
    NoPod(String),
    /// The cluster could not be reached.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// Pods are not served.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
    /// Finding the pod or starting the command failed.
    #[error("cannot exec in {what}")]
    Api {
        /// The pod and where.
        what: String,
        /// The failed request.
        #[source]
        source: ApiFailure,
    },
    /// The command failed.
    #[error("command {command:?} failed in {what} (run {run} of {of}): {status}")]
    Failed {
        /// The command's first word.
        command: String,
        /// The pod and where.
        what: String,
        /// Which run.
        run: u32,
        /// Of how many.
        of: u32,
        /// The exit status as the server reported it.
        status: String,
    },
    /// An expected text is missing from the output.
    #[error("the output of {command:?} in {what} does not contain {missing:?}")]
    Missing {
        /// The command's first word.
        command: String,
        /// The pod and where.
        what: String,
        /// The missing text.
        missing: String,
    },
}

/// Runs a `kube.exec` step.
pub async fn run(
    clients: &Clients,
    spec: &KubeExec,
    outputs: &IndexMap<String, OutputSpec>,
    env: &StepEnv,
) -> Result<Outputs, ExecError> {
    if spec.command.is_empty() {
        return Err(ExecError::NoCommand);
    }
    if outputs.len() > 1 {
        return Err(ExecError::TooManyOutputs(outputs.len()));
    }
    let cluster = clients.cluster(spec.context.as_deref()).await?;
    let target = Target::new(&cluster, "pods", spec.namespace.as_deref()).await?;
    let pod = choose_pod(&target, spec).await?;
    let what = target.describe(&pod);
    let pods: Api<Pod> = Api::namespaced(
        cluster.client().clone(),
        target.namespace.as_deref().unwrap_or("default"),
    );
    let mut params = AttachParams::default()
        .stdin(false)
        .stdout(true)
        .stderr(true);
    if let Some(c) = &spec.container {
        params = params.container(c);
    }
    let command = spec.command[0].clone();
    let repeat = spec.repeat.max(1);
    let mut stdout = String::new();
    for run in 1..=repeat {
        // Output captured into a secret is not copied to the log.
        let shown = if outputs.values().any(|o| o.secret) {
            Progress::none()
        } else {
            env.progress.clone()
        };
        let out = once(&pods, &pod, &spec.command, &params, &shown)
            .await
            .map_err(|e| match e {
                Once::Api(e) => ExecError::Api {
                    what: what.clone(),
                    source: e.into(),
                },
                Once::Status(status) => ExecError::Failed {
                    command: command.clone(),
                    what: what.clone(),
                    run,
                    of: repeat,
                    status,
                },
            })?;
        stdout.push_str(&out);
    }
    for text in &spec.contains {
        if !stdout.contains(text.as_str()) {
            return Err(ExecError::Missing {
                command,
                what,
                missing: text.clone(),
            });
        }
    }
    Ok(outputs
        .keys()
        .map(|k| (k.clone(), stdout.trim().to_string()))
        .collect())
}

/// The pod by name, or of the selector's running, not terminating pods the first (by name)
/// that is Ready, else the first running one (a pod without a readiness probe is Ready anyway).
async fn choose_pod(target: &Target, spec: &KubeExec) -> Result<String, ExecError> {
    let selection = match (&spec.pod, &spec.selector) {
        (Some(p), None) => return Ok(p.clone()),
        (None, Some(s)) => Selection::Selector {
            labels: s.clone(),
            fields: String::new(),
        },
        _ => return Err(ExecError::Shape),
    };
    let what = target.describe_selection(&selection);
    let (pods, _) = target.list(&selection).await.map_err(|e| ExecError::Api {
        what: what.clone(),
        source: e.into(),
    })?;
    pick_pod(&pods)
        .map(|p| name_of(p).to_string())
        .ok_or(ExecError::NoPod(what))
}

/// Of running, not terminating pods, the first that is Ready, else the first running one.
fn pick_pod(pods: &[Value]) -> Option<&Value> {
    let running = |p: &&Value| {
        p["status"]["phase"] == "Running" && p["metadata"]["deletionTimestamp"].is_null()
    };
    let ready = |p: &&Value| {
        p["status"]["conditions"].as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
    };
    pods.iter()
        .filter(running)
        .find(ready)
        .or_else(|| pods.iter().find(running))
}

enum Once {
    Api(kube::Error),
    Status(String),
}

async fn once(
    pods: &Api<Pod>,
    pod: &str,
    command: &[String],
    params: &AttachParams,
    progress: &Progress,
) -> Result<String, Once> {
    let mut attached = pods
        .exec(pod, command.to_vec(), params)
        .await
        .map_err(Once::Api)?;
    let status = attached.take_status();
    let mut out = attached.stdout();
    let mut err = attached.stderr();
    let read_out = async {
        let mut buf = Vec::new();
        if let Some(r) = out.as_mut() {
            let _ = r.read_to_end(&mut buf).await;
        }
        buf
    };
    let read_err = async {
        let mut buf = Vec::new();
        if let Some(r) = err.as_mut() {
            let _ = r.read_to_end(&mut buf).await;
        }
        buf
    };
    let (out, err) = tokio::join!(read_out, read_err);
    let status = match status {
        Some(s) => s.await,
        None => None,
    };
    let _ = attached.join().await;
    let stdout = String::from_utf8_lossy(&out).into_owned();
    for line in stdout.lines() {
        progress.line(line);
    }
    for line in String::from_utf8_lossy(&err).lines() {
        progress.line(&format!("stderr: {line}"));
    }
    match status {
        Some(s) if s.status.as_deref() == Some("Failure") => Err(Once::Status(
            s.message
                .or(s.reason)
                .unwrap_or_else(|| "failed".to_string()),
        )),
        _ => Ok(stdout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ready_pod_is_chosen_over_one_that_only_runs() {
        let pod = |name: &str, phase: &str, ready: &str| {
            serde_json::json!({"metadata": {"name": name}, "status": {"phase": phase,
                "conditions": [{"type": "Ready", "status": ready}]}})
        };
        let pods = vec![
            pod("a", "Pending", "False"),
            pod("b", "Running", "False"),
            pod("c", "Running", "True"),
        ];
        assert_eq!(pick_pod(&pods).map(name_of), Some("c"));
        assert_eq!(pick_pod(&pods[..2]).map(name_of), Some("b"));
        assert_eq!(pick_pod(&pods[..1]), None);
    }
}
