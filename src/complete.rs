//! Shell completions: `meshbook completions SHELL` prints the script a shell sources, and that
//! script calls the binary back (`COMPLETE=SHELL meshbook -- WORDS...`, clap_complete's dynamic
//! completion) so that values come from what exists now: runbook names, run ids in the state
//! dir, step ids of the run being resumed, params of the runbook on the line and, for params of
//! type `context`, the kubeconfig's contexts.

use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

use clap::{ArgMatches, CommandFactory, ValueEnum};
use clap_complete::engine::{CompletionCandidate, PathCompleter, ValueCompleter};
use clap_complete::env::{CompleteEnv, Shells};
use meshbook_engine::model::ValueType;
use meshbook_engine::state::store::StateDir;

use crate::args::StateArgs;
use crate::location::Location;
use crate::store::View;

use crate::cli::Cli;
use crate::failure::CmdResult;
use crate::{recorded, source};

/// The variable that asks the binary for completions instead of running a command.
const VAR: &str = "COMPLETE";

/// Shells `meshbook completions` writes a script for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Shell {
    /// bash 4.4 or later (`source <(meshbook completions bash)`).
    Bash,
    /// zsh (a file named `_meshbook` on `$fpath`).
    Zsh,
    /// fish (`~/.config/fish/completions/meshbook.fish`).
    Fish,
    /// PowerShell (`meshbook completions powershell | Out-String | Invoke-Expression`).
    Powershell,
    /// Elvish.
    Elvish,
}

/// Answers a completion request and exits, when the shell's script made one; does nothing on
/// an ordinary run.
pub(crate) fn answer_if_asked() {
    CompleteEnv::with_factory(Cli::command).var(VAR).complete();
}

/// Prints the script that registers completions for `shell`; `bin` is the command name the
/// shell completes (`meshbook`, or `kubectl-meshbook`).
pub(crate) fn script(shell: Shell, bin: &str) -> CmdResult {
    let name = shell
        .to_possible_value()
        .map(|v| v.get_name().to_string())
        .unwrap_or_default();
    let shells = Shells::builtins();
    let completer = shells
        .completer(&name)
        .ok_or_else(|| anyhow::anyhow!("no completer for {name}"))?;
    // The script calls the binary by the name it was called by, as a shell would find it.
    let program = std::env::args_os()
        .next()
        .map(PathBuf::from)
        .map(|p| {
            if p.components().count() > 1 {
                std::path::absolute(&p).unwrap_or(p)
            } else {
                p
            }
        })
        .unwrap_or_else(|| PathBuf::from(bin));
    let mut out = Vec::new();
    completer.write_registration(VAR, bin, bin, &program.to_string_lossy(), &mut out)?;
    let mut stdout = std::io::stdout().lock();
    std::io::Write::write_all(&mut stdout, &out)?;
    Ok(std::io::Write::flush(&mut stdout)?)
}

/// The words being completed when they do not come after `--` (kubectl's plugin completion).
static WORDS: std::sync::OnceLock<Vec<OsString>> = std::sync::OnceLock::new();

/// Completion for kubectl (1.26+), which runs `kubectl_complete-meshbook ARGS... WORD` for
/// `kubectl meshbook ARGS... WORD<TAB>` and reads cobra's answer: `value<TAB>help` lines, then
/// `:4` (no file completion).
pub(crate) fn for_kubectl(args: &[String]) -> std::process::ExitCode {
    let mut words: Vec<OsString> = vec!["meshbook".into()];
    words.extend(args.iter().map(OsString::from));
    if args.is_empty() {
        words.push(OsString::new());
    }
    let index = words.len() - 1;
    let _ = WORDS.set(words.clone());
    let cwd = std::env::current_dir().ok();
    let found = clap_complete::engine::complete(&mut Cli::command(), words, index, cwd.as_deref())
        .unwrap_or_default();
    let mut out = String::new();
    for c in found.iter().filter(|c| !c.is_hide_set()) {
        out.push_str(&c.get_value().to_string_lossy());
        if let Some(help) = c.get_help() {
            out.push('\t');
            out.push_str(help.to_string().lines().next().unwrap_or_default());
        }
        out.push('\n');
    }
    out.push_str(":4\n");
    let mut stdout = std::io::stdout().lock();
    let _ = std::io::Write::write_all(&mut stdout, out.as_bytes());
    std::process::ExitCode::SUCCESS
}

/// The command line being completed, parsed as far as it goes: the words after `--` (or those
/// kubectl gave), but the last (the one being completed).
fn line() -> Option<ArgMatches> {
    let mut words: Vec<OsString> = match WORDS.get() {
        Some(words) => words.clone(),
        None => std::env::args_os()
            .skip_while(|w| w != "--")
            .skip(1)
            .collect(),
    };
    words.pop();
    Cli::command()
        .ignore_errors(true)
        .try_get_matches_from(words)
        .ok()
}

/// The subcommand's matches, however deep (`sandbox up` included).
fn deepest(matches: &ArgMatches) -> &ArgMatches {
    match matches.subcommand() {
        Some((_, sub)) => deepest(sub),
        None => matches,
    }
}

fn value<T: Clone + Send + Sync + 'static>(id: &str) -> Option<T> {
    let matches = line()?;
    deepest(&matches)
        .try_get_one::<T>(id)
        .ok()
        .flatten()
        .cloned()
}

/// The runs of the state dir on the line. Runs kept on a cluster are not completed: a
/// keystroke should not wait for an API server.
fn state_dir() -> Option<View> {
    let state = StateArgs {
        state_dir: value::<PathBuf>("state_dir"),
        state: value::<Location>("state"),
        kubeconfig: None,
    };
    match state.location().ok()? {
        Location::Dir(dir) => Some(View::local(StateDir::new(dir))),
        Location::Kube(_) => None,
    }
}

fn starting_with(
    current: &OsStr,
    candidates: Vec<CompletionCandidate>,
) -> Vec<CompletionCandidate> {
    let current = current.to_string_lossy();
    candidates
        .into_iter()
        .filter(|c| c.get_value().to_string_lossy().starts_with(&*current))
        .collect()
}

/// Runbook names (built-in, ./runbooks, $MESHBOOK_PATH) with their titles; paths once the word
/// looks like one.
pub(crate) fn runbooks(current: &OsStr) -> Vec<CompletionCandidate> {
    let text = current.to_string_lossy();
    if text.contains('/') || text.starts_with('.') || text.starts_with('~') {
        return PathCompleter::any().complete(current);
    }
    let names = source::list()
        .into_iter()
        .map(|l| {
            let title = meshbook_engine::load::load(&l.text)
                .ok()
                .and_then(|x| x.runbook.metadata.title);
            CompletionCandidate::new(l.name).help(title.map(Into::into))
        })
        .collect();
    starting_with(current, names)
}

/// Run ids in the state dir (`--state-dir` on the line, $MESHBOOK_STATE_DIR, `.meshbook`),
/// newest first, each with its runbook's name.
pub(crate) fn run_ids(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(store) = state_dir() else {
        return Vec::new();
    };
    let mut runs: Vec<(u64, CompletionCandidate)> = store
        .list()
        .unwrap_or_default()
        .into_iter()
        .map(|id| {
            let meta = store.read_meta(&id).ok();
            let created = meta.as_ref().map_or(0, |m| m.created_at);
            let help = meta.map(|m| m.name.into());
            (created, CompletionCandidate::new(id).help(help))
        })
        .collect();
    // Ids order by the second they were made in; the time in the run's meta orders within it.
    runs.sort_by_key(|r| std::cmp::Reverse(r.0));
    starting_with(current, runs.into_iter().map(|(_, c)| c).collect())
}

/// Step ids of the run on the line (default: the latest unfinished one), for `resume --from`.
pub(crate) fn step_ids(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(store) = state_dir() else {
        return Vec::new();
    };
    let Some(id) = value::<String>("run_id").or_else(|| recorded::latest_unfinished(&store).ok())
    else {
        return Vec::new();
    };
    let Ok(meta) = store.read_meta(&id) else {
        return Vec::new();
    };
    let Ok(validated) = recorded::runbook_of(&meta, &store.run_dir(&id)) else {
        return Vec::new();
    };
    let steps = validated
        .list(recorded::list(&meta))
        .steps
        .iter()
        .map(|s| CompletionCandidate::new(&s.id).help(s.title.clone().map(Into::into)))
        .collect();
    starting_with(current, steps)
}

/// `-p NAME=VALUE`: the params of the runbook on the line as `NAME=`, then, for a param of type
/// `context`, the kubeconfig's contexts as its values.
pub(crate) fn params(current: &OsStr) -> Vec<CompletionCandidate> {
    let Some(runbook) = value::<String>("runbook") else {
        return Vec::new();
    };
    let Ok(source) = source::resolve(&runbook) else {
        return Vec::new();
    };
    let Ok(loaded) = meshbook_engine::load::load(&source.text) else {
        return Vec::new();
    };
    let text = current.to_string_lossy();
    let candidates = match text.split_once('=') {
        None => loaded
            .runbook
            .params
            .iter()
            .map(|(name, p)| {
                CompletionCandidate::new(format!("{name}="))
                    .help(p.description.clone().map(Into::into))
            })
            .collect(),
        Some((name, _)) => match loaded.runbook.params.get(name) {
            Some(p) if p.ty == ValueType::Context => contexts(value::<PathBuf>("kubeconfig"))
                .into_iter()
                .map(|c| CompletionCandidate::new(format!("{name}={c}")))
                .collect(),
            _ => Vec::new(),
        },
    };
    starting_with(current, candidates)
}

/// `--context`: the kubeconfig's contexts (`--kubeconfig` on the line, $KUBECONFIG,
/// ~/.kube/config).
pub(crate) fn context_flag(current: &OsStr) -> Vec<CompletionCandidate> {
    let names = contexts(value::<PathBuf>("kubeconfig"))
        .into_iter()
        .map(CompletionCandidate::new)
        .collect();
    starting_with(current, names)
}

/// Context names of a kubeconfig: `file`, else every file of $KUBECONFIG, else ~/.kube/config.
pub(crate) fn contexts(file: Option<PathBuf>) -> Vec<String> {
    let files: Vec<PathBuf> = match (file, std::env::var_os("KUBECONFIG")) {
        (Some(f), _) => vec![f],
        (None, Some(list)) if !list.is_empty() => std::env::split_paths(&list).collect(),
        (None, _) => std::env::var_os("HOME")
            .map(|h| Path::new(&h).join(".kube/config"))
            .into_iter()
            .collect(),
    };
    let mut names: Vec<String> = Vec::new();
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else {
            continue;
        };
        let Ok(config) = serde_yaml::from_str::<serde_yaml::Value>(&text) else {
            continue;
        };
        let listed = config["contexts"]
            .as_sequence()
            .cloned()
            .unwrap_or_default();
        for c in listed {
            if let Some(name) = c["name"].as_str()
                && !names.iter().any(|n| n == name)
            {
                names.push(name.to_string());
            }
        }
    }
    names
}
