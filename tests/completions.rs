//! Shell completions: a script for each shell, and the values the binary completes when that
//! script calls it back (`COMPLETE=fish meshbook -- WORDS...`): runbook names, run ids and step
//! ids from a scratch state, params and kubeconfig contexts.

mod runkit;

use runkit::Scratch;

/// The values the binary offers for the last word of `words` (fish's protocol: one
/// `value<TAB>help` per line), without their help and without flags.
fn offers(s: &Scratch, words: &[&str], env: &[(&str, &str)]) -> Vec<String> {
    let mut c = s.cmd(&["--", "meshbook"]);
    c.args(words).env("COMPLETE", "fish");
    for (k, v) in env {
        c.env(k, v);
    }
    let done = runkit::finish(c, None);
    assert_eq!(done.code, 0, "{}", done.all());
    done.stdout
        .lines()
        .map(|l| l.split('\t').next().unwrap_or_default().to_string())
        .filter(|v| !v.starts_with('-'))
        .collect()
}

#[test]
fn a_script_for_each_shell() {
    let s = Scratch::new();
    for (shell, marker) in [
        ("bash", "complete -o nospace -o bashdefault"),
        ("zsh", "#compdef meshbook"),
        (
            "fish",
            "complete --keep-order --exclusive --command meshbook",
        ),
        ("powershell", "Register-ArgumentCompleter"),
        ("elvish", "set edit:completion:arg-completer[meshbook]"),
    ] {
        let done = s.meshbook(&["completions", shell]);
        assert_eq!(done.code, 0, "{shell}: {}", done.all());
        assert!(done.stdout.contains(marker), "{shell}:\n{}", done.stdout);
        // The script calls the binary back with the shell's name in `COMPLETE`.
        assert!(
            done.stdout.contains("COMPLETE"),
            "{shell}:\n{}",
            done.stdout
        );
    }
    // The bash script is valid bash.
    let script = s.meshbook(&["completions", "bash"]).stdout;
    let path = s.runbook("meshbook.bash", &script);
    let mut check = std::process::Command::new("bash");
    check.arg("-n").arg(&path);
    let checked = runkit::finish(check, None);
    assert_eq!(checked.code, 0, "{}", checked.all());

    let bad = s.meshbook(&["completions", "tcsh"]);
    assert_eq!(bad.code, 2, "{}", bad.all());
}

const FAILS: &str = "apiVersion: meshbook/v1
kind: Runbook
metadata: {name: halts, title: Stops half way}
params:
  CTX: {type: context}
  N: {default: '1'}
steps:
  - id: first
    title: The first step
    shell: 'true'
  - id: second
    shell: 'false'
    needs: [first]
  - id: third
    shell: 'true'
    needs: [second]
";

#[test]
fn runbook_names_from_every_place() {
    let s = Scratch::new();
    std::fs::create_dir_all(s.path().join("runbooks/local-one")).unwrap();
    std::fs::write(s.path().join("runbooks/local-one/runbook.yaml"), FAILS).unwrap();
    let extra = s.path().join("more");
    std::fs::create_dir_all(extra.join("from-path")).unwrap();
    std::fs::write(extra.join("from-path/runbook.yaml"), FAILS).unwrap();
    let env = [("MESHBOOK_PATH", extra.to_str().unwrap())];

    let all = offers(&s, &["show", ""], &env);
    for name in ["split-horizon", "vm-expansion", "local-one", "from-path"] {
        assert!(all.contains(&name.to_string()), "{name} not in {all:?}");
    }
    assert_eq!(offers(&s, &["plan", "spl"], &env), ["split-horizon"]);
    // A word that looks like a path completes as one.
    assert_eq!(offers(&s, &["validate", "./runb"], &env), ["./runbooks/"]);
}

#[test]
fn run_ids_and_step_ids_from_the_state() {
    let s = Scratch::new();
    assert!(offers(&s, &["status", ""], &[]).is_empty());
    let rb = s.runbook("halts.yaml", FAILS);
    let first = s.run(&rb, &["-p", "CTX=c1", "--ignore-requirements"]);
    assert_eq!(first.code, 1, "{}", first.all());
    let second = s.run(&rb, &["-p", "CTX=c1", "--ignore-requirements"]);
    let (a, b) = (
        runkit::run_id(&first.stdout),
        runkit::run_id(&second.stdout),
    );

    // Newest first, in every command that takes a run.
    for cmd in ["status", "resume", "cleanup"] {
        assert_eq!(offers(&s, &[cmd, ""], &[]), [b.clone(), a.clone()], "{cmd}");
    }
    assert_eq!(offers(&s, &["status", &a], &[]), vec![a.clone()]);
    // `--state-dir` on the line wins over the environment.
    let elsewhere = s.path().join("empty-state");
    assert!(
        offers(
            &s,
            &["status", "--state-dir", elsewhere.to_str().unwrap(), ""],
            &[]
        )
        .is_empty()
    );

    assert_eq!(
        offers(&s, &["resume", &a, "--from", ""], &[]),
        ["first", "second", "third"]
    );
    assert_eq!(offers(&s, &["resume", "--from", "s"], &[]), ["second"]);
}

#[test]
fn params_and_contexts() {
    let s = Scratch::new();
    s.runbook("halts.yaml", FAILS);
    let kubeconfig = s.runbook(
        "kubeconfig",
        "apiVersion: v1\nkind: Config\ncontexts:\n- name: east\n  context: {cluster: e, user: u}\n- name: west\n  context: {cluster: w, user: u}\n",
    );
    let env = [("KUBECONFIG", kubeconfig.to_str().unwrap())];
    assert_eq!(
        offers(&s, &["plan", "halts.yaml", "-p", ""], &env),
        ["CTX=", "N="]
    );
    assert_eq!(
        offers(&s, &["run", "halts.yaml", "-p", "CTX="], &env),
        ["CTX=east", "CTX=west"]
    );
    assert_eq!(
        offers(&s, &["run", "halts.yaml", "-p", "CTX=w"], &env),
        ["CTX=west"]
    );
    // A param that is not a context has no values to offer.
    assert!(offers(&s, &["run", "halts.yaml", "-p", "N="], &env).is_empty());
}
