//! What one client may cost the sandbox, as a real API server bounds it: request bodies, nesting,
//! idle connections and the watch history.

use std::time::Duration;

/// Resource limits of every cluster of a sandbox.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body; larger ones get 413 (the API server's default is 3 MiB).
    pub max_body_bytes: usize,
    /// Deepest nesting of arrays and objects in a JSON or YAML body; deeper ones get 400
    /// before any parser sees them.
    pub max_depth: usize,
    /// A connection that sends no request for this long (or does not finish its TLS handshake
    /// or request headers in this time) is closed.
    pub idle_timeout: Duration,
    /// Bytes of objects the watch history keeps (besides its count limit); older events are
    /// dropped and watches from before them get 410 Expired.
    pub history_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 3 * 1024 * 1024,
            max_depth: 100,
            idle_timeout: Duration::from_secs(60),
            history_bytes: 64 * 1024 * 1024,
        }
    }
}

/// The deepest nesting of `[`/`{` in a JSON or YAML text, outside quoted strings, stopping
/// as soon as it passes `limit` (so a hostile body costs one linear scan at most).
pub fn depth_exceeds(body: &[u8], limit: usize) -> bool {
    let mut depth = 0usize;
    let mut quote: Option<u8> = None;
    let mut escaped = false;
    // YAML block nesting shows as indentation; count leading spaces too (two per level).
    let mut line_start = true;
    let mut indent = 0usize;
    for &b in body {
        if let Some(q) = quote {
            if escaped {
                escaped = false;
            } else if b == b'\\' && q == b'"' {
                escaped = true;
            } else if b == q {
                quote = None;
            }
            continue;
        }
        if line_start {
            if b == b' ' {
                indent += 1;
                if indent / 2 > limit {
                    return true;
                }
                continue;
            }
            line_start = false;
            indent = 0;
        }
        match b {
            b'"' | b'\'' => quote = Some(b),
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return true;
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            b'\n' => line_start = true,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_nesting_outside_strings() {
        assert!(!depth_exceeds(br#"{"a": [1, {"b": "[[[[["}]}"#, 3));
        assert!(depth_exceeds(br#"{"a": [[[[1]]]]}"#, 3));
        let deep = "[".repeat(64_000);
        assert!(depth_exceeds(deep.as_bytes(), 100));
        let yaml = format!("a:\n{}b: 1\n", " ".repeat(400));
        assert!(depth_exceeds(yaml.as_bytes(), 100));
        assert!(!depth_exceeds(b"a:\n  b:\n    c: 1\n", 100));
    }
}
