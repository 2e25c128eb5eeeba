//! Where commands find runs: a state dir on this machine, or a namespace on a cluster
//! ([`crate::kstate`]). Both give the same things: a view of the runs to list and show, a run
//! opened to drive under its lock, and the run's secrets key.

use std::collections::BTreeMap;
use std::path::Path;

use meshbook_engine::events::{EventSink, RunEvent};
use meshbook_engine::state::RunDir;
use meshbook_engine::state::journal::Entry;
use meshbook_engine::state::lock::Holder;
use meshbook_engine::state::secrets::{Sealer, default_key_path};
use meshbook_engine::state::store::{OpenRun, RunMeta, StateDir, StateError};

use crate::failure::Failure;
use crate::kstate::{HeldLease, KubeStore, Mirror, Remote};
use crate::location::Location;

/// A state location, reachable.
pub(crate) enum Store {
    /// A state dir.
    Local(StateDir),
    /// A namespace on a cluster.
    Kube(KubeStore),
}

/// The key that seals a run's secrets: the run's own, or (for rehearsals and runs made before
/// runs had keys) the user's.
pub(crate) struct RunKey {
    /// The key.
    pub(crate) sealer: Sealer,
    /// Whether it is the run's own key, which may travel with the run.
    own: bool,
    /// The run's own key sealed with the user's, as a state dir keeps it.
    wrapped: Option<String>,
}

/// The user's key, which seals the secrets of runs kept on this machine (and their own keys).
pub(crate) fn user_key() -> Result<Sealer, Failure> {
    Ok(Sealer::load_or_create(&default_key_path()?)?)
}

impl RunKey {
    /// Whether it is the run's own key.
    pub(crate) fn own(&self) -> bool {
        self.own
    }
}

impl Store {
    /// The store at `location`; a cluster's through `kubeconfig` (default: `$KUBECONFIG`, then
    /// `~/.kube/config`).
    pub(crate) fn at(location: &Location, kubeconfig: Option<&Path>) -> Result<Store, Failure> {
        Ok(match location {
            Location::Dir(dir) => Store::Local(StateDir::new(dir)),
            Location::Kube(at) => Store::Kube(KubeStore::connect(at, kubeconfig)?),
        })
    }

    /// Where the runs are, as the user would write it.
    pub(crate) fn place(&self) -> String {
        match self {
            Store::Local(dir) => dir.runs_dir().display().to_string(),
            Store::Kube(k) => k.location().to_string(),
        }
    }

    /// The runs (or only run `only`) as they are now.
    pub(crate) fn view(&self, only: Option<&str>) -> Result<View, Failure> {
        Ok(match self {
            Store::Local(dir) => View::local(dir.clone()),
            Store::Kube(k) => {
                let (mirror, leases) = k.snapshot(only)?;
                View {
                    dir: mirror.dir.clone(),
                    leases: Some(leases),
                    place: self.place(),
                    _mirror: Some(mirror),
                }
            }
        })
    }

    /// A key for a new run. A rehearsal kept on this machine seals with the user's key, which its
    /// simulated clusters' credentials are derived from; any other run gets a key of its own, so
    /// it can be copied between locations without the user's key.
    pub(crate) fn new_key(&self, rehearsal: bool) -> Result<RunKey, Failure> {
        let user = match self {
            Store::Local(_) => Some(user_key()?),
            Store::Kube(_) => None,
        };
        Ok(match (user, rehearsal) {
            (Some(user), true) => RunKey {
                sealer: user,
                own: false,
                wrapped: None,
            },
            (user, _) => {
                let sealer = Sealer::generate();
                RunKey {
                    wrapped: user.map(|u| u.wrap(&sealer)),
                    own: true,
                    sealer,
                }
            }
        })
    }

    /// The key of run `id` (for a cleanup, which seals with the key of the run it cleans up).
    pub(crate) fn key_of(&self, id: &str) -> Result<RunKey, Failure> {
        match self {
            Store::Local(dir) => {
                let user = user_key()?;
                match dir.wrapped_key(id)? {
                    Some(wrapped) => Ok(RunKey {
                        sealer: unwrap(&user, &wrapped, id)?,
                        own: true,
                        wrapped: Some(wrapped),
                    }),
                    None if dir.read_meta(id)?.own_key => Err(Failure::Damaged(format!(
                        "{}: missing: the run's secrets were sealed with a key of its own, kept there",
                        dir.run_dir(id).key().display()
                    ))),
                    None => Ok(RunKey {
                        sealer: user,
                        own: false,
                        wrapped: None,
                    }),
                }
            }
            Store::Kube(k) => Ok(RunKey {
                sealer: k.key_of(id)?,
                own: true,
                wrapped: None,
            }),
        }
    }

    /// Creates a run described by `meta`, sealed with `key`, and opens it to drive.
    /// A cluster also keeps `runbook` (the text of a runbook file), so the run can be resumed
    /// where that file is not.
    pub(crate) fn create(
        &self,
        meta: RunMeta,
        key: RunKey,
        runbook: Option<&str>,
    ) -> Result<Driven, Failure> {
        Ok(match self {
            Store::Local(dir) => Driven {
                run: dir.create_keyed(meta, key.wrapped.as_deref())?,
                sealer: key.sealer,
                remote: None,
                _mirror: None,
            },
            Store::Kube(k) => {
                let (mirror, run, remote) = k.create(meta, &key.sealer, runbook)?;
                Driven {
                    run,
                    sealer: key.sealer,
                    remote: Some(remote),
                    _mirror: Some(mirror),
                }
            }
        })
    }

    /// Opens run `id` to drive it, under its lock.
    pub(crate) fn open(&self, id: &str) -> Result<Driven, Failure> {
        Ok(match self {
            Store::Local(dir) => {
                let run = dir.open(id)?;
                let sealer = self.key_of(id)?.sealer;
                Driven {
                    run,
                    sealer,
                    remote: None,
                    _mirror: None,
                }
            }
            Store::Kube(k) => {
                let (mirror, run, remote, sealer) = k.open(id)?;
                Driven {
                    run,
                    sealer,
                    remote: Some(remote),
                    _mirror: Some(mirror),
                }
            }
        })
    }

    /// Copies run `id` from `source` (a run directory, checked already) into this store, with
    /// its key.
    pub(crate) fn import(&self, id: &str, source: &RunDir, key: &RunKey) -> Result<(), Failure> {
        match self {
            Store::Local(dir) => {
                let wrapped = match (&key.wrapped, key.own) {
                    (Some(w), _) => Some(w.clone()),
                    (None, true) => Some(user_key()?.wrap(&key.sealer)),
                    (None, false) => None,
                };
                Ok(dir.import(id, source, wrapped.as_deref())?)
            }
            Store::Kube(k) if !key.own => Err(Failure::Invalid(format!(
                "run {id} seals its secrets with this machine's own key (it was made before runs had keys of their own): copying it would put that key on the cluster; start a new run there instead"
            ))),
            Store::Kube(k) => k.import(id, source, &key.sealer),
        }
    }

    /// Takes run `id`'s lock without driving it, until the guard is dropped.
    pub(crate) fn hold(&self, id: &str) -> Result<Hold, Failure> {
        Ok(match self {
            Store::Local(dir) => Hold::File(dir.hold(id)?),
            Store::Kube(k) => Hold::Lease(k.hold(id)?),
        })
    }

    /// The flag that names this store in a command the user is told to run.
    pub(crate) fn flag(&self) -> String {
        match self {
            Store::Local(dir) if dir.runs_dir() == StateDir::new(".meshbook").runs_dir() => {
                String::new()
            }
            Store::Local(dir) => format!(
                " --state-dir {}",
                dir.runs_dir().parent().unwrap_or(Path::new(".")).display()
            ),
            Store::Kube(k) => format!(" --state {}", k.location()),
        }
    }
}

fn unwrap(user: &Sealer, wrapped: &str, id: &str) -> Result<Sealer, Failure> {
    user.unwrap(wrapped).map_err(|_| {
        Failure::Invalid(format!(
            "run {id}'s own key cannot be opened with the current secrets key (MESHBOOK_KEY_FILE, $XDG_CONFIG_HOME/meshbook/key or ~/.config/meshbook/key)"
        ))
    })
}

/// A lock held without driving the run.
pub(crate) enum Hold {
    /// A state dir's lock file.
    File(#[allow(dead_code)] std::fs::File),
    /// A cluster's lease.
    Lease(#[allow(dead_code)] HeldLease),
}

/// The runs of a store as they were read, to list and show.
pub(crate) struct View {
    dir: StateDir,
    /// For a cluster: who holds each held lease.
    leases: Option<BTreeMap<String, Holder>>,
    place: String,
    _mirror: Option<Mirror>,
}

impl View {
    /// The runs of a state dir.
    pub(crate) fn local(dir: StateDir) -> View {
        View {
            place: dir.runs_dir().display().to_string(),
            dir,
            leases: None,
            _mirror: None,
        }
    }

    /// Where the runs are, as the user would write it.
    pub(crate) fn place(&self) -> &str {
        &self.place
    }

    /// Every run's id, oldest first.
    pub(crate) fn list(&self) -> Result<Vec<String>, StateError> {
        self.dir.list()
    }

    /// What run `id` is.
    pub(crate) fn read_meta(&self, id: &str) -> Result<RunMeta, StateError> {
        self.dir.read_meta(id).map_err(|e| self.placed(e))
    }

    /// Run `id`'s events, checked against its description.
    pub(crate) fn history(&self, id: &str) -> Result<Vec<Entry>, StateError> {
        self.dir.history(id).map_err(|e| self.placed(e))
    }

    /// A missing run is said to be missing from the store, not from a mirror of it.
    fn placed(&self, e: StateError) -> StateError {
        match (e, &self.leases) {
            (StateError::NoSuchRun { id, .. }, Some(_)) => StateError::NoSuchRun {
                id,
                dir: self.place.clone().into(),
            },
            (e, _) => e,
        }
    }

    /// Run `id`'s files (of the mirror, for a cluster).
    pub(crate) fn run_dir(&self, id: &str) -> RunDir {
        self.dir.run_dir(id)
    }

    /// True while some process drives run `id`.
    pub(crate) fn is_active(&self, id: &str) -> bool {
        match &self.leases {
            Some(leases) => leases.contains_key(id),
            None => self.dir.is_active(id),
        }
    }

    /// The refusal a command gets for run `id` while another process drives it.
    pub(crate) fn locked(&self, id: &str) -> Option<StateError> {
        match &self.leases {
            Some(leases) => leases.get(id).map(|h| StateError::Locked {
                id: id.to_string(),
                holder: Some(h.clone()),
            }),
            None => self.dir.locked(id),
        }
    }
}

/// A run opened to drive: its (local or mirrored) run under its lock, the key of its secrets,
/// and for a cluster the end that pushes every sync there.
pub(crate) struct Driven {
    /// The run, on this machine.
    pub(crate) run: OpenRun,
    /// The key that seals its secrets.
    pub(crate) sealer: Sealer,
    remote: Option<Remote>,
    _mirror: Option<Mirror>,
}

impl Driven {
    /// The run's events so far, read back.
    pub(crate) fn history(&self) -> Result<Vec<Entry>, StateError> {
        let root = self
            .run
            .dir
            .path()
            .parent()
            .and_then(Path::parent)
            .unwrap_or(Path::new("."));
        StateDir::new(root).history(&self.run.meta.id)
    }

    /// Fires when another process takes the run over (never, for a state dir).
    pub(crate) fn lost_signal(&self) -> Option<tokio_util::sync::CancellationToken> {
        self.remote.as_ref().map(Remote::lost_signal)
    }
}

impl EventSink for Driven {
    fn event(&mut self, event: &RunEvent) -> std::io::Result<()> {
        self.run.journal.event(event)?;
        if let Some(remote) = &mut self.remote {
            remote.note(event);
        }
        Ok(())
    }

    fn sync(&mut self) -> std::io::Result<()> {
        match &mut self.remote {
            // The cluster keeps the run: a record is durable once pushed there (the push reads
            // the mirror's journal back, which needs no sync), and a mirror left by a crash is
            // swept, never resumed from.
            Some(remote) => {
                self.run.journal.durable_elsewhere();
                remote.push()
            }
            None => EventSink::sync(&mut self.run.journal),
        }
    }
}
