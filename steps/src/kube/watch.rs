//! Waiting on objects, watch-based, on kube-runtime's watcher: it lists the selected objects,
//! watches from the list's resourceVersion, and lists again when a watch fails (410 Gone
//! included), so no change is missed and reaction time is that of the watch, not of a poll.

use std::time::Duration;

use futures::StreamExt;
use indexmap::IndexMap;
use kube::runtime::watcher::{self, Event};
use serde_json::Value;

use super::Progress;
use super::error::KubeError;
use super::objects::{Selection, Target, name_of};
use super::request::is_transient;

/// What a wait makes of the objects currently selected.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// The wait is over.
    Done,
    /// Not yet; what was observed.
    Pending(String),
    /// It will not happen; why.
    Failed(String),
}

/// Waits until `verdict` says the selected objects are done: list, then watch from the list's
/// resourceVersion, listing again whenever the watch ends or fails. Reports each new observation.
pub(crate) async fn watch_until(
    target: &Target,
    selection: &Selection,
    timeout: Duration,
    progress: &Progress,
    verdict: impl Fn(&[&Value]) -> Verdict,
) -> Result<Vec<Value>, KubeError> {
    let what = target.describe_selection(selection);
    let mut last = String::from("nothing observed yet");
    let watching = watch_loop(target, selection, progress, &verdict, &what, &mut last);
    match tokio::time::timeout(timeout, watching).await {
        Ok(result) => result,
        Err(_) => Err(KubeError::Timeout {
            what,
            after: timeout,
            last,
        }),
    }
}

async fn watch_loop(
    target: &Target,
    selection: &Selection,
    progress: &Progress,
    verdict: &impl Fn(&[&Value]) -> Verdict,
    what: &str,
    last: &mut String,
) -> Result<Vec<Value>, KubeError> {
    let mut observe = |objects: &IndexMap<String, Value>| -> Option<Result<Vec<Value>, KubeError>> {
        let refs: Vec<&Value> = objects.values().collect();
        match verdict(&refs) {
            Verdict::Done => Some(Ok(objects.values().cloned().collect())),
            Verdict::Failed(reason) => Some(Err(KubeError::Failed {
                what: what.to_string(),
                reason,
            })),
            Verdict::Pending(seen) => {
                if *last != seen {
                    progress.line(&format!("waiting for {what}: {seen}"));
                    *last = seen;
                }
                None
            }
        }
    };
    let mut config = watcher::Config::default();
    let lp = selection.list_params();
    if let Some(l) = &lp.label_selector {
        config = config.labels(l);
    }
    if let Some(f) = &lp.field_selector {
        config = config.fields(f);
    }
    let events = watcher::watcher(target.api(), config);
    let mut events = std::pin::pin!(events);
    let mut objects: IndexMap<String, Value> = IndexMap::new();
    // Objects of a list in progress, swapped in whole when the list is complete.
    let mut listing: Option<IndexMap<String, Value>> = None;
    let mut failures = 0u32;
    while let Some(event) = events.next().await {
        let changed = match event {
            Ok(Event::Init) => {
                listing = Some(IndexMap::new());
                false
            }
            Ok(Event::InitApply(o)) => {
                let v = target.to_value(o);
                listing
                    .get_or_insert_with(IndexMap::new)
                    .insert(name_of(&v).to_string(), v);
                false
            }
            Ok(Event::InitDone) => {
                objects = listing.take().unwrap_or_default();
                true
            }
            Ok(Event::Apply(o)) => {
                let v = target.to_value(o);
                objects.insert(name_of(&v).to_string(), v);
                true
            }
            Ok(Event::Delete(o)) => {
                let v = target.to_value(o);
                objects.shift_remove(name_of(&v));
                true
            }
            Err(e) => {
                // The watcher lists or watches again when polled after an error (a 410 Gone
                // included); a refusal (403, an unserved resource) will not pass by itself.
                failures += 1;
                match permanent(e) {
                    Some(e) => return Err(KubeError::api(format!("watch {what}"), e.into())),
                    None if failures > 20 => {
                        return Err(KubeError::Failed {
                            what: what.to_string(),
                            reason: "the API server kept failing the watch".to_string(),
                        });
                    }
                    None => {
                        let pause = Duration::from_millis(50) * failures.min(20);
                        tokio::time::sleep(pause).await;
                        continue;
                    }
                }
            }
        };
        if changed {
            failures = 0;
            if let Some(done) = observe(&objects) {
                return done;
            }
        }
    }
    Err(KubeError::Failed {
        what: what.to_string(),
        reason: "the watch ended".to_string(),
    })
}

/// The error of a failed list or watch that trying again will not mend, if it is one.
fn permanent(error: watcher::Error) -> Option<kube::Error> {
    let error = match error {
        watcher::Error::InitialListFailed(e)
        | watcher::Error::WatchStartFailed(e)
        | watcher::Error::WatchFailed(e) => e,
        watcher::Error::WatchError(status) => kube::Error::Api(status),
        watcher::Error::NoResourceVersion => return None,
    };
    (!is_transient(&error) && !is_gone(&error)).then_some(error)
}

fn is_gone(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 410)
}
