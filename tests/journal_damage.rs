//! Damage to a run's state is found and reported with its file and line, exits 3, and never
//! makes a command run again what already succeeded.

mod runkit;

use std::path::PathBuf;

use runkit::Scratch;

/// A run stopped at `c`, with `a` and `b` succeeded.
fn failed_run(s: &Scratch) -> (String, PathBuf) {
    runkit::cases::failed_run(s).unwrap()
}

fn journal_lines(dir: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(dir.join("journal.jsonl"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

fn write_lines(dir: &std::path::Path, lines: &[String]) {
    std::fs::write(dir.join("journal.jsonl"), lines.join("\n") + "\n").unwrap();
}

/// `resume ID` and `status ID` both exit 3 and say `wanted`; no step ran again.
fn refused(s: &Scratch, id: &str, wanted: &str) {
    let before = s.lines("ran");
    for args in [vec!["resume", id], vec!["status", id]] {
        let out = s.meshbook(&args);
        assert_eq!(out.code, 3, "{args:?}: {}", out.all());
        assert!(
            out.stderr.contains(wanted),
            "{args:?}: wanted `{wanted}` in:\n{}",
            out.stderr
        );
        assert!(out.stderr.contains("damaged run state"), "{}", out.stderr);
    }
    assert_eq!(
        s.lines("ran"),
        before,
        "a command ran steps from damaged state"
    );
}

#[test]
fn an_edited_output_is_found_at_its_line() {
    let s = Scratch::new();
    let (id, dir) = failed_run(&s);
    let mut lines = journal_lines(&dir);
    let n = lines
        .iter()
        .position(|l| l.contains("0123456789abcdef"))
        .unwrap();
    lines[n] = lines[n].replacen("0123456789abcdef", "0123456789abcdee", 1);
    assert!(serde_json::from_str::<serde_json::Value>(&lines[n]).is_ok());
    write_lines(&dir, &lines);
    refused(&s, &id, &format!("journal.jsonl, line {}:", n + 1));
}

#[test]
fn a_missing_or_appended_line_is_found() {
    let s = Scratch::new();
    let (id, dir) = failed_run(&s);
    let lines = journal_lines(&dir);
    let mut missing = lines.clone();
    missing.remove(2);
    write_lines(&dir, &missing);
    refused(&s, &id, "journal.jsonl, line 3:");
    let mut appended = lines.clone();
    appended.push(r#"{"at":1,"event":"run_finished","outcome":"succeeded","steps":3,"succeeded":3,"failed":0,"blocked":0,"not_started":0}"#.into());
    appended.push(lines[1].clone());
    write_lines(&dir, &appended);
    refused(
        &s,
        &id,
        &format!("journal.jsonl, line {}:", lines.len() + 1),
    );
}

#[test]
fn a_lost_journal_or_run_json_is_found() {
    let s = Scratch::new();
    let (id, dir) = failed_run(&s);
    let journal = std::fs::read(dir.join("journal.jsonl")).unwrap();
    std::fs::write(dir.join("journal.jsonl"), "").unwrap();
    refused(&s, &id, "empty, but the run has a run.json");
    std::fs::remove_file(dir.join("journal.jsonl")).unwrap();
    refused(&s, &id, "missing, but the run has a run.json");
    // Without an id, resume says so rather than picking another run or starting over.
    let out = s.meshbook(&["resume"]);
    assert_eq!(out.code, 3, "{}", out.all());

    std::fs::write(dir.join("journal.jsonl"), journal).unwrap();
    std::fs::remove_file(dir.join("run.json")).unwrap();
    refused(&s, &id, "run.json: missing, but the run has a journal");
    let runs = s.meshbook(&["runs"]);
    assert!(
        runs.stdout.contains(&id) && runs.stdout.contains("damaged"),
        "{}",
        runs.all()
    );
}

#[test]
fn a_journal_from_another_run_is_found() {
    let s = Scratch::new();
    let (first, first_dir) = failed_run(&s);
    let (second, second_dir) = failed_run(&s);
    std::fs::copy(
        second_dir.join("journal.jsonl"),
        first_dir.join("journal.jsonl"),
    )
    .unwrap();
    refused(&s, &first, &format!("line 1: belongs to run `{second}`"));
}

#[test]
fn a_torn_last_line_is_still_resumed() {
    let s = Scratch::new();
    let (id, dir) = failed_run(&s);
    let mut text = std::fs::read(dir.join("journal.jsonl")).unwrap();
    text.extend_from_slice(br#"{"at":1,"event":"step_succ"#);
    std::fs::write(dir.join("journal.jsonl"), text).unwrap();
    let out = s.meshbook(&["resume", &id, "--log-format", "plain"]);
    assert_eq!(out.code, 0, "{}", out.all());
    assert_eq!(s.lines("ran"), ["a", "b", "c", "c"]);
}
