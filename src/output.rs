//! Results for people or for machines: the `-o text|json` flag every command whose result a
//! script may read takes, and the one way JSON results are printed (docs/output.md lists each
//! command's shape).

use clap::Args;
use serde::Serialize;

use crate::args::OutputFormat;
use crate::failure::CmdResult;

/// `-o text|json`.
#[derive(Debug, Clone, Copy, Args)]
pub(crate) struct OutputArg {
    /// `text` for people, `json` for machines (docs/output.md).
    #[arg(long, short = 'o', value_enum, default_value_t)]
    pub(crate) output: OutputFormat,
}

impl OutputArg {
    /// Whether JSON was asked for.
    pub(crate) fn json(self) -> bool {
        self.output == OutputFormat::Json
    }
}

/// Prints a result as pretty JSON on stdout, with a final newline. It is written as it is
/// made, not built as one string first (a 10,000-step plan is megabytes, and growing the string
/// was a tenth of planning). A closed stdout is ignored, as by `outln!`.
pub(crate) fn print_json(value: &impl Serialize) -> CmdResult {
    use std::io::Write as _;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match serde_json::to_writer_pretty(&mut out, value) {
        Err(e) if !e.is_io() => return Err(e.into()),
        _ => {}
    }
    let _ = writeln!(out);
    let _ = out.flush();
    Ok(())
}
