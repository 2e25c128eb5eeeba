//! The shell executor against real bash processes.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use meshbook_engine::run::executor::{Executor, StepFailure, StepRequest};
use meshbook_engine::state::log::{Echo, Stream};
use meshbook_engine::values::Values;
use meshbook_steps::shell::ShellExecutor;

mod support;

/// A shell step running `script`, declaring `outputs`, with `GREETING` in its environment.
fn request(dir: &Path, script: &str, outputs: &[&str]) -> StepRequest {
    let outputs: Vec<String> = outputs.iter().map(|o| format!("{o}: {{}}")).collect();
    let step = format!(
        "shell: |\n{}outputs: {{{}}}\n",
        support::indent(script, 2),
        outputs.join(", ")
    );
    support::request(
        dir,
        &step,
        &support::plain(&[("GREETING", "hello world")]),
        None,
    )
}

#[tokio::test]
async fn outputs_come_from_the_output_file_and_env_reaches_the_script() {
    let dir = tempfile::tempdir().unwrap();
    let script = r#"
echo "A=$GREETING" >> "$MESHBOOK_OUTPUT"
printf 'PEM<<EOF\n-----BEGIN-----\nabc\nEOF\n' >> "$MESHBOOK_OUTPUT"
echo "WHERE=$(pwd)" >> "$MESHBOOK_OUTPUT"
echo to-stdout; echo to-stderr >&2
"#;
    let out = ShellExecutor::default()
        .execute(request(dir.path(), script, &["A", "PEM", "WHERE"]))
        .await
        .unwrap();
    assert_eq!(out.outputs["A"], "hello world");
    assert_eq!(out.outputs["PEM"], "-----BEGIN-----\nabc");
    assert_eq!(
        Path::new(&out.outputs["WHERE"]).canonicalize().unwrap(),
        dir.path().canonicalize().unwrap()
    );
    let log = std::fs::read_to_string(dir.path().join("logs/s.log")).unwrap();
    assert!(
        log.contains("to-stdout") && log.contains("to-stderr"),
        "{log}"
    );
    let leftovers = std::fs::read_dir(dir.path().join("tmp")).unwrap().count();
    assert_eq!(leftovers, 0, "the output file is removed after the step");
}

#[tokio::test]
async fn a_single_output_falls_back_to_trimmed_stdout() {
    let dir = tempfile::tempdir().unwrap();
    let out = ShellExecutor::default()
        .execute(request(dir.path(), "echo '  10.0.0.7  '", &["ADDR"]))
        .await
        .unwrap();
    assert_eq!(out.outputs["ADDR"], "10.0.0.7");
}

#[tokio::test]
async fn withheld_variables_are_not_inherited_but_given_values_are() {
    let dir = tempfile::tempdir().unwrap();
    assert!(std::env::var_os("HOME").is_some() && std::env::var_os("PATH").is_some());
    let script =
        r#"echo "H=${HOME-unset}" >> "$MESHBOOK_OUTPUT"; echo "G=$GREETING" >> "$MESHBOOK_OUTPUT""#;
    let out = ShellExecutor::withholding(["HOME".to_string(), "GREETING".to_string()])
        .execute(request(dir.path(), script, &["H", "G"]))
        .await
        .unwrap();
    assert_eq!(out.outputs["H"], "unset");
    assert_eq!(
        out.outputs["G"], "hello world",
        "a value the step is given is kept"
    );
}

#[tokio::test]
async fn argv_runs_without_a_shell() {
    let dir = tempfile::tempdir().unwrap();
    let req = support::request(
        dir.path(),
        "shell: {argv: [printf, '%s', '$GREETING;x']}\noutputs: {OUT: {}}",
        &Values::new(),
        None,
    );
    let out = ShellExecutor::default().execute(req).await.unwrap();
    assert_eq!(out.outputs["OUT"], "$GREETING;x");
}

#[tokio::test]
async fn failures_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let err = ShellExecutor::default()
        .execute(request(dir.path(), "exit 3", &[]))
        .await
        .unwrap_err();
    assert_eq!(err, StepFailure::Exit { code: 3 });
    // pipefail and -u are on.
    let err = ShellExecutor::default()
        .execute(request(dir.path(), "false | true", &[]))
        .await
        .unwrap_err();
    assert_eq!(err, StepFailure::Exit { code: 1 });
    let err = ShellExecutor::default()
        .execute(request(dir.path(), "eval 'echo $UNSET_THING'", &[]))
        .await
        .unwrap_err();
    assert!(matches!(err, StepFailure::Exit { .. }));
    let err = ShellExecutor::default()
        .execute(request(
            dir.path(),
            "echo 'bad line' >> $MESHBOOK_OUTPUT",
            &[],
        ))
        .await;
    assert!(matches!(err, Err(StepFailure::OutputFile(_))), "{err:?}");
}

fn alive(pid: i32) -> bool {
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_ok()
        && !std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

async fn child_pid(dir: &Path) -> i32 {
    for _ in 0..200 {
        if let Ok(t) = std::fs::read_to_string(dir.join("child.pid"))
            && let Ok(pid) = t.trim().parse()
        {
            return pid;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the script did not start its child");
}

#[tokio::test]
async fn stop_terminates_the_whole_process_group() {
    let dir = tempfile::tempdir().unwrap();
    let req = request(dir.path(), "sleep 300 & echo $! > child.pid; wait", &[]);
    let stop = req.stop.clone();
    let task = tokio::spawn(ShellExecutor::default().execute_owned(req));
    let pid = child_pid(dir.path()).await;
    assert!(alive(pid));
    stop.cancel();
    let ended = tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("stop did not end the step");
    assert_eq!(ended.unwrap(), Err(StepFailure::Interrupted));
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!alive(pid), "the background child was terminated too");
}

#[tokio::test]
async fn a_step_ignoring_sigterm_is_killed_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let req = request(
        dir.path(),
        "trap '' TERM; sleep 300 & echo $! > child.pid; wait",
        &[],
    );
    let stop = req.stop.clone();
    let task = tokio::spawn(ShellExecutor::default().execute_owned(req));
    let pid = child_pid(dir.path()).await;
    let start = Instant::now();
    stop.cancel();
    assert_eq!(task.await.unwrap(), Err(StepFailure::Interrupted));
    assert!(
        start.elapsed() >= Duration::from_millis(250),
        "{:?}",
        start.elapsed()
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(!alive(pid));
}

#[tokio::test]
async fn echo_sees_each_line_with_its_stream() {
    let dir = tempfile::tempdir().unwrap();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let seen = lines.clone();
    let echo: Echo = Arc::new(move |step: &str, stream: Stream, line: &str| {
        seen.lock()
            .unwrap()
            .push(format!("{step} {stream:?} {line}"));
    });
    let req = support::request(
        dir.path(),
        "shell: echo one; echo two >&2; echo 'V=x' >> $MESHBOOK_OUTPUT\noutputs: {V: {}}",
        &Values::new(),
        Some(echo),
    );
    let out = ShellExecutor::default().execute(req).await.unwrap();
    assert_eq!(out.outputs["V"], "x");
    let mut lines = lines.lock().unwrap().clone();
    lines.sort();
    assert_eq!(lines, ["s Stderr two", "s Stdout one"]);
}

#[tokio::test]
async fn other_kinds_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let req = support::request(
        dir.path(),
        "kube.apply: {manifest: x}",
        &Values::new(),
        None,
    );
    let err = ShellExecutor::default().execute(req).await.unwrap_err();
    assert_eq!(err, StepFailure::Unsupported("kube.apply".into()));
}

#[tokio::test]
async fn secret_outputs_are_masked_in_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let req = support::request(
        dir.path(),
        "shell: |\n  echo 'token: hunter2'; echo 'T=hunter2' >> $MESHBOOK_OUTPUT\noutputs: {T: {secret: true}}",
        &Values::new(),
        None,
    );
    let out = ShellExecutor::default().execute(req).await.unwrap();
    assert_eq!(out.outputs["T"], "hunter2");
    let log = std::fs::read_to_string(dir.path().join("logs/s.log")).unwrap();
    assert!(
        log.contains("token: ***") && !log.contains("hunter2"),
        "{log}"
    );
}

#[tokio::test]
async fn secret_values_the_step_sees_are_masked_in_its_log_on_both_streams() {
    let dir = tempfile::tempdir().unwrap();
    let mut values = Values::new();
    values.insert("TOKEN", "s3cr3t-value", true);
    let req = support::request(
        dir.path(),
        "shell: echo \"token is $TOKEN\"; echo \"again $TOKEN\" >&2",
        &values,
        None,
    );
    let log = req.log.path().to_path_buf();
    ShellExecutor::default().execute(req).await.unwrap();
    let text = std::fs::read_to_string(log).unwrap();
    assert!(!text.contains("s3cr3t-value"), "{text}");
    assert!(
        text.contains("token is ***") && text.contains("again ***"),
        "{text}"
    );
}

#[tokio::test]
async fn a_process_outside_the_group_holding_stdout_is_read_for_a_bounded_time() {
    let dir = tempfile::tempdir().unwrap();
    // `setsid` leaves the step's group and `env -i` drops the step's mark, so it is not killed
    // at step end; it keeps stdout open.
    let req = request(
        dir.path(),
        "setsid env -i sh -c 'echo $$ > escaped.pid; exec sleep 6' &\n\
         until [ -s escaped.pid ]; do sleep 0.05; done\n\
         echo V=1 >> \"$MESHBOOK_OUTPUT\"",
        &["V"],
    );
    let log = req.log.path().to_path_buf();
    let start = Instant::now();
    let out = tokio::time::timeout(
        Duration::from_secs(30),
        ShellExecutor::default().execute(req),
    )
    .await
    .expect("the step ends");
    assert_eq!(out.unwrap().outputs["V"], "1");
    assert!(
        start.elapsed() < Duration::from_secs(5),
        "the pipe held the step: {:?}",
        start.elapsed()
    );
    let escaped = std::fs::read_to_string(dir.path().join("escaped.pid")).unwrap();
    let _ = std::process::Command::new("kill")
        .arg(escaped.trim())
        .status();
    let text = std::fs::read_to_string(log).unwrap();
    assert!(
        text.contains("output still open 2 s after the step ended"),
        "{text}"
    );
}

#[tokio::test]
async fn a_step_that_cannot_start_names_what_failed() {
    let dir = tempfile::tempdir().unwrap();
    let req = support::request(
        dir.path(),
        "shell: {argv: [no-such-tool-here]}",
        &Values::new(),
        None,
    );
    let err = ShellExecutor::default().execute(req).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("could not start: no-such-tool-here: No such file"),
        "{err}"
    );
    // Scratch space that is not a folder (damaged state) is named too.
    let req = request(dir.path(), "true", &["X"]);
    let scratch = req.scratch.clone();
    std::fs::remove_dir_all(&scratch).ok();
    std::fs::write(&scratch, "").unwrap();
    let err = ShellExecutor::default().execute(req).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("could not start: {}: ", scratch.display())),
        "{err}"
    );
}
