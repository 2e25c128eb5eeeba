//! Every malformed runbook under tests/corpus/ gets its expected, located error and exit code 2.
//! Each file's first line says what is expected: `# expect: LINE:COL: message`.

mod runkit;

use std::path::Path;

#[test]
fn every_malformed_runbook_is_reported_with_its_location() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert!(files.len() >= 40, "the corpus has {} cases", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).unwrap();
        let expect = text
            .trim_start_matches('\u{feff}')
            .lines()
            .next()
            .and_then(|l| l.strip_prefix("# expect: "))
            .unwrap_or_else(|| panic!("{} has no `# expect:` first line", file.display()));
        let name = file.file_name().unwrap().to_str().unwrap();
        let out = runkit::finish(runkit::meshbook(&dir, &["validate", name]), None);
        let stderr = &out.stderr;
        let wanted = format!("{name}:{expect}");
        if out.code != 2 || !stderr.contains(&wanted) {
            failures.push(format!(
                "{name}: exit {}, wanted `{wanted}`, got:\n{stderr}",
                out.code
            ));
        }
        assert!(
            !stderr.contains("panicked"),
            "{name} made meshbook panic:\n{stderr}"
        );
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases failed:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}
