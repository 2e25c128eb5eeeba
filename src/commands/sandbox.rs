//! `meshbook sandbox up|kubeconfig|down`: simulated clusters kept running for kubectl and experiments.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use meshbook_sandbox::{Faults, KubeVersion, Sandbox, SandboxConfig};

use crate::args::parse_duration;
use crate::failure::{CmdResult, Failure};

/// The sandbox subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum SandboxCommand {
    /// Start simulated clusters and serve them until interrupted (Ctrl-C or `meshbook sandbox down`).
    Up(Box<UpArgs>),
    /// Print the kubeconfig of the running sandbox.
    Kubeconfig(DirArgs),
    /// Stop the running sandbox.
    Down(DirArgs),
    /// Print a rehearsal cluster's credential as a kubectl exec plugin does (what a rehearsal's
    /// kubeconfig runs, so it holds no token itself).
    #[command(hide = true)]
    Credential(CredentialArgs),
}

/// Flags of `meshbook sandbox credential`.
#[derive(Debug, Args)]
pub(crate) struct CredentialArgs {
    /// The rehearsal's cluster store (`runs/ID/sandbox/clusters`).
    #[arg(long, value_name = "DIR")]
    pub(crate) store: PathBuf,
    /// The simulated cluster.
    #[arg(long, value_name = "NAME")]
    pub(crate) cluster: String,
    /// The secrets key the store is sealed with.
    #[arg(long, value_name = "FILE")]
    pub(crate) key_file: PathBuf,
}

/// Where a running sandbox keeps its kubeconfig and pid.
#[derive(Debug, Args)]
pub(crate) struct DirArgs {
    /// The sandbox's runtime folder.
    #[arg(long, default_value = ".meshbook/sandbox", value_name = "DIR")]
    pub(crate) dir: PathBuf,
}

/// Flags of `meshbook sandbox up`.
#[derive(Debug, Args)]
pub(crate) struct UpArgs {
    /// Cluster names, comma-separated; each becomes a kubeconfig context. `NAME=1.13` gives a
    /// cluster its own Kubernetes minor, e.g. `east=1.13,west=1.32`.
    #[arg(long, value_delimiter = ',', default_value = "cluster1", value_name = "NAME[=1.MINOR]", value_parser = parse_cluster)]
    pub(crate) clusters: Vec<(String, Option<KubeVersion>)>,
    /// The Kubernetes minor the clusters simulate: what `/version` reports and which API versions
    /// are served (1.9 to 1.33; default: the newest).
    #[arg(long, value_name = "1.MINOR", value_parser = crate::args::parse_kube_version)]
    pub(crate) kube_version: Option<KubeVersion>,
    /// Write the kubeconfig here too (mode 0600).
    #[arg(long, value_name = "FILE")]
    pub(crate) kubeconfig: Option<PathBuf>,
    /// Keep every cluster's objects in this folder, so they survive a restart.
    #[arg(long, value_name = "DIR")]
    pub(crate) state: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) dir: DirArgs,
    /// How long a new Pod takes to become Ready.
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    pub(crate) pod_ready_delay: Duration,
    /// How long a LoadBalancer Service waits for its ingress IP.
    #[arg(long, default_value = "500ms", value_parser = parse_duration)]
    pub(crate) lb_ip_delay: Duration,
    /// Fail this fraction of requests of a verb with 500: `VERB=RATE`, e.g. `get=0.1` or `*=0.05`.
    #[arg(long, value_name = "VERB=RATE", value_parser = parse_rate)]
    pub(crate) error_rate: Vec<(String, f64)>,
    /// Answer this fraction of requests with 429 and Retry-After.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) throttle_rate: f64,
    /// Delay every request by this much.
    #[arg(long, default_value = "0s", value_parser = parse_duration)]
    pub(crate) latency: Duration,
    /// Close watches after this many events.
    #[arg(long, value_name = "N")]
    pub(crate) watch_drop_after: Option<usize>,
    /// Carry out this fraction of writes of a verb but drop their answer (close the connection),
    /// as a network failing mid-write does: `VERB=RATE`, e.g. `patch=0.2` or `*=0.1`.
    #[arg(long, value_name = "VERB=RATE", value_parser = parse_rate)]
    pub(crate) lost_answer_rate: Vec<(String, f64)>,
    /// Also start a simulated Google Cloud and print the environment that points gcloud at it
    /// (and puts the ssh and scp that reach its VMs first on PATH).
    #[arg(long)]
    pub(crate) gcp: bool,
    /// The project gcloud starts with (with --gcp).
    #[arg(
        long,
        value_name = "ID",
        default_value = "meshbook-sandbox",
        requires = "gcp"
    )]
    pub(crate) project: String,
}

fn parse_cluster(text: &str) -> Result<(String, Option<KubeVersion>), String> {
    match text.split_once('=') {
        Some((name, version)) => Ok((
            name.to_string(),
            Some(crate::args::parse_kube_version(version)?),
        )),
        None => Ok((text.to_string(), None)),
    }
}

fn parse_rate(text: &str) -> Result<(String, f64), String> {
    let (verb, rate) = text
        .split_once('=')
        .ok_or_else(|| format!("expected VERB=RATE, got `{text}`"))?;
    let rate: f64 = rate
        .parse()
        .map_err(|_| format!("`{rate}` is not a number"))?;
    if !(0.0..=1.0).contains(&rate) {
        return Err(format!("rate {rate} is not between 0 and 1"));
    }
    Ok((verb.to_string(), rate))
}

/// Runs a sandbox subcommand.
pub(crate) fn run(command: SandboxCommand) -> CmdResult {
    match command {
        SandboxCommand::Up(args) => up(*args).map_err(Failure::Other),
        SandboxCommand::Kubeconfig(dir) => {
            let path = dir.dir.join("kubeconfig");
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "no running sandbox: {} is missing (start one with `meshbook sandbox up`)",
                    path.display()
                )
            })?;
            out!("{text}");
            Ok(())
        }
        SandboxCommand::Down(dir) => down(&dir.dir).map_err(Failure::Other),
        SandboxCommand::Credential(args) => credential(&args).map_err(Failure::Other),
    }
}

/// An `ExecCredential` with the cluster's token, on stdout only (kubectl reads it from there).
fn credential(args: &CredentialArgs) -> Result<()> {
    let sealer = meshbook_engine::state::secrets::Sealer::load_or_create(&args.key_file)?;
    let token = crate::rehearsal::admin_token(&args.store, &args.cluster, sealer)?;
    let doc = serde_json::json!({
        "apiVersion": "client.authentication.k8s.io/v1beta1",
        "kind": "ExecCredential",
        "status": {"token": token},
    });
    out!("{doc}\n");
    Ok(())
}

fn up(args: UpArgs) -> Result<()> {
    let config = SandboxConfig {
        clusters: args.clusters.iter().map(|(name, _)| name.clone()).collect(),
        kube_version: args
            .kube_version
            .unwrap_or_else(meshbook_sandbox::default_version),
        cluster_versions: args
            .clusters
            .iter()
            .filter_map(|(name, v)| v.map(|v| (name.clone(), v)))
            .collect(),
        state_dir: args.state.clone(),
        pod_ready_delay: args.pod_ready_delay,
        lb_ip_delay: args.lb_ip_delay,
        faults: Faults {
            error_rate: args.error_rate.iter().cloned().collect::<BTreeMap<_, _>>(),
            latency: args.latency,
            throttle_rate: args.throttle_rate,
            watch_drop_after: args.watch_drop_after,
            lost_answer_rate: args.lost_answer_rate.iter().cloned().collect(),
            ..Faults::default()
        },
        ..SandboxConfig::default()
    };
    let runtime = tokio::runtime::Runtime::new().context("failed to start the async runtime")?;
    runtime.block_on(async move {
        let sandbox = std::sync::Arc::new(
            Sandbox::start(config)
                .await
                .context("failed to start the sandbox")?,
        );
        std::fs::create_dir_all(&args.dir.dir)
            .with_context(|| format!("failed to create {}", args.dir.dir.display()))?;
        let own = args.dir.dir.join("kubeconfig");
        sandbox.write_kubeconfig(&own)?;
        if let Some(path) = &args.kubeconfig {
            sandbox.write_kubeconfig(path)?;
        }
        let kubeconfig = args.kubeconfig.as_deref().unwrap_or(&own);
        let cloud = match args.gcp {
            true => Some(gcp::start(&args, sandbox.clone(), kubeconfig).await?),
            false => None,
        };
        // With --gcp stdout is a shell script (`eval` or `source` it): the rest are comments.
        let note = if args.gcp { "# " } else { "" };
        if let Some((_, script)) = &cloud {
            out!("{script}");
        }
        let pid_file = args.dir.dir.join("sandbox.pid");
        std::fs::write(&pid_file, std::process::id().to_string())?;
        for c in sandbox.clusters() {
            outln!(
                "{note}cluster {} at {} (Kubernetes {})",
                c.name,
                c.server,
                c.kube_version
            );
        }
        outln!("{note}kubeconfig: {}", kubeconfig.display());
        outln!(
            "{note}try: kubectl --kubeconfig {} get namespaces",
            kubeconfig.display()
        );
        if let Some(state) = &args.state {
            outln!("{note}objects are kept in {}", state.display());
        }
        outln!("{note}serving until Ctrl-C or `meshbook sandbox down`");
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        if let Some((cloud, _)) = cloud {
            cloud.shutdown().await;
        }
        let sandbox = std::sync::Arc::try_unwrap(sandbox)
            .map_err(|_| anyhow::anyhow!("the sandbox is still in use"))?;
        sandbox.shutdown().await?;
        let _ = std::fs::remove_file(&pid_file);
        let _ = std::fs::remove_file(&own);
        let _ = std::fs::remove_file(args.dir.dir.join(gcp::ENV_FILE));
        let _ = std::fs::remove_dir_all(args.dir.dir.join(gcp::SSH_DIR));
        outln!("{note}sandbox stopped");
        Ok(())
    })
}

/// The simulated Google Cloud beside the clusters of `sandbox up --gcp`.
mod gcp {
    use std::path::Path;
    use std::sync::Arc;

    use anyhow::{Context, Result};
    use meshbook_cloud::{Cloud, CloudConfig, export_line};
    use meshbook_sandbox::Sandbox;

    use super::UpArgs;

    /// The script of exports, kept beside the kubeconfig for `source`.
    pub(crate) const ENV_FILE: &str = "gcp.env";

    /// The folder, beside the kubeconfig, whose `ssh` and `scp` are the doubles that reach the
    /// simulated VMs; the script puts it first on `PATH`.
    pub(crate) const SSH_DIR: &str = "gcp-bin";

    /// Starts the cloud (its state under `--state` when given, else fresh under `--dir`) and
    /// returns it with the shell script that exports its environment.
    pub(crate) async fn start(
        args: &UpArgs,
        sandbox: Arc<Sandbox>,
        kubeconfig: &Path,
    ) -> Result<(Cloud, String)> {
        let dir = match &args.state {
            Some(state) => state.join("gcp"),
            None => {
                let dir = args.dir.dir.join("gcp");
                // Without --state the clusters start empty, so the cloud does too.
                if dir.exists() {
                    std::fs::remove_dir_all(&dir)
                        .with_context(|| format!("failed to clear {}", dir.display()))?;
                }
                dir
            }
        };
        let dir = std::path::absolute(&dir).unwrap_or(dir);
        let config = CloudConfig {
            dir,
            project: args.project.clone(),
            pinned_version: None,
            token: None,
        };
        let cloud = Cloud::start(config, sandbox)
            .await
            .context("failed to start the simulated Google Cloud")?;
        let kubeconfig = std::path::absolute(kubeconfig).unwrap_or(kubeconfig.to_path_buf());
        let mut script = String::new();
        for (name, value) in cloud.environment() {
            script.push_str(&export_line(&name, &value));
            script.push('\n');
        }
        script.push_str(&export_line("CLOUDSDK_CORE_PROJECT", cloud.project()));
        script.push('\n');
        script.push_str(&export_line(
            "KUBECONFIG",
            &kubeconfig.display().to_string(),
        ));
        script.push('\n');
        // `gcloud compute ssh`/`scp` run the ssh and scp on PATH. A simulated VM's address is on
        // loopback, where the real ssh would reach this machine's own sshd, not the VM.
        let bin =
            std::path::absolute(args.dir.dir.join(SSH_DIR)).context("no working directory")?;
        let exe = std::env::current_exe().context("cannot find the meshbook binary")?;
        std::fs::create_dir_all(&bin)
            .with_context(|| format!("failed to create {}", bin.display()))?;
        for tool in ["ssh", "scp"] {
            let link = bin.join(tool);
            let _ = std::fs::remove_file(&link);
            std::os::unix::fs::symlink(&exe, &link)
                .with_context(|| format!("failed to create {}", link.display()))?;
        }
        script.push_str(&export_line("PATH", &bin.display().to_string()));
        script.push_str("\":$PATH\"\n");
        let file = args.dir.dir.join(ENV_FILE);
        crate::identities::write_private(&file, &script)
            .with_context(|| format!("failed to write {}", file.display()))?;
        Ok((cloud, script))
    }
}

fn down(dir: &Path) -> Result<()> {
    let pid_file = dir.join("sandbox.pid");
    let pid = std::fs::read_to_string(&pid_file)
        .with_context(|| format!("no running sandbox: {} is missing", pid_file.display()))?;
    let pid = pid.trim();
    if pid.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        bail!("{} does not hold a process id", pid_file.display());
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", pid])
        .status()
        .context("failed to run kill")?;
    if !status.success() {
        let _ = std::fs::remove_file(&pid_file);
        bail!("no sandbox process {pid} is running (removed the stale pid file)");
    }
    outln!("stopping sandbox (pid {pid})");
    Ok(())
}
