//! Waiting on objects, watch-based: list the selected objects, then watch from the list's
//! resourceVersion; a watch that ends, is dropped or fails (410 Gone included) leads to a fresh
//! list, so no change is missed and reaction time is that of the watch, not of a poll.

use std::time::Duration;

use futures::StreamExt;
use indexmap::IndexMap;
use kube::api::WatchParams;
use kube::core::WatchEvent;
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
    let api = target.api();
    let api_error = |e: kube::Error| KubeError::api(format!("watch {what}"), e.into());
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
    let mut failures = 0u32;
    let mut idle = Duration::ZERO;
    loop {
        let (items, rv) = match target.list(selection).await {
            Ok(l) => l,
            Err(e) if failures < 5 && is_transient(&e) => {
                failures += 1;
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            Err(e) => return Err(api_error(e)),
        };
        let mut objects: IndexMap<String, Value> = items
            .into_iter()
            .map(|o| (name_of(&o).to_string(), o))
            .collect();
        if let Some(done) = observe(&objects) {
            return done;
        }
        let mut wp = WatchParams::default().timeout(290);
        let lp = selection.list_params();
        if let Some(l) = &lp.label_selector {
            wp = wp.labels(l);
        }
        if let Some(f) = &lp.field_selector {
            wp = wp.fields(f);
        }
        let stream = match api.watch(&wp, &rv).await {
            Ok(s) => s,
            Err(e) if is_transient(&e) || is_gone(&e) => {
                failures += 1;
                if failures > 20 {
                    return Err(api_error(e));
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            Err(e) => return Err(api_error(e)),
        };
        let mut stream = std::pin::pin!(stream);
        let mut delivered = false;
        while let Some(event) = stream.next().await {
            let changed = match event {
                Ok(WatchEvent::Added(o)) | Ok(WatchEvent::Modified(o)) => {
                    let v = target.to_value(o);
                    objects.insert(name_of(&v).to_string(), v);
                    true
                }
                Ok(WatchEvent::Deleted(o)) => {
                    let v = target.to_value(o);
                    objects.shift_remove(name_of(&v));
                    true
                }
                Ok(WatchEvent::Bookmark(_)) => false,
                // A watch error (410 Gone, a server error) ends this watch; list again.
                Ok(WatchEvent::Error(_)) | Err(_) => break,
            };
            if changed {
                failures = 0;
                delivered = true;
                if let Some(done) = observe(&objects) {
                    return done;
                }
            }
        }
        // The watch ended (dropped, timed out or failed): list again so no change is missed,
        // after a pause when it carried nothing, so a server that closes watches at once is
        // not listed in a tight loop.
        if !delivered {
            idle = (idle * 2).clamp(Duration::from_millis(50), Duration::from_secs(1));
            tokio::time::sleep(idle).await;
        } else {
            idle = Duration::ZERO;
        }
    }
}

fn is_gone(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 410)
}
