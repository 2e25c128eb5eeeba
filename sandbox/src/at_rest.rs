//! What a sandbox keeps on disk that must not sit there in clear: the objects of its clusters
//! (Secrets, and anything else a runbook applied, which may carry real keys), each cluster's
//! token, and the serving key. A sandbox given a [`Seal`] (a rehearsal, whose state lies in a
//! run's directory) writes those files sealed; one without keeps them as they are.
//!
//! A sealed file is one line, `meshbook-sealed:` and what the seal made. Files are sealed under
//! their name, so a sealed file moved to another role does not open.

use std::path::Path;
use std::sync::Arc;

use crate::store::{StoreError, write_atomic};

/// Seals and opens the text of a file kept by the sandbox.
pub trait Seal: Send + Sync + std::fmt::Debug {
    /// `plain`, sealed for the file `name`.
    fn seal(&self, name: &str, plain: &str) -> String;
    /// What [`Seal::seal`] made for `name`, opened; `Err` says why it does not open.
    fn open(&self, name: &str, sealed: &str) -> Result<String, String>;
}

/// How a sandbox keeps its files: sealed with this, or (`None`) as they are.
pub type AtRest = Option<Arc<dyn Seal>>;

const MARK: &str = "meshbook-sealed:";

/// The text to write for the file `name` holding `plain`.
pub(crate) fn encode(at_rest: &AtRest, name: &str, plain: String) -> String {
    match at_rest {
        Some(seal) => format!("{MARK}{}\n", seal.seal(name, &plain)),
        None => plain,
    }
}

/// The text of the file `name`, opened if it was sealed.
pub(crate) fn decode(at_rest: &AtRest, name: &str, text: String) -> Result<String, String> {
    let Some(sealed) = text.strip_prefix(MARK) else {
        return Ok(text);
    };
    match at_rest {
        Some(seal) => seal.open(name, sealed.trim()),
        None => Err("it is sealed, and this sandbox has no key to open it".to_string()),
    }
}

/// Reads the file at `path`, opening it if sealed.
pub(crate) fn read(at_rest: &AtRest, path: &Path) -> Result<String, StoreError> {
    let text = std::fs::read_to_string(path).map_err(|source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    decode(at_rest, &file_name(path), text).map_err(|reason| StoreError::Sealed {
        path: path.to_path_buf(),
        reason,
    })
}

/// Writes `text` to the file at `path` (atomically, 0600), sealed when the sandbox seals.
pub(crate) fn write(at_rest: &AtRest, path: &Path, text: String) -> Result<(), StoreError> {
    write_atomic(path, encode(at_rest, &file_name(path), text).as_bytes())
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Reverses the text and prefixes the name: enough to see what went through the seal.
    #[derive(Debug)]
    struct Mirror;

    impl Seal for Mirror {
        fn seal(&self, name: &str, plain: &str) -> String {
            format!("{name}/{}", plain.chars().rev().collect::<String>())
        }
        fn open(&self, name: &str, sealed: &str) -> Result<String, String> {
            let body = sealed
                .strip_prefix(&format!("{name}/"))
                .ok_or("sealed for another file")?;
            Ok(body.chars().rev().collect())
        }
    }

    #[test]
    fn sealed_files_open_under_their_name_and_clear_ones_read_as_they_are() {
        let at_rest: AtRest = Some(Arc::new(Mirror));
        let text = encode(&at_rest, "objects.json", "{\"k\":\"hunter2\"}".into());
        assert!(!text.contains("hunter2"), "{text}");
        assert_eq!(
            decode(&at_rest, "objects.json", text.clone()).unwrap(),
            "{\"k\":\"hunter2\"}"
        );
        assert!(decode(&at_rest, "cluster.json", text.clone()).is_err());
        assert!(decode(&None, "objects.json", text).is_err());
        assert_eq!(decode(&at_rest, "x", "plain".into()).unwrap(), "plain");
        assert_eq!(encode(&None, "x", "plain".into()), "plain");
    }
}
