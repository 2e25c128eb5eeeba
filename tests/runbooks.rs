//! The named runbooks: each validates, plans offline with its example params, and its plan names
//! every value the source tutorial keeps in a shell variable (as an output, or as a param where the
//! tutorial only assigns a constant). The text plan of each is a snapshot.

use std::collections::BTreeSet;
mod runkit;

use std::path::Path;

use serde_json::Value;

/// Each runbook with the tutorial's variable names its plan must carry.
const RUNBOOKS: [(&str, &[&str]); 4] = [
    (
        "gke-multicluster",
        &[
            "proj",
            "ALL_CLUSTER_CIDRS",
            "ALL_CLUSTER_NETTAGS",
            "KUBE_USER",
            "PILOT_POD_IP",
            "POLICY_POD_IP",
            "STATSD_POD_IP",
            "TELEMETRY_POD_IP",
            "WORK_DIR",
            "CLUSTER_NAME",
            "KUBECFG_FILE",
            "SERVER",
            "NAMESPACE",
            "SERVICE_ACCOUNT",
            "SECRET_NAME",
            "CA_DATA",
            "TOKEN",
            "GATEWAY_IP",
        ],
    ),
    (
        "split-horizon",
        &[
            "CTX_CLUSTER1",
            "CTX_CLUSTER2",
            "LOCAL_GW_ADDR",
            "INGRESS_HOST",
            "INGRESS_PORT",
            "SECURE_INGRESS_PORT",
            "CLUSTER_NAME",
            "SERVER",
            "SECRET_NAME",
            "CA_DATA",
            "TOKEN",
        ],
    ),
    (
        "asm-east-west",
        &[
            "PROJECT_NUMBER",
            "MESH_ID",
            "NETWORK_1",
            "NETWORK_2",
            "REVISION",
            "CTX_1",
            "CTX_2",
            "SAMPLES_DIR",
        ],
    ),
    (
        "vm-expansion",
        &[
            "WORKDIR",
            "PROJECT_ID",
            "ISTIO_VERSION",
            "SERVICE_NAMESPACE",
            "ISTIOD_IP",
            "ISTIO_SERVICE_CIDR",
            "GCE_INSTANCE_NAME",
            "GKE_POD_CIDR",
            "GCE_IP",
            "EXTERNAL_IP",
        ],
    ),
];

/// Values the tutorials hold that are secrets: their outputs must be marked so.
const SECRET_OUTPUTS: [&str; 1] = ["TOKEN"];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn meshbook(args: &[&str]) -> runkit::Done {
    runkit::finish(runkit::meshbook(root(), args), None)
}

fn params_file(name: &str) -> String {
    format!("runbooks/{name}/example-params.yaml")
}

fn ok(out: &runkit::Done, what: &str) -> String {
    assert_eq!(out.code, 0, "{what}: {}", out.all());
    out.stdout.clone()
}

#[test]
fn every_named_runbook_validates() {
    for (name, _) in RUNBOOKS {
        let out = meshbook(&["validate", name]);
        assert_eq!(out.code, 0, "validate {name}:\n{}", out.all());
    }
}

#[test]
fn every_named_runbook_is_listed() {
    let listed = ok(&meshbook(&["list"]), "list");
    for (name, _) in RUNBOOKS {
        assert!(
            listed.contains(name),
            "`meshbook list` does not show {name}:\n{listed}"
        );
    }
}

#[test]
fn every_plan_names_the_tutorials_values() {
    for (name, values) in RUNBOOKS {
        let text = ok(
            &meshbook(&[
                "plan",
                name,
                "--params",
                &params_file(name),
                "--output",
                "json",
            ]),
            name,
        );
        let plan: Value = serde_json::from_str(&text).unwrap();
        let params: BTreeSet<&str> = plan["params"]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut outputs = BTreeSet::new();
        for step in plan["steps"].as_array().unwrap() {
            for out in step["outputs"].as_array().into_iter().flatten() {
                let out_name = out["name"].as_str().unwrap();
                if SECRET_OUTPUTS.contains(&out_name) {
                    assert_eq!(
                        out["secret"],
                        Value::Bool(true),
                        "{name}: output {out_name} is not secret"
                    );
                }
                outputs.insert(out_name);
            }
        }
        let missing: Vec<&&str> = values
            .iter()
            .filter(|v| !outputs.contains(**v) && !params.contains(**v))
            .collect();
        assert!(
            missing.is_empty(),
            "{name}: the plan names neither an output nor a param {missing:?}"
        );
    }
}

#[test]
fn example_params_work_from_any_directory() {
    let elsewhere = tempfile::tempdir().unwrap();
    for (name, _) in RUNBOOKS {
        let params = root().join(params_file(name));
        let params = params.to_str().unwrap();
        let args = ["plan", name, "--params", params, "--output", "json"];
        let out = runkit::finish(runkit::meshbook(elsewhere.path(), &args), None);
        let text = ok(&out, name);
        let plan: Value = serde_json::from_str(&text).unwrap();
        for (param, value) in plan["params"].as_object().unwrap() {
            let value = value.as_str().unwrap_or_default();
            if value.starts_with('/') {
                assert!(
                    Path::new(value).exists(),
                    "{name}: param {param} points at missing {value}"
                );
            }
        }
    }
}

/// Every string in `value`, however deep.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
        Value::Object(o) => o.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

#[test]
fn plans_show_no_path_of_the_runbook_that_does_not_exist() {
    // A rehearsal has a runbook's own files and nothing else of its folder: a path under it that
    // the plan shows (a chart helm renders, a manifest, a stand-in) must exist, or the plan would
    // present something the rehearsal will not have. Globs (`crd*yaml`) need their folder.
    let prefix = format!("{}/runbooks/", root().display());
    for (name, _) in RUNBOOKS {
        let text = ok(
            &meshbook(&["plan", name, "--params", &params_file(name), "-o", "json"]),
            name,
        );
        let plan: Value = serde_json::from_str(&text).unwrap();
        let mut shown = Vec::new();
        strings(&plan, &mut shown);
        // Stand-in manifests are named relative to the runbook's folder.
        for step in plan["steps"].as_array().unwrap() {
            if let Some(file) = step["sandbox"]["apply"].as_str() {
                shown.push(format!("{prefix}{name}/{file}"));
            }
        }
        for text in &shown {
            for (at, _) in text.match_indices(&prefix) {
                let path: String = text[at..]
                    .chars()
                    .take_while(|c| !c.is_whitespace() && !"\"'`;|)<>$".contains(*c))
                    .collect();
                let path = path.trim_end_matches(['.', ',', ':']);
                let checked = match path.find('*') {
                    Some(glob) => Path::new(&path[..glob]).parent().unwrap().to_path_buf(),
                    None => Path::new(path).to_path_buf(),
                };
                assert!(
                    checked.exists(),
                    "{name}: the plan shows {path}, which does not exist"
                );
            }
        }
    }
}

#[test]
fn plans_match_their_snapshots() {
    let prefix = format!("{}/", root().display());
    for (name, _) in RUNBOOKS {
        let text = ok(
            &meshbook(&["plan", name, "--params", &params_file(name)]),
            name,
        );
        insta::assert_snapshot!(format!("plan-{name}"), text.replace(&prefix, "[ROOT]/"));
    }
}

#[test]
fn plan_at_a_kube_version_names_the_manifests_it_would_refuse() {
    let params = params_file("split-horizon");
    let plan = |v: &str| {
        meshbook(&[
            "plan",
            "split-horizon",
            "--params",
            &params,
            "--kube-version",
            v,
        ])
    };
    let old = plan("1.15");
    assert!(
        ok(&old, "plan at 1.15").contains("apiVersions at Kubernetes 1.15: 0 object(s) refused")
    );

    let new = plan("1.32");
    assert_eq!(new.code, 1, "{}", new.all());
    let text = new.stdout.replace(&format!("{}/", root().display()), "");
    let istio = "runbooks/split-horizon/sandbox/istio-1.1.0";
    for line in [
        format!(
            "  cluster1-crds: {istio}/install/kubernetes/helm/istio-init/files/crd-10.yaml:2: CustomResourceDefinition \"gateways.networking.istio.io\": apiextensions.k8s.io/v1beta1 is not served since Kubernetes 1.22; use apiextensions.k8s.io/v1"
        ),
        // The step's selector (version=v1) keeps only helloworld-v1 of the file.
        format!(
            "  cluster1-helloworld-v1: {istio}/samples/helloworld/helloworld.yaml:13: Deployment \"helloworld-v1\": extensions/v1beta1 is not served since Kubernetes 1.16; use apps/v1"
        ),
        "  cluster1-install: istio-auth.yaml does not exist before the run".to_string(),
    ] {
        assert!(text.contains(&line), "missing {line:?} in:\n{text}");
    }
    let other = format!("cluster1-helloworld-v1: {istio}/samples/helloworld/helloworld.yaml:26");
    assert!(!text.contains(&other), "{text}");
    assert!(
        new.stderr
            .contains("Kubernetes 1.32 would refuse 9 object(s)"),
        "{}",
        new.stderr
    );
}

const GRAPH_START: &str = "<!-- graph: written by tests/runbooks.rs -->";
const GRAPH_END: &str = "<!-- /graph -->";

/// Each README's DAG picture is `meshbook graph NAME --format mermaid` of its runbook
/// (`MESHBOOK_UPDATE_README=1` rewrites it).
#[test]
fn readme_dags_are_generated_from_their_runbooks() {
    // vm-expansion's README is kept by its own workstream.
    for name in ["split-horizon", "gke-multicluster", "asm-east-west"] {
        let dir = format!("runbooks/{name}");
        let graph = ok(&meshbook(&["graph", &dir, "--format", "mermaid"]), name);
        let section = format!("{GRAPH_START}\n```mermaid\n{graph}```\n{GRAPH_END}");
        runkit::check_readme_section(name, GRAPH_START, GRAPH_END, &section);
    }
}
