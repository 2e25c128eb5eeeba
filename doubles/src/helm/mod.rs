//! The `helm` double: `helm template` (2 and 3) renders a stand-in chart, and `helm version`.
//! Other commands need Tiller or a cluster-side release store and are refused.
//!
//! Flag tables:
//! - helm v2 (2.16): `cmd/helm/template.go` (newTemplateCmd), global flags from
//!   `pkg/helm/environment/environment.go` (EnvSettings.AddFlags), commands from
//!   `cmd/helm/helm.go` (newRootCmd); errors as cobra prints them with SilenceUsage, exit 1
//!   (`cmd/helm/helm.go` main).
//! - helm v3 (3.14): `cmd/helm/template.go`, `cmd/helm/install.go` (addInstallFlags),
//!   `cmd/helm/flags.go` (addValueOptionsFlags, addChartPathOptionsFlags, bindPostRenderFlag),
//!   global flags from `pkg/cli/environment.go` (EnvSettings.AddFlags).
//!
//! The stand-in chart form: a real, minimal Helm chart where the real chart would be
//! (`$ISTIO_DIR/install/kubernetes/helm/istio`): `Chart.yaml`, `values.yaml` with the real
//! chart's defaults for the values the stand-in uses, and `templates/*.yaml` holding the real
//! chart's rendered output with `{{ .Values.… }}` where a value maps (see [`gotmpl`] for the
//! subset of Go templates allowed). Real helm renders the same chart the same way.

pub mod gotmpl;
pub mod strvals;

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::cli::{Cmd, Parsed, b, parse_cobra, v};
use crate::{Call, Env, Exit, Io, Outcome};

const DEFAULT_V2: &str = "2.16.12";
const DEFAULT_V3: &str = "3.14.4";

/// Which helm the double plays.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Major {
    V2,
    V3,
}

fn major(version: &str) -> Major {
    if version.trim_start_matches('v').starts_with('2') {
        Major::V2
    } else {
        Major::V3
    }
}

const V2_COMMANDS: [&str; 24] = [
    "completion",
    "create",
    "delete",
    "dependency",
    "fetch",
    "get",
    "history",
    "home",
    "init",
    "inspect",
    "install",
    "lint",
    "list",
    "package",
    "plugin",
    "repo",
    "reset",
    "rollback",
    "search",
    "serve",
    "status",
    "test",
    "upgrade",
    "verify",
];

const V3_COMMANDS: [&str; 20] = [
    "completion",
    "create",
    "dependency",
    "env",
    "get",
    "history",
    "install",
    "lint",
    "list",
    "package",
    "plugin",
    "pull",
    "push",
    "registry",
    "repo",
    "rollback",
    "search",
    "show",
    "status",
    "test",
];

fn v2_tree() -> Cmd {
    let template = Cmd::run(
        "template",
        vec![
            b("notes"),
            v("name").s('n'),
            b("is-upgrade"),
            v("execute").s('x'),
            v("values").s('f'),
            v("namespace"),
            v("set"),
            v("set-string"),
            v("set-file"),
            v("name-template"),
            v("kube-version"),
            v("output-dir"),
        ],
    );
    let version = Cmd::run(
        "version",
        vec![
            b("client").s('c'),
            b("server").s('s'),
            b("short"),
            v("template"),
            b("tls"),
            b("tls-verify"),
            v("tls-ca-cert"),
            v("tls-cert"),
            v("tls-key"),
            v("tls-hostname"),
        ],
    );
    let mut subs = vec![template, version];
    subs.extend(V2_COMMANDS.iter().map(|c| other(c)));
    Cmd::group("helm", subs).persistent(vec![
        v("home"),
        v("host"),
        v("kube-context"),
        v("kubeconfig"),
        b("debug"),
        v("tiller-namespace"),
        v("tiller-connection-timeout"),
    ])
}

fn v3_tree() -> Cmd {
    let template = Cmd::run(
        "template",
        vec![
            // addInstallFlags
            b("create-namespace"),
            b("dry-run"),
            b("force"),
            b("no-hooks"),
            b("replace"),
            v("timeout"),
            b("wait"),
            b("wait-for-jobs"),
            b("generate-name").s('g'),
            v("name-template"),
            v("description"),
            b("devel"),
            b("dependency-update"),
            b("disable-openapi-validation"),
            b("atomic"),
            b("skip-crds"),
            b("render-subchart-notes"),
            v("labels").s('l'),
            b("enable-dns"),
            b("hide-notes"),
            // addValueOptionsFlags
            v("values").s('f'),
            v("set"),
            v("set-string"),
            v("set-file"),
            v("set-json"),
            v("set-literal"),
            // addChartPathOptionsFlags
            v("version"),
            b("verify"),
            v("keyring"),
            v("repo"),
            v("username"),
            v("password"),
            v("cert-file"),
            v("key-file"),
            b("insecure-skip-tls-verify"),
            b("plain-http"),
            v("ca-file"),
            b("pass-credentials"),
            // template's own
            v("show-only").s('s'),
            v("output-dir"),
            b("validate"),
            b("include-crds"),
            b("skip-tests"),
            b("is-upgrade"),
            v("kube-version"),
            v("api-versions").s('a'),
            b("release-name"),
            v("post-renderer"),
            v("post-renderer-args"),
        ],
    );
    let version = Cmd::run("version", vec![b("short"), v("template")]);
    let mut subs = vec![template, version];
    subs.extend(V3_COMMANDS.iter().map(|c| other(c)));
    subs.push(other("uninstall").aliases(&["del", "delete", "un"]));
    subs.push(other("upgrade"));
    Cmd::group("helm", subs).persistent(vec![
        v("namespace").s('n'),
        v("kube-context"),
        v("kube-token"),
        v("kube-as-user"),
        v("kube-as-group"),
        v("kube-apiserver"),
        v("kube-ca-file"),
        v("kube-tls-server-name"),
        b("kube-insecure-skip-tls-verify"),
        v("kubeconfig"),
        b("debug"),
        v("registry-config"),
        v("repository-config"),
        v("repository-cache"),
        v("burst-limit"),
        v("qps"),
    ])
}

/// A real command the double does not perform: refused before its flags are parsed.
fn other(name: &'static str) -> Cmd {
    Cmd::run(name, Vec::new())
}

/// Runs `helm ARGS` as the given version (default: helm 3).
pub fn run(
    version: Option<&str>,
    args: &[String],
    env: &Env,
    io: &mut Io<'_>,
    call: &mut Call,
) -> Outcome {
    let version = version.unwrap_or(DEFAULT_V3).to_string();
    let major = major(&version);
    let version = match (major, version.matches('.').count()) {
        (Major::V2, n) if n < 2 => DEFAULT_V2.to_string(),
        (Major::V3, n) if n < 2 => DEFAULT_V3.to_string(),
        _ => version.trim_start_matches('v').to_string(),
    };
    call.version = Some(version.clone());
    let tree = match major {
        Major::V2 => v2_tree(),
        Major::V3 => v3_tree(),
    };
    // Unknown commands and flags on other commands are left to cobra's wording below; the
    // other commands' own flags are not in the tables, so they are refused before parsing.
    if let Some(first) = args.iter().find(|a| !a.starts_with('-'))
        && tree
            .subs
            .iter()
            .any(|c| c.name == first.as_str() && c.flags.is_empty())
    {
        call.command = first.clone();
        return Err(Exit::new(
            1,
            format!(
                "Error: the helm double performs only `helm template` and `helm version`: `helm {first}` needs a cluster-side release store, which a rehearsal does not simulate"
            ),
        ));
    }
    let parsed = parse_cobra(&tree, args).map_err(|e| Exit::new(1, e.render()))?;
    call.command = parsed.path.join(" ");
    call.flags = parsed.flag_names();
    if parsed.help {
        let _ = writeln!(
            io.out,
            "The Kubernetes package manager (rehearsal double of helm {version})"
        );
        return Ok(());
    }
    match parsed.path.first().copied() {
        Some("template") => template(major, &parsed, env, io, call),
        Some("version") => {
            let text = match (major, parsed.on("short")) {
                (Major::V2, true) => format!("Client: v{version}+grehearsal"),
                (Major::V2, false) => format!(
                    "Client: &version.Version{{SemVer:\"v{version}\", GitCommit:\"rehearsal\", GitTreeState:\"clean\"}}"
                ),
                (Major::V3, true) => format!("v{version}+grehearsal"),
                (Major::V3, false) => format!(
                    "version.BuildInfo{{Version:\"v{version}\", GitCommit:\"rehearsal\", GitTreeState:\"clean\", GoVersion:\"go1.21\"}}"
                ),
            };
            let _ = writeln!(io.out, "{text}");
            Ok(())
        }
        _ => Ok(()),
    }
}

fn template(major: Major, p: &Parsed, env: &Env, io: &mut Io<'_>, call: &mut Call) -> Outcome {
    let fail = |m: String| Exit::new(1, format!("Error: {m}"));
    let (name, chart) = match major {
        Major::V2 => {
            let Some(chart) = p.args.first() else {
                return Err(fail("chart is required".into()));
            };
            (p.get("name").unwrap_or("release-name").to_string(), chart.clone())
        }
        Major::V3 => match p.args.as_slice() {
            [] => return Err(fail("\"helm template\" requires at least 1 argument\n\nUsage:  helm template [NAME] [CHART] [flags]".into())),
            [chart] => ("release-name".to_string(), chart.clone()),
            [name, chart] => (name.clone(), chart.clone()),
            [_, _, rest @ ..] => {
                return Err(fail(format!("expected at most two arguments, unexpected arguments: {}", rest.join(", "))));
            }
        },
    };
    let chart_dir = env.resolve(&chart);
    if !chart_dir.exists() {
        return Err(fail(match major {
            Major::V2 => format!("stat {chart}: no such file or directory"),
            Major::V3 => format!("path \"{chart}\" not found"),
        }));
    }
    let namespace = p.get("namespace").unwrap_or("default").to_string();
    let mut values = read_yaml(&chart_dir.join("values.yaml")).unwrap_or(json!({}));
    for file in p.all("values") {
        for f in file.split(',').filter(|f| !f.is_empty()) {
            let path = env.resolve(f);
            let text = std::fs::read_to_string(&path)
                .map_err(|_| fail(format!("open {f}: no such file or directory")))?;
            let overlay: Value = serde_yaml::from_str(&text)
                .map_err(|e| fail(format!("failed to parse {f}: {e}")))?;
            merge(&mut values, overlay);
        }
    }
    for set in p.all("set") {
        strvals::apply(&mut values, set, true)
            .map_err(|e| fail(format!("failed parsing --set data: {e}")))?;
    }
    for set in p.all("set-string") {
        strvals::apply(&mut values, set, false)
            .map_err(|e| fail(format!("failed parsing --set-string data: {e}")))?;
    }
    if !p.all("set-file").is_empty()
        || !p.all("set-json").is_empty()
        || !p.all("set-literal").is_empty()
    {
        return Err(fail(
            "the helm double does not read --set-file, --set-json or --set-literal".into(),
        ));
    }
    let rendered = render_chart(&chart_dir, &name, &namespace, &values).map_err(fail)?;
    call.effect(format!(
        "rendered chart {} ({} manifests)",
        chart_dir.display(),
        rendered.len()
    ));
    if let Some(dir) = p.get("output-dir") {
        let out_dir = env.resolve(dir);
        if !out_dir.is_dir() {
            return Err(fail(format!("output-dir '{dir}' does not exist")));
        }
        for (source, body) in &rendered {
            let path = out_dir.join(source);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).map_err(|e| fail(e.to_string()))?;
            }
            std::fs::write(&path, format!("---\n# Source: {source}\n{body}"))
                .map_err(|e| fail(e.to_string()))?;
            let _ = writeln!(io.out, "wrote {}", path.display());
            call.effect(format!("wrote {}", path.display()));
        }
        return Ok(());
    }
    for (source, body) in &rendered {
        let _ = write!(io.out, "---\n# Source: {source}\n{body}\n");
    }
    Ok(())
}

fn read_yaml(path: &Path) -> Option<Value> {
    let text = std::fs::read_to_string(path).ok()?;
    serde_yaml::from_str(&text).ok()
}

/// Deep-merges `overlay` into `base` (maps merge, everything else is replaced), as helm
/// coalesces values.
fn merge(base: &mut Value, overlay: Value) {
    match (base, overlay) {
        (Value::Object(b), Value::Object(o)) => {
            for (k, v) in o {
                match b.get_mut(&k) {
                    Some(slot) if slot.is_object() && v.is_object() => merge(slot, v),
                    _ => {
                        b.insert(k, v);
                    }
                }
            }
        }
        (b, o) => *b = o,
    }
}

/// Kinds in the order helm installs (and prints) them: `releaseutil.InstallOrder`.
const INSTALL_ORDER: [&str; 34] = [
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "Ingress",
    "APIService",
];

fn kind_rank(doc: &str) -> usize {
    let kind = doc
        .lines()
        .find_map(|l| l.strip_prefix("kind:"))
        .map(|k| k.trim().trim_matches('"').to_string())
        .unwrap_or_default();
    INSTALL_ORDER
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(INSTALL_ORDER.len())
}

/// Renders every template of a stand-in chart: (`CHART/templates/FILE`, document) pairs in
/// helm's install order, blank documents dropped.
pub fn render_chart(
    dir: &Path,
    release: &str,
    namespace: &str,
    values: &Value,
) -> Result<Vec<(String, String)>, String> {
    let chart_yaml = read_yaml(&dir.join("Chart.yaml")).ok_or("Chart.yaml file is missing")?;
    let chart_name = chart_yaml["name"].as_str().unwrap_or("chart").to_string();
    let data = json!({
        "Values": values,
        "Release": {"Name": release, "Namespace": namespace, "Service": "Tiller", "IsInstall": true, "IsUpgrade": false},
        "Chart": chart_yaml,
    });
    let templates = dir.join("templates");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&templates)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    let mut docs = Vec::new();
    for file in files {
        let base = file
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if base.starts_with('_') || base == "NOTES.txt" || !file.is_file() {
            continue;
        }
        let source = format!("{chart_name}/templates/{base}");
        let text = std::fs::read_to_string(&file).map_err(|e| format!("{source}: {e}"))?;
        let out = gotmpl::render(&source, &text, &data).map_err(|e| e.to_string())?;
        for doc in out.split("\n---") {
            let doc = doc.trim_start_matches("---").trim_matches('\n');
            if doc
                .lines()
                .all(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
            {
                continue;
            }
            docs.push((source.clone(), doc.to_string()));
        }
    }
    docs.sort_by_key(|(_, d)| kind_rank(d));
    Ok(docs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{env_in, run_captured};

    fn chart(dir: &Path) {
        let c = dir.join("charts/istio");
        std::fs::create_dir_all(c.join("templates")).unwrap();
        std::fs::write(c.join("Chart.yaml"), "name: istio\nversion: 1.1.0\n").unwrap();
        std::fs::write(
            c.join("values.yaml"),
            "global:\n  remotePilotAddress: \"\"\n  mtls: {enabled: false}\n",
        )
        .unwrap();
        std::fs::write(
            c.join("templates/all.yaml"),
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a, namespace: {{ .Release.Namespace }}}\n---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: {{ .Release.Name }}}\ndata:\n  mtls: {{ .Values.global.mtls.enabled | quote }}\n  pilot: {{ .Values.global.remotePilotAddress | quote }}\n",
        )
        .unwrap();
    }

    #[test]
    fn helm2_template_applies_set_values_in_install_order() {
        let dir = tempfile::tempdir().unwrap();
        chart(dir.path());
        let env = env_in(dir.path());
        let (code, out, err) = run_captured(
            "helm@2.16.12",
            &[
                "template",
                "--name=istio",
                "--namespace=istio-system",
                "--set",
                "global.mtls.enabled=true",
                "--set",
                "global.remotePilotAddress=1.2.3.4",
                "charts/istio",
            ],
            &env,
            "",
        );
        assert_eq!(code, 0, "{err}");
        let cm = out.find("kind: ConfigMap").unwrap();
        assert!(cm < out.find("kind: Deployment").unwrap(), "{out}");
        assert!(
            out.starts_with("---\n# Source: istio/templates/all.yaml\n"),
            "{out}"
        );
        assert!(
            out.contains("name: istio}")
                && out.contains("mtls: \"true\"")
                && out.contains("pilot: \"1.2.3.4\""),
            "{out}"
        );
        assert!(out.contains("namespace: istio-system"), "{out}");
    }

    #[test]
    fn each_helm_refuses_flags_it_does_not_have_as_cobra_does() {
        let dir = tempfile::tempdir().unwrap();
        chart(dir.path());
        let env = env_in(dir.path());
        // helm 3 has no --name: the tutorials' helm 2 command fails there.
        let (code, _, err) = run_captured(
            "helm@3.14.4",
            &["template", "--name=istio", "charts/istio"],
            &env,
            "",
        );
        assert_eq!((code, err.as_str()), (1, "Error: unknown flag: --name\n"));
        let (code, _, err) = run_captured(
            "helm@2.16.12",
            &["template", "--show-only", "x", "charts/istio"],
            &env,
            "",
        );
        assert_eq!(
            (code, err.as_str()),
            (1, "Error: unknown flag: --show-only\n")
        );
        let (code, _, err) = run_captured("helm@2.16.12", &["tmplate"], &env, "");
        assert_eq!(code, 1);
        assert!(
            err.starts_with("Error: unknown command \"tmplate\" for \"helm\""),
            "{err}"
        );
        let (code, out, _) = run_captured(
            "helm@3.14.4",
            &["template", "istio", "charts/istio", "-n", "ns1"],
            &env,
            "",
        );
        assert_eq!(code, 0);
        assert!(out.contains("namespace: ns1"), "{out}");
        let (code, _, err) = run_captured("helm@2.16.12", &["template", "missing/chart"], &env, "");
        assert_eq!(
            (code, err.as_str()),
            (1, "Error: stat missing/chart: no such file or directory\n")
        );
    }
}
