//! What a runbook needs of the clusters and tools it runs against: its `requires:` section.
//!
//! ```yaml
//! requires:
//!   kubernetes: ">=1.9, <1.16"
//!   helm: "2.x"
//!   gcloud:            # any version
//! ```

use std::fmt;

use indexmap::IndexMap;
use meshbook_inspect::version::{KubeVersion, Version, VersionError, VersionReq};
use schemars::JsonSchema;
use serde::{Serialize, Serializer};

/// The key of the Kubernetes requirement; every other key names a tool.
pub const KUBERNETES: &str = "kubernetes";

/// A version range as written in a runbook (`">=1.9, <1.16"`, `"2.x"`, `"1.5.*"`); absent means
/// any version.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Range(Option<VersionReq>);

impl Range {
    /// Any version.
    pub const ANY: Range = Range(None);

    /// Parses a range (see `meshbook_inspect::version` for the syntax).
    pub fn parse(text: &str) -> Result<Range, VersionError> {
        VersionReq::parse(text).map(|r| Range(Some(r)))
    }

    /// Whether `v` is in the range.
    pub fn matches(&self, v: Version) -> bool {
        self.0.as_ref().is_none_or(|r| r.matches(v))
    }

    /// Whether some release of Kubernetes minor `k` is in the range.
    pub fn allows_minor(&self, k: KubeVersion) -> bool {
        self.0.as_ref().is_none_or(|r| r.allows_minor(k))
    }

    /// The newest of `candidates` the range allows.
    pub fn newest_minor(
        &self,
        candidates: impl IntoIterator<Item = KubeVersion>,
    ) -> Option<KubeVersion> {
        match &self.0 {
            Some(range) => range.newest_minor(candidates),
            None => candidates.into_iter().max(),
        }
    }

    /// Whether any version will do.
    pub fn is_any(&self) -> bool {
        self.0.is_none()
    }
}

impl fmt::Display for Range {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(r) => f.write_str(r.as_str()),
            None => f.write_str("any version"),
        }
    }
}

impl Serialize for Range {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Some(r) => serializer.serialize_str(r.as_str()),
            None => serializer.serialize_none(),
        }
    }
}

impl JsonSchema for Range {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "VersionRange".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": ["string", "null"],
            "description": "a version range: \">=1.9, <1.16\", \"2.x\", \"1.5.*\", \"~1.5\", \"1.13 || >=1.20\"; empty for any version"
        })
    }
}

/// The `requires:` section: a Kubernetes range and the tools the steps call, each with a range.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Requires {
    /// The Kubernetes versions the runbook works with (`">=1.9, <1.16"`); absent: any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kubernetes: Option<Range>,
    /// Tools the steps call, by command name (`helm`, `istioctl`, `gcloud`), with their ranges.
    #[serde(flatten)]
    pub tools: IndexMap<String, Range>,
}

impl Requires {
    /// Adds the requirement named `name`: Kubernetes' or a tool's.
    pub(crate) fn insert(&mut self, name: String, range: Range) {
        if name == KUBERNETES {
            self.kubernetes = Some(range);
        } else {
            self.tools.insert(name, range);
        }
    }

    /// Whether the runbook declares nothing.
    pub fn is_empty(&self) -> bool {
        self.kubernetes.is_none() && self.tools.is_empty()
    }

    /// The Kubernetes range (any when not declared).
    pub fn kubernetes(&self) -> &Range {
        self.kubernetes.as_ref().unwrap_or(&Range::ANY)
    }

    /// One line per requirement, `kubernetes >=1.9, <1.16`, for `show` and `plan`.
    pub fn lines(&self) -> Vec<String> {
        let mut out = Vec::new();
        if let Some(k) = &self.kubernetes {
            out.push(format!("{KUBERNETES} {k}"));
        }
        for (tool, range) in &self.tools {
            out.push(format!("{tool} {range}"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_match_versions_and_minors() {
        let r = Range::parse(">=1.9, <1.16").unwrap();
        assert!(r.allows_minor(KubeVersion::new(15)));
        assert!(!r.allows_minor(KubeVersion::new(16)));
        assert_eq!(
            r.newest_minor(KubeVersion::described()),
            Some(KubeVersion::new(15))
        );
        assert!(Range::ANY.matches(Version::new(9, 9, 9)));
        assert!(
            Range::parse("2.x")
                .unwrap()
                .matches(Version::new(2, 16, 12))
        );
        assert!(!Range::parse("2.x").unwrap().matches(Version::new(3, 0, 0)));
    }
}
