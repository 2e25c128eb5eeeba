//! What the engine's run tests share: steps built by hand and a list of them with its graph,
//! values, a run's settings, the fake executor that follows a script per step, and a sink that
//! keeps every event.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indexmap::IndexMap;

use crate::events::{EventSink, Rehearsed, RunEvent};
use crate::graph::Graph;
use crate::model::{Action, Command, OutputSpec, ShellSpec, Step, ValueType};
use crate::run::executor::{BoxFuture, Done, Executor, Produced, StepFailure, StepRequest};
use crate::validate::StepList;
use crate::values::Values;

/// A shell step running `script`.
pub(crate) fn step(id: &str, script: &str) -> Step {
    Step {
        id: id.into(),
        title: None,
        needs: vec![],
        timeout: None,
        retry: None,
        wait: None,
        outputs: IndexMap::new(),
        sandbox: None,
        action: Action::Shell(ShellSpec::script(script)),
    }
}

/// `step` declaring one more output.
pub(crate) fn output(mut step: Step, name: &str, ty: ValueType, secret: bool) -> Step {
    step.outputs.insert(
        name.into(),
        OutputSpec {
            ty,
            secret,
            ..Default::default()
        },
    );
    step
}

/// A step and the indexes of the steps it depends on.
pub(crate) fn unit(step: Step, deps: &[usize]) -> (Step, Vec<usize>) {
    (step, deps.to_vec())
}

/// Steps with their dependencies (by index), the graph, and the names each step uses.
pub(crate) struct Steps {
    steps: Vec<Step>,
    graph: Graph,
    uses: Vec<BTreeSet<String>>,
}

impl Steps {
    /// Each step with the indexes of the steps it depends on (see [`unit`]).
    pub(crate) fn new(steps: Vec<(Step, Vec<usize>)>) -> Steps {
        let deps = steps.iter().map(|(_, d)| d.clone()).collect();
        let steps: Vec<Step> = steps.into_iter().map(|(s, _)| s).collect();
        let uses = steps
            .iter()
            .map(crate::validate::uses::names_used)
            .collect();
        Steps {
            graph: Graph::build(deps).expect("no cycle"),
            steps,
            uses,
        }
    }

    /// The list a run drives.
    pub(crate) fn list(&self) -> StepList<'_> {
        StepList {
            steps: &self.steps,
            graph: &self.graph,
            uses: &self.uses,
        }
    }

    /// The steps, to change one.
    pub(crate) fn steps_mut(&mut self) -> &mut [Step] {
        &mut self.steps
    }
}

/// Plain values.
pub(crate) fn values(pairs: &[(&str, &str)]) -> Values {
    let mut values = Values::new();
    for (name, text) in pairs {
        values.insert(*name, *text, false);
    }
    values
}

/// What the fake executor does for one attempt.
#[derive(Clone)]
pub(crate) enum Act {
    /// Succeed with these values.
    Ok(Vec<(&'static str, &'static str)>),
    /// Exit with status 1.
    Fail,
    /// Fail for good, as a refusal does.
    Refuse,
    /// Never end on its own.
    Hang,
    /// Succeed as a rehearsal says it carried the step out.
    Rehearsed(Rehearsed),
}

/// One call the fake executor saw: step id, attempt, values and rendered script.
pub(crate) type Call = (String, u32, Values, String);

/// An executor that follows a script per step, taking `took` of (paused) time per attempt.
#[derive(Default)]
pub(crate) struct Fake {
    plans: Mutex<HashMap<String, VecDeque<Act>>>,
    pub(crate) calls: Mutex<Vec<Call>>,
    running: AtomicUsize,
    pub(crate) peak: AtomicUsize,
    took: Duration,
}

impl Fake {
    pub(crate) fn new(took_ms: u64) -> Fake {
        Fake {
            took: Duration::from_millis(took_ms),
            ..Fake::default()
        }
    }

    /// What step `step` does on its successive attempts (then it succeeds without outputs).
    pub(crate) fn script(self, step: &str, acts: &[Act]) -> Fake {
        self.plans
            .lock()
            .unwrap()
            .insert(step.into(), acts.iter().cloned().collect());
        self
    }

    /// The steps called, in order.
    pub(crate) fn order(&self) -> Vec<String> {
        self.calls
            .lock()
            .unwrap()
            .iter()
            .map(|c| c.0.clone())
            .collect()
    }
}

impl Executor for Fake {
    fn execute(&self, req: StepRequest) -> BoxFuture<'_, Result<Done, StepFailure>> {
        Box::pin(async move {
            let script = match &req.action {
                Action::Shell(ShellSpec {
                    command: Command::Script(s),
                    ..
                }) => s.clone(),
                _ => String::new(),
            };
            self.calls.lock().unwrap().push((
                req.step.clone(),
                req.attempt,
                req.env.clone(),
                script,
            ));
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            let act = self
                .plans
                .lock()
                .unwrap()
                .get_mut(&req.step)
                .and_then(|q| q.pop_front())
                .unwrap_or(Act::Ok(vec![]));
            let took = if matches!(act, Act::Hang) {
                Duration::from_secs(86_400)
            } else {
                self.took
            };
            let result = tokio::select! {
                _ = tokio::time::sleep(took) => match act {
                    Act::Ok(values) => Ok(Done::from(values.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<Produced>())),
                    Act::Rehearsed(how) => Ok(Done { outputs: Produced::new(), rehearsed: Some(how), left_running: 0 }),
                    Act::Fail => Err(StepFailure::Exit { code: 1 }),
                    Act::Refuse => Err(StepFailure::permanent("Forbidden (403)")),
                    Act::Hang => unreachable!("hangs a day"),
                },
                _ = req.stop.cancelled() => Err(StepFailure::Interrupted),
                _ = req.kill.cancelled() => Err(StepFailure::Interrupted),
            };
            self.running.fetch_sub(1, Ordering::SeqCst);
            result
        })
    }
}

/// A sink that keeps every event and counts syncs.
#[derive(Default)]
pub(crate) struct Collect(pub(crate) Vec<RunEvent>, pub(crate) usize);

impl EventSink for Collect {
    fn event(&mut self, event: &RunEvent) -> std::io::Result<()> {
        self.0.push(event.clone());
        Ok(())
    }
    fn sync(&mut self) -> std::io::Result<()> {
        self.1 += 1;
        Ok(())
    }
}

/// The kind of each event about `step`, in order (`step_started`, ...).
pub(crate) fn kinds(events: &[RunEvent], step: &str) -> Vec<String> {
    events
        .iter()
        .filter(|e| e.step() == Some(step))
        .map(|e| {
            serde_json::to_value(e).unwrap()["event"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect()
}

/// The produced values of a run's calls, by step, for assertions on what a step saw.
pub(crate) fn seen(fake: &Fake, call: usize) -> Produced {
    fake.calls.lock().unwrap()[call]
        .2
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
