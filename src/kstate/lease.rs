//! A run's lock on the Kubernetes API: a `coordination.k8s.io/v1` Lease per run, held by one
//! meshbook process (host, pid and a nonce of its own) and renewed in the background. It heals
//! by itself: a holder that dies stops renewing, and once `renewTime + leaseDurationSeconds` has
//! passed the next driver takes it over with a conditional update; no one has to break it.
//!
//! The holder stops writing as soon as it cannot be sure it still holds the lease: when a renewal
//! finds it taken over, or when the lease's end passed before a renewal got through (the process
//! was paused, the laptop suspended, the cluster unreachable). The journal's writes are fenced as
//! well (see `chunks`), so a holder that believes it still holds a lease it lost cannot write.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Api;
use kube::api::{DeleteParams, PostParams, Preconditions};
use meshbook_engine::state::journal::now_ms;
use meshbook_engine::state::lock::Holder;
use tokio_util::sync::CancellationToken;

use super::agent::Agent;
use super::{Lost, api_error, labels, names};

/// How long a lease lasts unless renewed, and how often it is renewed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Timing {
    /// `leaseDurationSeconds`.
    pub(crate) duration: Duration,
    /// The time between renewals: a third of the duration, so two may fail before it lapses.
    pub(crate) renew_every: Duration,
}

/// The lease duration when `MESHBOOK_LEASE_DURATION` does not say otherwise.
const DEFAULT_DURATION: Duration = Duration::from_secs(15);

/// How long before the lease's end the holder stops trusting it (a fifth of the duration, at
/// most this): requests take time to arrive, and the next driver's clock may run ahead.
const MARGIN_MS: u64 = 1000;

impl Timing {
    /// From `MESHBOOK_LEASE_DURATION` (`15s` by default; whole seconds, at least 2).
    pub(crate) fn from_env() -> Result<Timing, String> {
        let duration = match std::env::var("MESHBOOK_LEASE_DURATION") {
            Ok(text) if !text.is_empty() => meshbook_engine::model::Duration::parse(&text)
                .map(|d| d.get())
                .map_err(|e| format!("MESHBOOK_LEASE_DURATION: {e}"))?,
            _ => DEFAULT_DURATION,
        };
        if duration < Duration::from_secs(2) || duration.subsec_nanos() != 0 {
            return Err(format!(
                "MESHBOOK_LEASE_DURATION: {duration:?}: a lease lasts whole seconds, at least 2s"
            ));
        }
        Ok(Timing {
            duration,
            renew_every: duration / 3,
        })
    }

    fn seconds(&self) -> i32 {
        self.duration.as_secs().min(i32::MAX as u64) as i32
    }
}

/// This process, as a lease holder.
#[derive(Clone, Debug)]
pub(crate) struct Me {
    /// `holderIdentity`: host, pid and a nonce, unique to this process.
    pub(crate) identity: String,
    host: String,
    pid: u32,
}

impl Me {
    /// This process.
    pub(crate) fn new() -> Me {
        let host = meshbook_engine::state::lock::hostname();
        let pid = std::process::id();
        Me {
            identity: format!("{host}/{pid}/{:08x}", rand::random::<u32>()),
            host,
            pid,
        }
    }
}

/// Why a lease was not taken.
pub(crate) enum Refused {
    /// Another process holds it.
    Held(Holder),
    /// The API server could not be asked.
    Api(String),
}

/// A lease this process holds, renewed until dropped (then released, so the next driver need
/// not wait for it to lapse).
pub(crate) struct HeldLease {
    agent: Arc<Agent>,
    namespace: String,
    run: String,
    shared: Arc<Shared>,
    stop: CancellationToken,
}

struct Shared {
    /// Set once the lease is lost, with why; never cleared.
    lost: Mutex<Option<String>>,
    /// When the last renewal that got through was sent, ms since the epoch.
    renewed_ms: AtomicU64,
    /// The lease as last written, with its resourceVersion.
    lease: Mutex<Lease>,
    timing: Timing,
    /// Cancelled when the lease is lost.
    lost_signal: CancellationToken,
}

impl Shared {
    fn lose(&self, why: String) {
        let mut lost = self.lost.lock().unwrap_or_else(|e| e.into_inner());
        lost.get_or_insert(why);
        self.lost_signal.cancel();
    }

    fn check(&self, run: &str) -> Result<(), Lost> {
        let lost = |why: String| Lost {
            run: run.to_string(),
            why,
        };
        if let Some(why) = self.lost.lock().unwrap_or_else(|e| e.into_inner()).clone() {
            return Err(lost(why));
        }
        let renewed = self.renewed_ms.load(Ordering::SeqCst);
        let end = renewed + self.timing.duration.as_millis() as u64;
        let margin = MARGIN_MS.min(self.timing.duration.as_millis() as u64 / 5);
        if now_ms() + margin >= end {
            let why = format!(
                "its lease was last renewed at {} and lapsed at {} (was this process paused, or the cluster out of reach?)",
                meshbook_engine::state::lock::utc(renewed),
                meshbook_engine::state::lock::utc(end)
            );
            self.lose(why.clone());
            return Err(lost(why));
        }
        Ok(())
    }
}

impl HeldLease {
    /// Takes run `run`'s lease in `namespace`: creates it, or takes it over once its holder let it
    /// lapse; refused while another process holds it.
    pub(crate) fn acquire(
        agent: &Arc<Agent>,
        namespace: &str,
        run: &str,
        me: &Me,
        timing: Timing,
    ) -> Result<HeldLease, Refused> {
        let (ns, id, me2) = (namespace.to_string(), run.to_string(), me.clone());
        let taken = agent
            .call(move |client| async move { take(client, &ns, &id, &me2, timing).await })
            .unwrap_or_else(|| Err(Refused::Api("the state connection ended".into())))?;
        let (lease, sent) = taken;
        let shared = Arc::new(Shared {
            lost: Mutex::new(None),
            renewed_ms: AtomicU64::new(sent),
            lease: Mutex::new(lease),
            timing,
            lost_signal: CancellationToken::new(),
        });
        let stop = CancellationToken::new();
        let (ns, run2, me2, shared2, stop2) = (
            namespace.to_string(),
            run.to_string(),
            me.clone(),
            shared.clone(),
            stop.clone(),
        );
        agent
            .spawn(move |client| async move { renew(client, ns, run2, me2, shared2, stop2).await });
        Ok(HeldLease {
            agent: agent.clone(),
            namespace: namespace.to_string(),
            run: run.to_string(),
            shared,
            stop,
        })
    }

    /// Whether this process may still write for the run: the lease is neither lost nor at its end.
    pub(crate) fn check(&self) -> Result<(), Lost> {
        self.shared.check(&self.run)
    }

    /// Fires when the lease is lost.
    pub(crate) fn lost_signal(&self) -> CancellationToken {
        self.shared.lost_signal.clone()
    }

    /// Marks the lease lost: a fenced write found another holder.
    pub(crate) fn lose(&self, why: String) {
        self.shared.lose(why);
    }
}

impl Drop for HeldLease {
    fn drop(&mut self) {
        self.stop.cancel();
        if self.check().is_err() {
            return;
        }
        // Released only if it is still the lease this process wrote: a taker's is left alone.
        let rv = self
            .shared
            .lease
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .metadata
            .resource_version
            .clone();
        let (ns, name) = (self.namespace.clone(), names::lease(&self.run));
        self.agent.call(move |client| async move {
            let api: Api<Lease> = Api::namespaced(client, &ns);
            let params = DeleteParams {
                preconditions: Some(Preconditions {
                    resource_version: rv,
                    uid: None,
                }),
                ..DeleteParams::default()
            };
            let _ = api.delete(&name, &params).await;
        });
    }
}

/// Creates the lease or takes over a lapsed one; returns it as written and when it was sent.
async fn take(
    client: kube::Client,
    namespace: &str,
    run: &str,
    me: &Me,
    timing: Timing,
) -> Result<(Lease, u64), Refused> {
    let api: Api<Lease> = Api::namespaced(client, namespace);
    let name = names::lease(run);
    // A few rounds: another process may create or take it between our read and our write, and
    // a write whose answer is lost is found out by the next read (the lease names this process).
    let mut last = String::new();
    for round in 0..8 {
        if round > 0 {
            tokio::time::sleep(Duration::from_millis(100 << round.min(3))).await;
        }
        let now = now_ms();
        let current = match api.get_opt(&name).await {
            Ok(current) => current,
            Err(e) => {
                last = api_error("reading the run's lease", &e);
                if !super::transient(&e) {
                    break;
                }
                continue;
            }
        };
        let Some(mut lease) = current else {
            let fresh = Lease {
                metadata: ObjectMeta {
                    name: Some(name.clone()),
                    labels: Some(labels(run, "lease")),
                    annotations: Some(holder_annotations(me, run)),
                    ..ObjectMeta::default()
                },
                spec: Some(spec(me, timing, now, now, 0)),
            };
            match api.create(&PostParams::default(), &fresh).await {
                Ok(lease) => return Ok((lease, now)),
                Err(kube::Error::Api(s)) if s.is_already_exists() => {}
                Err(e) => {
                    last = api_error("creating the run's lease", &e);
                    if !super::transient(&e) {
                        break;
                    }
                }
            }
            continue;
        };
        if held_by(&lease, me) {
            // Our own write, whose answer was lost.
            let renewed = lease.spec.as_ref().and_then(|s| s.renew_time.as_ref());
            let sent = renewed.map_or(now, millis);
            return Ok((lease, sent));
        }
        if let Some(holder) = holder(&lease, now) {
            return Err(Refused::Held(holder));
        }
        let transitions = lease
            .spec
            .as_ref()
            .and_then(|s| s.lease_transitions)
            .unwrap_or(0);
        lease.spec = Some(spec(me, timing, now, now, transitions + 1));
        lease.metadata.annotations = Some(holder_annotations(me, run));
        // The resourceVersion read above makes the takeover conditional: of two processes
        // taking over at once, one gets a conflict and reads again.
        match api.replace(&name, &PostParams::default(), &lease).await {
            Ok(lease) => return Ok((lease, now)),
            Err(kube::Error::Api(s)) if s.is_conflict() || s.is_not_found() => {}
            Err(e) => {
                last = api_error("taking over the run's lease", &e);
                if !super::transient(&e) {
                    break;
                }
            }
        }
    }
    Err(Refused::Api(match last.is_empty() {
        true => "the run's lease changed hands eight times while it was being taken".into(),
        false => last,
    }))
}

/// Whether this process holds `lease` (by its identity, whatever the time).
fn held_by(lease: &Lease, me: &Me) -> bool {
    lease
        .spec
        .as_ref()
        .and_then(|s| s.holder_identity.as_deref())
        == Some(me.identity.as_str())
}

/// Renews the lease every `renew_every` until stopped or lost.
async fn renew(
    client: kube::Client,
    namespace: String,
    run: String,
    me: Me,
    shared: Arc<Shared>,
    stop: CancellationToken,
) {
    let api: Api<Lease> = Api::namespaced(client, &namespace);
    let name = names::lease(&run);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(shared.timing.renew_every) => {}
        }
        if shared.check(&run).is_err() {
            return;
        }
        let sent = now_ms();
        let mut lease = shared
            .lease
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(spec) = lease.spec.as_mut() {
            spec.renew_time = Some(micro(sent));
        }
        match api.replace(&name, &PostParams::default(), &lease).await {
            Ok(written) => {
                // A renewal that arrives after the lease's end is not trusted: another process
                // may have read it as lapsed meanwhile.
                if shared.check(&run).is_ok() {
                    *shared.lease.lock().unwrap_or_else(|e| e.into_inner()) = written;
                    shared.renewed_ms.store(sent, Ordering::SeqCst);
                }
            }
            Err(kube::Error::Api(s)) if s.is_conflict() || s.is_not_found() => {
                let current = match api.get_opt(&name).await {
                    Ok(current) => current,
                    // Read again at the next renewal.
                    Err(_) => continue,
                };
                match current {
                    // An earlier renewal landed without its answer: go on from it.
                    Some(lease) if held_by(&lease, &me) => {
                        *shared.lease.lock().unwrap_or_else(|e| e.into_inner()) = lease;
                    }
                    other => {
                        let taker = other
                            .and_then(|l| holder(&l, 0))
                            .map_or_else(|| "another process".to_string(), |h| h.to_string());
                        shared.lose(format!("its lease was taken over by {taker}"));
                        return;
                    }
                }
            }
            Err(e) => {
                tracing::debug!("renewing the lease of run {run}: {e}");
            }
        }
    }
}

fn spec(me: &Me, timing: Timing, acquired: u64, renewed: u64, transitions: i32) -> LeaseSpec {
    LeaseSpec {
        holder_identity: Some(me.identity.clone()),
        lease_duration_seconds: Some(timing.seconds()),
        acquire_time: Some(micro(acquired)),
        renew_time: Some(micro(renewed)),
        lease_transitions: Some(transitions),
        ..LeaseSpec::default()
    }
}

fn holder_annotations(me: &Me, run: &str) -> std::collections::BTreeMap<String, String> {
    [
        ("meshbook.dev/host", me.host.clone()),
        ("meshbook.dev/pid", me.pid.to_string()),
        ("meshbook.dev/run", run.to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

/// Who holds `lease` at `now` (ms since the epoch): `None` when no one does or it lapsed.
pub(crate) fn holder(lease: &Lease, now: u64) -> Option<Holder> {
    let spec = lease.spec.as_ref()?;
    let identity = spec.holder_identity.as_deref().filter(|h| !h.is_empty())?;
    let renewed = spec.renew_time.as_ref().map_or(0, millis);
    let seconds = spec.lease_duration_seconds.unwrap_or(0).max(0) as u64;
    let until = renewed + seconds * 1000;
    if until <= now {
        return None;
    }
    let annotation = |k: &str| {
        lease
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(k).cloned())
    };
    Some(Holder {
        pid: annotation("meshbook.dev/pid")
            .and_then(|p| p.parse().ok())
            .unwrap_or(0),
        host: annotation("meshbook.dev/host").unwrap_or_else(|| identity.to_string()),
        since_ms: spec.acquire_time.as_ref().map_or(renewed, millis),
        until_ms: Some(until),
    })
}

fn micro(ms: u64) -> MicroTime {
    MicroTime(Timestamp::from_millisecond(ms as i64).unwrap_or(Timestamp::UNIX_EPOCH))
}

fn millis(t: &MicroTime) -> u64 {
    t.0.as_millisecond().max(0) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(renewed: u64, seconds: i32) -> Lease {
        let me = Me::new();
        Lease {
            metadata: ObjectMeta {
                annotations: Some(holder_annotations(&me, "r1")),
                ..ObjectMeta::default()
            },
            spec: Some(spec(
                &me,
                Timing {
                    duration: Duration::from_secs(seconds as u64),
                    renew_every: Duration::from_secs(1),
                },
                renewed - 5000,
                renewed,
                0,
            )),
        }
    }

    #[test]
    fn a_lease_is_held_until_its_end_and_says_by_whom() {
        let l = lease(1_000_000, 15);
        let h = holder(&l, 1_010_000).expect("held");
        assert_eq!(h.pid, std::process::id());
        assert_eq!(h.since_ms, 995_000);
        assert_eq!(h.until_ms, Some(1_015_000));
        assert!(h.to_string().contains("unless renewed"), "{h}");
        assert!(holder(&l, 1_015_000).is_none(), "lapsed at its end");
        let mut released = l.clone();
        released.spec.as_mut().unwrap().holder_identity = None;
        assert!(holder(&released, 1_000_001).is_none());
    }

    #[test]
    fn a_holder_past_its_lease_end_stops_trusting_it() {
        let timing = Timing {
            duration: Duration::from_secs(2),
            renew_every: Duration::from_millis(600),
        };
        let shared = Shared {
            lost: Mutex::new(None),
            renewed_ms: AtomicU64::new(now_ms()),
            lease: Mutex::new(Lease::default()),
            timing,
            lost_signal: CancellationToken::new(),
        };
        assert!(shared.check("r1").is_ok());
        shared.renewed_ms.store(now_ms() - 1700, Ordering::SeqCst);
        let err = shared.check("r1").unwrap_err();
        assert!(err.why.contains("lapsed"), "{err}");
        assert!(shared.lost_signal.is_cancelled());
        shared.renewed_ms.store(now_ms(), Ordering::SeqCst);
        assert!(shared.check("r1").is_err(), "once lost, always lost");
    }
}
