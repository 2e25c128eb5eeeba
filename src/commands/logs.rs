//! `meshbook logs`: a run's step logs, from a state dir or a cluster.

use clap::Args;

use crate::args::StateArgs;
use crate::failure::{CmdResult, Failure};
use crate::recorded;

/// `meshbook logs`.
#[derive(Debug, Clone, Args)]
pub(crate) struct LogsArgs {
    /// The run.
    #[arg(add = clap_complete::engine::ArgValueCompleter::new(crate::complete::run_ids))]
    run_id: String,
    /// The step (default: every step that has a log, in the runbook's order).
    step: Option<String>,
    /// Where run state lives.
    #[command(flatten)]
    state: StateArgs,
}

/// Prints the log of one step of a run, or of each of its steps: one section per attempt.
pub(crate) fn logs(args: &LogsArgs) -> CmdResult {
    let store = args.state.store()?;
    let view = store.view(Some(&args.run_id))?;
    let meta = view.read_meta(&args.run_id)?;
    let dir = view.run_dir(&args.run_id);
    let steps: Vec<String> = match &args.step {
        Some(step) => vec![step.clone()],
        None => {
            let known = recorded::runbook_of(&meta, &dir)
                .map(|v| {
                    v.list(recorded::list(&meta))
                        .steps
                        .iter()
                        .map(|s| s.id.clone())
                        .collect()
                })
                .unwrap_or_default();
            let record =
                meshbook_engine::state::replay::RunRecord::replay(&view.history(&args.run_id)?);
            recorded::step_records(known, &record)
                .into_iter()
                .map(|(id, _)| id)
                .filter(|id| dir.log(id).is_file())
                .collect()
        }
    };
    for step in &steps {
        let text = match std::fs::read_to_string(dir.log(step)) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(Failure::Invalid(format!(
                    "run {} has no log of a step `{step}` in {}",
                    args.run_id,
                    view.place()
                )));
            }
            Err(e) => return Err(e.into()),
        };
        out!("{text}");
    }
    Ok(())
}
