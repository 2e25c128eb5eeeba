//! One API client per kubeconfig context, made once per run, and the identity of the cluster
//! behind each context (the UID of its `kube-system` namespace).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use indexmap::IndexMap;
use kube::config::{KubeConfigOptions, Kubeconfig, KubeconfigError};
use kube::{Client, Config};
use meshbook_engine::run::executor::Permanence;
use tokio::sync::OnceCell;

use super::request::{ApiFailure, retrying};
use super::resolve::Resolver;

/// Why a client for a context could not be made, or its cluster could not be identified.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    /// The kubeconfig could not be read or merged.
    #[error("cannot read the kubeconfig {source_name}: {reason}")]
    Kubeconfig {
        /// Where the kubeconfig came from.
        source_name: String,
        /// What is wrong (never the file's content).
        reason: String,
    },
    /// No context was named and the kubeconfig has no current context.
    #[error("no context given and the kubeconfig {0} has no current-context")]
    NoCurrentContext(String),
    /// The named context is not in the kubeconfig.
    #[error("context {context:?} is not in the kubeconfig {source_name}")]
    UnknownContext {
        /// The context.
        context: String,
        /// Where the kubeconfig came from.
        source_name: String,
    },
    /// The context's settings could not be turned into a client.
    #[error("cannot connect to context {context:?}: {reason}")]
    Connect {
        /// The context.
        context: String,
        /// What is wrong.
        reason: String,
    },
    /// The cluster's identity could not be read.
    #[error("cannot identify the cluster of context {context:?}")]
    Identity {
        /// The context.
        context: String,
        /// The failed request.
        #[source]
        source: ApiFailure,
    },
    /// A resumed run found a different cluster behind a context than the run started with.
    #[error(
        "context {context:?} now points at a different cluster (identity {found}, the run started against {expected}); refusing to continue"
    )]
    ClusterChanged {
        /// The context.
        context: String,
        /// The recorded identity.
        expected: String,
        /// The identity found now.
        found: String,
    },
}

impl ClientError {
    /// Whether trying again can help: not for a kubeconfig or context that is wrong, nor for a
    /// cluster that changed; reading the identity may pass like any request.
    pub(crate) fn permanence(&self) -> Permanence {
        match self {
            ClientError::Identity { source, .. } => source.permanence(),
            _ => Permanence::Permanent,
        }
    }
}

/// The clients of one run: one per context, made when the run first needs it. The kubeconfig
/// itself is read on first use, so a run without kube steps needs none.
pub struct Clients {
    path: Option<PathBuf>,
    source_name: String,
    kubeconfig: Mutex<Option<Arc<Kubeconfig>>>,
    clusters: tokio::sync::Mutex<HashMap<String, Arc<Cluster>>>,
    expected: Mutex<IndexMap<String, String>>,
    exec_env: Vec<(String, String)>,
}

impl std::fmt::Debug for Clients {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Clients")
            .field("source", &self.source_name)
            .finish_non_exhaustive()
    }
}

fn describe(error: &KubeconfigError) -> String {
    match error {
        // The YAML parser may quote the offending text, which can be a token.
        KubeconfigError::Parse(_) => "it is not a valid kubeconfig YAML document".to_string(),
        other => other.to_string(),
    }
}

impl Clients {
    /// Clients from an explicit kubeconfig file (`--kubeconfig`) when given, else from
    /// `KUBECONFIG` (every listed file, merged) or `~/.kube/config`; read on first use.
    pub fn deferred(path: Option<&Path>) -> Clients {
        let source_name = match (path, std::env::var_os("KUBECONFIG")) {
            (Some(p), _) => p.display().to_string(),
            (None, Some(v)) if !v.is_empty() => {
                format!("from KUBECONFIG ({})", v.to_string_lossy())
            }
            (None, _) => "~/.kube/config".to_string(),
        };
        Clients {
            path: path.map(Path::to_path_buf),
            source_name,
            kubeconfig: Mutex::new(None),
            clusters: tokio::sync::Mutex::new(HashMap::new()),
            expected: Mutex::new(IndexMap::new()),
            exec_env: Vec::new(),
        }
    }

    /// Variables given to every exec credential plugin the kubeconfig names (for example
    /// `gke-gcloud-auth-plugin`, which needs the run's gcloud environment, not this process's).
    pub fn with_exec_env(mut self, env: Vec<(String, String)>) -> Clients {
        self.exec_env = env;
        self
    }

    /// The kubeconfig, read on first use and again by [`Clients::reread`].
    fn kubeconfig(&self) -> Result<Arc<Kubeconfig>, ClientError> {
        let mut cached = self.kubeconfig.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(k) = cached.as_ref() {
            return Ok(Arc::clone(k));
        }
        let read = match &self.path {
            Some(p) => Kubeconfig::read_from(p),
            None => Kubeconfig::read(),
        };
        let k = Arc::new(read.map_err(|e| ClientError::Kubeconfig {
            reason: describe(&e),
            source_name: self.source_name.clone(),
        })?);
        *cached = Some(Arc::clone(&k));
        Ok(k)
    }

    /// Forgets the kubeconfig read so far: steps of the run (`gcloud container clusters
    /// get-credentials`, `kubectl config rename-context`) add contexts to it while it runs.
    fn reread(&self) -> Result<Arc<Kubeconfig>, ClientError> {
        *self.kubeconfig.lock().unwrap_or_else(|e| e.into_inner()) = None;
        self.kubeconfig()
    }

    /// Identities recorded by an earlier invocation of the run: a context whose cluster now
    /// has another identity is refused.
    pub fn expect_identities(&self, identities: IndexMap<String, String>) {
        if let Ok(mut e) = self.expected.lock() {
            e.extend(identities);
        }
    }

    /// The identity of every cluster this run has used so far, by context.
    pub async fn identities(&self) -> IndexMap<String, String> {
        let clusters = self.clusters.lock().await;
        let mut out: IndexMap<String, String> = clusters
            .values()
            .filter_map(|c| c.identity.get().map(|i| (c.context.clone(), i.clone())))
            .collect();
        out.sort_keys();
        out
    }

    fn context_name(&self, context: Option<&str>) -> Result<String, ClientError> {
        let mut kubeconfig = self.kubeconfig()?;
        match context.filter(|c| !c.is_empty()) {
            Some(c) => {
                if !kubeconfig.contexts.iter().any(|n| n.name == c) {
                    kubeconfig = self.reread()?;
                }
                if kubeconfig.contexts.iter().any(|n| n.name == c) {
                    Ok(c.to_string())
                } else {
                    Err(ClientError::UnknownContext {
                        context: c.to_string(),
                        source_name: self.source_name.clone(),
                    })
                }
            }
            None => kubeconfig
                .current_context
                .clone()
                .filter(|c| !c.is_empty())
                .ok_or_else(|| ClientError::NoCurrentContext(self.source_name.clone())),
        }
    }

    /// The cluster behind `context` (the current context when `None`), identified and checked
    /// against the recorded identity before its first use.
    pub(crate) async fn cluster(&self, context: Option<&str>) -> Result<Arc<Cluster>, ClientError> {
        let name = self.context_name(context)?;
        let cluster = {
            let mut clusters = self.clusters.lock().await;
            match clusters.get(&name) {
                Some(c) => Arc::clone(c),
                None => {
                    let c = Arc::new(self.connect(&name).await?);
                    clusters.insert(name.clone(), Arc::clone(&c));
                    c
                }
            }
        };
        let found = cluster.identity().await?;
        let expected = self
            .expected
            .lock()
            .ok()
            .and_then(|e| e.get(&name).cloned());
        if let Some(expected) = expected
            && expected != found
        {
            return Err(ClientError::ClusterChanged {
                context: name,
                expected,
                found: found.to_string(),
            });
        }
        Ok(cluster)
    }

    async fn connect(&self, context: &str) -> Result<Cluster, ClientError> {
        let options = KubeConfigOptions {
            context: Some(context.to_string()),
            ..KubeConfigOptions::default()
        };
        let connect_error = |reason: String| ClientError::Connect {
            context: context.to_string(),
            reason,
        };
        let mut kubeconfig = (*self.kubeconfig()?).clone();
        if !self.exec_env.is_empty() {
            for user in &mut kubeconfig.auth_infos {
                if let Some(exec) = user.auth_info.as_mut().and_then(|a| a.exec.as_mut()) {
                    let env = exec.env.get_or_insert_with(Vec::new);
                    for (name, value) in &self.exec_env {
                        env.push(
                            [
                                ("name".to_string(), name.clone()),
                                ("value".to_string(), value.clone()),
                            ]
                            .into_iter()
                            .collect(),
                        );
                    }
                }
            }
        }
        let config = Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| connect_error(describe(&e)))?;
        let server = config.cluster_url.to_string();
        let default_namespace = config.default_namespace.clone();
        let client = Client::try_from(config).map_err(|e| connect_error(e.to_string()))?;
        Ok(Cluster {
            context: context.to_string(),
            client,
            default_namespace,
            server: server.trim_end_matches('/').to_string(),
            identity: OnceCell::new(),
            resolver: Resolver::default(),
            server_side_apply: AtomicBool::new(true),
        })
    }
}

/// One context's cluster: its client, default namespace, server and resource catalog.
pub(crate) struct Cluster {
    context: String,
    client: Client,
    default_namespace: String,
    server: String,
    identity: OnceCell<String>,
    resolver: Resolver,
    /// Cleared once the server answers an apply patch with 415 (servers before 1.16).
    server_side_apply: AtomicBool,
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster")
            .field("context", &self.context)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl Cluster {
    /// The kubeconfig context this cluster was reached through.
    pub(crate) fn context(&self) -> &str {
        &self.context
    }

    /// The API client.
    pub(crate) fn client(&self) -> &Client {
        &self.client
    }

    /// A step's namespace, or the context's default.
    pub(crate) fn namespace_or_default<'a>(&'a self, namespace: Option<&'a str>) -> &'a str {
        namespace
            .filter(|n| !n.is_empty())
            .unwrap_or(&self.default_namespace)
    }

    /// The API server URL, without a trailing slash.
    pub(crate) fn server(&self) -> &str {
        &self.server
    }

    /// Whether applies to this cluster go server-side (until it answered that it cannot).
    pub(crate) fn server_side_apply(&self) -> bool {
        self.server_side_apply.load(Ordering::Relaxed)
    }

    /// Remembers that this cluster has no server-side apply.
    pub(crate) fn lacks_server_side_apply(&self) {
        self.server_side_apply.store(false, Ordering::Relaxed);
    }

    /// The resource catalog (discovery) of this cluster.
    pub(crate) fn resolver(&self) -> &Resolver {
        &self.resolver
    }

    /// The cluster's identity: the UID of its `kube-system` namespace, read once (or
    /// `server:URL` for an account that may not read it).
    pub(crate) async fn identity(&self) -> Result<&str, ClientError> {
        self.identity
            .get_or_try_init(|| async {
                let api: kube::Api<k8s_openapi::api::core::v1::Namespace> =
                    kube::Api::all(self.client.clone());
                match retrying(|| api.get("kube-system")).await {
                    Ok(ns) => Ok(ns.metadata.uid.unwrap_or_default()),
                    // A restricted account may not read namespaces: the server stands in.
                    Err(kube::Error::Api(s)) if matches!(s.code, 401 | 403 | 404) => {
                        Ok(format!("server:{}", self.server))
                    }
                    Err(e) => Err(ClientError::Identity {
                        context: self.context.clone(),
                        source: e.into(),
                    }),
                }
            })
            .await
            .map(String::as_str)
    }
}

/// Resolves a path given in a step against the run's working directory.
pub(crate) fn in_workdir(workdir: &Path, path: &str) -> PathBuf {
    let p = Path::new(path);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        workdir.join(p)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kubeconfig_with(contexts: &[&str]) -> String {
        let mut text = String::from(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n",
        );
        for c in contexts {
            text.push_str(&format!(
                "- name: {c}\n  context: {{cluster: c, user: u}}\n"
            ));
        }
        text
    }

    #[test]
    fn contexts_added_during_the_run_are_found() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, kubeconfig_with(&["a"])).unwrap();
        let clients = Clients::deferred(Some(&path));
        assert_eq!(clients.context_name(Some("a")).unwrap(), "a");
        // A later step (get-credentials) adds a context to the same file.
        std::fs::write(&path, kubeconfig_with(&["a", "gke_p_z_b"])).unwrap();
        assert_eq!(
            clients.context_name(Some("gke_p_z_b")).unwrap(),
            "gke_p_z_b"
        );
        let missing = clients.context_name(Some("nope")).unwrap_err().to_string();
        assert!(missing.contains("nope"), "{missing}");
    }

    #[tokio::test]
    async fn a_missing_kubeconfig_matters_only_when_a_cluster_is_needed() {
        let clients = Clients::deferred(Some(Path::new("/nonexistent/kubeconfig")));
        assert!(clients.identities().await.is_empty());
        let err = clients.cluster(Some("c1")).await.unwrap_err().to_string();
        assert!(
            err.starts_with(
                "cannot read the kubeconfig /nonexistent/kubeconfig: failed to read kubeconfig"
            ),
            "{err}"
        );
    }

    #[tokio::test]
    async fn malformed_kubeconfigs_are_not_quoted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(&path, "users:\n- name: u\n  user: {token: sekrit-token\n").unwrap();
        let clients = Clients::deferred(Some(&path));
        let err = clients.cluster(None).await.unwrap_err().to_string();
        assert!(
            err.ends_with("it is not a valid kubeconfig YAML document"),
            "{err}"
        );
        assert!(!err.contains("sekrit"), "{err}");
    }
}
