//! Which objects of a manifest a cluster of a given Kubernetes minor would refuse because their
//! apiVersion is not served there (what pluto and kubent report), offline and with lines.
//!
//! Manifests are read as Kubernetes writes them: block-style YAML documents separated by `---`
//! (Helm output, `kubectl get -o yaml`), or JSON. Only what the check needs is read: each
//! object's `apiVersion`, `kind` and `metadata.name`, and the objects of a `kind: List`'s
//! `items`. Anything else in the document is skipped without being parsed, so templated or
//! unusual YAML elsewhere does not stop the check.

use std::fmt;

use serde_json::Value;

use crate::served_apis::{self, Serving};
use crate::version::KubeVersion;

/// One object of a manifest, as far as the check needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestObject {
    /// 1-based index of the YAML document holding it (empty documents count, as in YAML).
    pub document: usize,
    /// 1-based line of its `apiVersion` (of its first line when there is none, and of the
    /// document's first line in JSON documents).
    pub line: usize,
    /// Its `apiVersion` as written (empty if missing).
    pub api_version: String,
    /// Its `kind` as written (empty if missing).
    pub kind: String,
    /// Its `metadata.name`, when plainly written.
    pub name: Option<String>,
}

/// Why a cluster would refuse an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Problem {
    /// The apiVersion is no longer served from this minor on.
    Removed(KubeVersion),
    /// The apiVersion is served only from this later minor on.
    NotYetServed(KubeVersion),
}

/// An object that a cluster of the target minor would refuse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The object.
    pub object: ManifestObject,
    /// The minor that was checked.
    pub target: KubeVersion,
    /// Why it is refused.
    pub problem: Problem,
    /// The apiVersion to use instead at the target minor, if the kind is served there at all.
    pub use_instead: Option<String>,
}

impl Finding {
    /// The finding without its location, e.g. `Deployment "web": extensions/v1beta1 is not
    /// served since Kubernetes 1.16; use apps/v1`.
    pub fn message(&self) -> String {
        let o = &self.object;
        let what = match &o.name {
            Some(n) => format!("{} {n:?}", o.kind),
            None => o.kind.clone(),
        };
        let why = match self.problem {
            Problem::Removed(m) => format!("is not served since Kubernetes {m}"),
            Problem::NotYetServed(m) => {
                format!(
                    "is not served before Kubernetes {m} (target {})",
                    self.target
                )
            }
        };
        let fix = match &self.use_instead {
            Some(av) => format!("use {av}"),
            None => format!("Kubernetes {} serves no {} at all", self.target, o.kind),
        };
        format!("{what}: {} {why}; {fix}", o.api_version)
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.object.line, self.message())
    }
}

/// Checks every object of `text` against what a cluster of minor `target` serves. Objects of
/// kinds or groups the table does not know (custom resources) are not judged.
pub fn lint(text: &str, target: KubeVersion) -> Vec<Finding> {
    objects(text)
        .into_iter()
        .filter_map(|object| {
            let problem = match served_apis::serving(&object.api_version, &object.kind, target) {
                Serving::Removed(m) => Problem::Removed(m),
                Serving::NotYet(m) => Problem::NotYetServed(m),
                Serving::Served | Serving::Unknown => return None,
            };
            let use_instead = served_apis::preferred(&object.kind, target).map(|a| a.api_version());
            Some(Finding {
                object,
                target,
                problem,
                use_instead,
            })
        })
        .collect()
}

/// Every object of a multi-document manifest, the items of `List`s in place of the list.
pub fn objects(text: &str) -> Vec<ManifestObject> {
    let mut out = Vec::new();
    for (i, doc) in documents(text).iter().enumerate() {
        let document = i + 1;
        let Some(first) = doc.first() else { continue };
        if first.text.starts_with('{') || first.text.starts_with('[') {
            json_objects(doc, document, &mut out);
        } else {
            block_object(doc, first.indent, document, &mut out);
        }
    }
    out
}

/// A content line: not blank, not only a comment.
#[derive(Debug, Clone, Copy)]
struct Line<'a> {
    /// 1-based line number.
    no: usize,
    indent: usize,
    /// The line without its indentation.
    text: &'a str,
    /// The whole line (for JSON documents).
    raw: &'a str,
}

/// Splits a YAML stream into documents of content lines. A document exists if it has content
/// or was started explicitly with `---`.
fn documents(text: &str) -> Vec<Vec<Line<'_>>> {
    let mut docs: Vec<Vec<Line<'_>>> = Vec::new();
    let mut current: Vec<Line<'_>> = Vec::new();
    let mut explicit = false;
    for (i, raw) in text.lines().enumerate() {
        let raw = raw.strip_suffix('\r').unwrap_or(raw);
        let marker = |m: &str| {
            raw == m
                || raw
                    .strip_prefix(m)
                    .is_some_and(|r| r.starts_with([' ', '\t']))
        };
        if marker("---") {
            if explicit || !current.is_empty() {
                docs.push(std::mem::take(&mut current));
            }
            explicit = true;
            continue;
        }
        if marker("...") {
            if explicit || !current.is_empty() {
                docs.push(std::mem::take(&mut current));
            }
            explicit = false;
            continue;
        }
        let body = raw.trim_start_matches([' ', '\t']);
        if body.is_empty() || body.starts_with('#') {
            continue;
        }
        current.push(Line {
            no: i + 1,
            indent: raw.len() - body.len(),
            text: body.trim_end(),
            raw,
        });
    }
    if explicit || !current.is_empty() {
        docs.push(current);
    }
    docs
}

/// The value of `key: value` on `line` if the line is that key (plain or quoted).
fn key_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    for quote in ["", "\"", "'"] {
        let Some(rest) = text
            .strip_prefix(quote)
            .and_then(|r| r.strip_prefix(key))
            .and_then(|r| r.strip_prefix(quote))
        else {
            continue;
        };
        let rest = rest.trim_start_matches([' ', '\t']);
        if let Some(v) = rest.strip_prefix(':')
            && (v.is_empty() || v.starts_with([' ', '\t']))
        {
            return Some(v.trim());
        }
    }
    None
}

/// A scalar as written after a key: quotes removed, a trailing comment dropped.
fn scalar(value: &str) -> Option<String> {
    let v = value.trim();
    if v.is_empty() || v.starts_with(['|', '>', '{', '[', '&', '*', '!']) {
        return None;
    }
    if let Some(inner) = v.strip_prefix('"') {
        let end = inner.find('"')?;
        return Some(inner[..end].replace("\\\"", "\""));
    }
    if let Some(inner) = v.strip_prefix('\'') {
        let mut out = String::new();
        let mut chars = inner.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    out.push('\'');
                    continue;
                }
                return Some(out);
            }
            out.push(c);
        }
        return None;
    }
    let plain = match v.find(" #").or_else(|| v.find("\t#")) {
        Some(i) => v[..i].trim_end(),
        None => v,
    };
    Some(plain.to_string())
}

/// The lines after `lines[i]` that are indented deeper than it (its block).
fn block_after<'a, 'b>(lines: &'b [Line<'a>], i: usize, indent: usize) -> &'b [Line<'a>] {
    let start = i + 1;
    let len = lines[start..]
        .iter()
        .take_while(|l| l.indent > indent)
        .count();
    &lines[start..start + len]
}

/// `name` of a `metadata` mapping written as a block or as a one-line flow mapping.
fn metadata_name(inline: &str, block: &[Line<'_>]) -> Option<String> {
    if let Some(flow) = inline.strip_prefix('{') {
        let flow = flow.split('}').next().unwrap_or_default();
        return flow
            .split(',')
            .find_map(|part| key_value(part.trim(), "name").and_then(scalar));
    }
    let indent = block.first()?.indent;
    block
        .iter()
        .filter(|l| l.indent == indent)
        .find_map(|l| key_value(l.text, "name").and_then(scalar))
}

/// Reads the block mapping at `indent` in `lines` as one object (or the items of a list).
fn block_object(lines: &[Line<'_>], indent: usize, document: usize, out: &mut Vec<ManifestObject>) {
    let Some(first) = lines.first() else { return };
    let mut obj = ManifestObject {
        document,
        line: first.no,
        api_version: String::new(),
        kind: String::new(),
        name: None,
    };
    let mut items: Option<&[Line<'_>]> = None;
    for (i, l) in lines.iter().enumerate() {
        if l.indent != indent {
            continue;
        }
        if let Some(v) = key_value(l.text, "apiVersion") {
            obj.api_version = scalar(v).unwrap_or_default();
            obj.line = l.no;
        } else if let Some(v) = key_value(l.text, "kind") {
            obj.kind = scalar(v).unwrap_or_default();
        } else if let Some(v) = key_value(l.text, "metadata") {
            obj.name = metadata_name(v, block_after(lines, i, indent));
        } else if key_value(l.text, "items").is_some() {
            // A block sequence may sit at the key's own indentation.
            let start = i + 1;
            let len = lines[start..]
                .iter()
                .take_while(|x| x.indent > indent || (x.indent == indent && is_entry(x.text)))
                .count();
            items = Some(&lines[start..start + len]);
        }
    }
    match items {
        Some(items) if obj.kind.ends_with("List") => sequence_objects(items, document, out),
        _ => out.push(obj),
    }
}

fn is_entry(text: &str) -> bool {
    text == "-" || text.starts_with("- ")
}

/// The mappings of a block sequence, each read as an object.
fn sequence_objects(lines: &[Line<'_>], document: usize, out: &mut Vec<ManifestObject>) {
    let Some(dash) = lines.iter().find(|l| is_entry(l.text)).map(|l| l.indent) else {
        return;
    };
    let starts: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].indent == dash && is_entry(lines[i].text))
        .collect();
    for (n, &s) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(lines.len());
        let head = lines[s];
        let after_dash = &head.text[1..];
        let body = after_dash.trim_start_matches(' ');
        let mut entry: Vec<Line<'_>> = Vec::with_capacity(end - s);
        if !body.is_empty() {
            entry.push(Line {
                indent: head.indent + 1 + (after_dash.len() - body.len()),
                text: body,
                ..head
            });
        }
        entry.extend_from_slice(&lines[s + 1..end]);
        if let Some(indent) = entry.first().map(|l| l.indent) {
            block_object(&entry, indent, document, out);
        }
    }
}

fn json_objects(doc: &[Line<'_>], document: usize, out: &mut Vec<ManifestObject>) {
    let text: Vec<&str> = doc.iter().map(|l| l.raw).collect();
    let Ok(value) = serde_json::from_str::<Value>(&text.join("\n")) else {
        return;
    };
    let line = doc[0].no;
    let mut push = |v: &Value| {
        let s = |x: &Value| x.as_str().map(str::to_string);
        out.push(ManifestObject {
            document,
            line,
            api_version: s(&v["apiVersion"]).unwrap_or_default(),
            kind: s(&v["kind"]).unwrap_or_default(),
            name: s(&v["metadata"]["name"]),
        });
    };
    let kind = value["kind"].as_str().unwrap_or_default();
    match (&value, &value["items"]) {
        (Value::Object(_), Value::Array(items)) if kind.ends_with("List") => {
            items.iter().for_each(&mut push)
        }
        (Value::Object(_), _) => push(&value),
        (Value::Array(items), _) => items.iter().for_each(&mut push),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ERA_1_1: &str = "\
# Source: istio/charts/pilot/templates/deployment.yaml
apiVersion: extensions/v1beta1
kind: Deployment
metadata:
  name: istio-pilot
  namespace: istio-system
  labels:
    apiVersion: not-this-one
spec:
  template:
    metadata:
      name: also-not-this
---
apiVersion: apiextensions.k8s.io/v1beta1   # CRDs of Istio 1.1
kind: CustomResourceDefinition
metadata: {name: virtualservices.networking.istio.io, labels: {app: istio}}
spec:
  group: networking.istio.io
---
---
apiVersion: networking.istio.io/v1alpha3
kind: Gateway
metadata:
  name: \"ingress\"
...
apiVersion: v1
kind: List
items:
- apiVersion: policy/v1beta1
  kind: PodDisruptionBudget
  metadata:
    name: pdb-a
-   kind: HorizontalPodAutoscaler
    apiVersion: 'autoscaling/v2beta1'
    metadata:
      name: hpa-b
- apiVersion: apps/v1
  kind: Deployment
  metadata:
    name: fine
";

    #[test]
    fn reads_objects_documents_and_lines() {
        let objs = objects(ERA_1_1);
        let summary: Vec<(usize, usize, &str, &str, Option<&str>)> = objs
            .iter()
            .map(|o| {
                (
                    o.document,
                    o.line,
                    o.api_version.as_str(),
                    o.kind.as_str(),
                    o.name.as_deref(),
                )
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                (
                    1,
                    2,
                    "extensions/v1beta1",
                    "Deployment",
                    Some("istio-pilot")
                ),
                (
                    2,
                    14,
                    "apiextensions.k8s.io/v1beta1",
                    "CustomResourceDefinition",
                    Some("virtualservices.networking.istio.io")
                ),
                (
                    4,
                    21,
                    "networking.istio.io/v1alpha3",
                    "Gateway",
                    Some("ingress")
                ),
                (
                    5,
                    29,
                    "policy/v1beta1",
                    "PodDisruptionBudget",
                    Some("pdb-a")
                ),
                (
                    5,
                    34,
                    "autoscaling/v2beta1",
                    "HorizontalPodAutoscaler",
                    Some("hpa-b")
                ),
                (5, 37, "apps/v1", "Deployment", Some("fine")),
            ]
        );
    }

    #[test]
    fn old_manifests_at_a_new_minor() {
        let findings = lint(ERA_1_1, KubeVersion::new(32));
        let lines: Vec<String> = findings.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            vec![
                "line 2: Deployment \"istio-pilot\": extensions/v1beta1 is not served since Kubernetes 1.16; use apps/v1",
                "line 14: CustomResourceDefinition \"virtualservices.networking.istio.io\": apiextensions.k8s.io/v1beta1 is not served since Kubernetes 1.22; use apiextensions.k8s.io/v1",
                "line 29: PodDisruptionBudget \"pdb-a\": policy/v1beta1 is not served since Kubernetes 1.25; use policy/v1",
                "line 34: HorizontalPodAutoscaler \"hpa-b\": autoscaling/v2beta1 is not served since Kubernetes 1.25; use autoscaling/v2",
            ]
        );
        assert!(lint(ERA_1_1, KubeVersion::new(13)).is_empty());
    }

    #[test]
    fn new_manifests_at_an_old_minor() {
        let text = "apiVersion: networking.k8s.io/v1\nkind: Ingress\nmetadata:\n  name: web\n---\napiVersion: policy/v1beta1\nkind: PodSecurityPolicy\nmetadata:\n  name: psp\n";
        let f = lint(text, KubeVersion::new(13));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].problem, Problem::NotYetServed(KubeVersion::new(19)));
        assert_eq!(f[0].use_instead.as_deref(), Some("extensions/v1beta1"));
        assert_eq!(
            f[0].message(),
            "Ingress \"web\": networking.k8s.io/v1 is not served before Kubernetes 1.19 (target 1.13); use extensions/v1beta1"
        );
        let f = lint(text, KubeVersion::new(25));
        assert_eq!(f.len(), 1);
        assert_eq!(
            f[0].message(),
            "PodSecurityPolicy \"psp\": policy/v1beta1 is not served since Kubernetes 1.25; Kubernetes 1.25 serves no PodSecurityPolicy at all"
        );
    }

    #[test]
    fn json_documents_and_lists() {
        let text = "{\"apiVersion\": \"v1\", \"kind\": \"List\", \"items\": [\n {\"apiVersion\": \"extensions/v1beta1\", \"kind\": \"Ingress\", \"metadata\": {\"name\": \"i\"}}]}\n---\n{\"apiVersion\": \"batch/v1beta1\", \"kind\": \"CronJob\"}\n";
        let f = lint(text, KubeVersion::new(30));
        assert_eq!(f.len(), 2);
        assert_eq!((f[0].object.document, f[0].object.line), (1, 1));
        assert_eq!(f[0].object.name.as_deref(), Some("i"));
        assert_eq!((f[1].object.document, f[1].object.line), (2, 4));
        assert_eq!(f[1].use_instead.as_deref(), Some("batch/v1"));
    }

    #[test]
    fn odd_input_is_read_as_far_as_it_goes() {
        // Templates, block scalars, CRLF, tabs after keys, quoted keys, documents of comments.
        let text = "# only a comment\r\n---\r\n\"apiVersion\": \"apps/v1beta2\"\r\nkind:\tStatefulSet\r\nmetadata:\r\n  name: db # the database\r\ndata: |\r\n  apiVersion: extensions/v1beta1\r\n---\napiVersion: {{ .Values.api }}\nkind: Deployment\n---\n- not: a mapping\n";
        let objs = objects(text);
        assert_eq!(objs.len(), 3);
        assert_eq!(objs[0].document, 1);
        assert_eq!(objs[0].api_version, "apps/v1beta2");
        assert_eq!(objs[0].kind, "StatefulSet");
        assert_eq!(objs[0].name.as_deref(), Some("db"));
        assert_eq!(objs[1].api_version, "");
        let f = lint(text, KubeVersion::new(16));
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].object.line, 3);
        assert!(lint("", KubeVersion::new(16)).is_empty());
        assert!(lint("---\n---\n", KubeVersion::new(16)).is_empty());
        assert_eq!(documents("---\n---\n").len(), 2);
        assert_eq!(documents("a: 1\n---\n").len(), 2);
        assert_eq!(documents("# c\n---\na: 1\n").len(), 1);
    }
}
