//! Where runs are kept: a state directory on this machine, or a namespace of a Kubernetes cluster
//! (`kube://CONTEXT/NAMESPACE`), so that any machine with the kubeconfig can list, show and
//! resume them.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

/// A state location.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Location {
    /// A state directory.
    Dir(PathBuf),
    /// A namespace reached through a kubeconfig context.
    Kube(KubeLocation),
}

/// `kube://CONTEXT/NAMESPACE`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KubeLocation {
    /// The kubeconfig context.
    pub(crate) context: String,
    /// The namespace the run's objects live in.
    pub(crate) namespace: String,
}

const SCHEME: &str = "kube://";

impl FromStr for Location {
    type Err = String;

    fn from_str(text: &str) -> Result<Location, String> {
        let Some(rest) = text.strip_prefix(SCHEME) else {
            if text.starts_with("kube:") {
                return Err(format!("`{text}`: expected kube://CONTEXT/NAMESPACE"));
            }
            if text.is_empty() {
                return Err(
                    "an empty state location: give a directory or kube://CONTEXT/NAMESPACE".into(),
                );
            }
            return Ok(Location::Dir(PathBuf::from(text)));
        };
        // Context names may hold slashes (`arn:aws:eks:…:cluster/prod`); namespaces may not.
        let Some((context, namespace)) = rest.rsplit_once('/') else {
            return Err(format!(
                "`{text}`: expected kube://CONTEXT/NAMESPACE (no namespace given)"
            ));
        };
        if context.is_empty() {
            return Err(format!("`{text}`: the context is empty"));
        }
        if !is_dns_label(namespace) {
            return Err(format!(
                "`{text}`: `{namespace}` is not a namespace name (lower-case letters, digits and `-`, at most 63, starting and ending with a letter or digit)"
            ));
        }
        Ok(Location::Kube(KubeLocation {
            context: context.to_string(),
            namespace: namespace.to_string(),
        }))
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Dir(dir) => write!(f, "{}", dir.display()),
            Location::Kube(k) => k.fmt(f),
        }
    }
}

impl fmt::Display for KubeLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{SCHEME}{}/{}", self.context, self.namespace)
    }
}

/// An RFC 1123 label, as namespace names are.
fn is_dns_label(name: &str) -> bool {
    let bytes = name.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[0].is_ascii_alphanumeric()
        && bytes[bytes.len() - 1].is_ascii_alphanumeric()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kube(context: &str, namespace: &str) -> Location {
        Location::Kube(KubeLocation {
            context: context.into(),
            namespace: namespace.into(),
        })
    }

    #[test]
    fn locations_parse_and_print_back() {
        assert_eq!(
            "kube://ctx/meshbook".parse::<Location>(),
            Ok(kube("ctx", "meshbook"))
        );
        assert_eq!(
            "kube://arn:aws:eks:eu-west-1:1:cluster/prod/ops".parse::<Location>(),
            Ok(kube("arn:aws:eks:eu-west-1:1:cluster/prod", "ops"))
        );
        assert_eq!(
            ".meshbook".parse::<Location>(),
            Ok(Location::Dir(".meshbook".into()))
        );
        for text in ["kube://ctx/meshbook", "state/dir"] {
            assert_eq!(text.parse::<Location>().unwrap().to_string(), text);
        }
    }

    #[test]
    fn malformed_kube_locations_say_what_is_wrong() {
        for (text, says) in [
            ("kube://ctx", "no namespace"),
            ("kube:///ns", "context is empty"),
            ("kube://ctx/Bad_NS", "not a namespace name"),
            ("kube://ctx/", "not a namespace name"),
            ("kube:ctx/ns", "expected kube://"),
            ("", "empty"),
        ] {
            let err = text.parse::<Location>().unwrap_err();
            assert!(err.contains(says), "{text}: {err}");
        }
    }
}
