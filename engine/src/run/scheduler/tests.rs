//! The scheduler against the fake executor, in paused time.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::*;
use crate::events::Stored;
use crate::model::{Backoff, Duration as D, RetryPolicy, Until, ValueType, WaitPolicy};
use crate::run::executor::Site;
use crate::run::testkit::{Act, Collect, Fake, Steps, kinds, output, seen, step, unit, values};
use crate::state::RunDir;

/// A run directory for the tests' runs: failed attempts get a log there.
static RUN_DIR: std::sync::LazyLock<tempfile::TempDir> =
    std::sync::LazyLock::new(|| tempfile::tempdir().unwrap());

/// Settings of a run `r1` with param `P=p`, its directory a scratch one.
fn settings(concurrency: usize) -> Settings {
    Settings {
        site: Site {
            run_id: "r1".into(),
            workdir: ".".into(),
            dir: RunDir::at(RUN_DIR.path()),
            grace: Duration::from_secs(1),
            echo: None,
        },
        concurrency,
        defaults: Default::default(),
        values: values(&[("P", "p")]),
        sealer: Sealer::from_key([3; 32]),
        ignored_requirements: Vec::new(),
    }
}

async fn go(
    steps: &Steps,
    restored: Vec<Option<Values>>,
    s: Settings,
    fake: &Arc<Fake>,
    controls: Controls,
) -> (Summary, Vec<RunEvent>) {
    let mut sink = Collect::default();
    let exec: Arc<dyn Executor> = fake.clone();
    let job = Job {
        list: steps.list(),
        restored,
    };
    let summary = run(job, s, exec, &mut [&mut sink], controls).await.unwrap();
    (summary, sink.0)
}

#[tokio::test(start_paused = true)]
async fn passes_outputs_downstream_and_renders_templates() {
    let fake = Arc::new(Fake::new(10).script("a", &[Act::Ok(vec![("ADDR", "10.0.0.1")])]));
    let units = vec![
        unit(output(step("a", "get"), "ADDR", ValueType::Ip, false), &[]),
        unit(step("b", "use {{sh ADDR}} {{sh P}}"), &[0]),
        unit(step("c", "after b"), &[1]),
    ];
    let (summary, events) = go(
        &Steps::new(units),
        vec![],
        settings(8),
        &fake,
        Controls::default(),
    )
    .await;
    assert_eq!(summary.outcome, Outcome::Succeeded);
    assert_eq!(summary.succeeded, 3);
    assert_eq!(fake.order(), ["a", "b", "c"]);
    assert_eq!(fake.calls.lock().unwrap()[1].3, "use 10.0.0.1 p");
    assert_eq!(seen(&fake, 1)["ADDR"], "10.0.0.1");
    assert_eq!(seen(&fake, 1)["P"], "p");
    assert!(
        seen(&fake, 2).is_empty(),
        "a step sees only the values it uses, upstream or not"
    );
    assert!(!seen(&fake, 0).contains_key("ADDR"));
    assert!(matches!(
        events.last(),
        Some(RunEvent::RunFinished {
            outcome: Outcome::Succeeded,
            ..
        })
    ));
}

#[tokio::test(start_paused = true)]
async fn never_exceeds_concurrency_and_keeps_slots_busy() {
    let fake = Arc::new(Fake::new(1000));
    let units = (0..10)
        .map(|i| unit(step(&format!("s{i}"), "x"), &[]))
        .collect();
    let start = Instant::now();
    let (summary, _) = go(
        &Steps::new(units),
        vec![],
        settings(3),
        &fake,
        Controls::default(),
    )
    .await;
    assert_eq!(summary.succeeded, 10);
    assert_eq!(fake.peak.load(Ordering::SeqCst), 3);
    // ceil(10 / 3) rounds of one second each: no slot idles while work is ready.
    assert_eq!(start.elapsed().as_secs(), 4);
}

#[tokio::test(start_paused = true)]
async fn failure_blocks_dependants_while_other_branches_finish() {
    let fake = Arc::new(Fake::new(10).script("bad", &[Act::Fail]));
    let units = vec![
        unit(step("bad", "x"), &[]),
        unit(step("child", "x"), &[0]),
        unit(step("grandchild", "x"), &[1]),
        unit(step("other", "x"), &[]),
        unit(step("other2", "x"), &[3]),
    ];
    let (summary, events) = go(
        &Steps::new(units),
        vec![],
        settings(8),
        &fake,
        Controls::default(),
    )
    .await;
    assert_eq!(summary.outcome, Outcome::Failed);
    assert_eq!(
        summary.failed,
        vec![Failed {
            step: "bad".into(),
            error: "exited with status 1".into(),
            permanence: Permanence::Transient,
        }]
    );
    assert_eq!(summary.blocked, 2);
    assert_eq!(summary.succeeded, 2);
    assert_eq!(kinds(&events, "grandchild"), ["step_skipped"]);
    assert!(!fake.order().contains(&"child".to_string()));
}

#[tokio::test(start_paused = true)]
async fn a_failed_attempt_has_its_log_though_it_wrote_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let fake = Arc::new(Fake::new(10).script("bad", &[Act::Fail]));
    let units = vec![unit(step("bad", "x"), &[]), unit(step("good", "x"), &[])];
    let mut s = settings(2);
    s.site.dir = RunDir::at(dir.path());
    let (summary, _) = go(&Steps::new(units), vec![], s, &fake, Controls::default()).await;
    assert_eq!(summary.failed.len(), 1);
    let log = RunDir::at(dir.path()).log("bad");
    assert_eq!(std::fs::read_to_string(log).unwrap(), "==> bad attempt 1\n");
    // A step that succeeded without a word has none.
    assert!(!RunDir::at(dir.path()).log("good").exists());
}

#[tokio::test(start_paused = true)]
async fn retries_with_backoff_and_records_every_attempt() {
    let fake = Arc::new(Fake::new(10).script("flaky", &[Act::Fail, Act::Fail, Act::Ok(vec![])]));
    let mut s = step("flaky", "x");
    s.retry = Some(RetryPolicy {
        attempts: 3,
        backoff: Backoff {
            initial: D(Duration::from_secs(2)),
            max: D(Duration::from_secs(3)),
        },
    });
    let start = Instant::now();
    let (summary, events) = go(
        &Steps::new(vec![unit(s, &[])]),
        vec![],
        settings(8),
        &fake,
        Controls::default(),
    )
    .await;
    assert_eq!(summary.outcome, Outcome::Succeeded);
    assert_eq!(
        kinds(&events, "flaky"),
        [
            "step_started",
            "attempt_failed",
            "step_started",
            "attempt_failed",
            "step_started",
            "step_succeeded"
        ]
    );
    let delays: Vec<u64> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::AttemptFailed {
                retry_in_ms, error, ..
            } => {
                assert_eq!(error, "exited with status 1");
                Some(*retry_in_ms)
            }
            _ => None,
        })
        .collect();
    assert!((1000..=2000).contains(&delays[0]), "{delays:?}");
    assert!((1500..=3000).contains(&delays[1]), "{delays:?}");
    assert!(start.elapsed() >= Duration::from_millis(delays[0] + delays[1] + 30));
    assert!(matches!(
        events.iter().rev().nth(1),
        Some(RunEvent::StepSucceeded { attempt: 3, .. })
    ));
}

#[tokio::test(start_paused = true)]
async fn how_a_rehearsal_carried_a_step_out_is_recorded_with_its_success() {
    use crate::events::Rehearsed;
    let skipped = Rehearsed::Skipped {
        reason: "needs traffic".into(),
    };
    // A stand-in's context is rendered, so it may quote a secret the step sees: masked.
    let stand_in = |context: &str| Rehearsed::StandIn {
        file: "cp.yaml".into(),
        context: context.into(),
    };
    let fake = Arc::new(
        Fake::new(10)
            .script("a", &[Act::Rehearsed(skipped.clone())])
            .script("c", &[Act::Rehearsed(stand_in("ctx-s3cr3t"))]),
    );
    let mut settings = settings(2);
    settings.values.insert("TOKEN", "s3cr3t", true);
    let units = vec![
        unit(step("a", "x"), &[]),
        unit(step("b", "y"), &[0]),
        unit(step("c", "echo \"$TOKEN\""), &[]),
    ];
    let (_, events) = go(
        &Steps::new(units),
        vec![],
        settings,
        &fake,
        Controls::default(),
    )
    .await;
    let mut rehearsed: Vec<_> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::StepSucceeded {
                step, rehearsed, ..
            } => Some((step.as_str(), rehearsed.clone())),
            _ => None,
        })
        .collect();
    rehearsed.sort_by_key(|(step, _)| *step);
    assert_eq!(
        rehearsed,
        [
            ("a", Some(skipped)),
            ("b", None),
            ("c", Some(stand_in("ctx-***")))
        ]
    );
}

#[tokio::test(start_paused = true)]
async fn retries_run_out() {
    let fake = Arc::new(Fake::new(10).script("bad", &[Act::Fail, Act::Fail]));
    let mut s = step("bad", "x");
    s.retry = Some(RetryPolicy {
        attempts: 2,
        backoff: Backoff::default(),
    });
    let (summary, _) = go(
        &Steps::new(vec![unit(s, &[])]),
        vec![],
        settings(8),
        &fake,
        Controls::default(),
    )
    .await;
    assert_eq!(summary.outcome, Outcome::Failed);
    assert_eq!(fake.order().len(), 2);
}

#[tokio::test(start_paused = true)]
async fn waits_until_the_value_exists() {
    let fake = Arc::new(Fake::new(10).script(
        "gw",
        &[
            Act::Ok(vec![("GW", "")]),
            Act::Ok(vec![("GW", "")]),
            Act::Ok(vec![("GW", "35.1.2.3")]),
        ],
    ));
    let mut s = output(step("gw", "x"), "GW", ValueType::Ip, false);
    s.wait = Some(WaitPolicy {
        until: Until::NonEmpty,
        timeout: D(Duration::from_secs(60)),
        interval: D(Duration::from_secs(5)),
    });
    let start = Instant::now();
    let (summary, events) = go(
        &Steps::new(vec![unit(s, &[])]),
        vec![],
        settings(8),
        &fake,
        Controls::default(),
    )
    .await;
    assert_eq!(summary.outcome, Outcome::Succeeded);
    let waits: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            RunEvent::WaitPending { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(waits, ["`GW` is empty", "`GW` is empty"]);
    assert_eq!(start.elapsed().as_secs(), 10);
}

#[tokio::test(start_paused = true)]
async fn a_wait_gives_up_at_its_deadline() {
    let fake = Arc::new(Fake::new(10).script("gw", &vec![Act::Ok(vec![("GW", "")]); 10]));
    let mut s = output(step("gw", "x"), "GW", ValueType::String, false);
    s.wait = Some(WaitPolicy {
        until: Until::NonEmpty,
        timeout: D(Duration::from_secs(12)),
        interval: D(Duration::from_secs(5)),
    });
    let (summary, _) = go(
        &Steps::new(vec![unit(s, &[])]),
        vec![],
        settings(8),
        &fake,
        Controls::default(),
    )
    .await;
    assert_eq!(summary.outcome, Outcome::Failed);
    assert_eq!(
        summary.failed[0].error,
        "still waiting after 12s: `GW` is empty"
    );
    assert_eq!(fake.order().len(), 3);
}

#[tokio::test(start_paused = true)]
async fn a_bad_typed_output_fails_naming_the_value_unless_secret() {
    let fake = Arc::new(
        Fake::new(10)
            .script("a", &[Act::Ok(vec![("ADDR", "pending")])])
            .script("t", &[Act::Ok(vec![("TOKEN", "hunter2")])]),
    );
    let units = vec![
        unit(output(step("a", "x"), "ADDR", ValueType::Ip, false), &[]),
        unit(output(step("t", "x"), "TOKEN", ValueType::Int, true), &[]),
    ];
    let (summary, events) = go(
        &Steps::new(units),
        vec![],
        settings(8),
        &fake,
        Controls::default(),
    )
    .await;
    assert_eq!(
        summary.failed[0].error,
        r#"output `ADDR` = "pending" is not a valid ip: expected an IPv4 or IPv6 address"#
    );
    assert!(!summary.failed[1].error.contains("hunter2"));
    assert!(!serde_json::to_string(&events).unwrap().contains("hunter2"));
}

#[tokio::test(start_paused = true)]
async fn secret_outputs_are_sealed_in_events_but_reach_dependants() {
    let fake = Arc::new(Fake::new(10).script("t", &[Act::Ok(vec![("TOKEN", "hunter2")])]));
    let units = vec![
        unit(
            output(step("t", "x"), "TOKEN", ValueType::String, true),
            &[],
        ),
        unit(step("u", "use \"$TOKEN\""), &[0]),
    ];
    let (_, events) = go(
        &Steps::new(units),
        vec![],
        settings(8),
        &fake,
        Controls::default(),
    )
    .await;
    assert!(!serde_json::to_string(&events).unwrap().contains("hunter2"));
    let sealed = events
        .iter()
        .find_map(|e| match e {
            RunEvent::StepSucceeded { outputs, .. } => outputs.get("TOKEN").cloned(),
            _ => None,
        })
        .unwrap();
    let Stored::Sealed(s) = sealed else {
        panic!("not sealed")
    };
    assert_eq!(
        Sealer::from_key([3; 32]).open("TOKEN", &s).unwrap(),
        "hunter2"
    );
    let calls = fake.calls.lock().unwrap();
    assert_eq!(calls[1].2.get("TOKEN"), Some("hunter2"));
    assert_eq!(
        calls[1].2.secrets(),
        ["hunter2"],
        "it stays secret downstream"
    );
}

#[tokio::test(start_paused = true)]
async fn a_timeout_kills_the_attempt() {
    let fake = Arc::new(Fake::new(10).script("slow", &[Act::Hang]));
    let mut s = step("slow", "x");
    s.timeout = Some(D(Duration::from_secs(3)));
    let start = Instant::now();
    let (summary, _) = go(
        &Steps::new(vec![unit(s, &[])]),
        vec![],
        settings(8),
        &fake,
        Controls::default(),
    )
    .await;
    assert_eq!(summary.failed[0].error, "timed out after 3s");
    assert_eq!(start.elapsed().as_secs(), 3);
}

#[tokio::test(start_paused = true)]
async fn stop_interrupts_running_steps_and_starts_nothing_new() {
    let fake = Arc::new(
        Fake::new(10)
            .script("long", &[Act::Hang])
            .script("r", &[Act::Fail]),
    );
    let mut retried = step("r", "x");
    retried.retry = Some(RetryPolicy {
        attempts: 5,
        backoff: Backoff::default(),
    });
    let units = vec![
        unit(step("long", "x"), &[]),
        unit(step("after", "x"), &[0]),
        unit(retried, &[]),
        unit(step("queued", "x"), &[]),
    ];
    let controls = Controls::default();
    let stop = controls.stop.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.cancel();
    });
    let (summary, events) = go(&Steps::new(units), vec![], settings(2), &fake, controls).await;
    assert_eq!(summary.outcome, Outcome::Interrupted);
    assert_eq!(
        summary.interrupted, 2,
        "the running step and the one waiting to retry"
    );
    assert_eq!(
        summary.succeeded, 1,
        "`queued` took the freed slot before the stop"
    );
    assert_eq!(summary.not_started, 1);
    assert_eq!(kinds(&events, "long"), ["step_started", "step_interrupted"]);
    assert!(!fake.order().contains(&"after".to_string()));
}

#[tokio::test(start_paused = true)]
async fn restored_steps_do_not_run_and_feed_their_outputs() {
    let fake = Arc::new(Fake::new(10));
    let units = vec![
        unit(output(step("a", "x"), "A", ValueType::String, false), &[]),
        unit(step("b", "{{sh A}}"), &[0]),
    ];
    let restored = vec![Some(values(&[("A", "old")])), None];
    let (summary, events) = go(
        &Steps::new(units),
        restored,
        settings(8),
        &fake,
        Controls::default(),
    )
    .await;
    assert_eq!(summary.succeeded, 2);
    assert_eq!(fake.order(), ["b"]);
    assert_eq!(fake.calls.lock().unwrap()[0].3, "old");
    assert_eq!(kinds(&events, "a"), ["step_skipped"]);
}

#[tokio::test(start_paused = true)]
async fn syncs_before_dependants_start() {
    struct Strict(Vec<&'static str>, Arc<Mutex<Vec<String>>>);
    impl EventSink for Strict {
        fn event(&mut self, e: &RunEvent) -> std::io::Result<()> {
            if let RunEvent::StepSucceeded { step, .. } = e {
                self.1.lock().unwrap().push(format!("done {step}"));
            }
            if let RunEvent::StepStarted { step, .. } = e {
                self.1.lock().unwrap().push(format!("start {step}"));
            }
            Ok(())
        }
        fn sync(&mut self) -> std::io::Result<()> {
            self.1.lock().unwrap().push("sync".into());
            self.0.push("sync");
            Ok(())
        }
    }
    let log = Arc::new(Mutex::new(Vec::new()));
    let mut sink = Strict(vec![], log.clone());
    let fake: Arc<dyn Executor> = Arc::new(Fake::new(10));
    let steps = Steps::new(vec![unit(step("a", "x"), &[]), unit(step("b", "x"), &[0])]);
    let job = Job {
        list: steps.list(),
        restored: vec![],
    };
    run(
        job,
        settings(8),
        fake,
        &mut [&mut sink],
        Controls::default(),
    )
    .await
    .unwrap();
    let log = log.lock().unwrap().join(", ");
    assert!(log.contains("done a, sync, start b"), "{log}");
}

#[tokio::test(start_paused = true)]
async fn a_permanent_failure_is_not_retried() {
    let fake = Arc::new(Fake::new(10).script("refused", &[Act::Refuse, Act::Ok(vec![])]));
    let mut s = step("refused", "x");
    s.retry = Some(RetryPolicy {
        attempts: 3,
        backoff: Backoff::default(),
    });
    let (summary, events) = go(
        &Steps::new(vec![unit(s, &[])]),
        vec![],
        settings(8),
        &fake,
        Controls::default(),
    )
    .await;
    assert_eq!(fake.order(), ["refused"], "one attempt only");
    assert_eq!(summary.failed[0].permanence, Permanence::Permanent);
    assert!(events.iter().any(|e| matches!(
        e,
        RunEvent::StepFailed {
            permanent: true,
            ..
        }
    )));
}

#[tokio::test(start_paused = true)]
async fn secret_values_are_masked_in_the_events_of_the_steps_that_see_them() {
    // The step echoes the secret it uses into a plain output, which its wait then quotes.
    let fake = Arc::new(Fake::new(10).script("a", &vec![Act::Ok(vec![("X", "s3cr3t")]); 5]));
    let mut settings = settings(8);
    settings.values.insert("TOKEN", "s3cr3t", true);
    let mut s = output(step("a", "echo \"$TOKEN\""), "X", ValueType::String, false);
    s.wait = Some(WaitPolicy {
        until: Until::Equals("y".into()),
        timeout: D(Duration::from_secs(6)),
        interval: D(Duration::from_secs(2)),
    });
    let (summary, events) = go(
        &Steps::new(vec![unit(s, &[])]),
        vec![],
        settings,
        &fake,
        Controls::default(),
    )
    .await;
    assert_eq!(
        summary.failed[0].error,
        "still waiting after 6s: `X` is \"***\", not \"y\""
    );
    let waits: Vec<&RunEvent> = events
        .iter()
        .filter(|e| matches!(e, RunEvent::WaitPending { .. }))
        .collect();
    assert!(!waits.is_empty());
    assert!(!format!("{events:?}").contains("s3cr3t"), "{events:?}");
}

/// A durable sink that notes, for each step's start, how many events had been synced then.
#[derive(Default)]
struct Durable {
    events: Vec<RunEvent>,
    synced: usize,
    syncs: usize,
    /// Per started step: the events synced when it started.
    started_after: Vec<(String, usize)>,
}

impl EventSink for Durable {
    fn event(&mut self, event: &RunEvent) -> std::io::Result<()> {
        if let RunEvent::StepStarted { step, .. } = event {
            self.started_after.push((step.clone(), self.synced));
        }
        self.events.push(event.clone());
        Ok(())
    }
    fn sync(&mut self) -> std::io::Result<()> {
        self.synced = self.events.len();
        self.syncs += 1;
        Ok(())
    }
}

/// Runs `units` at concurrency 2 into a [`Durable`] sink and checks that every step started
/// only once the successes of its dependencies were synced.
async fn durably(units: Vec<(crate::model::Step, Vec<usize>)>) -> Durable {
    let deps: Vec<(String, Vec<String>)> = units
        .iter()
        .map(|(s, d)| {
            (
                s.id.clone(),
                d.iter().map(|&i| units[i].0.id.clone()).collect(),
            )
        })
        .collect();
    let fake: Arc<dyn Executor> = Arc::new(Fake::new(10));
    let mut sink = Durable::default();
    let steps = Steps::new(units);
    let job = Job {
        list: steps.list(),
        restored: vec![],
    };
    let controls = Controls::default();
    let summary = run(job, settings(2), fake, &mut [&mut sink], controls)
        .await
        .unwrap();
    assert_eq!(summary.outcome, Outcome::Succeeded);
    let succeeded_at = |id: &str| {
        sink.events
            .iter()
            .position(|e| matches!(e, RunEvent::StepSucceeded { step, .. } if step == id))
            .unwrap()
    };
    for (step, synced) in &sink.started_after {
        let (_, needs) = deps.iter().find(|(id, _)| id == step).unwrap();
        for dep in needs {
            assert!(
                succeeded_at(dep) < *synced,
                "{step} started before the success of {dep} was synced"
            );
        }
    }
    // Everything is durable at the end.
    assert_eq!(sink.synced, sink.events.len());
    sink
}

#[tokio::test(start_paused = true)]
async fn dependants_start_only_after_a_sync_and_independent_successes_share_one() {
    // A chain: every success is needed by the next step, so each is synced before it starts.
    let chain: Vec<_> = (0..6)
        .map(|i| {
            let deps: Vec<usize> = if i == 0 { vec![] } else { vec![i - 1] };
            unit(step(&format!("c{i}"), "x"), &deps)
        })
        .collect();
    let synced = durably(chain).await;
    assert!(synced.syncs >= 6, "{} syncs", synced.syncs);
    // Layers of four, each step needing two of the layer before.
    let layered: Vec<_> = (0..16)
        .map(|i| {
            let deps: Vec<usize> = if i < 4 {
                vec![]
            } else {
                vec![i - 4, (i - 4) / 4 * 4 + (i + 1) % 4]
            };
            unit(step(&format!("l{i}"), "x"), &deps)
        })
        .collect();
    durably(layered).await;
    // Independent steps: no success is needed by another, so they share syncs.
    let wide: Vec<_> = (0..20)
        .map(|i| unit(step(&format!("w{i}"), "x"), &[]))
        .collect();
    let synced = durably(wide).await;
    assert!(
        synced.syncs < 5,
        "{} syncs for 20 independent steps",
        synced.syncs
    );
}
