//! The direct path and the collecting path read the same runbooks alike: whatever the direct
//! path reads, the collecting path reads into the same model without a diagnostic; a mistake
//! sends the text to the collecting path, so its diagnostics are the ones it always gave.

use std::path::{Path, PathBuf};

use super::direct::{self, Reader};
use super::{collect, load};

/// Holds `text` to the rule, and says whether the direct path read it: whatever either reader
/// (the subset reader, serde_yaml) reads is the model the collecting path reads.
fn agree(text: &str) -> bool {
    let read = [Reader::Subset, Reader::SerdeYaml].map(|r| direct::read_by(text, r));
    if read.iter().all(Option::is_none) {
        assert!(direct::read(text).is_none());
        return false;
    }
    let collected = collect(text).unwrap_or_else(|d| panic!("read directly, refused: {d:?}"));
    assert!(
        collected.diagnostics.is_empty() && collected.unreadable.is_empty(),
        "read directly, but: {:?}\n{text}",
        collected.diagnostics
    );
    for runbook in read.iter().flatten() {
        assert_eq!(runbook, &collected.runbook, "{text}");
    }
    true
}

/// Whether the subset reader reads `text` (holding it to the rule).
fn by_subset(text: &str) -> bool {
    agree(text) && direct::read_by(text, Reader::Subset).is_some()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn yaml_files(dir: &Path) -> Vec<(PathBuf, String)> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect();
    files.sort();
    files
}

fn runbooks() -> Vec<(PathBuf, String)> {
    let mut all = Vec::new();
    for entry in std::fs::read_dir(repo().join("runbooks")).unwrap() {
        let path = entry.unwrap().path().join("runbook.yaml");
        if path.exists() {
            let text = std::fs::read_to_string(&path).unwrap();
            all.push((path, text));
        }
    }
    all.sort();
    assert!(all.len() >= 4, "the shipped runbooks");
    all
}

/// The shape `bench/gen.py` writes: `n` steps, each needing the `width` steps of the layer before.
fn generated(n: usize, width: usize) -> String {
    let mut text =
        format!("apiVersion: meshbook/v1\nkind: Runbook\nmetadata: {{name: gen-{n}}}\nsteps:\n");
    for i in 0..n {
        text += &format!("  - id: s{i}\n");
        if i >= width {
            let layer = (i / width - 1) * width;
            let needs: Vec<String> = (layer..layer + width).map(|j| format!("s{j}")).collect();
            text += &format!("    needs: [{}]\n", needs.join(", "));
        }
        text += "    shell: true\n";
    }
    text
}

#[test]
fn the_shipped_and_generated_runbooks_are_read_directly_into_the_same_model() {
    for (path, text) in runbooks() {
        assert!(
            by_subset(&text),
            "{} was not read by the subset",
            path.display()
        );
    }
    for (n, width) in [(1, 1), (50, 1), (200, 10)] {
        assert!(by_subset(&generated(n, width)), "generated {n}x{width}");
    }
    // A byte order mark is dropped before either path reads.
    let text = format!("\u{feff}{}", generated(3, 1));
    assert!(load(&text).unwrap().diagnostics.is_empty());
}

#[test]
fn every_corpus_runbook_reads_alike_either_way() {
    let (mut direct, mut subset) = (0, 0);
    for dir in ["tests/corpus", "engine/tests/fixtures"] {
        for (_, text) in yaml_files(&repo().join(dir)) {
            let text = text.strip_prefix('\u{feff}').unwrap_or(&text);
            if super::errors::too_deep(text).is_none() && agree(text) {
                direct += 1;
                subset += usize::from(by_subset(text));
            }
        }
    }
    // Mistakes that only validation finds (a cycle, an unknown `needs`) load directly.
    assert!(
        direct > 10 && subset > 10,
        "{direct} {subset} corpus runbooks read directly"
    );
}

const BASE: &str = "\
apiVersion: meshbook/v1
kind: Runbook
metadata: {name: r, title: T}
requires: {kubernetes: \">=1.20\", helm: }
params:
  CTX: {default: c1}
  N:
defaults: {timeout: 30s}
steps:
  - id: a
    title: first
    needs: []
    timeout: 1m
    retry: {attempts: 3}
    outputs: {X: {type: string}}
    shell: {script: echo hi, env: {A: b}}
  - id: b
    needs: [a]
    kube.wait: {context: c, resource: deploy, name: x, condition: Available}
finally:
  - id: c
    kube.delete: {resource: ns, name: n}
";

#[test]
fn a_mistake_anywhere_is_left_to_the_collecting_path() {
    assert!(by_subset(BASE), "the base case reads directly");
    let hostile = [
        // Wrong types, deep in a kind body and in the common fields.
        ("kube.wait: {context: c,", "kube.wait: {context: [c],"),
        ("retry: {attempts: 3}", "retry: {attempts: many}"),
        ("id: a", "id: 123"),
        ("title: first", "title: true"),
        // What serde_yaml makes a null, a boolean or a number in a text without tags.
        ("title: first", "title: .5"),
        ("title: first", "title: 0x1F"),
        ("title: first", "title: -.inf"),
        ("needs: [a]", "needs: [NULL]"),
        ("title: first", "title: FALSE"),
        ("needs: [a]", "needs: [+1]"),
        ("{script: echo hi,", "{1: x, script: echo hi,"),
        ("needs: [a]", "needs: [1]"),
        ("timeout: 1m", "timeout: 60"),
        // Unknown fields, at every level.
        ("title: first", "titel: first"),
        ("{script: echo hi,", "{script: echo hi, shel: x,"),
        ("metadata: {name: r,", "metadata: {nam: r,"),
        ("defaults: {", "default: {"),
        // Duplicate keys, in a struct and in a map.
        ("title: first", "title: first\n    title: again"),
        ("env: {A: b}", "env: {A: b, A: c}"),
        ("CTX: {default: c1}", "CTX: {default: c1}\n  CTX: {}"),
        // A tagged kind body.
        ("shell: {script", "shell: !x {script"),
        // Merge keys are plain keys to serde_yaml: unknown in a step.
        ("  - id: b\n", "  - id: b\n    <<: {title: t}\n"),
        // Two kinds, none, a null body, an empty name, an unparsable range.
        ("    kube.wait:", "    shell: x\n    kube.wait:"),
        (
            "    kube.wait: {context: c, resource: deploy, name: x, condition: Available}\n",
            "",
        ),
        ("kube.delete: {resource: ns, name: n}", "kube.delete:"),
        ("{name: r,", "{name: ' ',"),
        ("\">=1.20\"", "\">=1.2x\""),
        ("\">=1.20\"", "1.20"),
        // Fields that do not go together, and the document around the steps.
        ("name: x, condition", "selector: a=b, name: x, condition"),
        ("apiVersion: meshbook/v1", "apiVersion: meshbook/v2"),
        ("steps:\n", "steps:\nsteps: []\n"),
        ("kind: Runbook", "kind: Runbook\n5: x"),
    ];
    for (from, to) in hostile {
        assert!(BASE.contains(from), "{from}");
        let text = BASE.replacen(from, to, 1);
        assert!(!agree(&text), "read directly: {to}");
        let collected = collect(&text);
        assert!(
            collected
                .as_ref()
                .map_or(true, |l| !l.diagnostics.is_empty()),
            "no mistake in: {to}"
        );
        assert_eq!(format!("{:?}", load(&text)), format!("{collected:?}"));
    }
    // What the `Value` tree takes leniently is read the collecting way, to the same model.
    for (from, to) in [
        ("needs: []", "needs:"),
        ("outputs: {X: {type: string}}", "outputs:"),
        ("apiVersion: meshbook/v1", "apiVersion: ''"),
        ("title: first", "title: !!str first"),
        ("title: first", "title: !x first"),
        // Strings that look like something else but are quoted, or are not numbers after all.
        ("title: first", "title: \"12\""),
        ("title: first", "title: 'true'"),
        ("title: first", "title: -x"),
        ("title: first", "title: .x"),
        ("title: first", "title: 1.2.3"),
        ("title: first", "title: nullish"),
    ] {
        let text = BASE.replacen(from, to, 1);
        let collected = collect(&text).unwrap();
        assert!(collected.diagnostics.is_empty(), "{to}");
        assert_eq!(load(&text).unwrap().runbook, collected.runbook);
        agree(&text);
    }
    // Anchors and aliases are expanded alike.
    let aliased = BASE.replacen("timeout: 1m", "timeout: &t 1m", 1).replacen(
        "    needs: [a]\n",
        "    needs: [a]\n    timeout: *t\n",
        1,
    );
    assert!(agree(&aliased));
}

/// Every line of a small runbook dropped, repeated, or given another kind of value: whatever the
/// direct path reads, the collecting path reads alike.
#[test]
fn mutated_runbooks_read_alike_either_way() {
    let lines: Vec<&str> = BASE.lines().collect();
    let values = [
        "123", "~", "!x v", "true", "[a, b]", "{a: 1}", "''", "*nope", "&a x",
    ];
    let (mut read_directly, mut subset) = (0, 0);
    for i in 0..lines.len() {
        let without = [&lines[..i], &lines[i + 1..]].concat();
        let twice = [&lines[..=i], &lines[i..]].concat();
        let mut variants = vec![without.join("\n"), twice.join("\n")];
        if let Some((key, _)) = lines[i].split_once(": ") {
            for value in values {
                let mut changed = lines.clone();
                let line = format!("{key}: {value}");
                changed[i] = &line;
                variants.push(changed.join("\n"));
            }
        }
        for text in variants {
            read_directly += usize::from(agree(&(text.clone() + "\n")));
            subset += usize::from(by_subset(&(text + "\n")));
        }
    }
    // Dropping an optional line, or giving a string field another string, keeps it readable.
    assert!(
        read_directly > 10 && subset > 10,
        "{read_directly} {subset}"
    );
}

#[test]
fn brackets_nested_a_hundred_thousand_deep_are_refused_before_either_path() {
    let text = format!("{}\nx: {}", BASE, "[".repeat(100_000));
    let err = load(&text).unwrap_err();
    assert_eq!(err.len(), 1);
    assert!(err[0].message.contains("nest more than"), "{err:?}");
}
