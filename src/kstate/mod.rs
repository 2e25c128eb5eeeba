//! Run state on the Kubernetes API (`--state kube://CONTEXT/NAMESPACE`), so a run started on one
//! machine can be listed, shown and resumed from any other with the kubeconfig.
//!
//! ```text
//! Secret meshbook-run-ID        run.json as written, and the run's own secrets key
//! Secret meshbook-run-ID-jN     the journal, log tails and identities, in chunks (see `chunks`)
//! Lease  meshbook-run-ID        the lock, held and renewed by the driving process (see `lease`)
//! ```
//!
//! A process that drives or reads a run works on a private copy of it on this machine (a
//! *mirror*: a state dir in a temporary folder, removed when the process ends), built from the
//! cluster when the run is opened. The mirror gets the same checks as local state (the journal's
//! chain against run.json) and the same replay; every sync of the journal pushes what it added to
//! the cluster before any dependant starts. Nothing of the run needs the mirror after that.

mod agent;
mod chunks;
mod lease;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::sync::Arc;

use k8s_openapi::ByteString;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Api;
use kube::api::{ListParams, PostParams};
use meshbook_engine::events::RunEvent;
use meshbook_engine::state::RunDir;
use meshbook_engine::state::fsutil;
use meshbook_engine::state::journal::now_ms;
use meshbook_engine::state::lock::Holder;
use meshbook_engine::state::secrets::Sealer;
use meshbook_engine::state::store::{OpenRun, RunKind, RunMeta, StateDir, StateError};

use crate::failure::Failure;
use crate::location::KubeLocation;
use agent::Agent;
use chunks::{Item, WriteError, Writer};
pub(crate) use lease::HeldLease;
use lease::{Me, Refused, Timing};

/// Object names and labels.
pub(crate) mod names {
    /// The Secret type of every object that holds run state.
    pub(crate) const SECRET_TYPE: &str = "meshbook.dev/run-state";
    /// Says which run an object belongs to.
    pub(crate) const RUN_LABEL: &str = "meshbook.dev/run";
    /// Says which part of a run an object is: `run`, `journal` or `lease`.
    pub(crate) const PART_LABEL: &str = "meshbook.dev/part";

    /// The run's description (and the lease's name).
    pub(crate) fn run(id: &str) -> String {
        format!("meshbook-run-{id}")
    }

    /// The run's lease.
    pub(crate) fn lease(id: &str) -> String {
        run(id)
    }

    /// Chunk `n` of the run's journal.
    pub(crate) fn chunk(id: &str, n: u32) -> String {
        format!("meshbook-run-{id}-j{n}")
    }
}

/// The labels of a run's object.
pub(crate) fn labels(run: &str, part: &str) -> BTreeMap<String, String> {
    [
        ("app.kubernetes.io/managed-by", "meshbook"),
        (names::RUN_LABEL, run),
        (names::PART_LABEL, part),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// The run lost its lock while this process drove it: it writes nothing more.
#[derive(Debug, thiserror::Error)]
#[error(
    "lost the lock on run {run}: {why}. This process wrote nothing more to the run and stops; resume it once no other process drives it"
)]
pub(crate) struct Lost {
    /// The run.
    pub(crate) run: String,
    /// What happened.
    pub(crate) why: String,
}

/// An API failure in words: the server's message, with what to do for the usual causes.
pub(crate) fn api_error(action: &str, e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if s.is_forbidden() => format!(
            "{action}: {} (the account needs the Role in deploy/run-state-rbac.yaml: see docs/run-state.md)",
            s.message
        ),
        kube::Error::Api(s) if s.is_not_found() && s.message.contains("namespace") => format!(
            "{action}: {} (create the namespace first: kubectl create namespace NAME)",
            s.message
        ),
        kube::Error::Api(s) => format!("{action}: {} ({})", s.message, s.code),
        other => format!("{action}: {other}"),
    }
}

/// Whether trying again may help: the server failed, throttled, or never answered. Other refusals
/// (forbidden, no such namespace, invalid) stay what they are.
pub(crate) fn transient(e: &kube::Error) -> bool {
    match e {
        kube::Error::Api(s) => s.code >= 500 || s.code == 429,
        _ => true,
    }
}

/// The run state kept in one namespace of a cluster.
pub(crate) struct KubeStore {
    at: KubeLocation,
    agent: Arc<Agent>,
    me: Me,
    timing: Timing,
}

/// A private copy of runs on this machine, removed when dropped.
pub(crate) struct Mirror {
    /// The copy, laid out as a state dir.
    pub(crate) dir: StateDir,
    _in_use: std::fs::File,
    _folder: tempfile::TempDir,
}

/// The name every mirror's folder starts with.
const MIRROR_PREFIX: &str = "meshbook-state-";

/// The file a mirror's process holds locked while it lives.
const IN_USE: &str = ".in-use";

impl Mirror {
    fn new() -> Result<Mirror, Failure> {
        use std::os::unix::fs::PermissionsExt;
        sweep_mirrors();
        // Private to this user, like a state dir; it holds sealed values and masked logs only.
        let folder = tempfile::Builder::new()
            .prefix(MIRROR_PREFIX)
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()?;
        // Locked before it has its name, so a sweep never finds it unlocked.
        let taking = folder.path().join(".in-use.taking");
        let in_use = std::fs::File::create(&taking)?;
        in_use.lock()?;
        std::fs::rename(&taking, folder.path().join(IN_USE))?;
        let dir = StateDir::new(folder.path());
        fsutil::create_private_dir(&dir.runs_dir())?;
        Ok(Mirror {
            dir,
            _in_use: in_use,
            _folder: folder,
        })
    }
}

/// Removes the mirrors of processes that died without removing theirs (`kill -9`): those whose
/// `.in-use` lock no process holds.
fn sweep_mirrors() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .starts_with(MIRROR_PREFIX)
        {
            continue;
        }
        let Ok(lock) = std::fs::File::open(entry.path().join(IN_USE)) else {
            continue;
        };
        if lock.try_lock().is_ok() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

impl KubeStore {
    /// Connects to the location's context through `kubeconfig` (default: `$KUBECONFIG`, then
    /// `~/.kube/config`).
    pub(crate) fn connect(
        at: &KubeLocation,
        kubeconfig: Option<&Path>,
    ) -> Result<KubeStore, Failure> {
        let timing = Timing::from_env().map_err(Failure::Invalid)?;
        let agent = Agent::connect(kubeconfig, &at.context)
            .map_err(|e| Failure::Invalid(format!("state {at}: {e}")))?;
        Ok(KubeStore {
            at: at.clone(),
            agent: Arc::new(agent),
            me: Me::new(),
            timing,
        })
    }

    /// The location, as the user writes it.
    pub(crate) fn location(&self) -> &KubeLocation {
        &self.at
    }

    fn api_failure(&self, what: String) -> Failure {
        Failure::Other(anyhow::anyhow!("state {}: {what}", self.at))
    }

    /// Every run (or only run `only`) copied to a mirror, and who holds each held lease.
    pub(crate) fn snapshot(
        &self,
        only: Option<&str>,
    ) -> Result<(Mirror, BTreeMap<String, Holder>), Failure> {
        let ns = self.at.namespace.clone();
        let selector = match only {
            Some(id) => format!("{}={id}", names::RUN_LABEL),
            None => names::RUN_LABEL.to_string(),
        };
        let read = self
            .agent
            .call(move |client| async move {
                let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
                let leases: Api<Lease> = Api::namespaced(client, &ns);
                let params = ListParams::default().labels(&selector);
                let s = secrets
                    .list(&params)
                    .await
                    .map_err(|e| api_error("listing runs", &e))?;
                let l = leases
                    .list(&params)
                    .await
                    .map_err(|e| api_error("listing the runs' leases", &e))?;
                Ok::<_, String>((s.items, l.items))
            })
            .unwrap_or_else(|| Err("the state connection ended".into()))
            .map_err(|e| self.api_failure(e))?;
        let (secrets, leases) = read;
        let mut runs: BTreeMap<String, (Option<Secret>, Vec<Secret>)> = BTreeMap::new();
        for secret in secrets {
            let Some(run) = label(&secret.metadata, names::RUN_LABEL) else {
                continue;
            };
            let entry = runs.entry(run).or_default();
            match label(&secret.metadata, names::PART_LABEL).as_deref() {
                Some("run") => entry.0 = Some(secret),
                Some("journal") => entry.1.push(secret),
                _ => {}
            }
        }
        let mirror = Mirror::new()?;
        for (id, (meta, chunks)) in &runs {
            materialize(&mirror.dir, id, meta.as_ref(), chunks)?;
        }
        let now = now_ms();
        let held = leases
            .iter()
            .filter_map(|l| {
                let run = label(&l.metadata, names::RUN_LABEL)?;
                Some((run, lease::holder(l, now)?))
            })
            .collect();
        Ok((mirror, held))
    }

    /// Takes run `id`'s lock without driving it (a cleanup holds the run it cleans up).
    pub(crate) fn hold(&self, id: &str) -> Result<HeldLease, Failure> {
        HeldLease::acquire(&self.agent, &self.at.namespace, id, &self.me, self.timing)
            .map_err(|r| self.refused(id, r))
    }

    fn refused(&self, id: &str, refused: Refused) -> Failure {
        match refused {
            Refused::Held(holder) => StateError::Locked {
                id: id.to_string(),
                holder: Some(holder),
            }
            .into(),
            Refused::Api(e) => self.api_failure(e),
        }
    }

    /// Creates a new run: its lease, then its journal's first chunk, then its description (which
    /// is what makes it a run), and a mirror to drive it from.
    pub(crate) fn create(
        &self,
        meta: RunMeta,
        key: &Sealer,
        runbook: Option<&str>,
    ) -> Result<(Mirror, OpenRun, Remote), Failure> {
        let id = meta.id.clone();
        let lease = self.hold(&id)?;
        let mirror = Mirror::new()?;
        self.mirror_cleaned(&mirror, &meta)?;
        let run = mirror.dir.create(meta)?;
        let journal = std::fs::read(run.dir.journal())?;
        let description = Description {
            run_json: std::fs::read(run.dir.meta())?,
            key: key.clone(),
            runbook: runbook.map(str::to_string),
        };
        let writer = self.start(&id, vec![Item::Journal(journal)], description)?;
        let remote = Remote::new(self, lease, writer, &run)?;
        Ok((mirror, run, remote))
    }

    /// A cleanup's mirror also holds the run it cleans up, whose clusters it expects.
    fn mirror_cleaned(&self, mirror: &Mirror, meta: &RunMeta) -> Result<(), Failure> {
        let RunKind::Cleanup { of } = &meta.kind else {
            return Ok(());
        };
        let (cleaned, _) = self.snapshot(Some(of))?;
        let from = cleaned.dir.run_dir(of);
        let to = mirror.dir.run_dir(of);
        fsutil::create_private_dir(to.path())?;
        if let Ok(bytes) = std::fs::read(from.identities()) {
            std::fs::write(to.identities(), bytes)?;
        }
        Ok(())
    }

    /// Writes a new run's first chunk and then its description.
    fn start(
        &self,
        id: &str,
        items: Vec<Item>,
        description: Description,
    ) -> Result<Writer, Failure> {
        let (ns, run, me) = (
            self.at.namespace.clone(),
            id.to_string(),
            self.me.identity.clone(),
        );
        let description = description.secret(id);
        self.agent
            .call(move |client| async move {
                let writer = Writer::create(client.clone(), &ns, &run, &me, items)
                    .await
                    .map_err(write_error)?;
                create_once(&Api::<Secret>::namespaced(client, &ns), &description).await?;
                Ok::<_, String>(writer)
            })
            .unwrap_or_else(|| Err("the state connection ended".into()))
            .map_err(|e| self.api_failure(e))
    }

    /// Opens run `id` to drive it: takes its lease, fences its journal off from any earlier
    /// holder, and copies it to a mirror, checked as local state is. Returns the run's key too.
    pub(crate) fn open(&self, id: &str) -> Result<(Mirror, OpenRun, Remote, Sealer), Failure> {
        let lease = self.hold(id)?;
        let (ns, run, me) = (
            self.at.namespace.clone(),
            id.to_string(),
            self.me.identity.clone(),
        );
        let read = self
            .agent
            .call(move |client| async move {
                let description = Api::<Secret>::namespaced(client.clone(), &ns)
                    .get_opt(&names::run(&run))
                    .await
                    .map_err(|e| api_error("reading the run's description", &e))?;
                let (writer, chunks) = Writer::fence(client, &ns, &run, &me)
                    .await
                    .map_err(write_error)?;
                Ok::<_, String>((description, writer, chunks))
            })
            .unwrap_or_else(|| Err("the state connection ended".into()))
            .map_err(|e| self.api_failure(e))?;
        let (description, writer, chunks) = read;
        if description.is_none() && chunks.is_empty() {
            return Err(StateError::NoSuchRun {
                id: id.to_string(),
                dir: self.at.to_string().into(),
            }
            .into());
        }
        let key = description.as_ref().and_then(key_in);
        let mirror = Mirror::new()?;
        materialize(&mirror.dir, id, description.as_ref(), &chunks)?;
        let run = mirror.dir.open(id)?;
        self.mirror_cleaned(&mirror, &run.meta)?;
        let Some(key) = key else {
            return Err(Failure::Damaged(format!(
                "run {id} in {}: its description holds no secrets key",
                self.at
            )));
        };
        let remote = Remote::new(self, lease, writer, &run)?;
        Ok((mirror, run, remote, key))
    }

    /// Copies run `id` from the run directory `source` (checked already) into this namespace as
    /// a new run with the same id, its secrets sealed with `key`.
    pub(crate) fn import(&self, id: &str, source: &RunDir, key: &Sealer) -> Result<(), Failure> {
        let (mirror, _) = self.snapshot(Some(id))?;
        if !mirror.dir.list()?.is_empty() {
            return Err(StateError::Exists {
                id: id.to_string(),
                dir: self.at.to_string().into(),
            }
            .into());
        }
        let _lease = self.hold(id)?;
        let mut items = Vec::new();
        if let Ok(bytes) = std::fs::read(source.identities()) {
            items.push(Item::Clusters(bytes));
        }
        if let Ok(logs) = std::fs::read_dir(source.logs()) {
            for log in logs.flatten() {
                if let (Some(name), Ok(bytes)) =
                    (log.file_name().to_str(), std::fs::read(log.path()))
                {
                    items.push(Item::Log(name.to_string(), log_tail(bytes)));
                }
            }
        }
        items.push(Item::Journal(std::fs::read(source.journal())?));
        let description = Description {
            run_json: std::fs::read(source.meta())?,
            key: key.clone(),
            runbook: std::fs::read_to_string(source.runbook()).ok(),
        };
        self.start(id, items, description)?;
        Ok(())
    }

    /// The secrets key of run `id`.
    pub(crate) fn key_of(&self, id: &str) -> Result<Sealer, Failure> {
        let (ns, name) = (self.at.namespace.clone(), names::run(id));
        let description = self
            .agent
            .call(move |client| async move {
                Api::<Secret>::namespaced(client, &ns)
                    .get_opt(&name)
                    .await
                    .map_err(|e| api_error("reading the run's description", &e))
            })
            .unwrap_or_else(|| Err("the state connection ended".into()))
            .map_err(|e| self.api_failure(e))?;
        let Some(description) = description else {
            return Err(StateError::NoSuchRun {
                id: id.to_string(),
                dir: self.at.to_string().into(),
            }
            .into());
        };
        key_in(&description).ok_or_else(|| {
            Failure::Damaged(format!(
                "run {id} in {}: its description holds no secrets key",
                self.at
            ))
        })
    }
}

/// What the run's description Secret holds.
struct Description {
    /// `run.json`, byte for byte (the journal's header binds its digest).
    run_json: Vec<u8>,
    /// The run's own secrets key.
    key: Sealer,
    /// The runbook file's text, for machines that lack the file.
    runbook: Option<String>,
}

impl Description {
    fn secret(self, id: &str) -> Secret {
        let mut data: BTreeMap<String, ByteString> = [
            ("run.json".to_string(), ByteString(self.run_json)),
            ("key".to_string(), ByteString(self.key.to_bytes().to_vec())),
        ]
        .into();
        if let Some(text) = self.runbook {
            data.insert("runbook.yaml".to_string(), ByteString(text.into_bytes()));
        }
        Secret {
            metadata: ObjectMeta {
                name: Some(names::run(id)),
                labels: Some(labels(id, "run")),
                ..ObjectMeta::default()
            },
            type_: Some(names::SECRET_TYPE.to_string()),
            data: Some(data),
            ..Secret::default()
        }
    }
}

fn key_in(description: &Secret) -> Option<Sealer> {
    let key = description.data.as_ref()?.get("key")?;
    <[u8; 32]>::try_from(key.0.as_slice())
        .ok()
        .map(Sealer::from_key)
}

/// Creates `secret`, which no one else writes: a create whose answer was lost is found by reading
/// it back.
async fn create_once(api: &Api<Secret>, secret: &Secret) -> Result<(), String> {
    let name = secret.metadata.name.clone().unwrap_or_default();
    let mut last = String::new();
    for attempt in 0..8u32 {
        if attempt > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(100 << attempt.min(3))).await;
        }
        match api.create(&PostParams::default(), secret).await {
            Ok(_) => return Ok(()),
            Err(kube::Error::Api(s)) if s.is_already_exists() => {
                return match api.get_opt(&name).await {
                    Ok(Some(found)) if found.data == secret.data => Ok(()),
                    Ok(_) => Err(format!("{name} exists already, and is not this run's")),
                    Err(e) => Err(api_error("reading the run's description", &e)),
                };
            }
            Err(e) => {
                last = api_error("writing the run's description", &e);
                if !transient(&e) {
                    break;
                }
            }
        }
    }
    Err(last)
}

fn write_error(e: WriteError) -> String {
    match e {
        WriteError::Lost(why) | WriteError::Api(why) => why,
    }
}

fn label(meta: &ObjectMeta, key: &str) -> Option<String> {
    meta.labels.as_ref()?.get(key).cloned()
}

/// Writes run `id` as its objects hold it into `dir`, laid out as local state.
fn materialize(
    dir: &StateDir,
    id: &str,
    description: Option<&Secret>,
    chunks: &[Secret],
) -> Result<(), Failure> {
    let run = dir.run_dir(id);
    fsutil::create_private_dir(&run.logs())?;
    let data = description.and_then(|d| d.data.as_ref());
    if let Some(text) = data.and_then(|d| d.get("run.json")) {
        std::fs::write(run.meta(), &text.0)?;
    }
    if let Some(text) = data.and_then(|d| d.get("runbook.yaml")) {
        std::fs::write(run.runbook(), &text.0)?;
    }
    let assembled = chunks::assemble(chunks);
    if !assembled.journal.is_empty() {
        std::fs::write(run.journal(), &assembled.journal)?;
    }
    for (name, bytes) in &assembled.logs {
        // Names come from the cluster: only plain file names are written.
        if !name.contains('/') && !name.starts_with('.') {
            std::fs::write(run.logs().join(name), bytes)?;
        }
    }
    if let Some(bytes) = &assembled.clusters {
        std::fs::write(run.identities(), bytes)?;
    }
    Ok(())
}

/// How much of a step's log the cluster keeps: its end, where the failure usually is.
const LOG_TAIL: usize = 64 * 1024;

fn log_tail(bytes: Vec<u8>) -> Vec<u8> {
    if bytes.len() <= LOG_TAIL {
        return bytes;
    }
    let cut = bytes.len() - LOG_TAIL;
    // From the next line start, so the kept part begins with a whole line.
    let start = bytes[cut..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(cut, |p| cut + p + 1);
    let mut kept =
        format!("[meshbook: the first {start} bytes of this log are not kept]\n").into_bytes();
    kept.extend_from_slice(&bytes[start..]);
    kept
}

/// The cluster end of a run being driven: every sync of the mirror's journal is pushed, with the
/// logs of the steps that ended and the clusters' identities, while the lease is held.
pub(crate) struct Remote {
    agent: Arc<Agent>,
    lease: HeldLease,
    writer: Option<Writer>,
    dir: RunDir,
    run: String,
    /// How much of the mirror's journal the cluster has.
    pushed: u64,
    /// Steps whose logs changed since the last push.
    logs: BTreeSet<String>,
    /// The identities last pushed.
    clusters: Option<Vec<u8>>,
}

impl Remote {
    /// The cluster end of `run`, whose mirror's journal the cluster holds whole.
    fn new(
        store: &KubeStore,
        lease: HeldLease,
        writer: Writer,
        run: &OpenRun,
    ) -> std::io::Result<Remote> {
        Ok(Remote {
            agent: store.agent.clone(),
            lease,
            writer: Some(writer),
            dir: run.dir.clone(),
            run: run.meta.id.clone(),
            pushed: std::fs::metadata(run.dir.journal())?.len(),
            logs: BTreeSet::new(),
            clusters: std::fs::read(run.dir.identities()).ok(),
        })
    }

    /// Fires when the lease is lost, so the run can stop starting steps at once.
    pub(crate) fn lost_signal(&self) -> tokio_util::sync::CancellationToken {
        self.lease.lost_signal()
    }

    /// Notes what an event changed besides the journal.
    pub(crate) fn note(&mut self, event: &RunEvent) {
        if let RunEvent::AttemptFailed { step, .. }
        | RunEvent::StepSucceeded { step, .. }
        | RunEvent::StepFailed { step, .. }
        | RunEvent::StepInterrupted { step, .. } = event
        {
            self.logs.insert(step.clone());
        }
    }

    /// Pushes what the mirror's journal gained since the last push, with the logs and
    /// identities it records, as long as the lease is held.
    pub(crate) fn push(&mut self) -> std::io::Result<()> {
        self.lease.check().map_err(std::io::Error::other)?;
        let mut journal = Vec::new();
        let mut file = std::fs::File::open(self.dir.journal())?;
        file.seek(SeekFrom::Start(self.pushed))?;
        file.read_to_end(&mut journal)?;
        let clusters = std::fs::read(self.dir.identities()).ok();
        let mut items = Vec::new();
        for step in &self.logs {
            let path = self.dir.log(step);
            if let (Some(name), Ok(bytes)) = (
                path.file_name().and_then(|n| n.to_str()),
                std::fs::read(&path),
            ) {
                items.push(Item::Log(name.to_string(), log_tail(bytes)));
            }
        }
        if let Some(bytes) = clusters
            .as_ref()
            .filter(|c| Some(*c) != self.clusters.as_ref())
        {
            items.push(Item::Clusters(bytes.clone()));
        }
        if !journal.is_empty() {
            items.push(Item::Journal(journal.clone()));
        }
        if items.is_empty() {
            return Ok(());
        }
        let Some(mut writer) = self.writer.take() else {
            return Err(std::io::Error::other(Lost {
                run: self.run.clone(),
                why: "an earlier write was refused".into(),
            }));
        };
        let (writer, result) = self
            .agent
            .call(move |client| async move {
                let result = writer.append(client, items).await;
                (writer, result)
            })
            .ok_or_else(|| std::io::Error::other("the state connection ended"))?;
        match result {
            Ok(()) => {
                self.writer = Some(writer);
                self.pushed += journal.len() as u64;
                self.logs.clear();
                self.clusters = clusters;
                Ok(())
            }
            Err(WriteError::Lost(why)) => {
                self.lease.lose(why.clone());
                Err(std::io::Error::other(Lost {
                    run: self.run.clone(),
                    why,
                }))
            }
            Err(WriteError::Api(why)) => {
                // Tried again at the next sync: the writer reads back what landed.
                self.writer = Some(writer);
                Err(std::io::Error::other(why))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_log_keeps_its_end_from_a_line_start() {
        let mut log = Vec::new();
        for i in 0..20_000 {
            log.extend(format!("line {i}\n").into_bytes());
        }
        let kept = log_tail(log.clone());
        let text = String::from_utf8(kept.clone()).unwrap();
        assert!(kept.len() <= LOG_TAIL + 80, "{}", kept.len());
        assert!(text.starts_with("[meshbook: the first "), "{}", &text[..60]);
        let second = text.lines().nth(1).unwrap();
        assert!(second.starts_with("line "), "{second}");
        assert!(text.ends_with("line 19999\n"));
        assert_eq!(log_tail(b"short\n".to_vec()), b"short\n");
    }
}
