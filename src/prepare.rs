//! The shared front half of every command that reads a runbook: find it, load and validate it,
//! resolve its params, and turn problems into located messages (exit code 2).

use std::path::{Path, PathBuf};

use clap::Args;
use clap_complete::engine::ArgValueCompleter;
use meshbook_engine::params::{self, Origin, ParamsFile};
use meshbook_engine::validate::Validated;
use meshbook_engine::values::Values;

use crate::complete;
use crate::failure::{Diagnosed, Failure};
use crate::source::{self, RunbookSource};

/// The runbook and its params, as every runbook command takes them.
#[derive(Debug, Clone, Args)]
pub(crate) struct RunbookArgs {
    /// A runbook name (built-in, ./runbooks/NAME, $MESHBOOK_PATH) or a path to a runbook file or folder.
    #[arg(add = ArgValueCompleter::new(complete::runbooks))]
    pub(crate) runbook: String,
    /// A YAML file of param values; relative paths in it resolve against its folder.
    #[arg(long = "params", value_name = "FILE")]
    pub(crate) params_file: Option<PathBuf>,
    /// A param value, overriding the params file.
    #[arg(short = 'p', long = "param", value_name = "KEY=VALUE", value_parser = params::parse_override,
          add = ArgValueCompleter::new(complete::params))]
    pub(crate) params: Vec<(String, String)>,
    /// The kubeconfig context for the runbook's one param of type `context` (kubectl's habit);
    /// `-p NAME=CTX` names each of several.
    #[arg(long, value_name = "CONTEXT", add = ArgValueCompleter::new(complete::context_flag))]
    pub(crate) context: Option<String>,
}

impl RunbookArgs {
    /// The param values the command line gives: `--context` first, so `-p` wins over it.
    fn overrides(
        &self,
        runbook: &meshbook_engine::model::Runbook,
    ) -> Result<Vec<(String, String)>, Failure> {
        let Some(context) = &self.context else {
            return Ok(self.params.clone());
        };
        let contexts: Vec<&String> = runbook
            .params
            .iter()
            .filter(|(_, p)| p.ty == meshbook_engine::model::ValueType::Context)
            .map(|(name, _)| name)
            .collect();
        let [name] = contexts[..] else {
            let names: Vec<String> = contexts.iter().map(|n| format!("`{n}`")).collect();
            return Err(Failure::Invalid(match names.len() {
                0 => format!(
                    "--context: runbook `{}` has no param of type context",
                    runbook.metadata.name
                ),
                _ => format!(
                    "--context: runbook `{}` has {} params of type context ({}): give each with `-p NAME=CONTEXT`",
                    runbook.metadata.name,
                    names.len(),
                    names.join(", ")
                ),
            }));
        };
        let mut overrides = vec![(name.clone(), context.clone())];
        overrides.extend(self.params.iter().cloned());
        Ok(overrides)
    }
}

/// A runbook ready to plan or run.
pub(crate) struct Prepared {
    /// Where it came from.
    pub(crate) source: RunbookSource,
    /// The checked runbook and its graph.
    pub(crate) validated: Validated,
    /// Param values.
    pub(crate) params: Values,
}

/// Loads, validates and resolves params. With `require_params`, every param must have a value.
pub(crate) fn prepare(args: &RunbookArgs, require_params: bool) -> Result<Prepared, Failure> {
    let source = source::resolve(&args.runbook).map_err(|e| Failure::Invalid(format!("{e:#}")))?;
    let validated = validate_source(&source)?;
    let file_text = match &args.params_file {
        Some(path) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| Failure::Invalid(format!("failed to read {}: {e}", path.display())))?,
        ),
        None => None,
    };
    let dir = args
        .params_file
        .as_deref()
        .and_then(Path::parent)
        .map(|p| {
            if p.as_os_str().is_empty() {
                Path::new(".")
            } else {
                p
            }
        })
        .map(|p| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()));
    let file = file_text.as_deref().map(|text| ParamsFile {
        text,
        dir: dir.as_deref().unwrap_or(Path::new(".")),
    });
    let overrides = args.overrides(&validated.runbook)?;
    let require = require_params || args.params_file.is_some() || !overrides.is_empty();
    let params =
        params::resolve(&validated.runbook, file, &overrides, require).map_err(|problems| {
            let mut diagnosed = Diagnosed::default();
            for p in problems {
                let d = std::slice::from_ref(&p.diagnostic);
                match p.origin {
                    Origin::Runbook => diagnosed.add(&source.display, &source.text, d),
                    Origin::ParamsFile => {
                        let name = args
                            .params_file
                            .as_deref()
                            .map(|p| p.display().to_string())
                            .unwrap_or_default();
                        diagnosed.add(&name, file_text.as_deref().unwrap_or_default(), d);
                    }
                    Origin::CommandLine => diagnosed.add_command_line(d),
                }
            }
            Failure::Diagnostics(diagnosed)
        })?;
    Ok(Prepared {
        source,
        validated,
        params,
    })
}

/// Loads and validates a runbook's text, rendering every problem.
pub(crate) fn validate_source(source: &RunbookSource) -> Result<Validated, Failure> {
    meshbook_engine::read_runbook(&source.text).map_err(|diags| {
        let mut diagnosed = Diagnosed::default();
        diagnosed.add(&source.display, &source.text, &diags);
        let n = diags.len();
        diagnosed.text.push_str(&format!(
            "{n} problem{} found in {}\n",
            if n == 1 { "" } else { "s" },
            source.display
        ));
        Failure::Diagnostics(diagnosed)
    })
}
