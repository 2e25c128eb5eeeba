//! `meshbook sandbox up|kubeconfig|down` from the binary: the real kubectl drives the clusters, and a
//! restart with the same `--state` keeps the objects.

mod runkit;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use runkit::Scratch;

/// Where `meshbook sandbox up` keeps its runtime files by default.
const DIR: &str = ".meshbook/sandbox";

#[test]
fn kubectl_drives_the_sandbox_and_objects_survive_a_restart() {
    let s = Scratch::new();
    let up = || s.sandbox_up("east=1.13,west", DIR, &["--state", "state"]);
    let child = up();
    let printed = s.meshbook(&["sandbox", "kubeconfig"]);
    let text = &printed.stdout;
    assert!(
        text.contains("name: east") && text.contains("name: west"),
        "{text}"
    );
    assert!(text.contains("certificate-authority-data"), "{text}");

    for (context, minor) in [("east", "13"), ("west", "33")] {
        let version = s.kubectl(DIR, Some(context), &["version", "-o", "json"]);
        let info: serde_json::Value = serde_json::from_str(&version.stdout).unwrap();
        assert_eq!(info["serverVersion"]["minor"], minor, "{context}");
    }

    let created = s.kubectl(DIR, Some("east"), &["create", "namespace", "kept"]);
    assert_eq!(created.code, 0, "{}", created.all());
    let west = s.kubectl(DIR, Some("west"), &["get", "namespace", "kept"]);
    assert_ne!(west.code, 0, "clusters are not isolated");
    s.sandbox_down(DIR, child);

    let child = up();
    let again = s.kubectl(
        DIR,
        Some("east"),
        &["get", "namespace", "kept", "-o", "jsonpath={.status.phase}"],
    );
    assert_eq!(again.stdout, "Active", "{}", again.all());
    s.sandbox_down(DIR, child);
}

#[test]
fn unsupported_kubernetes_versions_are_refused_before_anything_starts() {
    let s = Scratch::new();
    for args in [
        &["sandbox", "up", "--kube-version", "1.8"][..],
        &["sandbox", "up", "--clusters", "east=1.34"][..],
        &["sandbox", "up", "--clusters", "east=v2"][..],
    ] {
        let out = s.meshbook(args);
        assert_eq!(out.code, 2, "{args:?}");
        assert!(out.stderr.contains("Kubernetes"), "{args:?}: {}", out.all());
    }
    assert!(!s.path().join(".meshbook").exists());
}

/// Runs `program` in `dir` with exactly `vars` (plus PATH), within two minutes.
fn with_env(dir: &Path, vars: &[(String, String)], program: &str, args: &[&str]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .envs(vars.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("{program} {args:?} did not finish in 2 minutes");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// `sandbox up --gcp` prints a shell script: export lines, then `#` comments, the last one saying
/// it serves. Returns the exported variables.
fn read_exports(child: &mut Child) -> Vec<(String, String)> {
    use std::io::BufRead;
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut vars = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = rx
            .recv_timeout(left)
            .expect("sandbox up --gcp printed no environment");
        if let Some(rest) = line.strip_prefix("export ") {
            let (k, v) = rest.split_once('=').unwrap();
            // `PATH` keeps the caller's own after the folder it puts first.
            let v = match v.strip_suffix("\":$PATH\"") {
                Some(first) => format!(
                    "{}:{}",
                    first.trim_matches('\''),
                    std::env::var("PATH").unwrap_or_default()
                ),
                None => v.trim_matches('\'').to_string(),
            };
            vars.push((k.to_string(), v));
        } else {
            assert!(line.starts_with("# "), "not a shell line: {line}");
            if line.starts_with("# serving until") {
                return vars;
            }
        }
    }
}

#[test]
fn sandbox_up_gcp_prints_the_environment_the_real_gcloud_uses() {
    let s = Scratch::new();
    let dir = s.path();
    let home = dir.join("home");
    std::fs::create_dir_all(&home).unwrap();
    let mut child = runkit::SandboxProcess::new(
        s.cmd(&[
            "sandbox",
            "up",
            "--clusters",
            "c0",
            "--gcp",
            "--project",
            "cli-project",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap(),
    );
    let mut vars = read_exports(child.child());
    let get = |k: &str| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    for k in [
        "CLOUDSDK_CONFIG",
        "CLOUDSDK_AUTH_ACCESS_TOKEN",
        "CLOUDSDK_CORE_PROJECT",
        "CLOUDSDK_CORE_DISABLE_PROMPTS",
        "KUBECONFIG",
        "MESHBOOK_GCP_DIR",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_CONTAINER",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_COMPUTE",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_CLOUDRESOURCEMANAGER",
        "CLOUDSDK_API_ENDPOINT_OVERRIDES_SERVICEUSAGE",
    ] {
        assert!(get(k).is_some(), "{k} is not exported: {vars:?}");
    }
    assert!(
        get("CLOUDSDK_CONFIG")
            .unwrap()
            .starts_with(dir.to_str().unwrap())
    );
    assert!(
        vars.iter()
            .filter(|(k, _)| k.starts_with("CLOUDSDK_API_ENDPOINT_OVERRIDES_"))
            .all(|(_, v)| v.starts_with("http://127.0.0.1:"))
    );
    vars.push(("HOME".into(), home.display().to_string()));
    let gcloud = |args: &[&str]| with_env(dir, &vars, "gcloud", args);

    let z = "us-west1-a";
    let created = gcloud(&[
        "container",
        "clusters",
        "create",
        "cli-c",
        "--zone",
        z,
        "--num-nodes",
        "1",
    ]);
    assert!(created.status.success(), "{}", text(&created));
    let listed = gcloud(&[
        "container",
        "clusters",
        "list",
        "--format=value(name,status)",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&listed.stdout),
        "cli-c\tRUNNING\n",
        "{}",
        text(&listed)
    );
    let creds = gcloud(&[
        "container",
        "clusters",
        "get-credentials",
        "cli-c",
        "--zone",
        z,
    ]);
    assert!(creds.status.success(), "{}", text(&creds));
    let ns = with_env(
        dir,
        &vars,
        "kubectl",
        &["--request-timeout", "20s", "get", "ns", "-o", "name"],
    );
    assert!(
        String::from_utf8_lossy(&ns.stdout).contains("namespace/default"),
        "{}",
        text(&ns)
    );
    let ctx = with_env(dir, &vars, "kubectl", &["config", "current-context"]);
    assert_eq!(
        String::from_utf8_lossy(&ctx.stdout).trim(),
        format!("gke_cli-project_{z}_cli-c")
    );

    let fw = gcloud(&[
        "compute",
        "firewall-rules",
        "create",
        "cli-fw",
        "--allow=tcp:22",
        "--target-tags=cli",
    ]);
    assert!(fw.status.success(), "{}", text(&fw));
    let rules = gcloud(&["compute", "firewall-rules", "list", "--format=value(name)"]);
    assert_eq!(
        String::from_utf8_lossy(&rules.stdout).trim(),
        "cli-fw",
        "{}",
        text(&rules)
    );
    let vm = gcloud(&["compute", "instances", "create", "cli-vm", "--zone", z]);
    assert!(vm.status.success(), "{}", text(&vm));
    let ip = gcloud(&[
        "compute",
        "instances",
        "describe",
        "cli-vm",
        "--zone",
        z,
        "--format=value(networkInterfaces[0].accessConfigs[0].natIP)",
    ]);
    assert!(
        String::from_utf8_lossy(&ip.stdout).starts_with("127."),
        "{}",
        text(&ip)
    );
    // `gcloud compute scp`/`ssh` run the ssh and scp found on PATH: the script puts the doubles
    // first, as a rehearsal does. Files land in the VM's folder; the command runs confined to it.
    let first = (vars.iter().find(|(k, _)| k == "PATH"))
        .and_then(|(_, p)| std::env::split_paths(p).next())
        .expect("the script puts a folder first on PATH");
    let mut tools: Vec<String> = std::fs::read_dir(&first)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    tools.sort();
    assert_eq!(tools, ["scp", "ssh"], "only ssh and scp are shadowed");
    let mut vm_vars = vars.clone();
    vm_vars.push(("USER".into(), "vmuser".into()));
    std::fs::write(
        dir.join("setup.sh"),
        "echo \"$1 istiod.istio-system.svc\" | sudo tee -a /etc/hosts\nsudo systemctl start istio\n",
    )
    .unwrap();
    let on_vm = |args: &[&str]| with_env(dir, &vm_vars, "gcloud", args);
    let scp = on_vm(&["compute", "scp", "--zone", z, "setup.sh", "cli-vm:~"]);
    assert!(scp.status.success(), "{}", text(&scp));
    let root = vm_vars
        .iter()
        .find(|(k, _)| k == "MESHBOOK_GCP_DIR")
        .map(|(_, v)| PathBuf::from(v).join("instances/cli-vm/root"))
        .unwrap();
    assert!(
        root.join("home/vmuser/setup.sh").is_file(),
        "{}",
        text(&scp)
    );
    let ssh = on_vm(&[
        "compute",
        "ssh",
        "cli-vm",
        "--zone",
        z,
        "--command",
        "bash setup.sh 127.0.0.9 && systemctl is-active istio && cat /etc/hostname 2>&1; pwd",
    ]);
    let out = String::from_utf8_lossy(&ssh.stdout);
    if !String::from_utf8_lossy(&ssh.stderr).contains("cannot isolate") {
        assert!(ssh.status.success(), "{}", text(&ssh));
        assert!(
            out.ends_with("active\ncat: /etc/hostname: No such file or directory\n/home/vmuser\n"),
            "{}",
            text(&ssh)
        );
        assert_eq!(
            std::fs::read_to_string(root.join("etc/hosts")).unwrap(),
            "127.0.0.9 istiod.istio-system.svc\n"
        );
        assert_eq!(
            std::fs::read_to_string(root.join(".meshbook/services/istio")).unwrap(),
            "active\n"
        );
    }
    assert!(
        home.join(".ssh/google_compute_engine").is_file(),
        "gcloud made its key in HOME"
    );

    let number = gcloud(&[
        "projects",
        "describe",
        "cli-project",
        "--format=value(projectNumber)",
    ]);
    let number = String::from_utf8_lossy(&number.stdout).trim().to_string();
    assert!(
        number.len() == 12 && number.bytes().all(|b| b.is_ascii_digit()),
        "{number}"
    );
    let basic = gcloud(&[
        "container",
        "clusters",
        "create",
        "cli-basic",
        "--zone",
        z,
        "--username",
        "admin",
    ]);
    assert!(
        String::from_utf8_lossy(&basic.stderr).contains(
            "ResponseError: code=400, message=Basic authentication was removed for GKE cluster versions >= 1.19."
        ),
        "{}",
        text(&basic)
    );
    assert!(
        !dir.join("home/.config/gcloud").exists(),
        "gcloud wrote into HOME"
    );
    s.sandbox_down(DIR, child);
    assert!(
        !dir.join(".meshbook/sandbox/gcp.env").exists(),
        "the environment file outlived the sandbox"
    );
    assert!(
        !first.exists(),
        "the folder of ssh and scp doubles outlived the sandbox"
    );
}
