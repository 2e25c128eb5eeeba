//! The object store of one cluster: objects by (resource, namespace, name), a global
//! resourceVersion counter, a bounded event history for watches, and optional persistence.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;

use serde_json::{Value, json};
use tokio::sync::watch;

use crate::at_rest::{self, AtRest};
use crate::util::{new_uid, now_rfc3339, obj_mut};

/// How many events a watch can replay from.
const HISTORY: usize = 20_000;

/// Errors from loading or saving the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The state file could not be read or written.
    #[error("failed to access sandbox state {path}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The state file is sealed and does not open.
    #[error("sandbox state {path} does not open: {reason}")]
    Sealed {
        /// The file.
        path: PathBuf,
        /// Why.
        reason: String,
    },
    /// The state file is not valid JSON.
    #[error("failed to parse sandbox state {path}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
}

/// A watch event type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Object created.
    Added,
    /// Object changed.
    Modified,
    /// Object removed.
    Deleted,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change to the store.
#[derive(Debug, Clone)]
pub struct Event {
    /// resourceVersion after the change.
    pub rv: u64,
    /// What happened.
    pub kind: EventType,
    /// Resource key (`deployments.apps`).
    pub key: String,
    /// The object after the change (before it, for deletions, with the new resourceVersion).
    pub obj: Value,
    /// The object before a modification, so filtered watches can tell it entered or left.
    pub prev: Option<Value>,
    /// `obj` as JSON, encoded once and shared by every watch that sends it.
    encoded: OnceLock<Bytes>,
}

impl Event {
    /// An event; its encoding is made when first needed.
    pub fn new(rv: u64, kind: EventType, key: String, obj: Value, prev: Option<Value>) -> Self {
        Event {
            rv,
            kind,
            key,
            obj,
            prev,
            encoded: OnceLock::new(),
        }
    }

    /// The object as JSON, shared (not copied) between watches.
    pub fn encoded(&self) -> Bytes {
        self.encoded
            .get_or_init(|| Bytes::from(self.obj.to_string()))
            .clone()
    }

    /// Roughly what the event holds in memory, for the history's byte limit.
    fn weight(&self) -> usize {
        let prev = self.prev.as_ref().map_or(0, |p| p.to_string().len());
        2 * self.encoded().len() + prev
    }
}

type ObjKey = (String, String, String);

struct Inner {
    rv: u64,
    objects: BTreeMap<ObjKey, Value>,
    history: VecDeque<(Arc<Event>, usize)>,
    /// Sum of the history's event weights.
    history_weight: usize,
    /// Oldest resourceVersion a watch may resume from.
    floor: u64,
}

/// Why an update was refused.
#[derive(Debug)]
pub enum WriteError<E> {
    /// No such object.
    NotFound,
    /// The object exists (create).
    Exists,
    /// The caller's resourceVersion is stale.
    Conflict,
    /// The caller's closure refused.
    Other(E),
}

/// Thread-safe object store.
pub struct Store {
    inner: Mutex<Inner>,
    history_bytes: usize,
    tx: watch::Sender<u64>,
    path: Option<PathBuf>,
    at_rest: AtRest,
    dirty: AtomicBool,
    /// Held for a whole save: a caller that finds nothing dirty because another save took the
    /// flag must still not return before that save's file is written (a rehearsal records a
    /// step as done once its save returns).
    saving: Mutex<()>,
}

fn rv_str(rv: u64) -> Value {
    Value::String(rv.to_string())
}

/// The parts of an object that count as its spec for `metadata.generation`.
fn spec_part(v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(m) = c.as_object_mut() {
        m.remove("metadata");
        m.remove("status");
        m.remove("kind");
        m.remove("apiVersion");
    }
    c
}

fn without_rv(v: &Value) -> Value {
    let mut c = v.clone();
    if let Some(m) = c.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    c
}

impl Store {
    /// An empty in-memory store, or one loaded from `path` if that file exists.
    pub fn open(
        path: Option<PathBuf>,
        history_bytes: usize,
        at_rest: AtRest,
    ) -> Result<Self, StoreError> {
        let mut rv = 0;
        let mut objects = BTreeMap::new();
        if let Some(p) = &path
            && p.exists()
        {
            let text = at_rest::read(&at_rest, p)?;
            let v: Value = serde_json::from_str(&text).map_err(|source| StoreError::Parse {
                path: p.clone(),
                source,
            })?;
            rv = v["resourceVersion"].as_u64().unwrap_or(0);
            for item in v["objects"].as_array().into_iter().flatten() {
                let key = item["resource"].as_str().unwrap_or_default().to_string();
                let obj = item["object"].clone();
                let ns = crate::util::namespace_of(&obj).to_string();
                let name = crate::util::name_of(&obj).to_string();
                objects.insert((key, ns, name), obj);
            }
        }
        let (tx, _) = watch::channel(rv);
        Ok(Store {
            inner: Mutex::new(Inner {
                rv,
                objects,
                history: VecDeque::new(),
                history_weight: 0,
                floor: rv,
            }),
            history_bytes,
            tx,
            path,
            at_rest,
            dirty: AtomicBool::new(false),
            saving: Mutex::new(()),
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A poisoned lock only means another request panicked mid-write; the map itself is still usable.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record(
        &self,
        inner: &mut Inner,
        kind: EventType,
        key: &str,
        obj: Value,
        prev: Option<Value>,
    ) {
        let rv = inner.rv;
        let event = Arc::new(Event::new(rv, kind, key.to_string(), obj, prev));
        let weight = event.weight();
        inner.history.push_back((event, weight));
        inner.history_weight += weight;
        // Bounded by count and by bytes; the newest event always stays.
        while inner.history.len() > HISTORY
            || (inner.history_weight > self.history_bytes && inner.history.len() > 1)
        {
            if let Some((e, w)) = inner.history.pop_front() {
                inner.floor = e.rv;
                inner.history_weight -= w;
            }
        }
        self.dirty.store(true, Ordering::Release);
        self.tx.send_replace(rv);
    }

    /// Receives the latest resourceVersion on every change.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.tx.subscribe()
    }

    /// The oldest resourceVersion the history can still serve (watches and continue tokens
    /// from before it get 410 Expired).
    pub fn floor(&self) -> u64 {
        self.lock().floor
    }

    /// The current resourceVersion.
    pub fn current_rv(&self) -> u64 {
        self.lock().rv
    }

    /// One object.
    pub fn get(&self, key: &str, ns: &str, name: &str) -> Option<Value> {
        self.lock()
            .objects
            .get(&(key.to_string(), ns.to_string(), name.to_string()))
            .cloned()
    }

    /// All objects of a resource, in one namespace or all (`None`), with the list resourceVersion.
    pub fn list(&self, key: &str, ns: Option<&str>) -> (Vec<Value>, u64) {
        let inner = self.lock();
        let items = inner
            .objects
            .iter()
            .filter(|((k, n, _), _)| k == key && ns.is_none_or(|want| want == n))
            .map(|(_, v)| v.clone())
            .collect();
        (items, inner.rv)
    }

    /// Maps every object of a resource (all namespaces) under the lock, without cloning them.
    pub fn map_list<T>(&self, key: &str, f: impl FnMut(&Value) -> T) -> Vec<T> {
        let inner = self.lock();
        inner
            .objects
            .iter()
            .filter(|((k, _, _), _)| k == key)
            .map(|(_, v)| v)
            .map(f)
            .collect()
    }

    /// Objects of any resource for which `pred` holds, with their resource keys.
    pub fn select_all(&self, mut pred: impl FnMut(&Value) -> bool) -> Vec<(String, Value)> {
        self.lock()
            .objects
            .iter()
            .filter(|(_, v)| pred(v))
            .map(|((k, _, _), v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Every object with its resource key.
    pub fn all(&self) -> Vec<(String, Value)> {
        self.lock()
            .objects
            .iter()
            .map(|((k, _, _), v)| (k.clone(), v.clone()))
            .collect()
    }

    /// Events after `rv`, or `None` if `rv` is older than the kept history.
    pub fn events_since(&self, rv: u64) -> Option<Vec<Arc<Event>>> {
        let inner = self.lock();
        if rv < inner.floor {
            return None;
        }
        Some(
            inner
                .history
                .iter()
                .filter(|(e, _)| e.rv > rv)
                .map(|(e, _)| Arc::clone(e))
                .collect(),
        )
    }

    /// Creates an object, filling uid, creationTimestamp, generation and resourceVersion.
    /// With `dry_run` nothing is stored.
    pub fn create(
        &self,
        key: &str,
        mut obj: Value,
        dry_run: bool,
    ) -> Result<Value, WriteError<()>> {
        let mut inner = self.lock();
        let ns = crate::util::namespace_of(&obj).to_string();
        let name = crate::util::name_of(&obj).to_string();
        let k = (key.to_string(), ns, name);
        if inner.objects.contains_key(&k) {
            return Err(WriteError::Exists);
        }
        let meta = obj_mut(&mut obj, "metadata");
        meta.insert("uid".into(), Value::String(new_uid()));
        meta.insert("creationTimestamp".into(), Value::String(now_rfc3339()));
        if crate::resources::tracks_generation(key) {
            meta.insert("generation".into(), json!(1));
        } else {
            meta.remove("generation");
        }
        meta.remove("deletionTimestamp");
        if dry_run {
            meta.insert("resourceVersion".into(), rv_str(inner.rv));
            return Ok(obj);
        }
        inner.rv += 1;
        meta.insert("resourceVersion".into(), rv_str(inner.rv));
        inner.objects.insert(k, obj.clone());
        self.record(&mut inner, EventType::Added, key, obj.clone(), None);
        Ok(obj)
    }

    /// Stores a server-made object as given (fixed identity), filling missing metadata.
    pub fn insert_raw(&self, key: &str, mut obj: Value) {
        let mut inner = self.lock();
        inner.rv += 1;
        let rv = inner.rv;
        let meta = obj_mut(&mut obj, "metadata");
        meta.entry("uid")
            .or_insert_with(|| Value::String(new_uid()));
        meta.entry("creationTimestamp")
            .or_insert_with(|| Value::String(now_rfc3339()));
        if crate::resources::tracks_generation(key) {
            meta.entry("generation").or_insert(json!(1));
        }
        meta.insert("resourceVersion".into(), rv_str(rv));
        let ns = crate::util::namespace_of(&obj).to_string();
        let name = crate::util::name_of(&obj).to_string();
        inner
            .objects
            .insert((key.to_string(), ns, name), obj.clone());
        self.record(&mut inner, EventType::Added, key, obj, None);
    }

    /// Replaces an object with what `f` computes from the current one, atomically.
    ///
    /// Identity fields are kept, `generation` is bumped when the spec changed, and a result equal
    /// to the current object is a no-op (no new resourceVersion, no event). If the returned object
    /// carries a non-empty `resourceVersion` different from the current one, the write is a conflict.
    /// Returns the stored object and whether it changed.
    pub fn modify<E>(
        &self,
        key: &str,
        ns: &str,
        name: &str,
        dry_run: bool,
        f: impl FnOnce(&Value) -> Result<Value, E>,
    ) -> Result<(Value, bool), WriteError<E>> {
        let mut inner = self.lock();
        let k = (key.to_string(), ns.to_string(), name.to_string());
        let cur = inner.objects.get(&k).cloned().ok_or(WriteError::NotFound)?;
        let mut new = f(&cur).map_err(WriteError::Other)?;
        let cur_rv = cur["metadata"]["resourceVersion"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if let Some(rv) = new["metadata"]["resourceVersion"].as_str()
            && !rv.is_empty()
            && rv != cur_rv
        {
            return Err(WriteError::Conflict);
        }
        {
            let meta = obj_mut(&mut new, "metadata");
            for field in ["uid", "creationTimestamp", "name", "namespace"] {
                match cur["metadata"].get(field) {
                    Some(v) => {
                        meta.insert(field.into(), v.clone());
                    }
                    None => {
                        meta.remove(field);
                    }
                }
            }
            // Only the server sets deletionTimestamp, and nobody clears it.
            if let Some(v) = cur["metadata"].get("deletionTimestamp") {
                meta.insert("deletionTimestamp".into(), v.clone());
            }
            match cur["metadata"].get("generation") {
                Some(g) => meta.insert("generation".into(), g.clone()),
                None => meta.remove("generation"),
            };
            meta.insert("resourceVersion".into(), Value::String(cur_rv.clone()));
        }
        if cur["metadata"].get("generation").is_some() && spec_part(&new) != spec_part(&cur) {
            let g = cur["metadata"]["generation"].as_u64().unwrap_or(1) + 1;
            obj_mut(&mut new, "metadata").insert("generation".into(), json!(g));
        }
        if without_rv(&new) == without_rv(&cur) {
            return Ok((cur, false));
        }
        if dry_run {
            return Ok((new, true));
        }
        inner.rv += 1;
        let rv = inner.rv;
        obj_mut(&mut new, "metadata").insert("resourceVersion".into(), rv_str(rv));
        inner.objects.insert(k, new.clone());
        self.record(&mut inner, EventType::Modified, key, new.clone(), Some(cur));
        Ok((new, true))
    }

    /// Removes an object; returns it as last seen (with the deletion's resourceVersion).
    pub fn delete(&self, key: &str, ns: &str, name: &str) -> Option<Value> {
        let mut inner = self.lock();
        let mut obj = inner
            .objects
            .remove(&(key.to_string(), ns.to_string(), name.to_string()))?;
        inner.rv += 1;
        let rv = inner.rv;
        obj_mut(&mut obj, "metadata").insert("resourceVersion".into(), rv_str(rv));
        self.record(&mut inner, EventType::Deleted, key, obj.clone(), None);
        Some(obj)
    }

    /// Writes the store to its file if it changed since the last save.
    pub fn save_if_dirty(&self) -> Result<(), StoreError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let _saving = self.saving.lock().unwrap_or_else(|e| e.into_inner());
        if !self.dirty.swap(false, Ordering::AcqRel) {
            return Ok(());
        }
        let doc = {
            let inner = self.lock();
            let objects: Vec<Value> = inner
                .objects
                .iter()
                .map(|((k, _, _), v)| json!({"resource": k, "object": v}))
                .collect();
            json!({"resourceVersion": inner.rv, "objects": objects})
        };
        at_rest::write(&self.at_rest, path, doc.to_string())
            .inspect_err(|_| self.dirty.store(true, Ordering::Release))
    }
}

/// Writes a file via a temporary sibling and a rename, with mode 0600.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<(), StoreError> {
    let io = |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    // Private whatever the umask: a rehearsal's clusters live in the run's state directory.
    std::os::unix::fs::DirBuilderExt::mode(std::fs::DirBuilder::new().recursive(true), 0o700)
        .create(dir)
        .map_err(io)?;
    let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(io)?;
    std::io::Write::write_all(&mut tmp, data).map_err(io)?;
    tmp.as_file().sync_all().map_err(io)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o600)).map_err(io)?;
    }
    tmp.persist(path).map_err(|e| io(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_modify_delete_and_history() {
        let s = Store::open(None, 1 << 20, None).unwrap();
        let o = s
            .create(
                "deployments.apps",
                json!({"metadata": {"name": "a", "namespace": "n"}, "data": {"k": "1"}}),
                false,
            )
            .unwrap();
        assert_eq!(o["metadata"]["resourceVersion"], "1");
        // No-op keeps the version.
        let (same, changed) = s
            .modify::<()>("deployments.apps", "n", "a", false, |c| Ok(c.clone()))
            .unwrap();
        assert!(!changed);
        assert_eq!(same["metadata"]["resourceVersion"], "1");
        let (m, changed) = s
            .modify::<()>("deployments.apps", "n", "a", false, |c| {
                let mut c = c.clone();
                c["data"]["k"] = json!("2");
                Ok(c)
            })
            .unwrap();
        assert!(changed);
        assert_eq!(m["metadata"]["generation"], 2);
        // A stale resourceVersion conflicts.
        let stale = s.modify::<()>("deployments.apps", "n", "a", false, |c| {
            let mut c = c.clone();
            c["metadata"]["resourceVersion"] = json!("1");
            c["data"]["k"] = json!("3");
            Ok(c)
        });
        assert!(matches!(stale, Err(WriteError::Conflict)));
        assert!(s.delete("deployments.apps", "n", "a").is_some());
        let evs = s.events_since(0).unwrap();
        let kinds: Vec<_> = evs.iter().map(|e| e.kind).collect();
        assert_eq!(
            kinds,
            vec![EventType::Added, EventType::Modified, EventType::Deleted]
        );
        assert_eq!(s.events_since(2).unwrap().len(), 1);
    }

    #[test]
    fn history_is_bounded_by_bytes() {
        let s = Store::open(None, 1 << 20, None).unwrap();
        let big = "x".repeat(100 * 1024);
        s.create(
            "configmaps",
            json!({"metadata": {"name": "a", "namespace": "n"}, "data": {"k": big}}),
            false,
        )
        .unwrap();
        for i in 0..50 {
            s.modify::<()>("configmaps", "n", "a", false, |c| {
                let mut c = c.clone();
                c["data"]["i"] = json!(i.to_string());
                Ok(c)
            })
            .unwrap();
        }
        s.delete("configmaps", "n", "a");
        let inner = s.lock();
        assert!(inner.history_weight <= 1 << 20, "{}", inner.history_weight);
        assert!(inner.history.len() < 10, "{}", inner.history.len());
        drop(inner);
        // Watches from before the kept history are told to relist.
        assert!(s.events_since(1).is_none());
        assert!(s.events_since(s.current_rv() - 1).is_some());
    }

    #[test]
    fn persists_and_reloads() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("objects.json");
        let s = Store::open(Some(p.clone()), 1 << 20, None).unwrap();
        s.create("namespaces", json!({"metadata": {"name": "x"}}), false)
            .unwrap();
        s.save_if_dirty().unwrap();
        let t = Store::open(Some(p), 1 << 20, None).unwrap();
        assert!(t.get("namespaces", "", "x").is_some());
        assert_eq!(t.current_rv(), 1);
        assert!(t.events_since(0).is_none());
    }
}
