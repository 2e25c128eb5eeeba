//! Small helpers: times, identifiers, name rules and CIDR parsing.

use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// Milliseconds since the epoch.
pub fn now_ms() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0)
}

/// RFC 3339 with milliseconds in UTC, as Google APIs print times.
pub fn rfc3339(ms: u128) -> String {
    let secs = (ms / 1000) as i64;
    let millis = (ms % 1000) as u32;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = meshbook_inspect::calendar::civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The current time, RFC 3339.
pub fn now() -> String {
    rfc3339(now_ms())
}

/// SHA-256 of `seed` as lowercase hex.
pub fn digest(seed: &str) -> String {
    Sha256::digest(seed.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A decimal number of `digits` digits derived from `seed` (first digit never 0).
pub fn number(seed: &str, digits: usize) -> String {
    let hex = digest(seed);
    let mut out = String::new();
    for (i, c) in hex.chars().enumerate() {
        if out.len() == digits {
            break;
        }
        let v = c.to_digit(16).unwrap_or(0) % 10;
        if i == 0 && v == 0 {
            out.push('1');
        } else {
            out.push(char::from_digit(v, 10).unwrap_or('0'));
        }
    }
    out
}

/// Random lowercase hex of `n` characters.
pub fn random_hex(n: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..n)
        .map(|_| char::from_digit(rng.random_range(0..16), 16).unwrap_or('0'))
        .collect()
}

/// `[a-z]([-a-z0-9]{0,max-2}[a-z0-9])?`: the RFC 1035 label rule Google names follow.
pub fn valid_name(name: &str, max: usize) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b.len() <= max
        && b[0].is_ascii_lowercase()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && !name.ends_with('-')
}

/// A project ID as Resource Manager allows it: 6 to 30 characters, a letter first, lowercase
/// letters, digits and hyphens, no hyphen last.
pub fn valid_project_id(id: &str) -> bool {
    (6..=30).contains(&id.len()) && valid_name(id, 30)
}

/// An IPv4 CIDR block as `(address, prefix)`.
pub fn parse_cidr(text: &str) -> Option<([u8; 4], u8)> {
    let (addr, prefix) = text.split_once('/')?;
    let ip: std::net::Ipv4Addr = addr.parse().ok()?;
    let prefix: u8 = prefix.parse().ok()?;
    (prefix <= 32).then_some((ip.octets(), prefix))
}

/// The last path segment of a URL or a relative resource name.
pub fn last_segment(s: &str) -> &str {
    s.rsplit('/').next().unwrap_or(s)
}

/// Creates `dir` and its parents readable by the owner only, whatever the umask: the simulated
/// cloud's state lives in a run's private state directory.
pub fn create_private_dir(dir: &std::path::Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_709_251_199_123), "2024-02-29T23:59:59.123Z");
    }

    #[test]
    fn names_follow_the_label_rule() {
        assert!(valid_name("cluster-1", 40));
        assert!(!valid_name("Cluster-1", 40));
        assert!(!valid_name("1cluster", 40));
        assert!(!valid_name("cluster-", 40));
        assert!(!valid_name("my_cluster", 40));
        assert!(!valid_name(&"a".repeat(41), 40));
        assert!(valid_project_id("my-project"));
        assert!(!valid_project_id("short"));
    }

    #[test]
    fn numbers_are_stable_and_sized() {
        let n = number("my-project", 12);
        assert_eq!(n.len(), 12);
        assert_eq!(n, number("my-project", 12));
        assert_ne!(n, number("other-project", 12));
        assert!(!n.starts_with('0'));
    }

    #[test]
    fn cidrs_parse() {
        assert_eq!(parse_cidr("10.8.0.0/14"), Some(([10, 8, 0, 0], 14)));
        assert_eq!(parse_cidr("10.8.0.0/33"), None);
        assert_eq!(parse_cidr("10.8.0/14"), None);
    }
}
