//! kill -9 while a run is being created: the run is either absent or whole (its `run.json` and
//! journal there), so `resume` finds it, or there is nothing to resume.

mod runkit;

use std::time::Duration;

use runkit::Scratch;

const RUNBOOK: &str = "apiVersion: meshbook/v1\nkind: Runbook\nmetadata: {name: born}\nsteps:\n  - id: a\n    shell: echo a >> ran\n";

#[test]
fn a_kill_during_creation_leaves_a_whole_run_or_none() {
    let mut killed_before = 0;
    let mut killed_after = 0;
    // Kill moments spread over the start of the process, where the run is created.
    for delay_ms in (0..150).step_by(5) {
        let s = Scratch::new();
        let rb = s.runbook("born.yaml", RUNBOOK);
        let mut child = s.spawn_run(&rb);
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill();
        runkit::wait(&mut child, Duration::from_secs(30)).expect("killed");
        let runs: Vec<_> = std::fs::read_dir(s.state().join("runs"))
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default();
        let visible: Vec<_> = runs
            .iter()
            .filter(|p| !p.file_name().unwrap().to_str().unwrap().starts_with('.'))
            .collect();
        for run in &visible {
            for file in ["run.json", "journal.jsonl"] {
                assert!(
                    run.join(file).is_file(),
                    "killed after {delay_ms} ms: {} has no {file}",
                    run.display()
                );
            }
        }
        let resumed = s.resume(&[]);
        if visible.is_empty() {
            killed_before += 1;
            assert_eq!(resumed.code, 2, "{}", resumed.all());
            assert!(
                resumed.stderr.contains("no unfinished run"),
                "{}",
                resumed.all()
            );
        } else {
            killed_after += 1;
            // Finished before the kill, or resumed to the end now.
            let ok = resumed.code == 0 || resumed.stderr.contains("no unfinished run");
            assert!(ok, "killed after {delay_ms} ms: {}", resumed.all());
            assert_eq!(s.status(None)["state"], "succeeded");
        }
    }
    assert!(
        killed_before > 0 && killed_after > 0,
        "kills landed on both sides of the creation: {killed_before} before, {killed_after} after"
    );
}
