//! Versions and version ranges: of Kubernetes (`1.13`, `v1.13.12-gke.100`) and of the tools a
//! runbook calls (`helm 2.16.12`, `istioctl 1.5.10`).
//!
//! Range syntax (what a runbook's `requires:` section says):
//!
//! | range | matches |
//! |---|---|
//! | `1.13`, `=1.13`, `1.13.*`, `1.13.x` | every 1.13 release |
//! | `1.13.4`, `=1.13.4` | exactly 1.13.4 |
//! | `2.x`, `2.*`, `2` | every 2.y.z |
//! | `*` | anything |
//! | `>=1.9`, `>1.9`, `<1.16`, `<=1.15` | comparisons; a partial version stands for all its releases, so `<=1.15` includes 1.15.12 and `>1.15` starts at 1.16.0 |
//! | `~1.5`, `~1.5.2` | the same minor (`>=1.5.0, <1.6.0`; `>=1.5.2, <1.6.0`) |
//! | `^1.5` | the same major (`>=1.5.0, <2.0.0`) |
//! | `>=1.9, <1.16` or `>=1.9 <1.16` | all of the comparisons (comma or space separated) |
//! | `1.13 \|\| >=1.20` | any of the alternatives |
//!
//! A leading `v` is accepted everywhere. Pre-release and build suffixes (`-gke.100`, `+g47f0b88`)
//! are ignored: `v1.27.3-gke.100` is 1.27.3.

use std::fmt;

/// A release version: major.minor.patch (missing parts are 0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    /// Major version.
    pub major: u64,
    /// Minor version.
    pub minor: u64,
    /// Patch version.
    pub patch: u64,
}

/// Why a version or range does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid version {text:?} at column {column}: {reason}")]
pub struct VersionError {
    /// The text as written.
    pub text: String,
    /// 1-based column (in characters) of the problem within `text`.
    pub column: usize,
    /// What is wrong.
    pub reason: String,
}

fn error(text: &str, byte: usize, reason: impl Into<String>) -> VersionError {
    VersionError {
        text: text.to_string(),
        column: text[..byte.min(text.len())].chars().count() + 1,
        reason: reason.into(),
    }
}

/// Up to three dot-separated numbers, each possibly a wildcard, as written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Partial {
    parts: [Option<u64>; 3],
    /// How many numbers were written before any wildcard or the end.
    given: usize,
}

/// Reads `v?N(.N(.N)?)?` (numbers may be `*`/`x` when `wildcards`) at `s[at..]`; returns the
/// partial version and the byte after it. Suffixes `-...`/`+...` are skipped.
fn read_partial(text: &str, at: usize, wildcards: bool) -> Result<(Partial, usize), VersionError> {
    let b = text.as_bytes();
    let mut i = at;
    if i < b.len() && (b[i] == b'v' || b[i] == b'V') {
        i += 1;
    }
    let mut parts = [None; 3];
    let mut given = 0;
    let mut wild = false;
    for (n, part) in parts.iter_mut().enumerate() {
        if n > 0 {
            if i < b.len() && b[i] == b'.' {
                i += 1;
            } else {
                break;
            }
        }
        let start = i;
        if i < b.len() && matches!(b[i], b'*' | b'x' | b'X') {
            if !wildcards {
                return Err(error(text, i, "a wildcard is not allowed here"));
            }
            wild = true;
            i += 1;
            continue;
        }
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        if start == i {
            return Err(error(text, start, "expected a number"));
        }
        if wild {
            return Err(error(text, start, "a number cannot follow a wildcard"));
        }
        let value = text[start..i]
            .parse::<u64>()
            .map_err(|_| error(text, start, "number too large"))?;
        *part = Some(value);
        given += 1;
    }
    if i < b.len() && (b[i] == b'-' || b[i] == b'+') {
        i += 1;
        while i < b.len() && (b[i].is_ascii_alphanumeric() || matches!(b[i], b'.' | b'-' | b'+')) {
            i += 1;
        }
    }
    Ok((Partial { parts, given }, i))
}

/// Reads all of `text` (surrounding spaces aside) as one version without wildcards; returns it
/// and the byte where it starts.
fn read_whole(text: &str) -> Result<(Partial, usize), VersionError> {
    let lead = text.len() - text.trim_start().len();
    let (p, end) = read_partial(text, lead, false)?;
    if end != text.trim_end().len() {
        return Err(error(text, end, "unexpected text after the version"));
    }
    Ok((p, lead))
}

impl Version {
    /// A version from its parts.
    pub const fn new(major: u64, minor: u64, patch: u64) -> Version {
        Version {
            major,
            minor,
            patch,
        }
    }

    /// Parses `1`, `1.13`, `v1.13.12`, `1.27.3-gke.100` (missing parts are 0).
    pub fn parse(text: &str) -> Result<Version, VersionError> {
        read_whole(text).map(|(p, _)| floor(p))
    }

    /// The first version-looking word in a tool's output, e.g. `3.14.2` in
    /// `version.BuildInfo{Version:"v3.14.2", GitCommit:...}` or `1.5.10` in `client version: 1.5.10`.
    /// A version needs at least major.minor.
    pub fn find_in(output: &str) -> Option<Version> {
        let b = output.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let boundary = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.');
            if boundary
                && (b[i].is_ascii_digit() || b[i] == b'v')
                && let Ok((p, _)) = read_partial(output, i, false)
                && p.given >= 2
            {
                return Some(floor(p));
            }
            i += 1;
        }
        None
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

/// A Kubernetes release line, `1.<minor>`: what decides which APIs a cluster serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KubeVersion {
    minor: u32,
}

impl KubeVersion {
    /// The oldest minor the served-API table describes.
    pub const OLDEST: KubeVersion = KubeVersion::new(9);
    /// The newest minor the served-API table describes.
    pub const NEWEST: KubeVersion = KubeVersion::new(33);

    /// `1.<minor>`.
    pub const fn new(minor: u32) -> KubeVersion {
        KubeVersion { minor }
    }

    /// The minor number.
    pub const fn minor(self) -> u32 {
        self.minor
    }

    /// Every minor from [`KubeVersion::OLDEST`] to [`KubeVersion::NEWEST`].
    pub fn described() -> impl DoubleEndedIterator<Item = KubeVersion> {
        (Self::OLDEST.minor..=Self::NEWEST.minor).map(KubeVersion::new)
    }

    /// Parses `1.13`, `v1.13.12`, `1.27.3-gke.100`; the major must be 1.
    pub fn parse(text: &str) -> Result<KubeVersion, VersionError> {
        let (p, lead) = read_whole(text)?;
        let end = text.trim_end().len();
        if p.parts[0] != Some(1) {
            return Err(error(
                text,
                lead,
                "a Kubernetes version is 1.<minor>, e.g. 1.13",
            ));
        }
        let minor = p.parts[1].ok_or_else(|| error(text, end, "expected 1.<minor>"))?;
        u32::try_from(minor)
            .map(KubeVersion::new)
            .map_err(|_| error(text, lead, "minor too large"))
    }

    /// From the `major` and `minor` fields of an API server's `/version` (`"minor": "31+"`
    /// counts as 31, as kubectl reads it).
    pub fn from_version_info(major: &str, minor: &str) -> Option<KubeVersion> {
        if major.trim() != "1" {
            return None;
        }
        let digits: String = minor.chars().take_while(char::is_ascii_digit).collect();
        digits.parse().ok().map(KubeVersion::new)
    }

    /// The minor as a release version `1.<minor>.<patch>`.
    pub const fn with_patch(self, patch: u64) -> Version {
        Version::new(1, self.minor as u64, patch)
    }
}

impl fmt::Display for KubeVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "1.{}", self.minor)
    }
}

impl std::str::FromStr for KubeVersion {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        KubeVersion::parse(s)
    }
}

/// A half-open interval `[lo, hi)` of versions; `hi: None` is unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Interval {
    lo: Version,
    hi: Option<Version>,
}

impl Interval {
    const ALL: Interval = Interval {
        lo: Version::new(0, 0, 0),
        hi: None,
    };

    fn contains(&self, v: Version) -> bool {
        v >= self.lo && self.hi.is_none_or(|hi| v < hi)
    }

    fn intersect(self, o: Interval) -> Interval {
        let hi = match (self.hi, o.hi) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        Interval {
            lo: self.lo.max(o.lo),
            hi,
        }
    }
}

/// The first version above every release that `p` stands for (`1.15` → 1.16.0).
fn after(p: Partial) -> Option<Version> {
    let [a, b, c] = p.parts;
    match (a, b, c) {
        (Some(a), Some(b), Some(c)) => Some(Version::new(a, b, c.checked_add(1)?)),
        (Some(a), Some(b), None) => Some(Version::new(a, b.checked_add(1)?, 0)),
        (Some(a), None, _) => Some(Version::new(a.checked_add(1)?, 0, 0)),
        (None, ..) => None,
    }
}

fn floor(p: Partial) -> Version {
    Version::new(
        p.parts[0].unwrap_or(0),
        p.parts[1].unwrap_or(0),
        p.parts[2].unwrap_or(0),
    )
}

/// A parsed version range (see the module docs for the syntax).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionReq {
    text: String,
    /// Alternatives; a version matches if any contains it.
    any_of: Vec<Interval>,
}

impl VersionReq {
    /// Parses a range; errors carry the column of the problem.
    pub fn parse(text: &str) -> Result<VersionReq, VersionError> {
        let mut any_of = Vec::new();
        let mut start = 0;
        loop {
            let end = text[start..].find("||").map_or(text.len(), |i| start + i);
            any_of.push(parse_all_of(text, start, end)?);
            if end == text.len() {
                break;
            }
            start = end + 2;
        }
        Ok(VersionReq {
            text: text.trim().to_string(),
            any_of,
        })
    }

    /// Whether `v` is in the range.
    pub fn matches(&self, v: Version) -> bool {
        self.any_of.iter().any(|i| i.contains(v))
    }

    /// Whether some release of the Kubernetes minor `k` (any patch) is in the range.
    pub fn allows_minor(&self, k: KubeVersion) -> bool {
        let lo = k.with_patch(0);
        let hi = KubeVersion::new(k.minor + 1).with_patch(0);
        self.any_of
            .iter()
            .any(|i| i.hi.is_none_or(|h| h > i.lo && h > lo) && i.lo < hi)
    }

    /// The newest of `candidates` that the range allows (as a whole minor).
    pub fn newest_minor(
        &self,
        candidates: impl IntoIterator<Item = KubeVersion>,
    ) -> Option<KubeVersion> {
        candidates
            .into_iter()
            .filter(|k| self.allows_minor(*k))
            .max()
    }

    /// The range as written (trimmed).
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl fmt::Display for VersionReq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl std::str::FromStr for VersionReq {
    type Err = VersionError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VersionReq::parse(s)
    }
}

/// Parses the comparators of one alternative, `text[start..end]`, into their intersection.
fn parse_all_of(text: &str, start: usize, end: usize) -> Result<Interval, VersionError> {
    let b = text.as_bytes();
    let skip_space = |mut i: usize| {
        while i < end && b[i].is_ascii_whitespace() {
            i += 1;
        }
        i
    };
    let mut i = skip_space(start);
    if i == end {
        return Err(error(text, i, "expected a version"));
    }
    let mut acc = Interval::ALL;
    while i < end {
        let (interval, next) = parse_comparator(text, i, end)?;
        acc = acc.intersect(interval);
        i = skip_space(next);
        if i < end && b[i] == b',' {
            i = skip_space(i + 1);
            if i == end {
                return Err(error(text, i, "expected a version after ','"));
            }
        } else if i < end && i == next {
            return Err(error(text, i, "expected ',' or a space between versions"));
        }
    }
    Ok(acc)
}

fn parse_comparator(text: &str, at: usize, end: usize) -> Result<(Interval, usize), VersionError> {
    let rest = &text[at..end];
    let ops = [">=", "<=", "==", ">", "<", "=", "~", "^"];
    let op = ops.iter().find(|o| rest.starts_with(**o)).copied();
    let mut i = at + op.map_or(0, str::len);
    while i < end && text.as_bytes()[i] == b' ' {
        i += 1;
    }
    if i == end {
        return Err(error(text, i, "expected a version"));
    }
    let wildcards = matches!(op, None | Some("=" | "=="));
    let (p, next) = read_partial(text, i, wildcards)?;
    if next > end {
        return Err(error(text, end, "unexpected end"));
    }
    let lo = floor(p);
    let interval = match op {
        None | Some("=" | "==") => Interval { lo, hi: after(p) },
        Some(">=") => Interval { lo, hi: None },
        Some(">") => match after(p) {
            Some(lo) => Interval { lo, hi: None },
            None => return Err(error(text, i, "nothing is greater than everything")),
        },
        Some("<") => Interval {
            lo: Version::new(0, 0, 0),
            hi: Some(lo),
        },
        Some("<=") => Interval {
            lo: Version::new(0, 0, 0),
            hi: after(p),
        },
        Some("~") => {
            let minor_only = Partial {
                parts: [p.parts[0], p.parts[1], None],
                given: p.given.min(2),
            };
            Interval {
                lo,
                hi: after(minor_only),
            }
        }
        Some("^") => {
            let major_only = Partial {
                parts: [p.parts[0], None, None],
                given: 1,
            };
            Interval {
                lo,
                hi: after(major_only),
            }
        }
        Some(other) => return Err(error(text, at, format!("unknown operator {other}"))),
    };
    Ok((interval, next))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        Version::parse(s).unwrap()
    }

    fn req(s: &str) -> VersionReq {
        VersionReq::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    #[test]
    fn versions_parse_with_prefix_and_suffix() {
        assert_eq!(v("v1.13.12"), Version::new(1, 13, 12));
        assert_eq!(v("1.27.3-gke.100"), Version::new(1, 27, 3));
        assert_eq!(v("2"), Version::new(2, 0, 0));
        assert_eq!(v(" 3.14.2+g47f0b88 "), Version::new(3, 14, 2));
        assert!(Version::parse("1.x").is_err());
        assert!(Version::parse("one").is_err());
        assert!(Version::parse("1.2.3 4").is_err());
        assert!(v("1.10.0") > v("1.9.11"));
    }

    #[test]
    fn finds_versions_in_tool_output() {
        let helm =
            r#"version.BuildInfo{Version:"v3.14.2", GitCommit:"c309b6f", GoVersion:"go1.21.7"}"#;
        assert_eq!(Version::find_in(helm), Some(Version::new(3, 14, 2)));
        assert_eq!(
            Version::find_in(
                "Client: &version.Version{SemVer:\"v2.16.12\", GitCommit:\"47f0b88\"}"
            ),
            Some(Version::new(2, 16, 12))
        );
        assert_eq!(
            Version::find_in("client version: 1.5.10"),
            Some(Version::new(1, 5, 10))
        );
        assert_eq!(
            Version::find_in("Google Cloud SDK 529.0.0\nbq 2.1.19"),
            Some(Version::new(529, 0, 0))
        );
        assert_eq!(Version::find_in("no version here 7"), None);
        assert_eq!(Version::find_in("build abc1.2"), None);
    }

    #[test]
    fn kube_versions() {
        assert_eq!(KubeVersion::parse("1.13").unwrap().minor(), 13);
        assert_eq!(KubeVersion::parse("v1.27.3-gke.100").unwrap().minor(), 27);
        assert_eq!(KubeVersion::parse("1.9").unwrap().to_string(), "1.9");
        let e = KubeVersion::parse("2.1").unwrap_err();
        assert_eq!(e.column, 1);
        assert!(KubeVersion::parse("1").is_err());
        assert!(KubeVersion::parse("1.13 west").is_err());
        assert_eq!(
            KubeVersion::from_version_info("1", "31+"),
            Some(KubeVersion::new(31))
        );
        assert_eq!(KubeVersion::from_version_info("2", "1"), None);
        assert_eq!(KubeVersion::from_version_info("1", ""), None);
        assert_eq!(KubeVersion::described().count(), 25);
    }

    #[test]
    fn exact_and_wildcard_ranges() {
        let r = req("1.5.*");
        assert!(r.matches(v("1.5.0")) && r.matches(v("1.5.10")));
        assert!(!r.matches(v("1.6.0")) && !r.matches(v("1.4.9")));
        let r = req("2.x");
        assert!(r.matches(v("2.16.12")) && !r.matches(v("3.0.0")) && !r.matches(v("1.9.9")));
        assert!(req("*").matches(v("0.0.1")));
        let r = req("1.13");
        assert!(r.matches(v("1.13.12")) && !r.matches(v("1.14.0")));
        let r = req("=1.13.4");
        assert!(r.matches(v("1.13.4")) && !r.matches(v("1.13.5")));
        assert!(req("v1.13").matches(v("1.13.0")));
    }

    #[test]
    fn comparisons_treat_partial_versions_as_whole_lines() {
        let r = req(">=1.9, <1.16");
        assert!(r.matches(v("1.9.0")) && r.matches(v("1.15.12")));
        assert!(!r.matches(v("1.16.0")) && !r.matches(v("1.8.15")));
        assert_eq!(
            req(">=1.9 <1.16"),
            VersionReq {
                text: ">=1.9 <1.16".into(),
                ..r
            }
        );
        let r = req("<=1.15");
        assert!(r.matches(v("1.15.12")) && !r.matches(v("1.16.0")));
        let r = req(">1.15");
        assert!(!r.matches(v("1.15.99")) && r.matches(v("1.16.0")));
        let r = req(">= 1.20");
        assert!(r.matches(v("1.33.1")));
    }

    #[test]
    fn tilde_caret_and_alternatives() {
        let r = req("~1.5.2");
        assert!(r.matches(v("1.5.9")) && !r.matches(v("1.5.1")) && !r.matches(v("1.6.0")));
        let r = req("^1.5");
        assert!(r.matches(v("1.9.0")) && !r.matches(v("2.0.0")) && !r.matches(v("1.4.0")));
        let r = req("1.13 || >=1.20");
        assert!(r.matches(v("1.13.1")) && r.matches(v("1.25.0")) && !r.matches(v("1.16.0")));
    }

    #[test]
    fn bad_ranges_name_the_column() {
        for (text, column) in [
            ("", 1),
            (">=", 3),
            (">=1.9,", 7),
            (">=1.9 ,, <2", 8),
            ("1.9 || ", 8),
            ("1.x.3", 5),
            (">=1.x", 5),
            ("abc", 1),
            (">=1.9<2", 6),
        ] {
            let e = VersionReq::parse(text).expect_err(text);
            assert_eq!(e.column, column, "{text}: {e}");
        }
    }

    #[test]
    fn ranges_pick_kubernetes_minors() {
        let r = req(">=1.9, <1.16");
        assert!(r.allows_minor(KubeVersion::new(15)));
        assert!(!r.allows_minor(KubeVersion::new(16)));
        assert_eq!(
            r.newest_minor(KubeVersion::described()),
            Some(KubeVersion::new(15))
        );
        assert_eq!(req(">=1.40").newest_minor(KubeVersion::described()), None);
        // A range that allows only some patches of a minor still allows the minor.
        assert!(req(">=1.13.5, <1.14").allows_minor(KubeVersion::new(13)));
    }
}
