//! One attempt of a step, as its own task: the request made, the executor called under the
//! step's timeout, and the result reported back to the dispatcher.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinSet;

use crate::model::{Duration as StepDuration, Rendered, Step, Until};
use crate::run::executor::{Controls, Done, Executor, Site, StepFailure, StepRequest};
use crate::values::Values;

/// What a task tells the dispatcher.
pub(super) enum Report {
    /// An attempt ended.
    Finished {
        index: usize,
        result: Result<Done, StepFailure>,
    },
    /// A delayed step may go again.
    Due { index: usize },
}

/// The request for an attempt, `waited` after the step's first attempt started, and the
/// step's `wait.until` rendered with the same values. A watching attempt may last no longer
/// than 9/10 of the step's `timeout`, so it gives back what it saw rather than be killed.
pub(super) fn prepare(
    site: &Site,
    step: &Step,
    attempt: u32,
    values: Values,
    controls: &Controls,
    waited: Duration,
    timeout: Option<StepDuration>,
) -> Result<(StepRequest, Option<Until<Rendered>>), StepFailure> {
    let mut request = StepRequest::build(site, step, attempt, values, controls, waited)?;
    if let (Some(wait), Some(limit)) = (&mut request.wait, timeout) {
        wait.within = wait.within.min(limit.get().mul_f64(0.9));
    }
    let until = request.wait.as_ref().map(|w| w.until.clone());
    Ok((request, until))
}

/// Runs the attempt as a task; past `timeout` it is killed and fails as timed out.
pub(super) fn spawn(
    tasks: &mut JoinSet<()>,
    executor: Arc<dyn Executor>,
    request: StepRequest,
    timeout: Option<StepDuration>,
    index: usize,
    tx: UnboundedSender<Report>,
) {
    tasks.spawn(async move {
        let kill = request.kill.clone();
        let section = request.log.begin(request.attempt);
        let work = executor.execute(request);
        tokio::pin!(work);
        let result = match timeout {
            None => work.await,
            Some(limit) => {
                tokio::select! {
                    r = &mut work => r,
                    _ = tokio::time::sleep(limit.get()) => {
                        kill.cancel();
                        let _ = work.await;
                        Err(StepFailure::Timeout(limit))
                    }
                }
            }
        };
        if result.is_err() {
            // The failure names the step's log: it exists, if only with the attempt's header.
            let _ = section.keep();
        }
        let _ = tx.send(Report::Finished { index, result });
    });
}

/// Tells the dispatcher, `after` from now, that step `index` may go again.
pub(super) fn wake(
    tasks: &mut JoinSet<()>,
    index: usize,
    after: Duration,
    tx: UnboundedSender<Report>,
) {
    tasks.spawn(async move {
        tokio::time::sleep(after).await;
        let _ = tx.send(Report::Due { index });
    });
}
