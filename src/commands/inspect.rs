//! `meshbook inspect`: the two questions kube steps ask of objects, asked of a file: what a
//! kubectl JSONPath prints for it, and whether it is ready by the kstatus rules.

use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use meshbook_inspect::jsonpath::JsonPath;
use meshbook_inspect::readiness;
use serde_json::Value;

use crate::failure::{CmdResult, Failure};
use crate::output::{OutputArg, print_json};

/// `meshbook inspect ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum InspectCommand {
    /// Print what `kubectl get -o jsonpath=TEMPLATE` prints for an object (no newline added).
    Jsonpath(JsonpathArgs),
    /// Print an object's kstatus readiness: status and message.
    Readiness(ReadinessArgs),
}

/// `meshbook inspect jsonpath`.
#[derive(Debug, Args)]
pub(crate) struct JsonpathArgs {
    /// The template, such as `{.status.loadBalancer.ingress[0].ip}`.
    pub(crate) template: String,
    /// The object (JSON or YAML); `-` reads standard input.
    #[arg(long, short = 'f', value_name = "OBJECT.json")]
    pub(crate) file: PathBuf,
    /// Print nothing for a missing key instead of failing (kubectl's default).
    #[arg(long)]
    pub(crate) allow_missing_keys: bool,
    /// `-o json`: `{template, text, results}`, the results one array per template node.
    #[command(flatten)]
    pub(crate) output: OutputArg,
}

/// `meshbook inspect readiness`.
#[derive(Debug, Args)]
pub(crate) struct ReadinessArgs {
    /// The object (JSON or YAML); `-` reads standard input.
    #[arg(long, short = 'f', value_name = "OBJECT.json")]
    pub(crate) file: PathBuf,
    /// `-o json`: `{status, message}`.
    #[command(flatten)]
    pub(crate) output: OutputArg,
}

/// Runs `meshbook inspect`.
pub(crate) fn run(command: InspectCommand) -> CmdResult {
    match command {
        InspectCommand::Jsonpath(args) => jsonpath(&args),
        InspectCommand::Readiness(args) => readiness(&args),
    }
}

fn read_object(path: &Path) -> Result<Value, Failure> {
    let mut text = String::new();
    let read = if path == Path::new("-") {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::read_to_string(path).map(|t| text = t)
    };
    read.map_err(|e| Failure::Invalid(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_str(&text)
        .or_else(|_| serde_yaml::from_str(&text))
        .map_err(|e| Failure::Invalid(format!("{} is neither JSON nor YAML: {e}", path.display())))
}

/// kubectl's texts: `error parsing jsonpath T, M` and `error executing jsonpath "T": ...`.
/// kubectl then dumps the object in Go syntax; that dump is left out, since the object may
/// hold secret data.
fn jsonpath(args: &JsonpathArgs) -> CmdResult {
    let object = read_object(&args.file)?;
    let template = &args.template;
    let path = JsonPath::parse(template)
        .map_err(|e| Failure::Other(anyhow::anyhow!("error parsing jsonpath {template}, {e}")))?;
    let failed = |e| {
        Failure::Other(anyhow::anyhow!(
            "error executing jsonpath {template:?}: Error executing template: {e}. Printing more information for debugging the template:\n\ttemplate was:\n\t\t{template}\n"
        ))
    };
    let text = path
        .render(&object, args.allow_missing_keys)
        .map_err(failed)?;
    if args.output.json() {
        let results = path
            .find_results(&object, args.allow_missing_keys)
            .map_err(failed)?;
        return print_json(&serde_json::json!({
            "template": template,
            "text": text,
            "results": results,
        }));
    }
    let mut out = std::io::stdout().lock();
    out.write_all(text.as_bytes())?;
    Ok(out.flush()?)
}

fn readiness(args: &ReadinessArgs) -> CmdResult {
    let object = read_object(&args.file)?;
    let r = readiness::compute(&object);
    if args.output.json() {
        // One line, as it always was: scripts compare it whole.
        let json = serde_json::json!({"status": r.status.as_str(), "message": r.message});
        outln!("{json}");
        return Ok(());
    }
    outln!("{}: {}", r.status, r.message);
    Ok(())
}
