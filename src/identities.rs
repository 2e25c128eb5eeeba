//! Which cluster each kubeconfig context pointed at, kept with the run: a resumed run refuses a
//! context that now points at another cluster (identity = the `kube-system` namespace UID).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use indexmap::IndexMap;
use meshbook_engine::run::executor::{BoxFuture, Done, Executor, StepFailure, StepRequest};
use meshbook_engine::state::fsutil;
use meshbook_steps::kube::Clients;

/// Reads identities recorded by an earlier invocation (none when the file is missing).
pub(crate) fn load(path: &Path) -> IndexMap<String, String> {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

/// Runs kube steps and records the identity of every cluster they reach, as soon as it is known.
pub(crate) struct Recorder {
    inner: Arc<dyn Executor>,
    clients: Arc<Clients>,
    path: PathBuf,
    written: Mutex<IndexMap<String, String>>,
}

impl Recorder {
    /// Records into `path`, starting from what it already holds.
    pub(crate) fn new(inner: Arc<dyn Executor>, clients: Arc<Clients>, path: PathBuf) -> Recorder {
        let written = Mutex::new(load(&path));
        Recorder {
            inner,
            clients,
            path,
            written,
        }
    }

    async fn record(&self) -> Result<(), StepFailure> {
        let seen = self.clients.identities().await;
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let before = written.len();
        for (ctx, id) in seen {
            written.entry(ctx).or_insert(id);
        }
        if written.len() == before {
            return Ok(());
        }
        let text = serde_json::to_string_pretty(&*written).map_err(std::io::Error::other);
        text.and_then(|text| write_private(&self.path, &text))
            .map_err(|e| {
                StepFailure::transient(format!(
                    "failed to record cluster identities in {}: {e}",
                    self.path.display()
                ))
            })
    }
}

impl Executor for Recorder {
    fn execute(&self, request: StepRequest) -> BoxFuture<'_, Result<Done, StepFailure>> {
        Box::pin(async move {
            let result = self.inner.execute(request).await;
            self.record().await?;
            result
        })
    }
}

/// Writes `text` to `path` atomically, readable by the owner only, creating its folder.
pub(crate) fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        fsutil::create_private_dir(dir)?;
    }
    fsutil::atomic_write(path, text.as_bytes())
}
