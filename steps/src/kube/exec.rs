//! `kube.exec`: run a command in a pod (by name, or the first ready pod of a selector)
//! through the exec WebSocket, `repeat` times, capturing stdout for the step's output and
//! checking that every `contains` text appears in it.

use indexmap::IndexMap;
use k8s_openapi::api::core::v1::Pod;
use kube::Api;
use kube::api::AttachParams;
use meshbook_engine::model::{KubeExec, OutputSpec, Rendered};
use serde_json::Value;
use tokio::io::AsyncReadExt;

use super::client::Clients;
use super::error::KubeError;
use super::objects::{Selection, Target, name_of};
use super::{Outputs, Progress, StepEnv};

/// Runs a `kube.exec` step.
pub(crate) async fn run(
    clients: &Clients,
    spec: &KubeExec<Rendered>,
    outputs: &IndexMap<String, OutputSpec>,
    env: &StepEnv,
) -> Result<Outputs, KubeError> {
    let (target, selection) = Target::of_view(clients, spec.view(), None).await?;
    let pod = choose_pod(&target, &selection).await?;
    let what = target.describe(&pod);
    let pods: Api<Pod> = Api::namespaced(
        target.cluster.client().clone(),
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
    let repeat = spec.repeat;
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
                Once::Api(e) => KubeError::api(format!("exec in {what}"), e.into()),
                Once::Status(status) => KubeError::Command {
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
            return Err(KubeError::Missing {
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
async fn choose_pod(target: &Target, selection: &Selection) -> Result<String, KubeError> {
    if let Selection::Name(p) = selection {
        return Ok(p.clone());
    }
    let what = target.describe_selection(selection);
    let (pods, _) = target
        .list(selection)
        .await
        .map_err(|e| KubeError::api(format!("exec in {what}"), e.into()))?;
    pick_pod(&pods)
        .map(|p| name_of(p).to_string())
        .ok_or(KubeError::NoPod(what))
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
