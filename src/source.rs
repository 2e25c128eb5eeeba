//! Finding runbooks: `NAME` resolves to a built-in runbook, then `./runbooks/NAME/`, then each
//! directory of `$MESHBOOK_PATH`; anything that looks like a path is read as a file or folder.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use include_dir::{Dir, include_dir};

static BUILTIN: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/runbooks");

/// Where a runbook's files live.
#[derive(Debug, Clone)]
pub(crate) enum Origin {
    /// Built into the binary.
    Builtin(&'static Dir<'static>),
    /// A folder on disk.
    Disk(PathBuf),
}

/// A runbook's text and where it came from.
#[derive(Debug, Clone)]
pub(crate) struct RunbookSource {
    /// How messages name the file (`split-horizon/runbook.yaml`, or the path given).
    pub(crate) display: String,
    /// The YAML text.
    pub(crate) text: String,
    /// Where files next to the runbook (sandbox stand-ins) are read from.
    pub(crate) origin: Origin,
}

impl RunbookSource {
    /// Reads a file that sits next to the runbook (a sandbox stand-in).
    pub(crate) fn read_sibling(&self, relative: &str) -> Result<String> {
        match &self.origin {
            Origin::Builtin(dir) => dir
                .get_file(dir.path().join(relative))
                .and_then(|f| f.contents_utf8())
                .map(str::to_string)
                .with_context(|| format!("built-in runbook has no file `{relative}`")),
            Origin::Disk(dir) => {
                let path = dir.join(relative);
                std::fs::read_to_string(&path)
                    .with_context(|| format!("failed to read {}", path.display()))
            }
        }
    }
}

/// One entry of `meshbook list`.
#[derive(Debug, Clone)]
pub(crate) struct Listed {
    /// The name to pass to other commands.
    pub(crate) name: String,
    /// Where it was found: `built-in`, or a folder.
    pub(crate) location: String,
    /// The runbook text.
    pub(crate) text: String,
}

fn looks_like_path(arg: &str) -> bool {
    arg.contains('/') || arg.ends_with(".yaml") || arg.ends_with(".yml") || arg == "."
}

fn search_dirs() -> Vec<PathBuf> {
    let mut dirs = vec![PathBuf::from("runbooks")];
    if let Some(path) = std::env::var_os("MESHBOOK_PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs
}

fn read_disk(path: &Path) -> Result<RunbookSource> {
    let file = if path.is_dir() {
        path.join("runbook.yaml")
    } else {
        path.to_path_buf()
    };
    let text = std::fs::read_to_string(&file)
        .with_context(|| format!("failed to read {}", file.display()))?;
    let dir = file
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let dir = if dir.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        dir
    };
    Ok(RunbookSource {
        display: file.display().to_string(),
        text,
        origin: Origin::Disk(dir),
    })
}

/// Resolves `NAME|PATH` to a runbook.
pub(crate) fn resolve(arg: &str) -> Result<RunbookSource> {
    if looks_like_path(arg) || Path::new(arg).is_file() {
        return read_disk(Path::new(arg));
    }
    if let Some(dir) = BUILTIN.get_dir(arg)
        && let Some(file) = dir.get_file(dir.path().join("runbook.yaml"))
    {
        return Ok(RunbookSource {
            display: format!("{arg}/runbook.yaml"),
            text: file.contents_utf8().unwrap_or_default().to_string(),
            origin: Origin::Builtin(dir),
        });
    }
    for dir in search_dirs() {
        let candidate = dir.join(arg).join("runbook.yaml");
        if candidate.is_file() {
            return read_disk(&candidate);
        }
    }
    let known: Vec<String> = list().into_iter().map(|l| l.name).collect();
    let hint = meshbook_engine::suggest::help(arg, known.iter().map(String::as_str))
        .map(|h| format!(" ({h})"))
        .unwrap_or_default();
    bail!("no runbook named `{arg}`{hint}; `meshbook list` shows the known ones")
}

/// Every runbook that a name can reach, first match winning.
pub(crate) fn list() -> Vec<Listed> {
    let mut out: Vec<Listed> = Vec::new();
    let mut dirs: Vec<&Dir> = BUILTIN.dirs().collect();
    dirs.sort_by_key(|d| d.path());
    for dir in dirs {
        if let Some(file) = dir.get_file(dir.path().join("runbook.yaml")) {
            out.push(Listed {
                name: dir.path().display().to_string(),
                location: "built-in".into(),
                text: file.contents_utf8().unwrap_or_default().to_string(),
            });
        }
    }
    for dir in search_dirs() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut found: Vec<PathBuf> = entries.filter_map(|e| e.ok().map(|e| e.path())).collect();
        found.sort();
        for path in found {
            let file = path.join("runbook.yaml");
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if file.is_file() && !out.iter().any(|l| l.name == name) {
                let text = std::fs::read_to_string(&file).unwrap_or_default();
                out.push(Listed {
                    name,
                    location: dir.display().to_string(),
                    text,
                });
            }
        }
    }
    out
}
