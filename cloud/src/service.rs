//! The running service's shared parts: the state behind a lock, its folder, its URLs, projects
//! and operations.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use serde_json::{Value, json};

use crate::error::{ApiError, ApiResult};
use crate::host::ClusterHost;
use crate::state::{Kind, Project, Record, State};
use crate::util;

/// Services every project has enabled from the start.
const DEFAULT_SERVICES: &[&str] = &[
    "compute.googleapis.com",
    "container.googleapis.com",
    "cloudresourcemanager.googleapis.com",
    "serviceusage.googleapis.com",
    "iam.googleapis.com",
    "logging.googleapis.com",
    "monitoring.googleapis.com",
    "oslogin.googleapis.com",
    "storage.googleapis.com",
];

/// A parsed API request.
#[derive(Debug, Clone)]
pub struct Call {
    /// HTTP method.
    pub method: String,
    /// Path segments after the API's version; a trailing `:verb` is split off into `verb`.
    pub segments: Vec<String>,
    /// The custom verb of `...:setSize`-style methods.
    pub verb: Option<String>,
    /// Query parameters.
    pub query: BTreeMap<String, String>,
    /// The JSON body (`Null` when empty).
    pub body: Value,
    /// The path as asked, for messages.
    pub path: String,
}

impl Call {
    /// The segments as `&str`s, for slice patterns.
    pub fn parts(&self) -> Vec<&str> {
        self.segments.iter().map(String::as_str).collect()
    }

    /// The answer for a method the simulation does not serve.
    pub fn unsupported(&self) -> ApiError {
        ApiError::unsupported(&self.method, &self.path)
    }
}

/// The simulated cloud's shared state.
pub struct Service {
    state: Mutex<State>,
    /// The state folder (CLOUD_DIR).
    pub dir: PathBuf,
    /// `http://127.0.0.1:PORT`.
    pub origin: String,
    /// Runs the clusters behind GKE clusters.
    pub host: Arc<dyn ClusterHost>,
    /// The Kubernetes minor a rehearsal is pinned to (see `rules::check_pinned`).
    pub pinned_version: Option<String>,
    /// The account operations name as their user.
    pub account: String,
    /// Serializes cluster creates and deletes, which call the host between state changes.
    pub cluster_lock: tokio::sync::Mutex<()>,
}

impl Service {
    /// A service over `state`.
    pub fn new(
        state: State,
        dir: PathBuf,
        origin: String,
        host: Arc<dyn ClusterHost>,
        pinned_version: Option<String>,
        account: String,
    ) -> Service {
        Service {
            state: Mutex::new(state),
            dir,
            origin,
            host,
            pinned_version,
            account,
            cluster_lock: tokio::sync::Mutex::new(()),
        }
    }

    /// The state, locked.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the state folder; a failure becomes a 500 so the client knows the change may be lost.
    pub fn save(&self, state: &State) -> ApiResult<()> {
        state.save(&self.dir).map_err(|e| {
            ApiError::internal(format!("the simulated cloud could not save its state: {e}"))
        })
    }

    /// `http://127.0.0.1:PORT/compute/v1/`: the base of Compute Engine self links, so gcloud
    /// parses them back against the endpoint it was pointed at.
    pub fn compute_base(&self) -> String {
        format!("{}/compute/v1/", self.origin)
    }

    /// `http://127.0.0.1:PORT/container/v1/`: the base of Kubernetes Engine self links.
    pub fn container_base(&self) -> String {
        format!("{}/container/v1/", self.origin)
    }

    /// A Compute Engine URL for `path` (`projects/P/zones/Z/...`).
    pub fn compute_url(&self, path: &str) -> String {
        format!("{}{path}", self.compute_base())
    }
}

/// The project `id`, created on first use: the simulated account owns every well-formed project.
pub fn project<'a>(state: &'a mut State, id: &str) -> ApiResult<&'a mut Project> {
    let known_number = state
        .projects
        .iter()
        .find(|(_, p)| p.number == id)
        .map(|(k, _)| k.clone());
    let key = known_number.unwrap_or_else(|| id.to_string());
    if !state.projects.contains_key(&key) {
        if !util::valid_project_id(&key) {
            return Err(ApiError::denied(format!(
                "Permission denied on resource project {id}."
            )));
        }
        state.projects.insert(
            key.clone(),
            Project {
                number: util::number(&format!("project/{key}"), 12),
                created: util::now(),
                metadata: Vec::new(),
                fingerprint: util::random_hex(16),
                services: DEFAULT_SERVICES.iter().map(|s| s.to_string()).collect(),
            },
        );
    }
    state
        .projects
        .get_mut(&key)
        .ok_or_else(|| ApiError::internal("project vanished"))
}

/// The project ID of `id` (an ID or a known number).
pub fn project_id(state: &State, id: &str) -> String {
    state
        .projects
        .iter()
        .find(|(_, p)| p.number == id)
        .map(|(k, _)| k.clone())
        .unwrap_or_else(|| id.to_string())
}

/// Where a Compute Engine operation lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// `projects/P/global/operations`.
    Global,
    /// `projects/P/zones/Z/operations`.
    Zone(String),
}

impl Scope {
    /// The scope key records are stored under.
    pub fn key(&self) -> String {
        match self {
            Scope::Global => "global".into(),
            Scope::Zone(z) => format!("zones/{z}"),
        }
    }
}

/// Records a finished Compute Engine operation on `target` and returns it.
pub fn compute_operation(
    svc: &Service,
    state: &mut State,
    project: &str,
    scope: Scope,
    operation_type: &str,
    target_link: &str,
    target_id: &str,
) -> Value {
    let serial = state.next_serial();
    let now = util::now_ms();
    let name = format!(
        "operation-{now}-{}-{}",
        util::random_hex(13),
        util::random_hex(8)
    );
    let mut op = json!({
        "kind": "compute#operation",
        "id": util::number(&format!("op/{serial}/{name}"), 19),
        "name": name,
        "operationType": operation_type,
        "targetLink": target_link,
        "targetId": target_id,
        "status": "DONE",
        "user": svc.account,
        "progress": 100,
        "insertTime": util::rfc3339(now),
        "startTime": util::rfc3339(now),
        "endTime": util::rfc3339(now),
    });
    let path = match &scope {
        Scope::Global => format!("projects/{project}/global/operations/{name}"),
        Scope::Zone(z) => {
            op["zone"] = json!(svc.compute_url(&format!("projects/{project}/zones/{z}")));
            format!("projects/{project}/zones/{z}/operations/{name}")
        }
    };
    op["selfLink"] = json!(svc.compute_url(&path));
    state.insert(
        Kind::Operation,
        Record::new(project, &scope.key(), &name, op.clone()),
    );
    op
}
