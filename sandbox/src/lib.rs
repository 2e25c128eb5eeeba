//! Simulated Kubernetes clusters that speak the real API.
//!
//! A [`Sandbox`] serves one or more clusters on 127.0.0.1, each with its own port, TLS
//! certificate (from one sandbox CA) and bearer token, so the real `kubectl` and kube-rs can
//! drive them. Controllers simulate workloads becoming ready, Services getting addresses and
//! ServiceAccounts getting tokens. See `docs/sandbox.md` for what is and is not simulated.

mod admission;
mod api;
pub mod at_rest;
mod cluster;
mod controllers;
mod discovery;
mod exec;
mod fields;
mod gc;
mod http;
mod impersonation;
mod injection;
mod isolation;
mod limits;
mod openapi_v2;
mod openapi_v3;
mod patch;
mod portforward;
mod protobuf;
mod rbac;
mod request_info;
mod resources;
mod router;
mod schemas;
mod selector;
mod server;
mod spdy;
mod ssa;
mod status;
mod store;
mod strict;
mod table;
#[cfg(feature = "testing")]
pub mod testing;
mod tls;
mod tokens;
mod upgrade;
mod util;
mod values;
mod version;
mod watch;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::cluster::Cluster;
pub use crate::limits::Limits;
pub use crate::store::{StoreError, write_atomic};
pub use crate::tls::TlsError;
pub use crate::version::KubeVersion;

/// The Kubernetes minors a simulated cluster can have, oldest first (1.9 to 1.33).
pub fn supported_versions() -> impl DoubleEndedIterator<Item = KubeVersion> {
    version::supported()
}

/// The minor clusters have unless told otherwise: the newest supported.
pub fn default_version() -> KubeVersion {
    version::newest()
}

/// Faults injected into resource requests, for testing clients under stress.
#[derive(Debug, Clone)]
pub struct Faults {
    /// Fraction (0.0–1.0) of requests that fail, per verb (`get`, `list`, `watch`, `create`,
    /// `update`, `patch`, `delete`, `deletecollection`, or `*` for all).
    pub error_rate: BTreeMap<String, f64>,
    /// HTTP status of injected errors: 500 or 503.
    pub error_status: u16,
    /// Delay added to every request.
    pub latency: Duration,
    /// Fraction (0.0–1.0) of resource requests answered with 429 Too Many Requests.
    pub throttle_rate: f64,
    /// `Retry-After` sent with 429 answers (whole seconds, at least 1).
    pub retry_after: Duration,
    /// Watches are closed after this many events.
    pub watch_drop_after: Option<usize>,
    /// Fraction (0.0–1.0) of writes, per verb (`create`, `update`, `patch`, `delete`, or `*`),
    /// that are carried out but never answered: the connection is closed instead, as when a
    /// network drops it mid-write. A client cannot tell whether such a write landed.
    pub lost_answer_rate: BTreeMap<String, f64>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            error_rate: BTreeMap::new(),
            error_status: 500,
            latency: Duration::ZERO,
            throttle_rate: 0.0,
            retry_after: Duration::from_secs(1),
            watch_drop_after: None,
            lost_answer_rate: BTreeMap::new(),
        }
    }
}

/// How many faults a cluster injected so far, so a test can check that its faults happened.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    /// Requests answered with `error_status`.
    pub errors: u64,
    /// Requests answered 429.
    pub throttled: u64,
    /// Writes carried out whose answer was dropped.
    pub lost_answers: u64,
}

/// How to start a sandbox.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    /// Cluster names; each becomes a kubeconfig context.
    pub clusters: Vec<String>,
    /// The Kubernetes minor every cluster simulates unless `cluster_versions` names another.
    pub kube_version: KubeVersion,
    /// Per-cluster minors, by cluster name (also for clusters added later with
    /// [`Sandbox::add_cluster`]).
    pub cluster_versions: BTreeMap<String, KubeVersion>,
    /// Where objects, ports, tokens and certificates persist; `None` keeps everything in memory.
    pub state_dir: Option<PathBuf>,
    /// Delay before a new Pod becomes Running and Ready.
    pub pod_ready_delay: Duration,
    /// Delay before a LoadBalancer Service gets its ingress IP.
    pub lb_ip_delay: Duration,
    /// Injected faults.
    pub faults: Faults,
    /// Request, connection and history limits.
    pub limits: Limits,
    /// How files under `state_dir` holding objects, tokens and keys are kept: sealed with
    /// this, or as they are.
    pub at_rest: at_rest::AtRest,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            clusters: vec!["cluster1".to_string()],
            kube_version: version::newest(),
            cluster_versions: BTreeMap::new(),
            state_dir: None,
            pod_ready_delay: Duration::from_millis(500),
            lb_ip_delay: Duration::from_millis(500),
            faults: Faults::default(),
            limits: Limits::default(),
            at_rest: None,
        }
    }
}

impl SandboxConfig {
    /// The minor cluster `name` simulates, if the sandbox supports it.
    pub fn version_of(&self, name: &str) -> Result<KubeVersion, Error> {
        let version = self
            .cluster_versions
            .get(name)
            .copied()
            .unwrap_or(self.kube_version);
        if version::is_supported(version) {
            Ok(version)
        } else {
            Err(Error::UnsupportedVersion {
                name: name.to_string(),
                version,
            })
        }
    }
}

/// Errors starting or stopping a sandbox.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A cluster name is empty, repeated or not a valid DNS label.
    #[error("invalid cluster name {0:?}: use lowercase letters, digits and '-', each name once")]
    InvalidName(String),
    /// A cluster was asked to simulate a Kubernetes minor the sandbox does not support.
    #[error(
        "Kubernetes {version} is not supported (cluster {name}): the sandbox simulates 1.9 to 1.33"
    )]
    UnsupportedVersion {
        /// The cluster.
        name: String,
        /// The minor asked for.
        version: KubeVersion,
    },
    /// Certificates could not be made or loaded.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The object store could not be loaded or saved.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A listening socket could not be opened.
    #[error("failed to listen for cluster {name}")]
    Bind {
        /// The cluster.
        name: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A directory could not be created.
    #[error("failed to prepare {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Options of one cluster added with [`Sandbox::add_cluster_with`].
#[derive(Clone, Default)]
pub struct ClusterOptions {
    /// Bearer tokens accepted with full access besides the cluster's admin token.
    pub extra_tokens: Vec<String>,
    /// The Kubernetes minor to simulate, overriding the configuration and what a state
    /// directory recorded (a simulated cloud creating a cluster of a requested version).
    pub kube_version: Option<KubeVersion>,
}

// Tokens are credentials: keep them out of debug output.
impl std::fmt::Debug for ClusterOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterOptions")
            .field("extra_tokens", &self.extra_tokens.len())
            .finish()
    }
}

/// How to reach one simulated cluster.
#[derive(Clone, PartialEq, Eq)]
pub struct ClusterInfo {
    /// Cluster and context name.
    pub name: String,
    /// `https://127.0.0.1:PORT`.
    pub server: String,
    /// Administrator bearer token.
    pub token: String,
    /// The Kubernetes minor it simulates.
    pub kube_version: KubeVersion,
}

// The token is a credential: keep it out of debug output and test failure messages.
impl std::fmt::Debug for ClusterInfo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClusterInfo")
            .field("name", &self.name)
            .field("server", &self.server)
            .field("kube_version", &self.kube_version)
            .field("token", &"<redacted>")
            .finish()
    }
}

#[derive(Clone)]
struct Running {
    cluster: Arc<Cluster>,
    addr: SocketAddr,
}

/// A set of running simulated clusters.
pub struct Sandbox {
    clusters: Mutex<Vec<Running>>,
    config: SandboxConfig,
    ca_pem: String,
    tls_config: Arc<rustls::ServerConfig>,
    scratch: PathBuf,
    shutdown: tokio::sync::watch::Sender<bool>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
    _scratch: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field(
                "clusters",
                &self
                    .running()
                    .iter()
                    .map(|c| (c.cluster.name.clone(), c.addr))
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

fn valid_cluster_name(n: &str) -> bool {
    !n.is_empty()
        && n.len() <= 63
        && n.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !n.starts_with('-')
        && !n.ends_with('-')
}

async fn bind(name: &str, port: u16) -> Result<TcpListener, Error> {
    if port != 0
        && let Ok(l) = TcpListener::bind(("127.0.0.1", port)).await
    {
        return Ok(l);
    }
    TcpListener::bind(("127.0.0.1", 0))
        .await
        .map_err(|source| Error::Bind {
            name: name.to_string(),
            source,
        })
}

fn read_meta(path: &Path, at_rest: &at_rest::AtRest) -> Value {
    at_rest::read(at_rest, path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or(Value::Null)
}

impl Sandbox {
    /// Starts every configured cluster; returns once all are listening.
    pub async fn start(config: SandboxConfig) -> Result<Sandbox, Error> {
        let mut seen = std::collections::BTreeSet::new();
        for n in &config.clusters {
            if !valid_cluster_name(n) || !seen.insert(n.clone()) {
                return Err(Error::InvalidName(n.clone()));
            }
            config.version_of(n)?;
        }
        let material = match &config.state_dir {
            Some(dir) => tls::load_or_generate(&dir.join("tls"), &config.at_rest)?,
            None => tls::generate()?,
        };
        let tls_config = tls::server_config(&material)?;
        let (scratch, scratch_dir) = match &config.state_dir {
            Some(dir) => (dir.join("scratch"), None),
            None => {
                let t = tempfile::tempdir().map_err(|source| Error::Io {
                    path: std::env::temp_dir(),
                    source,
                })?;
                (t.path().to_path_buf(), Some(t))
            }
        };
        let (shutdown, _) = tokio::sync::watch::channel(false);
        let sandbox = Sandbox {
            clusters: Mutex::new(Vec::new()),
            config: config.clone(),
            ca_pem: material.ca_pem,
            tls_config,
            scratch,
            shutdown,
            tasks: Mutex::new(Vec::new()),
            _scratch: scratch_dir,
        };
        for name in &config.clusters {
            sandbox.add_cluster(name).await?;
        }
        Ok(sandbox)
    }

    fn running(&self) -> Vec<Running> {
        self.clusters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Starts one more cluster (a simulated `clusters create`); with a state directory its
    /// objects, token and port are kept like those of the configured clusters.
    pub async fn add_cluster(&self, name: &str) -> Result<ClusterInfo, Error> {
        self.add_cluster_with(name, ClusterOptions::default()).await
    }

    /// [`Sandbox::add_cluster`] with options (extra accepted bearer tokens).
    pub async fn add_cluster_with(
        &self,
        name: &str,
        options: ClusterOptions,
    ) -> Result<ClusterInfo, Error> {
        let running = self.running();
        if !valid_cluster_name(name) || running.iter().any(|c| c.cluster.name == name) {
            return Err(Error::InvalidName(name.to_string()));
        }
        let dir = self
            .config
            .state_dir
            .as_ref()
            .map(|d| d.join("clusters").join(name));
        let meta_path = dir.as_ref().map(|d| d.join("cluster.json"));
        let meta = meta_path
            .as_deref()
            .map(|p| read_meta(p, &self.config.at_rest))
            .unwrap_or(Value::Null);
        // Asked for, configured for this cluster, recorded when it was first made, or the default.
        let version = match options.kube_version.or_else(|| {
            let configured = self.config.cluster_versions.get(name).copied();
            configured.or_else(|| meta["kubeVersion"].as_str()?.parse().ok())
        }) {
            Some(v) if version::is_supported(v) => v,
            Some(v) => {
                return Err(Error::UnsupportedVersion {
                    name: name.to_string(),
                    version: v,
                });
            }
            None => self.config.version_of(name)?,
        };
        let token = meta["token"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| util::random_hex(32));
        let port = meta["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(0);
        // The index picks the address pools; keep the stored one unless another cluster has it.
        let taken: Vec<usize> = running.iter().map(|c| c.cluster.index).collect();
        let index = meta["index"]
            .as_u64()
            .map(|i| i as usize)
            .filter(|i| !taken.contains(i))
            .unwrap_or_else(|| (0..).find(|i| !taken.contains(i)).unwrap_or(0));
        let listener = bind(name, port).await?;
        let addr = listener.local_addr().map_err(|source| Error::Bind {
            name: name.to_string(),
            source,
        })?;
        if let Some(p) = &meta_path {
            let doc = json!({"token": token, "port": addr.port(), "index": index,
                             "kubeVersion": version.to_string()});
            at_rest::write(&self.config.at_rest, p, doc.to_string())?;
        }
        let store = store::Store::open(
            dir.as_ref().map(|d| d.join("objects.json")),
            self.config.limits.history_bytes,
            self.config.at_rest.clone(),
        )?;
        let cluster = Arc::new(Cluster {
            name: name.to_string(),
            index,
            ca_pem: self.ca_pem.clone(),
            store,
            pod_ready_delay: self.config.pod_ready_delay,
            lb_ip_delay: self.config.lb_ip_delay,
            faults: self.config.faults.clone(),
            limits: self.config.limits.clone(),
            scratch: self.scratch.clone(),
            allocated: Mutex::new(Default::default()),
            minter: tokens::Minter::new(&token, name),
            extra_tokens: std::sync::RwLock::new(options.extra_tokens),
            injected: Default::default(),
            token,
            version,
        });
        cluster.bootstrap();
        let mut tasks = vec![
            controllers::spawn(Arc::clone(&cluster), self.shutdown.subscribe()),
            server::spawn(
                Arc::clone(&cluster),
                listener,
                Arc::clone(&self.tls_config),
                self.shutdown.subscribe(),
            ),
        ];
        if self.config.state_dir.is_some() {
            tasks.push(spawn_saver(Arc::clone(&cluster), self.shutdown.subscribe()));
        }
        self.tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend(tasks);
        let r = Running { cluster, addr };
        let out = info(&r);
        self.clusters
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(r);
        Ok(out)
    }

    /// Makes cluster `name` accept `token` as an administrator bearer token besides its own, or
    /// (with `None`) stop accepting the one set before. A simulated cloud hands its access token
    /// to the clients of the clusters it creates this way. Not persisted: the caller sets it again
    /// after a restart. Returns false when there is no such cluster.
    pub fn set_extra_token(&self, name: &str, token: Option<&str>) -> bool {
        let running = self.running();
        let Some(c) = running.iter().find(|c| c.cluster.name == name) else {
            return false;
        };
        *c.cluster
            .extra_tokens
            .write()
            .unwrap_or_else(|e| e.into_inner()) = token
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .into_iter()
            .collect();
        true
    }

    /// Connection details of every cluster, in the order they were started.
    pub fn clusters(&self) -> Vec<ClusterInfo> {
        self.running().iter().map(info).collect()
    }

    /// Connection details of one cluster.
    pub fn cluster(&self, name: &str) -> Option<ClusterInfo> {
        self.running()
            .iter()
            .find(|c| c.cluster.name == name)
            .map(info)
    }

    /// The faults cluster `name` injected so far (`None` when there is no such cluster).
    pub fn faults_injected(&self, name: &str) -> Option<FaultCounts> {
        let c = self
            .running()
            .into_iter()
            .find(|c| c.cluster.name == name)?;
        let n = |a: &std::sync::atomic::AtomicU64| a.load(std::sync::atomic::Ordering::Relaxed);
        Some(FaultCounts {
            errors: n(&c.cluster.injected.errors),
            throttled: n(&c.cluster.injected.throttled),
            lost_answers: n(&c.cluster.injected.lost_answers),
        })
    }

    /// PEM of the CA that signed the clusters' serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A kubeconfig with one context per cluster (named after it); the first is current.
    pub fn kubeconfig_yaml(&self) -> String {
        kubeconfig(&self.ca_pem, &self.clusters())
    }

    /// Writes [`Sandbox::kubeconfig_yaml`] to `path` with mode 0600.
    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), Error> {
        store::write_atomic(path, self.kubeconfig_yaml().as_bytes())?;
        Ok(())
    }

    /// Serves until `until` completes, then shuts down.
    pub async fn serve_until(self, until: impl Future<Output = ()>) -> Result<(), Error> {
        until.await;
        self.shutdown().await
    }

    /// A handle that writes every cluster's objects to the state folder now (when there is one),
    /// so a caller can make the clusters durable before it records work as done.
    pub fn saver(&self) -> Saver {
        Saver(self.running().iter().map(|c| c.cluster.clone()).collect())
    }

    /// Stops listeners and controllers and saves state.
    pub async fn shutdown(self) -> Result<(), Error> {
        self.shutdown.send_replace(true);
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|e| e.into_inner()));
        for t in tasks {
            let _ = t.await;
        }
        for c in self.running() {
            c.cluster.store.save_if_dirty()?;
        }
        Ok(())
    }
}

// A sandbox dropped without `shutdown` (a panicking test, an early return) stops serving at
// once: listeners, controllers and exec sessions end with their tasks.
impl Drop for Sandbox {
    fn drop(&mut self) {
        self.shutdown.send_replace(true);
        for t in self
            .tasks
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
        {
            t.abort();
        }
    }
}

/// The administrator token of cluster `cluster` of a sandbox persisted in `state_dir`, read
/// through `at_rest` (the seal it was kept with): what a kubeconfig's exec credential plugin
/// hands kubectl, so the kubeconfig itself holds no token.
pub fn stored_admin_token(
    state_dir: &Path,
    cluster: &str,
    at_rest: &at_rest::AtRest,
) -> Result<String, Error> {
    if !valid_cluster_name(cluster) {
        return Err(Error::InvalidName(cluster.to_string()));
    }
    let path = state_dir
        .join("clusters")
        .join(cluster)
        .join("cluster.json");
    let text = at_rest::read(at_rest, &path)?;
    let meta: Value = serde_json::from_str(&text).map_err(|source| StoreError::Parse {
        path: path.clone(),
        source,
    })?;
    match meta["token"].as_str() {
        Some(token) => Ok(token.to_string()),
        None => Err(StoreError::Sealed {
            path,
            reason: "it names no token".to_string(),
        }
        .into()),
    }
}

/// The kubeconfig of a sandbox persisted in `state_dir`, for a sandbox started with that
/// directory (by this or another process). Clusters are listed in the order they were created.
pub fn kubeconfig_from_state(state_dir: &Path) -> Result<String, Error> {
    let ca_path = state_dir.join("tls").join("ca.crt");
    let ca_pem = std::fs::read_to_string(&ca_path).map_err(|source| Error::Io {
        path: ca_path.clone(),
        source,
    })?;
    let clusters_dir = state_dir.join("clusters");
    let entries = std::fs::read_dir(&clusters_dir).map_err(|source| Error::Io {
        path: clusters_dir.clone(),
        source,
    })?;
    let mut found: Vec<(u64, ClusterInfo)> = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        // Only a sandbox started without a seal (`sandbox up`) is read back this way.
        let meta = read_meta(&entry.path().join("cluster.json"), &None);
        if let (Some(token), Some(port)) = (meta["token"].as_str(), meta["port"].as_u64()) {
            found.push((
                meta["index"].as_u64().unwrap_or(u64::MAX),
                ClusterInfo {
                    name,
                    server: format!("https://127.0.0.1:{port}"),
                    token: token.to_string(),
                    kube_version: meta["kubeVersion"]
                        .as_str()
                        .and_then(|v| KubeVersion::parse(v).ok())
                        .unwrap_or_else(version::newest),
                },
            ));
        }
    }
    found.sort_by(|a, b| (a.0, &a.1.name).cmp(&(b.0, &b.1.name)));
    let infos: Vec<ClusterInfo> = found.into_iter().map(|(_, i)| i).collect();
    Ok(kubeconfig(&ca_pem, &infos))
}

/// A sandbox kubeconfig's user for cluster `C` is `C` and this.
pub const ADMIN_USER_SUFFIX: &str = "-admin";

fn kubeconfig(ca_pem: &str, infos: &[ClusterInfo]) -> String {
    let ca = base64::engine::general_purpose::STANDARD.encode(ca_pem);
    let clusters: Vec<Value> = infos
        .iter()
        .map(|c| json!({"name": c.name, "cluster": {"server": c.server, "certificate-authority-data": ca}}))
        .collect();
    let users: Vec<Value> = infos
        .iter()
        .map(|c| json!({"name": format!("{}{ADMIN_USER_SUFFIX}", c.name), "user": {"token": c.token}}))
        .collect();
    let contexts: Vec<Value> = infos
        .iter()
        .map(|c| json!({"name": c.name, "context": {"cluster": c.name, "user": format!("{}{ADMIN_USER_SUFFIX}", c.name)}}))
        .collect();
    let doc = json!({"apiVersion": "v1", "kind": "Config", "preferences": {},
        "clusters": clusters, "users": users, "contexts": contexts,
        "current-context": infos.first().map(|c| c.name.clone()).unwrap_or_default()});
    serde_yaml::to_string(&doc).unwrap_or_default()
}

/// Saves a sandbox's clusters on demand (see [`Sandbox::saver`]).
#[derive(Clone)]
pub struct Saver(Vec<Arc<Cluster>>);

impl std::fmt::Debug for Saver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Saver").field(&self.0.len()).finish()
    }
}

impl Saver {
    /// Writes every cluster that changed since its last save.
    pub fn save(&self) -> Result<(), Error> {
        for c in &self.0 {
            c.store.save_if_dirty()?;
        }
        Ok(())
    }
}

fn info(c: &Running) -> ClusterInfo {
    ClusterInfo {
        name: c.cluster.name.clone(),
        server: format!("https://127.0.0.1:{}", c.addr.port()),
        token: c.cluster.token.clone(),
        kube_version: c.cluster.version,
    }
}

fn spawn_saver(
    cluster: Arc<Cluster>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = shutdown.changed() => return,
            }
            // A failed save is retried on the next tick and reported by `shutdown`.
            let _ = cluster.store.save_if_dirty();
        }
    })
}
