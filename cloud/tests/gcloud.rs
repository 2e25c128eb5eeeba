//! The real gcloud (and kubectl through gke-gcloud-auth-plugin) against the simulated cloud.
//! One cloud serves every test of this file; each test uses names of its own.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use meshbook_cloud::{Cloud, CloudConfig};
use meshbook_sandbox::{Sandbox, SandboxConfig};

const PROJECT: &str = "test-project";

struct Env {
    vars: Vec<(String, String)>,
    home: PathBuf,
    kubeconfig: PathBuf,
    cloud_dir: PathBuf,
    _dirs: Vec<tempfile::TempDir>,
}

/// A user's own gcloud configuration, which nothing here may read or write.
fn write_sentinel(home: &Path) {
    let cfg = home.join(".config/gcloud");
    std::fs::create_dir_all(cfg.join("configurations")).unwrap();
    std::fs::write(cfg.join("active_config"), "default").unwrap();
    std::fs::write(
        cfg.join("configurations/config_default"),
        "[core]\nproject = sentinel-project\naccount = sentinel@example.org\n",
    )
    .unwrap();
    std::fs::write(cfg.join("credentials.db"), "not a database").unwrap();
    std::fs::write(cfg.join("access_tokens.db"), "not a database").unwrap();
}

fn env() -> &'static Env {
    static ENV: OnceLock<Env> = OnceLock::new();
    ENV.get_or_init(|| {
        let state = tempfile::tempdir().unwrap();
        let home = tempfile::tempdir().unwrap();
        write_sentinel(home.path());
        let cloud_dir = state.path().join("gcp");
        let sandbox_dir = state.path().join("clusters");
        let dir = cloud_dir.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        // The cloud lives on its own runtime for the whole test process.
        std::thread::spawn(move || {
            let rt = tokio::runtime::Runtime::new().unwrap();
            rt.block_on(async move {
                let sandbox = Sandbox::start(SandboxConfig {
                    clusters: vec![],
                    state_dir: Some(sandbox_dir),
                    ..SandboxConfig::default()
                })
                .await
                .unwrap();
                let config = CloudConfig {
                    dir,
                    project: PROJECT.to_string(),
                    pinned_version: None,
                    token: None,
                };
                let cloud = Cloud::start(config, Arc::new(sandbox)).await.unwrap();
                tx.send(cloud.environment()).unwrap();
                std::future::pending::<()>().await;
            });
        });
        let vars = rx.recv_timeout(Duration::from_secs(60)).unwrap();
        Env {
            vars,
            home: home.path().to_path_buf(),
            kubeconfig: state.path().join("kubeconfig"),
            cloud_dir,
            _dirs: vec![state, home],
        }
    })
}

struct Out {
    code: i32,
    stdout: String,
    stderr: String,
}

impl std::fmt::Debug for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs `program` with the cloud's environment, HOME at the sentinel home, within two minutes.
fn run(program: &str, args: &[&str]) -> Out {
    let e = env();
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", &e.home)
        .env("KUBECONFIG", &e.kubeconfig)
        .envs(e.vars.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{program} {args:?} did not finish in 2 minutes");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

fn gcloud(args: &[&str]) -> Out {
    run("gcloud", args)
}

fn ok(out: Out) -> Out {
    assert_eq!(out.code, 0, "{out:?}");
    out
}

#[test]
fn a_gke_cluster_from_create_to_kubectl_to_delete() {
    let z = "us-central1-a";
    ok(gcloud(&[
        "container",
        "clusters",
        "create",
        "life",
        "--zone",
        z,
        "--num-nodes",
        "2",
    ]));
    let listed = ok(gcloud(&[
        "container",
        "clusters",
        "list",
        "--format=value(name,status)",
    ]));
    assert!(
        listed.stdout.lines().any(|l| l == "life\tRUNNING"),
        "{listed:?}"
    );
    ok(gcloud(&[
        "container",
        "clusters",
        "get-credentials",
        "life",
        "--zone",
        z,
    ]));
    let ctx = format!("gke_{PROJECT}_{z}_life");
    let kubeconfig = std::fs::read_to_string(&env().kubeconfig).unwrap();
    assert!(kubeconfig.contains(&format!("name: {ctx}")), "{kubeconfig}");
    assert!(
        kubeconfig.contains("command: gke-gcloud-auth-plugin"),
        "{kubeconfig}"
    );
    let ns = ok(run(
        "kubectl",
        &[
            "--context",
            &ctx,
            "--request-timeout",
            "20s",
            "get",
            "ns",
            "-o",
            "name",
        ],
    ));
    assert!(ns.stdout.contains("namespace/kube-system"), "{ns:?}");

    let pools = ok(gcloud(&[
        "container",
        "node-pools",
        "list",
        "--cluster",
        "life",
        "--zone",
        z,
        "--format=value(name)",
    ]));
    assert_eq!(pools.stdout.trim(), "default-pool");
    ok(gcloud(&[
        "container",
        "clusters",
        "resize",
        "life",
        "--zone",
        z,
        "--num-nodes",
        "3",
        "--quiet",
    ]));
    let count = ok(gcloud(&[
        "container",
        "clusters",
        "describe",
        "life",
        "--zone",
        z,
        "--format=value(currentNodeCount)",
    ]));
    assert_eq!(count.stdout.trim(), "3");
    let nodes = ok(gcloud(&[
        "compute",
        "instances",
        "list",
        "--filter=name~^gke-life-",
        "--format=value(name,tags.items[0])",
    ]));
    assert_eq!(nodes.stdout.lines().count(), 3, "{nodes:?}");
    assert!(
        nodes.stdout.lines().all(|l| l.ends_with("-node")),
        "{nodes:?}"
    );

    ok(gcloud(&[
        "container",
        "clusters",
        "delete",
        "life",
        "--zone",
        z,
        "--quiet",
    ]));
    let gone = gcloud(&["container", "clusters", "describe", "life", "--zone", z]);
    assert_eq!(gone.code, 1);
    assert!(
        gone.stderr.contains(&format!(
            "code=404, message=Not found: projects/{PROJECT}/zones/{z}/clusters/life."
        )) && gone
            .stderr
            .contains(&format!("No cluster named 'life' in {PROJECT}.")),
        "{gone:?}"
    );
    let refused = run(
        "kubectl",
        &["--context", &ctx, "--request-timeout", "20s", "get", "ns"],
    );
    assert_ne!(
        refused.code, 0,
        "a deleted cluster still answers: {refused:?}"
    );
    let nodes = ok(gcloud(&[
        "compute",
        "instances",
        "list",
        "--filter=name~^gke-life-",
        "--format=value(name)",
    ]));
    assert_eq!(nodes.stdout.trim(), "", "the nodes went with the cluster");
}

#[test]
fn the_service_applies_gke_rules() {
    let z = "us-central1-b";
    let current = gcloud(&[
        "container",
        "clusters",
        "create",
        "basic-new",
        "--zone",
        z,
        "--username",
        "admin",
    ]);
    assert_eq!(current.code, 1);
    assert!(
        current.stderr.contains(
            "ERROR: (gcloud.container.clusters.create) ResponseError: code=400, message=Basic authentication was removed for GKE cluster versions >= 1.19."
        ),
        "{current:?}"
    );
    ok(gcloud(&[
        "container",
        "clusters",
        "create",
        "basic-old",
        "--zone",
        z,
        "--username",
        "admin",
        "--cluster-version",
        "1.14",
        "--num-nodes",
        "1",
    ]));
    let d = ok(gcloud(&[
        "container",
        "clusters",
        "describe",
        "basic-old",
        "--zone",
        z,
        "--format=value(masterAuth.username,currentMasterVersion)",
    ]));
    assert_eq!(d.stdout.trim(), "admin\t1.14.10-gke.50");
    let again = gcloud(&[
        "container",
        "clusters",
        "create",
        "basic-old",
        "--zone",
        z,
        "--cluster-version",
        "1.14",
        "--num-nodes",
        "1",
    ]);
    assert!(
        again.stderr.contains(&format!(
            "ResponseError: code=409, message=Already exists: projects/{PROJECT}/zones/{z}/clusters/basic-old."
        )),
        "{again:?}"
    );
    let old = gcloud(&[
        "container",
        "clusters",
        "create",
        "too-old",
        "--zone",
        z,
        "--cluster-version",
        "1.8.1",
    ]);
    assert!(
        old.stderr
            .contains("code=400, message=Master version \"1.8.1\" is unsupported."),
        "{old:?}"
    );
    let docker = gcloud(&[
        "container",
        "clusters",
        "create",
        "docker",
        "--zone",
        z,
        "--image-type",
        "COS",
        "--cluster-version",
        "1.30",
    ]);
    assert!(
        docker
            .stderr
            .contains("Docker container runtimes is not supported in GKE v1.24+"),
        "{docker:?}"
    );
    let listed = ok(gcloud(&[
        "container",
        "clusters",
        "list",
        "--zone",
        z,
        "--format=value(name)",
    ]));
    assert_eq!(
        listed.stdout.trim(),
        "basic-old",
        "refused creates leave nothing behind"
    );
}

#[test]
fn firewall_rules_are_stored_listed_and_deleted() {
    ok(gcloud(&[
        "compute",
        "firewall-rules",
        "create",
        "fw-web",
        "--allow=tcp:80,tcp:8000-8080",
        "--source-ranges=10.8.0.0/14",
        "--target-tags=web",
        "--priority=900",
    ]));
    let listed = ok(gcloud(&[
        "compute",
        "firewall-rules",
        "list",
        "--filter=name=fw-web",
        "--format=value(name,direction,priority,sourceRanges.list(),targetTags.list())",
    ]));
    assert_eq!(
        listed.stdout.trim(),
        "fw-web\tINGRESS\t900\t10.8.0.0/14\tweb"
    );
    let json = ok(gcloud(&[
        "compute",
        "firewall-rules",
        "describe",
        "fw-web",
        "--format=json",
    ]));
    let v: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    let ports: Vec<&serde_json::Value> = v["allowed"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|a| a["ports"].as_array().unwrap())
        .collect();
    assert_eq!(ports, ["80", "8000-8080"], "{v}");
    assert!(
        v["network"]
            .as_str()
            .unwrap()
            .ends_with("/global/networks/default")
    );
    let dup = gcloud(&[
        "compute",
        "firewall-rules",
        "create",
        "fw-web",
        "--allow=tcp:80",
    ]);
    assert!(
        dup.stderr.contains(&format!(
            "The resource 'projects/{PROJECT}/global/firewalls/fw-web' already exists"
        )),
        "{dup:?}"
    );
    let bad = gcloud(&[
        "compute",
        "firewall-rules",
        "create",
        "fw-bad",
        "--allow=tcp:80",
        "--source-ranges=10.0.0.0/33",
    ]);
    assert_ne!(bad.code, 0, "{bad:?}");
    ok(gcloud(&[
        "compute",
        "firewall-rules",
        "delete",
        "fw-web",
        "--quiet",
    ]));
    let gone = gcloud(&["compute", "firewall-rules", "describe", "fw-web"]);
    assert!(
        gone.stderr.contains(&format!(
            "The resource 'projects/{PROJECT}/global/firewalls/fw-web' was not found"
        )),
        "{gone:?}"
    );
}

fn instances_json() -> serde_json::Value {
    let text = std::fs::read_to_string(env().cloud_dir.join("instances.json")).unwrap();
    serde_json::from_str(&text).unwrap()
}

fn instance_entry(name: &str) -> Option<serde_json::Value> {
    instances_json()
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["name"] == name)
        .cloned()
}

#[test]
fn instances_get_loopback_addresses_and_a_folder_of_their_own() {
    let z = "europe-west1-b";
    ok(gcloud(&[
        "compute",
        "instances",
        "create",
        "vm-a",
        "--zone",
        z,
        "--image-family=ubuntu-2204-lts",
        "--image-project=ubuntu-os-cloud",
        "--tags=vm-a",
    ]));
    let ip = ok(gcloud(&[
        "compute",
        "instances",
        "describe",
        "vm-a",
        "--zone",
        z,
        "--format=value(networkInterfaces[0].accessConfigs[0].natIP,networkInterfaces[0].networkIP,status)",
    ]));
    let fields: Vec<&str> = ip.stdout.trim().split('\t').collect();
    assert!(
        fields[0].starts_with("127."),
        "external IPs stay on loopback: {ip:?}"
    );
    assert!(
        fields[1].starts_with("10.132.0."),
        "europe-west1's default subnet: {ip:?}"
    );
    assert_eq!(fields[2], "RUNNING");
    let entry = instance_entry("vm-a").unwrap();
    assert_eq!(entry["externalIP"], fields[0]);
    assert_eq!(entry["zone"], z);
    let root = PathBuf::from(entry["root"].as_str().unwrap());
    assert!(
        root.is_dir() && root.ends_with("instances/vm-a/root"),
        "{entry}"
    );

    ok(gcloud(&[
        "compute",
        "instances",
        "stop",
        "vm-a",
        "--zone",
        z,
    ]));
    assert_eq!(instance_entry("vm-a").unwrap()["status"], "TERMINATED");
    assert!(instance_entry("vm-a").unwrap()["externalIP"].is_null());
    ok(gcloud(&[
        "compute",
        "instances",
        "start",
        "vm-a",
        "--zone",
        z,
    ]));
    let entry = instance_entry("vm-a").unwrap();
    assert_eq!(entry["status"], "RUNNING");
    assert!(entry["externalIP"].as_str().unwrap().starts_with("127."));

    let missing = gcloud(&[
        "compute",
        "instances",
        "create",
        "vm-b",
        "--zone",
        z,
        "--image-family=no-such-family",
        "--image-project=debian-cloud",
    ]);
    assert!(
        missing.stderr.contains("The resource 'projects/debian-cloud/zones/-/imageFamilyViews/no-such-family' was not found")
            || missing.stderr.contains("no-such-family' was not found"),
        "{missing:?}"
    );
    ok(gcloud(&[
        "compute",
        "instances",
        "delete",
        "vm-a",
        "--zone",
        z,
        "--quiet",
    ]));
    assert!(instance_entry("vm-a").is_none());
    assert!(!root.exists(), "the folder goes with the instance");
}

#[test]
fn projects_regions_zones_and_versions() {
    let number = ok(gcloud(&[
        "projects",
        "describe",
        PROJECT,
        "--format=value(projectNumber)",
    ]));
    let n = number.stdout.trim();
    assert!(
        n.len() == 12 && n.bytes().all(|b| b.is_ascii_digit()),
        "{number:?}"
    );
    let again = ok(gcloud(&[
        "projects",
        "describe",
        PROJECT,
        "--format=value(projectNumber)",
    ]));
    assert_eq!(again.stdout.trim(), n, "the number is stable");
    let regions = ok(gcloud(&[
        "compute",
        "regions",
        "list",
        "--format=value(name)",
    ]));
    assert!(
        regions.stdout.lines().any(|l| l == "us-east1"),
        "{regions:?}"
    );
    let zones = ok(gcloud(&[
        "compute",
        "zones",
        "list",
        "--filter=region:us-east1",
        "--format=value(name)",
    ]));
    let zones: Vec<&str> = zones.stdout.lines().collect();
    assert_eq!(zones, ["us-east1-b", "us-east1-c", "us-east1-d"]);
    let versions = ok(gcloud(&[
        "container",
        "get-server-config",
        "--zone",
        "us-east1-b",
        "--format=value(validMasterVersions)",
    ]));
    assert!(
        versions.stdout.contains("1.14.10-gke.50") && versions.stdout.contains("1.9.6-gke.1"),
        "{versions:?}"
    );
}

/// Every file under `dir` with its size and modification time.
fn snapshot(dir: &Path) -> Vec<(PathBuf, u64, SystemTime)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap().flatten() {
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            }
            out.push((entry.path(), meta.len(), meta.modified().unwrap()));
        }
    }
    out.sort();
    out
}

#[test]
fn the_users_own_gcloud_configuration_is_neither_read_nor_written() {
    let user_config = env().home.join(".config/gcloud");
    let before = snapshot(&user_config);
    let project = ok(gcloud(&["config", "get-value", "project"]));
    assert_eq!(project.stdout.trim(), PROJECT, "{project:?}");
    let account = ok(gcloud(&["config", "get-value", "account"]));
    assert_eq!(account.stdout.trim(), meshbook_cloud::ACCOUNT);
    ok(gcloud(&["config", "set", "compute/zone", "us-east1-b"]));
    ok(gcloud(&["compute", "instances", "list"]));
    ok(gcloud(&["container", "clusters", "list"]));
    assert_eq!(snapshot(&user_config), before, "~/.config/gcloud changed");
    let entries: Vec<String> = std::fs::read_dir(env().home.join(".config"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(entries, ["gcloud"], "nothing else appeared under ~/.config");
    // gcloud's own configuration and logs are in the cloud's folder instead.
    let ours =
        std::fs::read_to_string(env().cloud_dir.join("gcloud/configurations/config_default"))
            .unwrap();
    assert!(ours.contains("zone = us-east1-b"), "{ours}");
}
