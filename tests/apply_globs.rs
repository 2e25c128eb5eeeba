//! `kube.apply` paths with shell wildcards in the file name (`files/crd*yaml`): every matching
//! file is applied in the shell's order, a glob that matches nothing fails the step, and a
//! wildcard in a folder is refused by `validate` at its line.

mod runkit;

use runkit::Scratch;

fn runbook(file: &str) -> String {
    format!(
        "apiVersion: meshbook/v1\nkind: Runbook\nmetadata: {{name: globs}}\nparams:\n  CTX: {{type: context, default: c1}}\nsteps:\n  - id: configs\n    kube.apply:\n      context: \"{{{{CTX}}}}\"\n      namespace: default\n      file: \"{file}\"\n  - id: read\n    needs: [configs]\n    kube.get:\n      context: \"{{{{CTX}}}}\"\n      namespace: default\n      resource: configmaps\n      selector: made-by=glob\n      jsonpath: \"{{.items[*].metadata.name}}\"\n    outputs:\n      NAMES: {{}}\n"
    )
}

fn config_map(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}, labels: {{made-by: glob}}}}\ndata: {{k: v}}\n"
    )
}

#[test]
fn a_glob_applies_every_matching_file() {
    let s = Scratch::new();
    let dir = s.work().join("files");
    std::fs::create_dir_all(&dir).unwrap();
    for (file, name) in [
        ("crd-b.yaml", "b"),
        ("crd-a.yaml", "a"),
        ("values.yaml", "not-a-crd"),
        (".crd-hidden.yaml", "hidden"),
    ] {
        std::fs::write(dir.join(file), config_map(name)).unwrap();
    }
    let path = s.runbook("globs.yaml", &runbook("files/crd*yaml"));
    let done = s.run(&path, &["--sandbox"]);
    assert_eq!(done.code, 0, "{}", done.all());
    assert!(done.stdout.contains("NAMES=a b"), "{}", done.stdout);
}

#[test]
fn a_glob_that_matches_nothing_names_a_file_of_that_name_as_in_bash() {
    let s = Scratch::new();
    std::fs::write(s.work().join("odd[1].yaml"), config_map("odd")).unwrap();
    let path = s.runbook("globs.yaml", &runbook("odd[1].yaml"));
    let done = s.run(&path, &["--sandbox"]);
    assert_eq!(done.code, 0, "{}", done.all());
    assert!(done.stdout.contains("NAMES=odd"), "{}", done.stdout);
}

#[test]
fn a_glob_that_matches_nothing_fails_the_step() {
    let s = Scratch::new();
    std::fs::create_dir_all(s.work().join("files")).unwrap();
    let path = s.runbook("globs.yaml", &runbook("files/crd*yaml"));
    let done = s.run(&path, &["--sandbox"]);
    assert_eq!(done.code, 1, "{}", done.all());
    assert!(
        done.stderr.contains("no file matches files/crd*yaml"),
        "{}",
        done.all()
    );
}

#[test]
fn validate_refuses_wildcards_outside_the_file_name() {
    let s = Scratch::new();
    for (file, why) in [
        (
            "charts/*/crds.yaml",
            "wildcards are allowed in the file name only, not in the folder `charts/*/`",
        ),
        (
            "{{CTX}}/crd[0-9.yaml",
            "`[` at character 6 has no closing `]`",
        ),
    ] {
        let path = s.runbook("globs.yaml", &runbook(file));
        let done = s.meshbook(&["validate", path.to_str().unwrap()]);
        assert_eq!(done.code, 2, "{}", done.all());
        assert!(done.all().contains(why), "{file}: {}", done.all());
        assert!(done.all().contains("globs.yaml:"), "{}", done.all());
    }
}
