//! Runbooks and inputs that more than one test drives: the run the journal-damage tests damage,
//! and the template forms that would splice a value into a script.

use std::path::PathBuf;

use super::{Scratch, run_id};

/// Three steps with outputs, the last failing until `fixed` exists: a run to damage and resume.
pub const DAMAGE_RUNBOOK: &str = r#"apiVersion: meshbook/v1
kind: Runbook
metadata: {name: damage}
steps:
  - id: a
    shell: |
      echo a >> ran
      echo "A=0123456789abcdef" >> "$MESHBOOK_OUTPUT"
    outputs:
      A: {type: string}
  - id: b
    shell: |
      echo b >> ran
      echo "B=$A" >> "$MESHBOOK_OUTPUT"
    outputs:
      B: {type: string}
  - id: c
    shell: |
      echo c >> ran
      test -e fixed && echo "C=$B" >> "$MESHBOOK_OUTPUT"
    outputs:
      C: {type: string}
"#;

/// A run of [`DAMAGE_RUNBOOK`] stopped at `c`, with `a` and `b` succeeded and `fixed` made so a
/// resume would finish: its id and folder.
pub fn failed_run(s: &Scratch) -> Result<(String, PathBuf), String> {
    let rb = s.runbook("damage.yaml", DAMAGE_RUNBOOK);
    let _ = std::fs::remove_file(s.work().join("fixed"));
    let first = s.run(&rb, &[]);
    if first.code != 1 {
        return Err(format!(
            "the run to damage did not fail at c: {}",
            first.all()
        ));
    }
    let id = run_id(&first.stdout);
    std::fs::write(s.work().join("fixed"), "").unwrap();
    let dir = s.state().join("runs").join(&id);
    Ok((id, dir))
}

/// Each way a template could put the param `X` into a script unquoted.
pub const SCRIPT_SPLICES: [&str; 11] = [
    "{{X}}",
    "{{{X}}}",
    r#"{{lookup this "X"}}"#,
    "{{#with X}}{{this}}{{/with}}",
    "{{b64dec (b64enc X)}}",
    "{{#each this}}{{this}}{{/each}}",
    "{{this.X}}",
    "{{./X}}",
    "{{[X]}}",
    "{{@root.X}}",
    r#"{{#if X}}{{lookup this "X"}}{{/if}}"#,
];
