//! Whether to colour: `--color auto|always|never`, then the conventions of the environment
//! (`NO_COLOR` turns colour off, `CLICOLOR_FORCE` on), then whether the stream is a terminal.
//! Decided once, before the command line is parsed, so clap's own help and errors agree.

use std::io::IsTerminal;
use std::sync::OnceLock;

use clap::ValueEnum;

/// `--color WHEN`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum ColorWhen {
    /// Colour when writing to a terminal, unless `NO_COLOR` is set.
    Auto,
    /// Always, even into a pipe and despite `NO_COLOR`.
    Always,
    /// Never.
    Never,
}

/// The stream a text goes to.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Stream {
    /// Results.
    Stdout,
    /// Progress, notices and errors.
    Stderr,
}

/// What was decided: forced either way, or up to each stream.
static CHOICE: OnceLock<Option<bool>> = OnceLock::new();

/// clap's colour for its help and errors, decided from the command line's `--color` before clap
/// parses it.
pub(crate) fn for_clap(args: &[String]) -> clap::ColorChoice {
    match resolve(flag(args)) {
        Some(true) => clap::ColorChoice::Always,
        Some(false) => clap::ColorChoice::Never,
        None => clap::ColorChoice::Auto,
    }
}

/// Decides for the rest of the process, from the parsed `--color`.
pub(crate) fn init(when: Option<ColorWhen>) {
    let _ = CHOICE.set(resolve(when));
}

/// Forced on or off, or `None`: up to each stream.
fn resolve(when: Option<ColorWhen>) -> Option<bool> {
    match when {
        Some(ColorWhen::Always) => Some(true),
        Some(ColorWhen::Never) => Some(false),
        // https://no-color.org: a non-empty NO_COLOR turns colour off; a flag overrides it.
        _ if env_set("NO_COLOR") => Some(false),
        _ if env_set("CLICOLOR_FORCE") => Some(true),
        _ => None,
    }
}

fn env_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0")
}

/// The last `--color WHEN` or `--color=WHEN` before a `--`; clap rejects a bad value later.
fn flag(args: &[String]) -> Option<ColorWhen> {
    let mut when = None;
    let mut words = args.iter().skip(1).take_while(|a| *a != "--");
    while let Some(word) = words.next() {
        let value = match word.strip_prefix("--color") {
            Some("") => words.next().map(String::as_str),
            Some(rest) => rest.strip_prefix('='),
            None => None,
        };
        if let Some(v) = value.and_then(|v| ColorWhen::from_str(v, true).ok()) {
            when = Some(v);
        }
    }
    when
}

/// Whether text for `stream` is coloured.
pub(crate) fn on(stream: Stream) -> bool {
    match CHOICE.get().copied().flatten() {
        Some(forced) => forced,
        None => match stream {
            Stream::Stdout => std::io::stdout().is_terminal(),
            Stream::Stderr => std::io::stderr().is_terminal(),
        },
    }
}

/// A colour or weight, as an SGR code.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Paint {
    /// Failures.
    Red,
    /// Success.
    Green,
    /// Hints.
    Cyan,
    /// Waiting and retrying.
    Yellow,
    /// Emphasis.
    Bold,
}

/// `text` in `paint` when `stream` is coloured, else as it is.
pub(crate) fn paint(stream: Stream, paint: Paint, text: &str) -> String {
    if !on(stream) {
        return text.to_string();
    }
    let code = match paint {
        Paint::Red => "1;31",
        Paint::Green => "32",
        Paint::Cyan => "36",
        Paint::Yellow => "33",
        Paint::Bold => "1",
    };
    format!("\x1b[{code}m{text}\x1b[0m")
}

/// Colours a failure's message for stderr: `error:` and carets red, `help` cyan, locations bold.
pub(crate) fn message(text: &str) -> String {
    if !on(Stream::Stderr) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        let (body, end) = line.strip_suffix('\n').map_or((line, ""), |b| (b, "\n"));
        let painted = if let Some(rest) = body.strip_prefix("error:") {
            format!("{}{rest}", paint(Stream::Stderr, Paint::Red, "error:"))
        } else if let Some(rest) = body.strip_prefix("  = help:") {
            format!("  = {}:{rest}", paint(Stream::Stderr, Paint::Cyan, "help"))
        } else if let Some(at) = body.find('^').filter(|&i| is_caret_line(body, i)) {
            format!(
                "{}{}",
                &body[..at],
                paint(Stream::Stderr, Paint::Red, &body[at..])
            )
        } else if let Some((place, rest)) = location(body) {
            format!("{}{rest}", paint(Stream::Stderr, Paint::Bold, place))
        } else {
            body.to_string()
        };
        out.push_str(&painted);
        out.push_str(end);
    }
    out
}

/// `   |     ^^^^`: a gutter, blanks, then carets only.
fn is_caret_line(line: &str, first_caret: usize) -> bool {
    let (lead, carets) = line.split_at(first_caret);
    lead.trim_start().starts_with('|')
        && lead.trim_start()[1..].trim().is_empty()
        && carets.chars().all(|c| c == '^')
}

/// `FILE:LINE:COL:` at the start of a diagnostic.
fn location(line: &str) -> Option<(&str, &str)> {
    if line.starts_with(' ') {
        return None;
    }
    let end = line.find(": ")?;
    let place = &line[..end + 1];
    let mut parts = place.trim_end_matches(':').rsplitn(3, ':');
    let (col, row) = (parts.next()?, parts.next()?);
    (col.bytes().all(|b| b.is_ascii_digit()) && row.bytes().all(|b| b.is_ascii_digit()))
        .then_some((place, &line[end + 1..]))
}
