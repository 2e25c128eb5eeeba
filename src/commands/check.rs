//! `meshbook validate`, `plan`, `graph` and `schema`: everything that needs no cluster.

use clap::ValueEnum;
use meshbook_engine::plan::{self, GraphFormat};

use crate::failure::{CmdResult, Failure};
use crate::prepare::{RunbookArgs, prepare};

/// Output formats for commands that speak to people or machines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum OutputFormat {
    /// Text for people.
    #[default]
    Text,
    /// JSON for machines.
    Json,
}

/// Graph formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum GraphFormatArg {
    /// Graphviz dot.
    Dot,
    /// Mermaid flowchart.
    Mermaid,
}

/// Checks a runbook (and its params when given) and says so.
pub fn validate(args: &RunbookArgs) -> CmdResult {
    let p = prepare(args, false)?;
    let rb = &p.validated.runbook;
    println!(
        "ok: {} is valid ({} steps in {} layers, {} finally, {} params)",
        p.source.display,
        rb.steps.len(),
        p.validated.graph.layers().len(),
        rb.finally.len(),
        rb.params.len()
    );
    Ok(())
}

/// Prints the dry-run plan.
pub fn plan(args: &RunbookArgs, output: OutputFormat) -> CmdResult {
    let p = prepare(args, true)?;
    let plan = plan::plan(&p.validated, &p.params);
    match output {
        OutputFormat::Text => print!("{}", plan.to_text()),
        OutputFormat::Json => {
            let json = serde_json::to_string_pretty(&plan).map_err(|e| Failure::Other(e.into()))?;
            println!("{json}");
        }
    }
    Ok(())
}

/// Prints the DAG.
pub fn graph(args: &RunbookArgs, format: GraphFormatArg) -> CmdResult {
    let p = prepare(args, false)?;
    let format = match format {
        GraphFormatArg::Dot => GraphFormat::Dot,
        GraphFormatArg::Mermaid => GraphFormat::Mermaid,
    };
    print!("{}", plan::graph_text(&p.validated, format));
    Ok(())
}

/// Prints the JSON Schema of the runbook format.
pub fn schema() -> CmdResult {
    let schema = meshbook_engine::schema::runbook_schema();
    println!("{}", serde_json::to_string_pretty(&schema).map_err(|e| Failure::Other(e.into()))?);
    Ok(())
}
