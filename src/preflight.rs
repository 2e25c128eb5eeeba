//! Before a real run's first step: does the machine have what the runbook's `requires:` asks
//! for? The kubeconfig exists and has every context the params name, each context answers and
//! its `/version` is in the Kubernetes range, and each declared tool is on `PATH` with a version
//! in its range. Every problem is reported at once, naming what has what and what the runbook
//! needs where; the run then stops before it changes anything (exit 2) unless
//! `--ignore-requirements`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use kube::config::{KubeConfigOptions, Kubeconfig};
use meshbook_engine::model::{KUBERNETES, Range, Runbook};
use meshbook_inspect::version::{KubeVersion, Version};

use crate::source::RunbookSource;

/// How long one context or tool may take to answer.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(10);

/// One requirement the machine does not meet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    /// `context c1`, `helm`, `kubeconfig`.
    pub(crate) what: String,
    /// What it has: `Kubernetes 1.32`, `3.14.2`, `not on PATH`.
    pub(crate) has: String,
    /// What the runbook needs.
    pub(crate) needs: String,
    /// The runbook line that says so, when one does.
    pub(crate) line: Option<usize>,
}

/// What the check found: the problems, and the Kubernetes minor of each context that answered.
#[derive(Debug, Default)]
pub(crate) struct Checked {
    /// Requirements not met.
    pub(crate) problems: Vec<Problem>,
    /// Context to the minor its `/version` reported.
    pub(crate) clusters: BTreeMap<String, KubeVersion>,
}

/// Checks the clusters behind `contexts` (when given) and the declared tools.
pub(crate) fn check(
    runbook: &Runbook,
    source: &RunbookSource,
    kubeconfig: Option<&Path>,
    contexts: Option<&[String]>,
) -> Checked {
    let line = |key: &str| requires_line(&source.text, key);
    let mut checked = Checked::default();
    if let Some(contexts) = contexts.filter(|c| !c.is_empty()) {
        let range = runbook.requires.kubernetes();
        check_clusters(kubeconfig, contexts, range, line(KUBERNETES), &mut checked);
    }
    let problems = &mut checked.problems;
    for (tool, range) in &runbook.requires.tools {
        let has = tool_version(tool, range);
        if let Some(has) = judge_tool(has, range) {
            problems.push(Problem {
                what: tool.clone(),
                has,
                needs: range.to_string(),
                line: line(tool),
            });
        }
    }
    checked
}

/// What is wrong with a tool found (or not) at `has`; `None` when it will do.
fn judge_tool(has: Result<Option<Version>, String>, range: &Range) -> Option<String> {
    match has {
        Err(why) => Some(why),
        Ok(None) if range.is_any() => None,
        Ok(None) => Some("a version its output does not show".to_string()),
        Ok(Some(v)) if range.matches(v) => None,
        Ok(Some(v)) => Some(format!("version {v}")),
    }
}

/// What is wrong with a cluster of version `v`; `None` when it is in range.
fn judge_cluster(v: KubeVersion, range: &Range) -> Option<String> {
    (!range.allows_minor(v)).then(|| format!("Kubernetes {v}"))
}

fn check_clusters(
    kubeconfig: Option<&Path>,
    contexts: &[String],
    range: &Range,
    line: Option<usize>,
    checked: &mut Checked,
) {
    let problem = |what: String, has: String, needs: &str| Problem {
        what,
        has,
        needs: needs.to_string(),
        line,
    };
    let (config, shown) = match read_kubeconfig(kubeconfig) {
        Ok(c) => c,
        Err(why) => {
            let needs = format!("contexts {}", contexts.join(", "));
            checked
                .problems
                .push(problem("kubeconfig".into(), why, &needs));
            return;
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let has = e.to_string();
            checked.problems.push(problem("kubeconfig".into(), has, ""));
            return;
        }
    };
    let problems = &mut checked.problems;
    for context in contexts {
        let what = format!("context {context}");
        if !config.contexts.iter().any(|c| &c.name == context) {
            let has = format!("no such context in {shown}");
            problems.push(problem(what, has, "a context the params name"));
            continue;
        }
        match runtime.block_on(server_version(&config, context)) {
            Ok(v) => {
                if let Some(has) = judge_cluster(v, range) {
                    problems.push(problem(what, has, &format!("Kubernetes {range}")));
                }
                checked.clusters.insert(context.clone(), v);
            }
            Err(why) => problems.push(problem(what, why, "a cluster that answers")),
        }
    }
}

/// The kubeconfig a run reads (the given file, else `KUBECONFIG`'s files merged, else
/// `~/.kube/config`) and how to name it.
fn read_kubeconfig(path: Option<&Path>) -> Result<(Kubeconfig, String), String> {
    let paths: Vec<PathBuf> = match (path, std::env::var_os("KUBECONFIG")) {
        (Some(p), _) => vec![p.to_path_buf()],
        (None, Some(list)) if !list.is_empty() => std::env::split_paths(&list).collect(),
        _ => vec![
            std::env::home_dir()
                .unwrap_or_default()
                .join(".kube/config"),
        ],
    };
    let shown = paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(":");
    let mut merged: Option<Kubeconfig> = None;
    for p in &paths {
        if !p.is_file() {
            continue;
        }
        let next = Kubeconfig::read_from(p).map_err(|e| format!("{shown} does not read: {e}"))?;
        merged = Some(match merged {
            None => next,
            Some(m) => m.merge(next).map_err(|e| e.to_string())?,
        });
    }
    merged
        .map(|c| (c, shown.clone()))
        .ok_or_else(|| format!("no kubeconfig at {shown}"))
}

async fn server_version(config: &Kubeconfig, context: &str) -> Result<KubeVersion, String> {
    let options = KubeConfigOptions {
        context: Some(context.to_string()),
        ..KubeConfigOptions::default()
    };
    let answer = async {
        let config = kube::Config::from_custom_kubeconfig(config.clone(), &options)
            .await
            .map_err(|e| e.to_string())?;
        let client = kube::Client::try_from(config).map_err(|e| e.to_string())?;
        let info = client
            .apiserver_version()
            .await
            .map_err(|e| e.to_string())?;
        KubeVersion::from_version_info(&info.major, &info.minor)
            .ok_or_else(|| format!("a /version of {}.{}", info.major, info.minor))
    };
    match tokio::time::timeout(ANSWER_TIMEOUT, answer).await {
        Ok(r) => r.map_err(|e| format!("no answer: {e}")),
        Err(_) => Err(format!("no answer within {}s", ANSWER_TIMEOUT.as_secs())),
    }
}

/// The tool's version, `None` when only its presence matters or its output shows none.
fn tool_version(tool: &str, range: &Range) -> Result<Option<Version>, String> {
    let found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file()))
        .unwrap_or(false);
    if !found {
        return Err("not on PATH".to_string());
    }
    if range.is_any() {
        return Ok(None);
    }
    let output = run_bounded(tool, version_args(tool))?;
    Ok(Version::find_in(&output))
}

/// How each tool prints its own version without reaching a cluster.
fn version_args(tool: &str) -> &'static [&'static str] {
    match tool {
        "helm" => &["version", "--client", "--short"],
        "kubectl" => &["version", "--client"],
        "istioctl" => &["version", "--remote=false"],
        "gcloud" => &["version"],
        "openssl" => &["version"],
        "ssh" => &["-V"],
        _ => &["--version"],
    }
}

/// Runs `tool args`, killed after [`ANSWER_TIMEOUT`]; stdout and stderr together.
fn run_bounded(tool: &str, args: &[&str]) -> Result<String, String> {
    let dir = tempfile_dir();
    let out = dir.join(format!("{tool}.out"));
    let file = std::fs::File::create(&out).map_err(|e| e.to_string())?;
    let err = file.try_clone().map_err(|e| e.to_string())?;
    let mut child = Command::new(tool)
        .args(args)
        .stdin(Stdio::null())
        .stdout(file)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("does not start: {e}"))?;
    let start = Instant::now();
    loop {
        match child.try_wait() {
            Ok(Some(_)) => break,
            Ok(None) if start.elapsed() < ANSWER_TIMEOUT => {
                std::thread::sleep(Duration::from_millis(20))
            }
            _ => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = std::fs::remove_dir_all(&dir);
                return Err(format!("`{tool} {}` did not answer", args.join(" ")));
            }
        }
    }
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(text)
}

fn tempfile_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("meshbook-preflight-{}", std::process::id()));
    let _ = std::fs::create_dir_all(&dir);
    dir
}

/// The line of `key:` under the runbook's top-level `requires:`.
fn requires_line(text: &str, key: &str) -> Option<usize> {
    let mut inside = false;
    for (i, line) in text.lines().enumerate() {
        if !line.starts_with([' ', '\t', '#']) && !line.is_empty() {
            inside = line.trim_end() == "requires:";
            continue;
        }
        if inside
            && line
                .trim_start()
                .strip_prefix(key)
                .is_some_and(|r| r.starts_with(':'))
        {
            return Some(i + 1);
        }
    }
    None
}

/// The problems as the run's error: one line each, and what to do.
pub(crate) fn report(problems: &[Problem], file: &str) -> String {
    let mut out = String::from("the runbook's requirements are not met, so nothing was changed:\n");
    for p in problems {
        let at = p.line.map(|l| format!(" ({file}:{l})")).unwrap_or_default();
        out.push_str(&format!(
            "  {}: {}; the runbook needs {}{at}\n",
            p.what, p.has, p.needs
        ));
    }
    out.push_str("fix them, or run again with --ignore-requirements to go on anyway");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_judged_against_ranges() {
        let two = Range::parse("2.x").unwrap();
        assert_eq!(judge_tool(Ok(Some(Version::new(2, 16, 12))), &two), None);
        assert_eq!(
            judge_tool(Ok(Some(Version::new(3, 14, 2))), &two).as_deref(),
            Some("version 3.14.2")
        );
        assert_eq!(
            judge_tool(Err("not on PATH".into()), &Range::ANY).as_deref(),
            Some("not on PATH")
        );
        assert_eq!(judge_tool(Ok(None), &Range::ANY), None);
        let k = Range::parse(">=1.11, <1.16").unwrap();
        assert_eq!(judge_cluster(KubeVersion::new(15), &k), None);
        assert_eq!(
            judge_cluster(KubeVersion::new(32), &k).as_deref(),
            Some("Kubernetes 1.32")
        );
    }

    #[test]
    fn requirement_lines_are_found_under_requires() {
        let text = "metadata:\n  helm: no\nrequires:\n  # why\n  kubernetes: \">=1.9\"\n  helm: \"2.x\"\nparams:\n  helm: {}\n";
        assert_eq!(requires_line(text, "kubernetes"), Some(5));
        assert_eq!(requires_line(text, "helm"), Some(6));
        assert_eq!(requires_line(text, "istioctl"), None);
    }
}
