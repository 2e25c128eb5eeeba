//! `meshbook runs` (every run in a state dir) and `meshbook status` (one run, step by step).

use std::time::Duration;

use clap::Args;
use meshbook_engine::events::{Outcome, Rehearsed};
use meshbook_engine::state::replay::{RunRecord, StepRecord, StepState};
use meshbook_engine::state::store::{RunKind, RunMeta};

use crate::args::{OutputFormat, StateArgs};
use crate::coverage::Coverage;
use crate::failure::CmdResult;
use crate::output::{OutputArg, print_json};
use crate::recorded;
use crate::report::human;
use crate::store::View;

/// `meshbook runs`.
#[derive(Debug, Clone, Args)]
pub(crate) struct RunsArgs {
    /// Where run state lives.
    #[command(flatten)]
    pub(crate) state: StateArgs,
    /// Output format.
    #[command(flatten)]
    pub(crate) output: OutputArg,
}

/// `meshbook status`.
#[derive(Debug, Clone, Args)]
pub(crate) struct StatusArgs {
    /// The run (default: the latest).
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::complete::run_ids))]
    pub(crate) run_id: Option<String>,
    /// Where run state lives.
    #[command(flatten)]
    pub(crate) state: StateArgs,
    /// `text` for people, `json` for machines.
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub(crate) output: OutputFormat,
}

fn run_state(store: &View, id: &str, record: &RunRecord) -> &'static str {
    if store.is_active(id) {
        return "running";
    }
    match record.outcome {
        Some(Outcome::Succeeded) => "succeeded",
        Some(Outcome::Failed) => "failed",
        Some(Outcome::Interrupted) => "interrupted",
        None => "incomplete",
    }
}

/// The KIND column: `run`, `rehearsal`, `cleanup of RUN`, `rehearsal cleanup of RUN`.
fn kind_text(meta: &RunMeta) -> String {
    match (&meta.kind, meta.is_rehearsal()) {
        (RunKind::Steps, false) => "run".into(),
        (RunKind::Steps, true) => "rehearsal".into(),
        (RunKind::Cleanup { of }, false) => format!("cleanup of {of}"),
        (RunKind::Cleanup { of }, true) => format!("rehearsal cleanup of {of}"),
    }
}

/// Lists every run.
pub(crate) fn runs(args: &RunsArgs) -> CmdResult {
    let store = args.state.store()?.view(None)?;
    let ids = store.list()?;
    let rows: Vec<Row> = ids.into_iter().map(|id| Row::read(&store, id)).collect();
    if args.output.json() {
        let runs: Vec<serde_json::Value> = rows.iter().map(Row::json).collect();
        return print_json(&serde_json::json!({ "runs": runs }));
    }
    if rows.is_empty() {
        outln!("no runs in {}", store.place());
        return Ok(());
    }
    outln!(
        "{:<21} {:<24} {:<12} {:>6}  KIND",
        "RUN",
        "RUNBOOK",
        "STATE",
        "DONE"
    );
    for row in rows {
        let (meta, state, done) = match &row.read {
            Ok(read) => read,
            Err((what, why)) => {
                outln!("{:<21} ({what}: {why})", row.id);
                continue;
            }
        };
        outln!(
            "{:<21} {:<24} {state:<12} {done:>6}  {}",
            row.id,
            meta.name,
            kind_text(meta)
        );
    }
    Ok(())
}

/// One line of `meshbook runs`: a run's id and, when its files can be read, its meta, state and
/// number of finished steps.
struct Row {
    id: String,
    /// What the run is, its state and how many steps are done; or `damaged`/`unreadable` and why.
    read: Result<(RunMeta, &'static str, usize), (&'static str, String)>,
}

impl Row {
    fn read(store: &View, id: String) -> Row {
        let read = match (store.read_meta(&id), store.history(&id)) {
            (Ok(meta), Ok(history)) => {
                let record = RunRecord::replay(&history);
                let done = record
                    .steps
                    .values()
                    .filter(|s| s.state == StepState::Succeeded)
                    .count();
                Ok((meta, run_state(store, &id, &record), done))
            }
            (Err(e), _) | (_, Err(e)) => {
                let what = if e.is_damage() {
                    "damaged"
                } else {
                    "unreadable"
                };
                Err((what, e.to_string()))
            }
        };
        Row { id, read }
    }

    /// `runs -o json`: every key present for every run; an unreadable one has state
    /// `unreadable` and nulls.
    fn json(&self) -> serde_json::Value {
        match &self.read {
            Ok((meta, state, done)) => serde_json::json!({
                "id": self.id,
                "runbook": meta.name,
                "state": state,
                "done": done,
                "kind": meta.kind,
                "rehearsal": meta.is_rehearsal(),
                "created_at": meta.created_at,
                "workdir": meta.workdir,
            }),
            Err((what, _)) => serde_json::json!({
                "id": self.id,
                "runbook": null,
                "state": what,
                "done": null,
                "kind": null,
                "rehearsal": null,
                "created_at": null,
                "workdir": null,
            }),
        }
    }
}

/// Shows one run step by step.
pub(crate) fn status(args: &StatusArgs) -> CmdResult {
    let store = args.state.store()?;
    let store = store.view(args.run_id.as_deref())?;
    let id = match &args.run_id {
        Some(id) => id.clone(),
        None => recorded::latest(&store)?,
    };
    let meta = store.read_meta(&id)?;
    let history = store.history(&id)?;
    let record = RunRecord::replay(&history);
    // Steps in runbook order, pending ones included, when the runbook can still be read.
    let ids: Vec<String> = match recorded::runbook_of(&meta, &store.run_dir(&id)) {
        Ok(v) => v
            .list(recorded::list(&meta))
            .steps
            .iter()
            .map(|s| s.id.clone())
            .collect(),
        Err(_) => Vec::new(),
    };
    let state = run_state(&store, &id, &record);
    let steps = recorded::step_records(ids, &record);
    let coverage = meta.is_rehearsal().then(|| Coverage::new(&steps));
    if args.output == OutputFormat::Json {
        let json = serde_json::json!({
            "run": id,
            "runbook": meta.name,
            "kind": meta.kind,
            "rehearsal": meta.is_rehearsal(),
            "coverage": coverage.as_ref().map(Coverage::json),
            "state": state,
            "workdir": meta.workdir,
            "steps": steps.iter().map(|(s, r)| {
                let mut v = serde_json::to_value(r)?;
                v["id"] = s.clone().into();
                Ok(v)
            }).collect::<Result<Vec<_>, serde_json::Error>>()?,
        });
        outln!("{}", serde_json::to_string_pretty(&json)?);
        return Ok(());
    }
    outln!("run {id}: {} ({}), {state}", meta.name, kind_text(&meta));
    // A rehearsal says how each step ran, between the time and the outputs.
    let ran = |r: &StepRecord| match (&coverage, &r.rehearsed) {
        (None, _) => String::new(),
        (Some(_), Some(how)) => format!("{:<22}  ", ran_word(how)),
        (Some(_), None) => format!("{:<22}  ", ""),
    };
    outln!(
        "{:<28} {:<12} {:>8} {:>9}  {}OUTPUTS",
        "STEP",
        "STATE",
        "ATTEMPTS",
        "TIME",
        if coverage.is_some() {
            format!("{:<22}  ", "RAN")
        } else {
            String::new()
        }
    );
    for (step, r) in &steps {
        let state = if r.state == StepState::Running && state != "running" {
            "incomplete"
        } else {
            crate::coverage::state_word(r)
        };
        let time = r
            .duration_ms
            .map(|ms| human(Duration::from_millis(ms)))
            .unwrap_or_default();
        let outputs: Vec<String> = r
            .outputs
            .iter()
            .map(|(k, v)| format!("{k}={}", crate::report::short(v)))
            .collect();
        let line = format!(
            "{step:<28} {state:<12} {:>8} {time:>9}  {}{}",
            r.attempts,
            ran(r),
            outputs.join(" ")
        );
        outln!("{}", line.trim_end());
        if let (Some(e), StepState::Failed | StepState::Retrying | StepState::Blocked) =
            (&r.error, r.state)
        {
            outln!("{:<28} {e}", "");
        }
        if let (Some(Rehearsed::Skipped { reason }), StepState::Succeeded) = (&r.rehearsed, r.state)
        {
            outln!("{:<28} {reason}", "");
        }
    }
    if let Some(coverage) = &coverage {
        outln!("coverage: {}", coverage.summary());
    }
    Ok(())
}

/// How a step of a rehearsal ran, in the RAN column: `real`, `double: helm, istioctl`,
/// `stand-in: FILE`, `skipped` (its reason on the next line).
fn ran_word(how: &Rehearsed) -> String {
    match how {
        Rehearsed::Skipped { .. } => "skipped".to_string(),
        Rehearsed::StandIn { file, .. } => format!("stand-in: {file}"),
        _ => how.describe(),
    }
}
