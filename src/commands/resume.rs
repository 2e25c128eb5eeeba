//! `meshbook resume`: continue a failed or interrupted run. Prints the resume plan first: which
//! steps are done (skipped, outputs restored), which run, and which run again and why.

use clap::Args;
use clap_complete::engine::ArgValueCompleter;
use meshbook_engine::run::resume::{self, Decision};
use meshbook_engine::state::replay::RunRecord;
use meshbook_engine::state::store::RunKind;

use crate::args::DriveArgs;
use crate::complete;
use crate::failure::{CmdResult, Failure};
use crate::recorded;
use crate::session::Session;

/// `meshbook resume`.
#[derive(Debug, Clone, Args)]
pub(crate) struct ResumeArgs {
    /// The run to continue (default: the latest unfinished one).
    #[arg(add = ArgValueCompleter::new(complete::run_ids))]
    run_id: Option<String>,
    /// Run this step and everything downstream of it again, even if done.
    #[arg(long, value_name = "STEP", add = ArgValueCompleter::new(complete::step_ids))]
    from: Option<String>,
    /// Where the run is kept and how it is carried out.
    #[command(flatten)]
    drive: DriveArgs,
}

/// Runs `meshbook resume`.
pub(crate) fn resume(args: &ResumeArgs, verbose: u8) -> CmdResult {
    let store = args.drive.state.store()?;
    let id = match args.run_id.clone() {
        Some(id) => id,
        None => recorded::latest_unfinished(&store.view(None)?)?,
    };
    let mut session = Session::reopen(&args.drive, &store, verbose > 0, &id)?;
    // A cleanup holds the lock of the run it cleans up while it goes on, resumed or not.
    let _cleaned = match &session.meta().kind {
        RunKind::Cleanup { of } => Some(store.hold(of)?),
        RunKind::Steps => None,
    };
    let record = RunRecord::replay(&session.history()?);
    let list = session.validated().list(session.list());
    let forced: Vec<usize> = match &args.from {
        None => Vec::new(),
        Some(name) => match list.steps.iter().position(|s| &s.id == name) {
            Some(i) => vec![i],
            None => {
                let help =
                    meshbook_engine::suggest::help(name, list.steps.iter().map(|s| s.id.as_str()))
                        .map(|h| format!(" ({h})"))
                        .unwrap_or_default();
                return Err(Failure::Invalid(format!(
                    "--from: no step `{name}` in run {id}{help}"
                )));
            }
        },
    };
    let plan = resume::decide(list, &record, session.values(), session.sealer(), &forced);
    session.say(&format!(
        "resume plan for run {id} ({}): {} done, {} to run",
        session.meta().name,
        list.steps.len() - plan.to_run(),
        plan.to_run()
    ));
    for (step, decision) in list.steps.iter().zip(&plan.decisions) {
        let word = match decision {
            Decision::Done => "done",
            Decision::Run => "run",
            Decision::Rerun(_) => "re-run",
        };
        let why = match decision {
            Decision::Rerun(_) => format!("  ({decision})"),
            _ => String::new(),
        };
        session.say(&format!("  {word:<7} {}{why}", step.id));
    }
    session.restore(plan.restored);
    session.drive()
}
