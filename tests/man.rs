//! The manual: `meshbook man DIR` writes a page per command, and the pages kept in docs/man/
//! are exactly what the binary writes (regenerate with `meshbook man docs/man`).

mod runkit;

use std::collections::BTreeMap;
use std::path::Path;

fn pages(dir: &Path) -> BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "1"))
        .map(|p| {
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read_to_string(&p).unwrap())
        })
        .collect()
}

#[test]
fn a_page_per_command_and_the_shipped_pages_are_current() {
    let s = runkit::Scratch::new();
    let done = s.meshbook(&["man", "pages"]);
    assert_eq!(done.code, 0, "{}", done.all());
    let written = pages(&s.path().join("pages"));
    for command in [
        "meshbook.1",
        "meshbook-run.1",
        "meshbook-resume.1",
        "meshbook-validate.1",
        "meshbook-completions.1",
        "meshbook-man.1",
        "meshbook-sandbox-up.1",
        "meshbook-inspect-jsonpath.1",
    ] {
        let page = written
            .get(command)
            .unwrap_or_else(|| panic!("no {command} in {:?}", written.keys()));
        let title = command.trim_end_matches(".1");
        assert!(
            page.contains(&format!(".TH {title} 1")),
            "{command}:\n{page}"
        );
    }
    assert!(
        written["meshbook-run.1"].contains("resume"),
        "run's page explains itself"
    );

    let shipped = pages(&Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/man"));
    let names = |m: &BTreeMap<String, String>| m.keys().cloned().collect::<Vec<_>>();
    assert_eq!(
        names(&shipped),
        names(&written),
        "docs/man is stale: run `meshbook man docs/man`"
    );
    for (name, page) in &written {
        assert!(
            &shipped[name] == page,
            "docs/man/{name} is stale: run `meshbook man docs/man`"
        );
    }
}

#[test]
fn without_a_folder_the_top_page_goes_to_stdout() {
    let s = runkit::Scratch::new();
    let done = s.meshbook(&["man"]);
    assert_eq!(done.code, 0, "{}", done.all());
    assert!(done.stdout.contains(".TH meshbook 1"), "{}", done.all());
    assert!(done.stdout.contains("completions"), "{}", done.all());
}
