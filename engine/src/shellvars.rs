//! The variables a shell script reads (`$NAME`, `${NAME}`, `${NAME:-x}`) and the ones it defines
//! itself, so that data edges and undefined names are found without running anything.

use std::collections::BTreeSet;

/// Variables the environment of a step always has, or that bash sets itself.
pub(crate) const AMBIENT: [&str; 32] = [
    "HOME",
    "PATH",
    "USER",
    "LOGNAME",
    "PWD",
    "OLDPWD",
    "SHELL",
    "TMPDIR",
    "HOSTNAME",
    "LANG",
    "TERM",
    "IFS",
    "RANDOM",
    "LINENO",
    "SECONDS",
    "UID",
    "EUID",
    "PPID",
    "BASHPID",
    "KUBECONFIG",
    "BASH_SOURCE",
    "FUNCNAME",
    "PIPESTATUS",
    "REPLY",
    "OPTARG",
    "OPTIND",
    "MESHBOOK_OUTPUT",
    "MESHBOOK_RUN_ID",
    "MESHBOOK_STEP",
    "MESHBOOK_DRIVER",
    "MESHBOOK_WORKDIR",
    "MESHBOOK_SANDBOX",
];

/// A variable read by a script, with the text that reads it (for pointing at it).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct VarUse {
    /// The variable name.
    pub(crate) name: String,
    /// How it appears in the script: `$NAME` or `${NAME`.
    pub(crate) text: String,
}

/// One expansion of a variable in a script: its byte range and name. `simple` is true for
/// `$NAME` and `${NAME}`, false for forms with operators (`${NAME:-x}`).
struct Expansion {
    start: usize,
    end: usize,
    name_start: usize,
    name_end: usize,
    simple: bool,
}

impl Expansion {
    /// True for `${NAME-x}`, `${NAME:-x}`, `${NAME=x}`, `${NAME:=x}`, `${NAME+x}` and
    /// `${NAME:+x}`: forms that are fine when the variable is unset.
    fn tolerates_unset(&self, script: &str) -> bool {
        let rest = script[self.name_end..].trim_start_matches(':');
        !self.simple && rest.starts_with(['-', '=', '+'])
    }
}

/// Every expansion in `script`, skipping single-quoted text, escaped dollars and comments.
fn expansions(script: &str) -> Vec<Expansion> {
    let bytes = script.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    let mut in_single = false;
    let mut in_double = false;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if !in_single => {
                i += 2;
                continue;
            }
            b'\'' if !in_double => in_single = !in_single,
            b'"' if !in_single => in_double = !in_double,
            b'#' if !in_single && !in_double && (i == 0 || bytes[i - 1].is_ascii_whitespace()) => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            b'$' if !in_single => {
                let braced = bytes.get(i + 1) == Some(&b'{');
                let name_start = if braced { i + 2 } else { i + 1 };
                let len = name_len(&bytes[name_start..]);
                if len > 0 {
                    let name_end = name_start + len;
                    let closes = braced && bytes.get(name_end) == Some(&b'}');
                    let end = if closes { name_end + 1 } else { name_end };
                    out.push(Expansion {
                        start: i,
                        end,
                        name_start,
                        name_end,
                        simple: !braced || closes,
                    });
                    i = name_end;
                    continue;
                }
            }
            _ => {}
        }
        i += 1;
    }
    out
}

/// Variables read by `script` that it does not define itself. Single-quoted text and
/// backslash-escaped dollars are not expansions and are skipped.
pub(crate) fn free_variables(script: &str) -> Vec<VarUse> {
    let expansions = expansions(script);
    // Most scripts expand nothing: their assignments need not be read.
    if expansions.is_empty() {
        return Vec::new();
    }
    let defined = defined_variables(script);
    let mut seen = BTreeSet::new();
    let mut uses = Vec::new();
    for e in expansions {
        let name = &script[e.name_start..e.name_end];
        if e.tolerates_unset(script) {
            continue;
        }
        if !defined.contains(name) && seen.insert(name.to_string()) {
            let braced = script.as_bytes()[e.start + 1] == b'{';
            let text = if braced {
                format!("${{{name}")
            } else {
                format!("${name}")
            };
            uses.push(VarUse {
                name: name.to_string(),
                text,
            });
        }
    }
    uses
}

/// Variables `script` reads that may be unset: ones it also assigns somewhere (whether the read
/// comes before the assignment is not known without running it: `X="$X" cmd`), and ones read
/// with a default (`${X:-d}`). Such a name is given to the step when it names a value, and is
/// never an error when it does not.
pub(crate) fn reads_of_defined(script: &str) -> BTreeSet<String> {
    let expansions = expansions(script);
    if expansions.is_empty() {
        return BTreeSet::new();
    }
    let defined = defined_variables(script);
    expansions
        .into_iter()
        .filter(|e| {
            e.tolerates_unset(script) || defined.contains(&script[e.name_start..e.name_end])
        })
        .map(|e| script[e.name_start..e.name_end].to_string())
        .collect()
}

/// Replaces `$NAME` and `${NAME}` with `value(NAME)` where it gives one and the script does not
/// define the name itself; used to show a plan's scripts with the values they will see.
pub(crate) fn substitute(script: &str, value: impl Fn(&str) -> Option<String>) -> String {
    let expansions = expansions(script);
    if expansions.is_empty() {
        return script.to_string();
    }
    let defined = defined_variables(script);
    let mut out = String::with_capacity(script.len());
    let mut last = 0;
    for e in expansions {
        let name = &script[e.name_start..e.name_end];
        if !e.simple || defined.contains(name) {
            continue;
        }
        if let Some(v) = value(name) {
            out.push_str(&script[last..e.start]);
            out.push_str(&v);
            last = e.end;
        }
    }
    out.push_str(&script[last..]);
    out
}

fn name_len(bytes: &[u8]) -> usize {
    match bytes.first() {
        Some(b) if b.is_ascii_alphabetic() || *b == b'_' => bytes
            .iter()
            .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
            .count(),
        _ => 0,
    }
}

/// Names a script assigns (`X=`, `export X=`, `local X`, `read X`, `for X in`, `declare X`).
fn defined_variables(script: &str) -> BTreeSet<String> {
    let mut defined = BTreeSet::new();
    for raw in script.split(['\n', ';', '&', '|', '(', ')', '`']) {
        let words: Vec<&str> = raw.split_whitespace().collect();
        let mut iter = words.iter().peekable();
        while let Some(word) = iter.next() {
            match *word {
                "for" | "select" => {
                    if let Some(name) = iter.next() {
                        defined.insert(name.to_string());
                    }
                }
                "read" | "local" | "export" | "declare" | "typeset" | "readonly" | "unset" => {
                    for w in iter.by_ref() {
                        if w.starts_with('-') {
                            continue;
                        }
                        let name = w.split('=').next().unwrap_or(w);
                        if name_len(name.as_bytes()) == name.len() && !name.is_empty() {
                            defined.insert(name.to_string());
                        }
                    }
                }
                w => {
                    if let Some((name, _)) = w.split_once('=') {
                        let name = name.trim_end_matches('+');
                        if !name.is_empty() && name_len(name.as_bytes()) == name.len() {
                            defined.insert(name.to_string());
                            continue;
                        }
                    }
                    break;
                }
            }
        }
    }
    defined
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(script: &str) -> Vec<String> {
        free_variables(script).into_iter().map(|u| u.name).collect()
    }

    #[test]
    fn finds_plain_and_braced_uses() {
        assert_eq!(names("echo $A ${B} ${C#x} \"$D\""), ["A", "B", "C", "D"]);
    }

    #[test]
    fn a_read_with_a_default_may_be_unset() {
        let script = "echo ${A:-x} ${B-y} ${C:=z} ${D:+w} ${E+v} ${F:?must be set} ${G%.*}";
        assert_eq!(names(script), ["F", "G"]);
        assert_eq!(
            reads_of_defined(script).into_iter().collect::<Vec<_>>(),
            ["A", "B", "C", "D", "E"]
        );
    }

    #[test]
    fn skips_single_quotes_escapes_comments_and_specials() {
        assert_eq!(names("echo '$A' \\$B $1 $? $$ # $C\necho $D"), ["D"]);
    }

    #[test]
    fn substitutes_simple_expansions_of_known_names() {
        let script = "echo $A ${A} ${A:-x} '$A' $B\nX=1; echo $X";
        let out = substitute(script, |n| {
            (n == "A" || n == "X").then(|| "<a>".to_string())
        });
        assert_eq!(out, "echo <a> <a> ${A:-x} '$A' $B\nX=1; echo $X");
    }

    #[test]
    fn reads_of_names_the_script_also_assigns_are_kept_apart() {
        let script = "V=\"${V:-1}\"\nISTIO_VERSION=\"$ISTIO_VERSION\" sh -\nY=2\necho $Z";
        assert_eq!(names(script), ["Z"]);
        assert_eq!(
            reads_of_defined(script).into_iter().collect::<Vec<_>>(),
            ["ISTIO_VERSION", "V"]
        );
    }

    #[test]
    fn skips_names_the_script_defines() {
        let script =
            "X=1\nexport Y=2\nfor CTX in a b; do echo $CTX $X $Y $Z; done\nread -r R; echo $R";
        assert_eq!(names(script), ["Z"]);
    }
}
