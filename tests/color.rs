//! Colour: `--color auto|always|never` first, then `NO_COLOR` (off) and `CLICOLOR_FORCE` (on),
//! then whether the stream is a terminal; and machine output never carries escapes.

mod runkit;

use runkit::{Done, Scratch};

const ESC: &str = "\x1b[";

const BROKEN: &str = "apiVersion: meshbook/v1
kind: Runbook
metadata: {name: broken}
steps:
  - id: a
    nedds: [b]
    shell: 'true'
";

/// `meshbook ARGS` with exactly the colour variables `env` set.
fn with_env(s: &Scratch, args: &[&str], env: &[(&str, &str)]) -> Done {
    let mut c = s.cmd(args);
    c.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
    for (k, v) in env {
        c.env(k, v);
    }
    runkit::finish(c, None)
}

#[test]
fn diagnostics_follow_the_flag_then_the_environment() {
    let s = Scratch::new();
    s.runbook("broken.yaml", BROKEN);
    let validate = |flag: Option<&str>, env: &[(&str, &str)]| {
        let mut args = vec!["validate", "broken.yaml"];
        args.extend(flag.map(|f| ["--color", f]).into_iter().flatten());
        let done = with_env(&s, &args, env);
        assert_eq!(done.code, 2, "{}", done.all());
        assert!(
            done.stderr.contains("unknown field `nedds`"),
            "{}",
            done.all()
        );
        done.stderr.contains(ESC)
    };
    // Into a pipe: no colour unless asked for.
    assert!(!validate(None, &[]));
    assert!(validate(Some("always"), &[]));
    assert!(!validate(Some("never"), &[]));
    assert!(validate(None, &[("CLICOLOR_FORCE", "1")]));
    // NO_COLOR wins over CLICOLOR_FORCE; the flag wins over both.
    assert!(!validate(
        None,
        &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")]
    ));
    assert!(validate(Some("always"), &[("NO_COLOR", "1")]));
    assert!(!validate(Some("never"), &[("CLICOLOR_FORCE", "1")]));
    // An empty NO_COLOR is unset (no-color.org).
    assert!(validate(None, &[("NO_COLOR", ""), ("CLICOLOR_FORCE", "1")]));
}

#[test]
fn command_line_errors_too() {
    let s = Scratch::new();
    let done = with_env(&s, &["no-such-command", "--color=always"], &[]);
    assert_eq!(done.code, 2, "{}", done.all());
    assert!(done.stderr.contains(ESC), "{}", done.all());
    let done = with_env(
        &s,
        &["no-such-command"],
        &[("NO_COLOR", "1"), ("CLICOLOR_FORCE", "1")],
    );
    assert_eq!(done.code, 2, "{}", done.all());
    assert!(!done.stderr.contains(ESC), "{}", done.all());
    let bad = with_env(&s, &["list", "--color", "sometimes"], &[]);
    assert_eq!(bad.code, 2, "{}", bad.all());
}

#[test]
fn run_lines_coloured_json_never() {
    let s = Scratch::new();
    let rb = s.runbook(
        "ok.yaml",
        "apiVersion: meshbook/v1\nkind: Runbook\nmetadata: {name: ok}\nsteps:\n  - id: a\n    shell: 'true'\n",
    );
    let rb = rb.to_str().unwrap();
    let work = s.work();
    let run = |flag: &str| {
        let args = [
            "run",
            rb,
            "--workdir",
            work.to_str().unwrap(),
            "--log-format",
            "plain",
            "--color",
            flag,
        ];
        let done = with_env(&s, &args, &[]);
        assert_eq!(done.code, 0, "{}", done.all());
        done.stdout
    };
    assert!(run("always").contains("\x1b[32mdone\x1b[0m   a"));
    assert!(!run("never").contains(ESC));

    // JSON results are JSON whatever the colour.
    for args in [
        &["list", "-o", "json", "--color", "always"][..],
        &["runs", "-o", "json", "--color", "always"][..],
        &["show", rb, "-o", "json", "--color", "always"][..],
    ] {
        let done = with_env(&s, args, &[("CLICOLOR_FORCE", "1")]);
        assert_eq!(done.code, 0, "{}", done.all());
        assert!(!done.stdout.contains(ESC), "{}", done.all());
        serde_json::from_str::<serde_json::Value>(&done.stdout).expect("stdout is JSON alone");
    }
}
