//! A value reaches a shell script only as `$NAME` or quoted by `{{sh NAME}}`: every other way a
//! template could splice it into a script is refused by `validate`, so an injected command never
//! runs; and the template language is exactly what `validate` sees through.

mod runkit;

use runkit::Scratch;
use runkit::cases::SCRIPT_SPLICES;

fn runbook(script_line: &str, touched: &str) -> String {
    format!(
        "apiVersion: meshbook/v1\nkind: Runbook\nmetadata: {{name: inject}}\nparams:\n  X: {{default: 'x; touch {touched}'}}\nsteps:\n  - id: a\n    shell: |\n      {script_line}\n"
    )
}

#[test]
fn no_template_form_splices_a_value_into_a_script() {
    let s = Scratch::new();
    let touched = s.path().join("injected");
    let touched = touched.to_str().unwrap();
    for (n, form) in SCRIPT_SPLICES.iter().enumerate() {
        let line = format!("echo {form}");
        let rb = s.runbook(&format!("inject{n}.yaml"), &runbook(&line, touched));
        let name = rb.to_str().unwrap();
        let validated = s.meshbook(&["validate", name]);
        assert_eq!(validated.code, 2, "{form}: {}", validated.all());
        let col = 7 + line.find(form).unwrap();
        assert!(
            validated.stderr.contains(&format!("{name}:9:{col}: `{{{{"))
                && validated.stderr.contains("into a script"),
            "{form}: not located at 9:{col}:\n{}",
            validated.stderr
        );
        assert!(
            validated.stderr.contains("`{{sh X}}`") || form.contains("each this"),
            "{form}: no safe spelling suggested:\n{}",
            validated.stderr
        );
        let ran = s.run(&rb, &[]);
        assert_eq!(ran.code, 2, "{form}: {}", ran.all());
        assert!(
            !std::path::Path::new(touched).exists(),
            "{form} ran the injected command"
        );
    }
    // The safe spellings run, and the value stays one word.
    let rb = s.runbook(
        "safe.yaml",
        &runbook(
            r#"test "$X" = {{sh X}} && printf %s {{sh X}} > out"#,
            touched,
        ),
    );
    let ran = s.run(&rb, &[]);
    assert_eq!(ran.code, 0, "{}", ran.all());
    assert!(!std::path::Path::new(touched).exists());
    let out = std::fs::read_to_string(s.work().join("out")).unwrap();
    assert_eq!(out, format!("x; touch {touched}"));
}

#[test]
fn templates_validate_only_in_the_language_validate_sees_through() {
    let s = Scratch::new();
    for (field, says) in [
        ("{{nope X}}", "unknown helper `nope`"),
        ("{{@root.NOPE}}", "names a param or output directly"),
        ("{{> p}}", "partials"),
        (r#"{{lookup this "X"}}"#, "`lookup` is not supported"),
    ] {
        let text = format!(
            "apiVersion: meshbook/v1\nkind: Runbook\nmetadata: {{name: lang}}\nparams:\n  X: {{default: x}}\nsteps:\n  - id: a\n    kube.apply: {{context: c, manifest: 'n: {field}'}}\n"
        );
        let rb = s.runbook("lang.yaml", &text);
        let out = s.meshbook(&["validate", rb.to_str().unwrap()]);
        assert_eq!(out.code, 2, "{field}: {}", out.all());
        let col = 1 + text.lines().nth(7).unwrap().find(field).unwrap();
        assert!(
            out.stderr
                .contains(&format!("lang.yaml:8:{col}: `{field}`"))
                && out.stderr.contains(says),
            "{field}:\n{}",
            out.stderr
        );
    }
}
