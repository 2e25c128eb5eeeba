//! Everything the simulated cloud holds, and how it is kept on disk.
//!
//! Resources are kept as the JSON the APIs return, with the few keys the simulation indexes by.
//! `state.json` is rewritten atomically after every change, and so is `instances.json`, the
//! contract with the ssh/scp doubles (see docs/sandbox.md).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Errors reading or writing the state folder.
#[derive(Debug, thiserror::Error)]
pub enum StateError {
    /// A file or folder could not be read or written.
    #[error("failed to access {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `state.json` is not what this version writes.
    #[error("{path} is damaged: {reason}")]
    Damaged {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

/// One project: its number, compute metadata and enabled services.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Project {
    /// The project number, derived from the ID so it is stable.
    pub number: String,
    /// When the project was first seen.
    pub created: String,
    /// Compute Engine's common instance metadata items.
    #[serde(default)]
    pub metadata: Vec<Value>,
    /// Its fingerprint, changed on every write.
    pub fingerprint: String,
    /// Enabled services (`container.googleapis.com`, ...).
    pub services: BTreeSet<String>,
}

/// A stored resource: where it lives and its API representation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// The project.
    pub project: String,
    /// `global`, a region or a zone (a GKE location for clusters).
    pub scope: String,
    /// The resource name.
    pub name: String,
    /// The JSON the API returns.
    pub body: Value,
    /// For GKE node instances: the `project/location/cluster` that owns them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    /// For clusters: the simulated Kubernetes cluster behind it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// For instances: the filesystem stand-in's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<PathBuf>,
}

impl Record {
    /// A record without owner, backend or root.
    pub fn new(project: &str, scope: &str, name: &str, body: Value) -> Record {
        Record {
            project: project.to_string(),
            scope: scope.to_string(),
            name: name.to_string(),
            body,
            owner: None,
            backend: None,
            root: None,
        }
    }

    fn is(&self, project: &str, scope: &str, name: &str) -> bool {
        self.project == project && self.scope == scope && self.name == name
    }
}

/// The kinds of stored resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Kind {
    /// GKE clusters (scope: location).
    Cluster,
    /// GKE operations (scope: location).
    ClusterOperation,
    /// Compute instances (scope: zone).
    Instance,
    /// Compute firewall rules (scope: global).
    Firewall,
    /// Compute operations (scope: zone, region or global).
    Operation,
}

/// The whole simulated cloud.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct State {
    /// The access token gcloud sends (the cloud's only credential).
    #[serde(default)]
    pub token: String,
    /// Whether the token is given at every start (and so never written).
    #[serde(skip)]
    pub token_given: bool,
    /// The port last served on, tried again after a restart.
    pub port: u16,
    /// Projects by ID.
    pub projects: BTreeMap<String, Project>,
    /// Resources by kind.
    pub records: BTreeMap<Kind, Vec<Record>>,
    /// Simulated cluster names ever used, so a deleted cluster's name is not reused.
    pub backends: BTreeSet<String>,
    /// Clusters created so far, for address ranges that never overlap.
    pub cluster_count: u32,
    /// A counter for operation and resource IDs.
    pub serial: u64,
}

impl State {
    /// The records of one kind.
    pub fn list(&self, kind: Kind) -> &[Record] {
        self.records
            .get(&kind)
            .map(Vec::as_slice)
            .unwrap_or_default()
    }

    /// One record.
    pub fn get(&self, kind: Kind, project: &str, scope: &str, name: &str) -> Option<&Record> {
        self.list(kind).iter().find(|r| r.is(project, scope, name))
    }

    /// One record, mutable.
    pub fn get_mut(
        &mut self,
        kind: Kind,
        project: &str,
        scope: &str,
        name: &str,
    ) -> Option<&mut Record> {
        self.records
            .get_mut(&kind)?
            .iter_mut()
            .find(|r| r.is(project, scope, name))
    }

    /// Adds a record.
    pub fn insert(&mut self, kind: Kind, record: Record) {
        self.records.entry(kind).or_default().push(record);
    }

    /// Removes and returns a record.
    pub fn remove(&mut self, kind: Kind, project: &str, scope: &str, name: &str) -> Option<Record> {
        let list = self.records.get_mut(&kind)?;
        let at = list.iter().position(|r| r.is(project, scope, name))?;
        Some(list.remove(at))
    }

    /// The next serial number.
    pub fn next_serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    /// Reads `state.json` from `dir`; a missing file is a fresh cloud.
    pub fn load(dir: &Path) -> Result<State, StateError> {
        let path = dir.join("state.json");
        match std::fs::read_to_string(&path) {
            Ok(text) => serde_json::from_str(&text).map_err(|e| StateError::Damaged {
                path,
                reason: e.to_string(),
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
            Err(source) => Err(StateError::Io { path, source }),
        }
    }

    /// Writes `state.json` and `instances.json` into `dir`, each atomically.
    pub fn save(&self, dir: &Path) -> Result<(), StateError> {
        let mut doc = serde_json::to_value(self).unwrap_or_default();
        if self.token_given
            && let Some(fields) = doc.as_object_mut()
        {
            fields.remove("token");
        }
        let text = serde_json::to_string_pretty(&doc).unwrap_or_default();
        write_atomic(&dir.join("state.json"), text.as_bytes())?;
        let instances =
            serde_json::to_string_pretty(&self.instances_contract()).unwrap_or_default();
        write_atomic(&dir.join("instances.json"), instances.as_bytes())
    }

    /// `instances.json`: every instance with its addresses and stand-in folder.
    pub fn instances_contract(&self) -> Value {
        let list: Vec<Value> = self
            .list(Kind::Instance)
            .iter()
            .map(|r| {
                let nic = &r.body["networkInterfaces"][0];
                json!({
                    "name": r.name,
                    "zone": r.scope,
                    "project": r.project,
                    "status": r.body["status"],
                    "internalIP": nic["networkIP"],
                    "externalIP": nic["accessConfigs"][0]["natIP"],
                    "root": r.root,
                })
            })
            .collect();
        Value::Array(list)
    }
}

/// Writes `data` to `path` through a synced temporary file in the same folder (mode 0600), as
/// the simulated clusters save theirs.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), StateError> {
    meshbook_sandbox::write_atomic(path, data).map_err(|e| match e {
        meshbook_sandbox::StoreError::Io { path, source } => StateError::Io { path, source },
        other => StateError::Io {
            path: path.to_path_buf(),
            source: std::io::Error::other(other.to_string()),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_token_is_never_written() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State {
            token: "ya29.given-token".into(),
            token_given: true,
            ..State::default()
        };
        s.save(dir.path()).unwrap();
        let text = std::fs::read_to_string(dir.path().join("state.json")).unwrap();
        assert!(!text.contains("ya29.given-token"), "{text}");
        s.token_given = false;
        s.save(dir.path()).unwrap();
        assert_eq!(State::load(dir.path()).unwrap().token, "ya29.given-token");
    }

    #[test]
    fn saves_and_loads_with_the_instances_contract() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = State {
            token: "t".into(),
            ..State::default()
        };
        let mut r = Record::new(
            "p",
            "us-west2-a",
            "vm",
            json!({"status": "RUNNING", "networkInterfaces": [{"networkIP": "10.168.0.2",
                "accessConfigs": [{"natIP": "127.64.0.1"}]}]}),
        );
        r.root = Some(dir.path().join("instances/vm/root"));
        s.insert(Kind::Instance, r);
        s.save(dir.path()).unwrap();
        let back = State::load(dir.path()).unwrap();
        assert_eq!(
            back.get(Kind::Instance, "p", "us-west2-a", "vm")
                .unwrap()
                .name,
            "vm"
        );
        let contract: Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join("instances.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(contract[0]["externalIP"], "127.64.0.1");
        assert_eq!(contract[0]["internalIP"], "10.168.0.2");
        assert_eq!(contract[0]["zone"], "us-west2-a");
        assert!(
            contract[0]["root"]
                .as_str()
                .unwrap()
                .ends_with("instances/vm/root")
        );
    }

    #[test]
    fn a_damaged_file_is_reported_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("state.json"), "{not json").unwrap();
        let e = State::load(dir.path()).unwrap_err();
        assert!(e.to_string().contains("damaged"), "{e}");
    }
}
