//! The JSON Schema editors use: the copy shipped in docs/ is what `meshbook schema` prints, every
//! built-in runbook and every runbook example in the docs names it on its first line, and each
//! of them validates against it with an independent JSON Schema validator (the `jsonschema`
//! crate, not meshbook's loader), so the schema and the loader cannot drift apart unseen.

mod runkit;

use std::path::{Path, PathBuf};

use serde_json::Value;

const MODELINE: &str = "# yaml-language-server: $schema=";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn shipped() -> PathBuf {
    root().join("docs/runbook.schema.json")
}

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(shipped()).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).expect("the shipped schema is a valid JSON Schema")
}

/// Every problem the validator finds in `yaml`, as `path: message` lines.
fn problems(validator: &jsonschema::Validator, yaml: &str) -> Vec<String> {
    let instance: Value = serde_yaml::from_str(yaml).expect("the runbook is YAML");
    validator
        .iter_errors(&instance)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

/// The schema a runbook's first line names, resolved against the runbook's folder.
fn named_schema(text: &str, dir: &Path) -> PathBuf {
    let first = text.lines().next().unwrap_or_default();
    let target = first
        .strip_prefix(MODELINE)
        .unwrap_or_else(|| panic!("first line is not `{MODELINE}...`: {first}"));
    dir.join(target.trim())
        .canonicalize()
        .unwrap_or_else(|e| panic!("{target} from {}: {e}", dir.display()))
}

/// Built-in runbooks, as (file, text).
fn builtin() -> Vec<(PathBuf, String)> {
    let mut out: Vec<(PathBuf, String)> = std::fs::read_dir(root().join("runbooks"))
        .unwrap()
        .flatten()
        .map(|e| e.path().join("runbook.yaml"))
        .filter(|p| p.is_file())
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p, text)
        })
        .collect();
    out.sort();
    out
}

/// Runbook examples in the docs (YAML blocks that are whole runbooks), as (doc, text).
fn doc_examples() -> Vec<(PathBuf, String)> {
    let mut out = Vec::new();
    let docs = std::fs::read_dir(root().join("docs")).unwrap().flatten();
    let readme = [root().join("README.md")];
    for doc in docs.map(|e| e.path()).chain(readme) {
        if doc.extension().is_none_or(|e| e != "md") {
            continue;
        }
        let text = std::fs::read_to_string(&doc).unwrap();
        for block in text.split("```yaml\n").skip(1) {
            let body = block.split("```").next().unwrap();
            if body.contains("apiVersion: meshbook/v1") {
                out.push((doc.clone(), body.to_string()));
            }
        }
    }
    out
}

#[test]
fn the_shipped_schema_is_what_meshbook_schema_prints() {
    let s = runkit::Scratch::new();
    let printed = s.meshbook(&["schema"]);
    assert_eq!(printed.code, 0, "{}", printed.all());
    let shipped = std::fs::read_to_string(shipped()).unwrap();
    assert!(
        printed.stdout == shipped,
        "docs/runbook.schema.json is stale: run `meshbook schema > docs/runbook.schema.json`"
    );
}

#[test]
fn every_builtin_runbook_names_the_schema_and_validates_against_it() {
    let validator = validator();
    let schema = shipped().canonicalize().unwrap();
    let runbooks = builtin();
    assert!(runbooks.len() >= 4, "{runbooks:?}");
    for (file, text) in runbooks {
        assert_eq!(
            named_schema(&text, file.parent().unwrap()),
            schema,
            "{}",
            file.display()
        );
        let found = problems(&validator, &text);
        assert!(
            found.is_empty(),
            "{}:\n{}",
            file.display(),
            found.join("\n")
        );
    }
}

#[test]
fn every_runbook_example_in_the_docs_names_the_schema_and_validates() {
    let validator = validator();
    let schema = shipped().canonicalize().unwrap();
    let examples = doc_examples();
    assert!(!examples.is_empty());
    let s = runkit::Scratch::new();
    for (doc, text) in examples {
        assert_eq!(
            named_schema(&text, doc.parent().unwrap()),
            schema,
            "{}",
            doc.display()
        );
        let found = problems(&validator, &text);
        assert!(found.is_empty(), "{}:\n{}", doc.display(), found.join("\n"));
        // And meshbook's own loader agrees.
        let file = s.runbook("example.yaml", &text);
        let checked = s.meshbook(&["validate", file.to_str().unwrap()]);
        assert_eq!(checked.code, 0, "{}: {}", doc.display(), checked.all());
    }
}

/// The validator is not a rubber stamp: mistakes the loader rejects, the schema rejects too.
#[test]
fn the_schema_rejects_what_the_loader_rejects() {
    let validator = validator();
    let (_, text) = &builtin()[0];
    let s = runkit::Scratch::new();
    for (what, broken) in [
        (
            "an unknown top-level field",
            format!("{text}\nsurprise: true\n"),
        ),
        (
            "an unknown step field",
            text.replacen("\n  - id: ", "\n  - nedds: [x]\n    id: ", 1),
        ),
        (
            "a step of no kind",
            format!("{text}\n  - id: kindless-step\n"),
        ),
        (
            "a wrong apiVersion type",
            text.replacen("apiVersion: meshbook/v1", "apiVersion: [meshbook/v1]", 1),
        ),
    ] {
        assert_ne!(&broken, text, "{what}: the mutation did not apply");
        assert!(
            !problems(&validator, &broken).is_empty(),
            "schema accepts {what}"
        );
        let file = s.runbook("broken.yaml", &broken);
        let checked = s.meshbook(&["validate", file.to_str().unwrap()]);
        assert_eq!(checked.code, 2, "loader accepts {what}: {}", checked.all());
    }
}
