//! Errors about damaged state say the path and the cause, each once.

mod runkit;

use runkit::Scratch;

#[test]
fn a_damaged_run_description_is_named_with_its_cause_once() {
    let s = Scratch::new();
    let rb = s.runbook(
        "d.yaml",
        "apiVersion: meshbook/v1\nkind: Runbook\nmetadata: {name: d}\nsteps:\n  - id: a\n    shell: 'true'\n",
    );
    let done = s.run(&rb, &[]);
    assert_eq!(done.code, 0, "{}", done.all());
    let id = runkit::run_id(&done.stdout);
    let meta = s.state().join(format!("runs/{id}/run.json"));
    std::fs::write(&meta, "garbage").unwrap();
    for args in [vec!["resume", id.as_str()], vec!["cleanup", id.as_str()]] {
        let done = s.meshbook(&args);
        assert_ne!(done.code, 0, "{args:?}: {}", done.all());
        let cause = "expected value at line 1 column 1";
        assert_eq!(
            done.stderr.matches(cause).count(),
            1,
            "{args:?}: {}",
            done.all()
        );
        assert_eq!(
            done.stderr.matches(&*meta.to_string_lossy()).count(),
            1,
            "{args:?}: {}",
            done.all()
        );
    }
}

#[test]
fn a_run_whose_own_key_went_missing_is_damaged() {
    let s = Scratch::new();
    let rb = s.runbook(
        "k.yaml",
        "apiVersion: meshbook/v1\nkind: Runbook\nmetadata: {name: k}\nparams:\n  P: {secret: true}\nsteps:\n  - id: a\n    shell: 'exit 1'\nfinally:\n  - id: f\n    shell: 'true'\n",
    );
    let done = s.run(&rb, &["-p", "P=hidden-value"]);
    assert_eq!(done.code, 1, "{}", done.all());
    let id = runkit::run_id(&done.stdout);
    let key = s.state().join(format!("runs/{id}/key"));
    let wrapped = std::fs::read_to_string(&key).expect("a run gets a key of its own");
    assert!(!wrapped.contains("hidden-value"));
    std::fs::remove_file(&key).unwrap();
    for args in [vec!["resume", id.as_str()], vec!["cleanup", id.as_str()]] {
        let done = s.meshbook(&args);
        assert_eq!(done.code, 3, "{args:?}: {}", done.all());
        assert!(
            done.stderr.contains("sealed with a key of its own"),
            "{args:?}: {}",
            done.all()
        );
    }
}
