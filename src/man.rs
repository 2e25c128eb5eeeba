//! `meshbook man`: the manual, one page per command (clap_mangen), from the same definitions as
//! `--help`. The repository keeps the pages in docs/man/ (a test checks they are current).

use std::path::Path;

use clap::CommandFactory;

use crate::cli::Cli;
use crate::failure::CmdResult;

/// With a folder, writes `meshbook.1`, `meshbook-run.1`, `meshbook-sandbox-up.1`, ... into it
/// and lists them on stderr; without, prints the top page (`meshbook man | man -l -`).
pub(crate) fn man(dir: Option<&Path>) -> CmdResult {
    let Some(dir) = dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(Cli::command()).render(&mut page)?;
        let mut stdout = std::io::stdout().lock();
        std::io::Write::write_all(&mut stdout, &page)?;
        return Ok(std::io::Write::flush(&mut stdout)?);
    };
    std::fs::create_dir_all(dir)?;
    let before = pages(dir);
    clap_mangen::generate_to(Cli::command(), dir)?;
    let written = pages(dir);
    for page in written.iter().filter(|p| !before.contains(p)) {
        eprintln!("wrote {}", dir.join(page).display());
    }
    eprintln!("{} pages in {}", written.len(), dir.display());
    Ok(())
}

/// The `*.1` files in a folder, sorted.
fn pages(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".1"))
        .collect();
    names.sort();
    names
}
