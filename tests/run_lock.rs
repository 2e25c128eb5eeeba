//! A run being driven is locked: `resume` and `cleanup` from another process are refused with
//! exit 2, naming the process, and succeed once it has ended.

mod runkit;

use std::process::Command;
use std::time::Duration;

use runkit::Scratch;

const RUNBOOK: &str = r#"apiVersion: meshbook/v1
kind: Runbook
metadata: {name: locked}
steps:
  - id: long
    shell: touch started; sleep 60
finally:
  - id: teardown
    shell: touch torn-down
"#;

#[test]
fn a_run_being_driven_refuses_resume_and_cleanup_from_another_process() {
    let s = Scratch::new();
    let rb = s.runbook("locked.yaml", RUNBOOK);
    let work = s.work();
    let mut driver = s.spawn_run(&rb);
    s.await_file("started");
    let id = std::fs::read_dir(s.state().join("runs"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().into_string().unwrap())
        .find(|n| !n.starts_with('.'))
        .unwrap();
    let expected = format!("run {id} is being driven by {} on ", driver.id());
    for args in [
        vec!["resume", id.as_str()],
        vec!["resume"],
        vec!["cleanup", id.as_str()],
        vec!["cleanup"],
    ] {
        let done = s.meshbook(&args);
        assert_eq!(done.code, 2, "{args:?}: {}", done.all());
        assert!(
            done.stderr.contains(&expected) && done.stderr.contains(" since "),
            "{args:?}: {}",
            done.all()
        );
    }
    assert!(
        !work.join("torn-down").exists(),
        "no finally step ran while the run was driven"
    );
    Command::new("kill")
        .args(["-INT", &driver.id().to_string()])
        .status()
        .unwrap();
    let status = runkit::wait(&mut driver, Duration::from_secs(30)).expect("the run stopped");
    assert_eq!(status.code(), Some(130));
    let done = s.meshbook(&["cleanup", &id, "--log-format", "plain"]);
    assert_eq!(done.code, 0, "{}", done.all());
    assert!(work.join("torn-down").exists());
}
