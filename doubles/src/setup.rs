//! A rehearsal's doubles folder: `bin/` with one link per tool to the `meshbook` binary (put
//! first on shell steps' `PATH`), `config.json` (what the doubles play), and `calls.jsonl`
//! (what they did).
//!
//! A runbook says what its doubles play in `sandbox/doubles.yaml`:
//!
//! ```yaml
//! versions:            # the tool versions the runbook's steps call
//!   helm: 2.16.12
//!   istioctl: 1.6.5
//! downloads:           # remote URLs, served from files of the runbook's folder
//!   https://istio.io/downloadIstio: sandbox/downloads/downloadIstio
//!   https://github.com/istio/istio/releases/download/1.6.5/istio-1.6.5-*.tar.gz: sandbox/downloads/istio-1.6.5
//! ```
//!
//! A download whose stand-in is a folder is served as a `.tar.gz` of it (or, for `git clone`,
//! copied as the clone). `*` in a URL matches any run of characters.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The variable naming the doubles folder.
pub const DIR_VAR: &str = "MESHBOOK_DOUBLES";
/// The doubles' configuration in that folder.
pub const CONFIG_FILE: &str = "config.json";
/// The record of calls in that folder.
pub const CALLS_FILE: &str = "calls.jsonl";

/// What the doubles of one rehearsal play.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Config {
    /// The doubles folder (not stored; set when loaded).
    #[serde(skip)]
    pub dir: Option<PathBuf>,
    /// The rehearsal's kubeconfig: where the simulated clusters' contexts are.
    #[serde(default)]
    pub kubeconfig: Option<PathBuf>,
    /// Tool versions by tool name.
    #[serde(default)]
    pub versions: BTreeMap<String, String>,
    /// URL patterns and the local file or folder each is served from.
    #[serde(default)]
    pub downloads: Vec<Download>,
}

/// One download stand-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Download {
    /// The URL, `*` matching any run of characters.
    pub url: String,
    /// The file or folder served.
    pub path: PathBuf,
}

impl Download {
    /// True when `url` matches this pattern.
    pub fn matches(&self, url: &str) -> bool {
        glob_match(&self.url, url)
    }
}

fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let Some(rest) = text.strip_prefix(parts[0]) else {
        return false;
    };
    let mut rest = rest;
    let last = parts[parts.len() - 1];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

impl Config {
    /// Loads the configuration of a doubles folder (empty when it has none).
    pub fn load(dir: &Path) -> Config {
        let mut config: Config = std::fs::read_to_string(dir.join(CONFIG_FILE))
            .ok()
            .and_then(|t| serde_json::from_str(&t).ok())
            .unwrap_or_default();
        config.dir = Some(dir.to_path_buf());
        config
    }

    /// The stand-in served for `url`, if any.
    pub fn download(&self, url: &str) -> Option<&Download> {
        self.downloads.iter().find(|d| d.matches(url))
    }
}

/// A runbook's `sandbox/doubles.yaml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RunbookDoubles {
    #[serde(default)]
    versions: BTreeMap<String, String>,
    #[serde(default)]
    downloads: BTreeMap<String, String>,
}

/// Why a doubles folder could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// The runbook's `sandbox/doubles.yaml` is not valid.
    #[error("sandbox/doubles.yaml: {0}")]
    Spec(String),
    /// A file could not be written.
    #[error("cannot set up the doubles in {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> SetupError + '_ {
    move |source| SetupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Sets up the doubles folder `dir`: links in `dir/bin` to `exe` for every tool (and
/// `meshbook` itself), and the configuration from the runbook's `doubles.yaml` (`spec`, whose
/// download paths are relative to `base`, the runbook's folder). Idempotent: `resume` calls it
/// again. Returns the `bin` folder to put first on `PATH`.
pub fn install(
    dir: &Path,
    exe: &Path,
    kubeconfig: &Path,
    spec: Option<&str>,
    base: &Path,
) -> Result<PathBuf, SetupError> {
    let spec: RunbookDoubles = match spec {
        Some(text) => serde_yaml::from_str(text).map_err(|e| SetupError::Spec(e.to_string()))?,
        None => RunbookDoubles::default(),
    };
    let bin = dir.join("bin");
    crate::private::create_dir(&bin).map_err(io_err(&bin))?;
    for name in crate::TOOLS.iter().chain(&["meshbook"]) {
        let link = bin.join(name);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(exe, &link).map_err(io_err(&link))?;
    }
    let config = Config {
        dir: None,
        kubeconfig: Some(kubeconfig.to_path_buf()),
        versions: spec.versions,
        downloads: spec
            .downloads
            .into_iter()
            .map(|(url, path)| Download {
                url,
                path: base.join(path),
            })
            .collect(),
    };
    let path = dir.join(CONFIG_FILE);
    let text = serde_json::to_string_pretty(&config).unwrap_or_default();
    crate::private::write(&path, text.as_bytes()).map_err(io_err(&path))?;
    Ok(bin)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_patterns_match_with_stars() {
        let d = Download {
            url: "https://x/istio-1.6.5-*.tar.gz".into(),
            path: PathBuf::new(),
        };
        assert!(d.matches("https://x/istio-1.6.5-linux-amd64.tar.gz"));
        assert!(!d.matches("https://x/istio-1.6.6-linux-amd64.tar.gz"));
        assert!(glob_match("a", "a") && !glob_match("a", "ab"));
    }

    #[test]
    fn install_links_every_tool_and_writes_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let spec = "versions: {helm: 2.16.12}\ndownloads:\n  https://a/b: sandbox/b\n";
        let bin = install(
            dir.path(),
            Path::new("/bin/true"),
            Path::new("/k"),
            Some(spec),
            Path::new("/rb"),
        )
        .unwrap();
        assert!(bin.join("helm").is_symlink() && bin.join("meshbook").is_symlink());
        let config = Config::load(dir.path());
        assert_eq!(config.versions["helm"], "2.16.12");
        assert_eq!(
            config.download("https://a/b").unwrap().path,
            Path::new("/rb/sandbox/b")
        );
        assert!(
            install(
                dir.path(),
                Path::new("/x"),
                Path::new("/k"),
                Some("bogus: 1"),
                Path::new("/")
            )
            .is_err()
        );
    }
}
