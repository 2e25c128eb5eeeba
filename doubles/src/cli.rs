//! Command lines as the real tools parse them: cobra/pflag (helm, istioctl) and Go's `flag`
//! package (generate_cert). Each double declares its tool's flag table; anything outside it is
//! refused with the wording the real parser prints.

use std::collections::BTreeMap;

/// Whether a flag takes a value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `--force`, `--force=false`.
    Bool,
    /// `--name x`, `--name=x`, `-n x`, `-nx`.
    Value,
}

/// One flag of a table.
#[derive(Debug, Clone, Copy)]
pub struct Flag {
    /// The long name, without dashes.
    pub long: &'static str,
    /// The one-letter shorthand.
    pub short: Option<char>,
    /// Bool or value.
    pub kind: Kind,
}

/// A value flag.
pub const fn v(long: &'static str) -> Flag {
    Flag {
        long,
        short: None,
        kind: Kind::Value,
    }
}

/// A bool flag.
pub const fn b(long: &'static str) -> Flag {
    Flag {
        long,
        short: None,
        kind: Kind::Bool,
    }
}

impl Flag {
    /// The same flag with a shorthand.
    pub const fn s(mut self, short: char) -> Flag {
        self.short = Some(short);
        self
    }
}

/// A cobra command: its own flags, the flags it passes to its subcommands, and subcommands.
#[derive(Debug, Clone)]
pub struct Cmd {
    /// The name (`install`).
    pub name: &'static str,
    /// Other names (`experimental` is also `x`).
    pub aliases: &'static [&'static str],
    /// Flags of this command only.
    pub flags: Vec<Flag>,
    /// Flags of this command and every command under it.
    pub persistent: Vec<Flag>,
    /// Subcommands.
    pub subs: Vec<Cmd>,
    /// Whether the command does something itself (else it only groups subcommands).
    pub runnable: bool,
}

impl Cmd {
    /// A runnable command with its flags.
    pub fn run(name: &'static str, flags: Vec<Flag>) -> Cmd {
        Cmd {
            name,
            aliases: &[],
            flags,
            persistent: Vec::new(),
            subs: Vec::new(),
            runnable: true,
        }
    }

    /// A command that only groups subcommands.
    pub fn group(name: &'static str, subs: Vec<Cmd>) -> Cmd {
        Cmd {
            name,
            aliases: &[],
            flags: Vec::new(),
            persistent: Vec::new(),
            subs,
            runnable: false,
        }
    }

    /// The same command with persistent flags.
    pub fn persistent(mut self, flags: Vec<Flag>) -> Cmd {
        self.persistent.extend(flags);
        self
    }

    /// The same command with aliases.
    pub fn aliases(mut self, aliases: &'static [&'static str]) -> Cmd {
        self.aliases = aliases;
        self
    }

    fn sub(&self, name: &str) -> Option<&Cmd> {
        self.subs
            .iter()
            .find(|c| c.name == name || c.aliases.contains(&name))
    }
}

/// A parsed cobra command line.
#[derive(Debug, Clone, Default)]
pub struct Parsed {
    /// The subcommand names below the root (`["x", "add-to-mesh", "external-service"]`).
    pub path: Vec<&'static str>,
    /// Each flag given, by long name, in order (a bool flag's value is `true`/`false`).
    pub flags: Vec<(&'static str, String)>,
    /// Positional arguments.
    pub args: Vec<String>,
    /// `-h`/`--help` was given.
    pub help: bool,
}

impl Parsed {
    /// The last value of a flag.
    pub fn get(&self, long: &str) -> Option<&str> {
        self.flags
            .iter()
            .rev()
            .find(|(n, _)| *n == long)
            .map(|(_, v)| v.as_str())
    }

    /// Every value of a repeatable flag, in order.
    pub fn all(&self, long: &str) -> Vec<&str> {
        self.flags
            .iter()
            .filter(|(n, _)| *n == long)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    /// Every value of a slice flag (`-f a,b -f c`), split on commas as pflag does.
    pub fn slice(&self, long: &str) -> Vec<String> {
        self.all(long)
            .iter()
            .flat_map(|v| v.split(',').map(str::to_string))
            .filter(|v| !v.is_empty())
            .collect()
    }

    /// True when a bool flag is set to true.
    pub fn on(&self, long: &str) -> bool {
        self.get(long) == Some("true")
    }

    /// The names of the flags given, for the record of a call (never their values).
    pub fn flag_names(&self) -> Vec<String> {
        let mut names: Vec<String> = Vec::new();
        for (n, _) in &self.flags {
            let name = format!("--{n}");
            if !names.contains(&name) {
                names.push(name);
            }
        }
        names
    }
}

/// What cobra or pflag refused, in their words (without cobra's `Error: ` prefix).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CobraError {
    /// A flag error (pflag's wording).
    Flag(String),
    /// `unknown command "x" for "helm"`; the second field is the command path for the hint.
    UnknownCommand(String, String),
}

impl CobraError {
    /// The message cobra prints on stderr (SilenceUsage set, as helm and istioctl do).
    pub fn render(&self) -> String {
        match self {
            CobraError::Flag(m) => format!("Error: {m}\n"),
            CobraError::UnknownCommand(m, path) => {
                format!("Error: {m}\nRun '{path} --help' for usage.\n")
            }
        }
    }
}

/// Parses `args` against the command tree rooted at `root`, as cobra's `Find` and pflag do.
pub fn parse_cobra(root: &Cmd, args: &[String]) -> Result<Parsed, CobraError> {
    let mut out = Parsed::default();
    let mut chain: Vec<&Cmd> = vec![root];
    let mut i = 0;
    let mut positional_only = false;
    while i < args.len() {
        let arg = &args[i];
        i += 1;
        let cmd = *chain.last().unwrap_or(&root);
        if positional_only || arg == "-" || !arg.starts_with('-') {
            if !positional_only
                && out.args.is_empty()
                && let Some(sub) = cmd.sub(arg)
            {
                chain.push(sub);
                out.path.push(sub.name);
                continue;
            }
            out.args.push(arg.clone());
            continue;
        }
        if arg == "--" {
            positional_only = true;
            continue;
        }
        let known: Vec<Flag> = chain
            .iter()
            .flat_map(|c| c.persistent.iter())
            .chain(cmd.flags.iter())
            .copied()
            .collect();
        if let Some(body) = arg.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            if name.is_empty() || name.starts_with('-') || name.starts_with('=') {
                return Err(CobraError::Flag(format!("bad flag syntax: {arg}")));
            }
            if name == "help" {
                out.help = true;
                continue;
            }
            let Some(flag) = known.iter().find(|f| f.long == name) else {
                return Err(CobraError::Flag(format!("unknown flag: --{name}")));
            };
            let value = match (flag.kind, inline) {
                (Kind::Bool, Some(v)) => parse_bool(&v, &format!("--{name}"))?,
                (Kind::Bool, None) => "true".to_string(),
                (Kind::Value, Some(v)) => v,
                (Kind::Value, None) if i < args.len() => {
                    i += 1;
                    args[i - 1].clone()
                }
                (Kind::Value, None) => {
                    return Err(CobraError::Flag(format!(
                        "flag needs an argument: --{name}"
                    )));
                }
            };
            out.flags.push((flag.long, value));
            continue;
        }
        // Shorthands: `-yv`, `-nfoo`, `-n foo`, `-n=foo`.
        let shorts: Vec<char> = arg[1..].chars().collect();
        let mut j = 0;
        while j < shorts.len() {
            let c = shorts[j];
            j += 1;
            if c == 'h' && !known.iter().any(|f| f.short == Some('h')) {
                out.help = true;
                continue;
            }
            let Some(flag) = known.iter().find(|f| f.short == Some(c)) else {
                return Err(CobraError::Flag(format!(
                    "unknown shorthand flag: '{c}' in {arg}"
                )));
            };
            let rest: String = shorts[j..].iter().collect();
            match flag.kind {
                Kind::Bool => {
                    if let Some(v) = rest.strip_prefix('=') {
                        let value = parse_bool(v, &format!("-{c}, --{}", flag.long))?;
                        out.flags.push((flag.long, value));
                        break;
                    }
                    out.flags.push((flag.long, "true".into()));
                }
                Kind::Value => {
                    let value = if let Some(v) = rest.strip_prefix('=') {
                        v.to_string()
                    } else if !rest.is_empty() {
                        rest
                    } else if i < args.len() {
                        i += 1;
                        args[i - 1].clone()
                    } else {
                        return Err(CobraError::Flag(format!(
                            "flag needs an argument: '{c}' in -{c}"
                        )));
                    };
                    out.flags.push((flag.long, value));
                    break;
                }
            }
        }
    }
    let cmd = *chain.last().unwrap_or(&root);
    if !cmd.runnable && !out.help {
        let path: Vec<&str> = chain.iter().map(|c| c.name).collect();
        let path = path.join(" ");
        if let Some(first) = out.args.first() {
            return Err(CobraError::UnknownCommand(
                format!("unknown command \"{first}\" for \"{path}\""),
                path,
            ));
        }
        out.help = true;
    }
    Ok(out)
}

fn parse_bool(v: &str, shown: &str) -> Result<String, CobraError> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok("true".into()),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok("false".into()),
        _ => Err(CobraError::Flag(format!(
            "invalid argument \"{v}\" for \"{shown}\" flag: strconv.ParseBool: parsing \"{v}\": invalid syntax"
        ))),
    }
}

/// One flag of a Go `flag` table, with its usage text and default as `PrintDefaults` shows them.
#[derive(Debug, Clone, Copy)]
pub struct GoFlag {
    /// The name, without dashes.
    pub name: &'static str,
    /// `bool`, `string`, `int`, `duration`.
    pub ty: &'static str,
    /// The default as Go prints it (`""` and `false`/`0` are not printed).
    pub default: &'static str,
    /// The usage text.
    pub usage: &'static str,
}

/// A parsed Go `flag` command line.
#[derive(Debug, Clone, Default)]
pub struct GoParsed {
    /// Each flag given, by name (a bool's value is `true`/`false`).
    pub flags: BTreeMap<&'static str, String>,
    /// The arguments after the flags.
    pub args: Vec<String>,
}

impl GoParsed {
    /// A flag's value, or its default from the table.
    pub fn value(&self, table: &[GoFlag], name: &str) -> String {
        self.flags.get(name).cloned().unwrap_or_else(|| {
            table
                .iter()
                .find(|f| f.name == name)
                .map(|f| f.default.to_string())
                .unwrap_or_default()
        })
    }
}

/// Parses `args` as Go's `flag.Parse` does: flags until the first non-flag or `--`. The error
/// is the whole stderr text (`flag provided but not defined: -x` and the usage).
pub fn parse_go(program: &str, table: &[GoFlag], args: &[String]) -> Result<GoParsed, String> {
    let mut out = GoParsed::default();
    let mut i = 0;
    while i < args.len() {
        let arg = &args[i];
        if arg.len() < 2 || !arg.starts_with('-') {
            break;
        }
        i += 1;
        let mut body = &arg[1..];
        if let Some(rest) = body.strip_prefix('-') {
            if rest.is_empty() {
                break;
            }
            body = rest;
        }
        if body.starts_with('-') || body.starts_with('=') {
            return Err(go_usage(program, table, &format!("bad flag syntax: {arg}")));
        }
        let (name, inline) = match body.split_once('=') {
            Some((n, v)) => (n, Some(v.to_string())),
            None => (body, None),
        };
        if name == "help" || name == "h" {
            return Err(go_usage(program, table, ""));
        }
        let Some(flag) = table.iter().find(|f| f.name == name) else {
            return Err(go_usage(
                program,
                table,
                &format!("flag provided but not defined: -{name}"),
            ));
        };
        let value = if flag.ty == "bool" {
            match inline.as_deref() {
                None => "true".to_string(),
                Some(v) => match v {
                    "1" | "t" | "T" | "true" | "TRUE" | "True" => "true".into(),
                    "0" | "f" | "F" | "false" | "FALSE" | "False" => "false".into(),
                    _ => {
                        return Err(go_usage(
                            program,
                            table,
                            &format!("invalid boolean value \"{v}\" for -{name}: parse error"),
                        ));
                    }
                },
            }
        } else if let Some(v) = inline {
            v
        } else if i < args.len() {
            i += 1;
            args[i - 1].clone()
        } else {
            return Err(go_usage(
                program,
                table,
                &format!("flag needs an argument: -{name}"),
            ));
        };
        if flag.ty == "int" && value.parse::<i64>().is_err() {
            return Err(go_usage(
                program,
                table,
                &format!("invalid value \"{value}\" for flag -{name}: parse error"),
            ));
        }
        out.flags.insert(flag.name, value);
    }
    out.args = args[i..].to_vec();
    Ok(out)
}

/// Go's `flag` error output: the error line, then `Usage of PROGRAM:` and `PrintDefaults`.
fn go_usage(program: &str, table: &[GoFlag], error: &str) -> String {
    let mut out = String::new();
    if !error.is_empty() {
        out.push_str(error);
        out.push('\n');
    }
    out.push_str(&format!("Usage of {program}:\n"));
    let mut sorted: Vec<&GoFlag> = table.iter().collect();
    sorted.sort_by_key(|f| f.name);
    for f in sorted {
        out.push_str(&format!("  -{}", f.name));
        if f.ty != "bool" {
            out.push_str(&format!(" {}", f.ty));
        }
        out.push_str(&format!("\n    \t{}", f.usage));
        let zero = matches!(f.default, "" | "false" | "0");
        if !zero {
            if f.ty == "string" {
                out.push_str(&format!(" (default \"{}\")", f.default));
            } else {
                out.push_str(&format!(" (default {})", f.default));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    fn tree() -> Cmd {
        Cmd::group(
            "tool",
            vec![
                Cmd::run(
                    "install",
                    vec![v("set").s('s'), b("skip-confirmation").s('y')],
                ),
                Cmd::group("x", vec![Cmd::run("add", vec![])]).aliases(&["experimental"]),
            ],
        )
        .persistent(vec![v("context"), v("kubeconfig").s('c')])
    }

    #[test]
    fn cobra_finds_subcommands_and_flags_in_any_order() {
        let p = parse_cobra(
            &tree(),
            &args(&["--context", "c1", "install", "-y", "-s", "a=b", "--set=c=d"]),
        )
        .unwrap();
        assert_eq!(p.path, vec!["install"]);
        assert_eq!(p.get("context"), Some("c1"));
        assert!(p.on("skip-confirmation"));
        assert_eq!(p.all("set"), vec!["a=b", "c=d"]);
        let p = parse_cobra(&tree(), &args(&["experimental", "add", "a", "b"])).unwrap();
        assert_eq!(p.path, vec!["x", "add"]);
        assert_eq!(p.args, vec!["a", "b"]);
    }

    #[test]
    fn cobra_refuses_in_pflag_words() {
        let e = |a: &[&str]| parse_cobra(&tree(), &args(a)).unwrap_err().render();
        assert_eq!(e(&["install", "--foo"]), "Error: unknown flag: --foo\n");
        assert_eq!(
            e(&["install", "-z"]),
            "Error: unknown shorthand flag: 'z' in -z\n"
        );
        assert_eq!(
            e(&["install", "--set"]),
            "Error: flag needs an argument: --set\n"
        );
        assert_eq!(
            e(&["bogus"]),
            "Error: unknown command \"bogus\" for \"tool\"\nRun 'tool --help' for usage.\n"
        );
        assert!(e(&["install", "-y=maybe"]).contains("strconv.ParseBool"));
    }

    const GO: [GoFlag; 2] = [
        GoFlag {
            name: "client",
            ty: "bool",
            default: "false",
            usage: "Whether this certificate is for a client.",
        },
        GoFlag {
            name: "out-cert",
            ty: "string",
            default: "cert.pem",
            usage: "Output certificate file.",
        },
    ];

    #[test]
    fn go_flag_takes_one_or_two_dashes_and_stops_at_the_first_argument() {
        let p = parse_go(
            "t",
            &GO,
            &args(&["--client", "-out-cert", "c.pem", "rest", "-x"]),
        )
        .unwrap();
        assert_eq!(p.value(&GO, "client"), "true");
        assert_eq!(p.value(&GO, "out-cert"), "c.pem");
        assert_eq!(p.args, vec!["rest", "-x"]);
    }

    #[test]
    fn go_flag_refuses_unknown_flags_with_usage() {
        let e = parse_go("generate_cert", &GO, &args(&["--root-cert", "r.pem"])).unwrap_err();
        assert_eq!(
            e,
            "flag provided but not defined: -root-cert\nUsage of generate_cert:\n  -client\n    \tWhether this certificate is for a client.\n  -out-cert string\n    \tOutput certificate file. (default \"cert.pem\")\n"
        );
    }
}
