//! The subset of Go's `text/template` (with helm's functions) that stand-in charts use: a
//! rendered manifest with `{{ .Values.… }}` where a value maps. Supported: field paths on
//! `.Values`, `.Release` and `.Chart`; `if`/`else if`/`else`/`end`; `{{-`/`-}}` trimming;
//! comments; pipelines; string, number and bool literals; the functions `index`, `default`,
//! `quote`, `toYaml`, `indent`, `nindent`, `not`, `eq`, `ne`, `and`, `or`, `empty`. Anything
//! else is an error naming the template and line, so a stand-in chart cannot silently render
//! something the real chart would not.

use serde_json::Value;

#[derive(Debug, Clone)]
enum Node {
    Text(String),
    Output(Pipeline, usize),
    If(Vec<(Pipeline, Vec<Node>)>, Vec<Node>, usize),
}

type Pipeline = Vec<Command>;
/// A problem and its line.
type Located = (usize, String);
/// Nodes up to an `else`/`end` action (and that action, with its line).
type Parsed = (Vec<Node>, Option<(String, usize)>);
type Command = Vec<Arg>;

#[derive(Debug, Clone)]
enum Arg {
    Field(Vec<String>),
    Str(String),
    Int(i64),
    Bool(bool),
    Func(String),
}

/// A template that failed to parse or render: `name:line: message`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template: {name}:{line}: {message}")]
pub struct TemplateError {
    name: String,
    line: usize,
    message: String,
}

enum Token {
    Text(String),
    Action(String, usize),
}

fn tokenize(src: &str) -> Result<Vec<Token>, (usize, String)> {
    let mut out = Vec::new();
    let mut rest = src;
    let mut line = 1;
    let mut trim_next = false;
    while let Some(start) = rest.find("{{") {
        let mut text = rest[..start].to_string();
        if trim_next {
            text = text.trim_start().to_string();
        }
        let after = &rest[start + 2..];
        let trim_prev = after.starts_with('-') && after[1..].starts_with(char::is_whitespace);
        if trim_prev {
            text = text.trim_end().to_string();
        }
        line += rest[..start].matches('\n').count();
        out.push(Token::Text(text));
        let Some(end) = after.find("}}") else {
            return Err((line, "unclosed action".into()));
        };
        let mut inner = &after[..end];
        if trim_prev {
            inner = &inner[1..];
        }
        trim_next = inner.ends_with('-') && inner[..inner.len() - 1].ends_with(char::is_whitespace);
        if trim_next {
            inner = &inner[..inner.len() - 1];
        }
        out.push(Token::Action(inner.trim().to_string(), line));
        line += after[..end].matches('\n').count();
        rest = &after[end + 2..];
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    out.push(Token::Text(text.to_string()));
    Ok(out)
}

fn words(action: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut chars = action.chars().peekable();
    while let Some(&c) = chars.peek() {
        if c.is_whitespace() {
            chars.next();
            continue;
        }
        if c == '"' {
            chars.next();
            let mut s = String::from("\"");
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next() {
                        Some('n') => s.push('\n'),
                        Some('t') => s.push('\t'),
                        Some(o) => s.push(o),
                        None => {}
                    },
                    '"' => {
                        closed = true;
                        break;
                    }
                    c => s.push(c),
                }
            }
            if !closed {
                return Err("unterminated quoted string".into());
            }
            out.push(s);
            continue;
        }
        if c == '|' {
            chars.next();
            out.push("|".into());
            continue;
        }
        if c == '(' || c == ')' {
            return Err("parenthesized pipelines are not in the stand-in chart subset".into());
        }
        let mut w = String::new();
        while let Some(&c) = chars.peek() {
            if c.is_whitespace() || c == '|' || c == '(' || c == ')' {
                break;
            }
            w.push(c);
            chars.next();
        }
        out.push(w);
    }
    Ok(out)
}

fn pipeline(words: &[String]) -> Result<Pipeline, String> {
    let mut out = Vec::new();
    for cmd in words.split(|w| w == "|") {
        if cmd.is_empty() {
            return Err("missing command in pipeline".into());
        }
        let mut args = Vec::new();
        for (i, w) in cmd.iter().enumerate() {
            args.push(if let Some(s) = w.strip_prefix('"') {
                Arg::Str(s.to_string())
            } else if w == "." {
                Arg::Field(Vec::new())
            } else if let Some(path) = w.strip_prefix('.') {
                Arg::Field(path.split('.').map(str::to_string).collect())
            } else if w == "true" || w == "false" {
                Arg::Bool(w == "true")
            } else if let Ok(n) = w.parse::<i64>() {
                Arg::Int(n)
            } else if i == 0 && FUNCS.contains(&w.as_str()) {
                Arg::Func(w.clone())
            } else {
                return Err(format!("function \"{w}\" not defined"));
            });
        }
        out.push(args);
    }
    Ok(out)
}

const FUNCS: [&str; 12] = [
    "index", "default", "quote", "toYaml", "indent", "nindent", "not", "eq", "ne", "and", "or",
    "empty",
];

fn parse(
    tokens: &mut std::iter::Peekable<std::vec::IntoIter<Token>>,
    top: bool,
) -> Result<Parsed, Located> {
    let mut nodes = Vec::new();
    while let Some(tok) = tokens.next() {
        match tok {
            Token::Text(t) => nodes.push(Node::Text(t)),
            Token::Action(a, line) => {
                if a.starts_with("/*") {
                    continue;
                }
                let ws = words(&a).map_err(|e| (line, e))?;
                let head = ws.first().map(String::as_str).unwrap_or_default();
                match head {
                    "if" => {
                        let mut branches =
                            vec![(pipeline(&ws[1..]).map_err(|e| (line, e))?, Vec::new())];
                        let mut otherwise = Vec::new();
                        loop {
                            let (body, end) = parse(tokens, false)?;
                            let Some((end, end_line)) = end else {
                                return Err((line, "unexpected EOF".into()));
                            };
                            let ew = words(&end).map_err(|e| (end_line, e))?;
                            let last = branches.len() - 1;
                            match ew.first().map(String::as_str) {
                                Some("end") => {
                                    branches[last].1 = body;
                                    break;
                                }
                                Some("else") if ew.get(1).map(String::as_str) == Some("if") => {
                                    branches[last].1 = body;
                                    branches.push((
                                        pipeline(&ew[2..]).map_err(|e| (end_line, e))?,
                                        Vec::new(),
                                    ));
                                }
                                Some("else") => {
                                    branches[last].1 = body;
                                    let (rest, end) = parse(tokens, false)?;
                                    match end {
                                        Some((e, _)) if e == "end" => {
                                            otherwise = rest;
                                            break;
                                        }
                                        _ => {
                                            return Err((
                                                end_line,
                                                "expected end after else".into(),
                                            ));
                                        }
                                    }
                                }
                                _ => return Err((end_line, format!("unexpected {end}"))),
                            }
                        }
                        nodes.push(Node::If(branches, otherwise, line));
                    }
                    "end" | "else" => {
                        if top {
                            return Err((line, format!("unexpected {{{{{a}}}}}")));
                        }
                        return Ok((nodes, Some((a, line))));
                    }
                    "range" | "with" | "define" | "template" | "include" | "block" | "tpl" => {
                        return Err((
                            line,
                            format!("`{head}` is not in the stand-in chart subset"),
                        ));
                    }
                    _ => nodes.push(Node::Output(pipeline(&ws).map_err(|e| (line, e))?, line)),
                }
            }
        }
    }
    Ok((nodes, None))
}

/// Renders template `src` (named `name` in errors) with `data` as `.`.
pub fn render(name: &str, src: &str, data: &Value) -> Result<String, TemplateError> {
    let fail = |(line, message): (usize, String)| TemplateError {
        name: name.to_string(),
        line,
        message,
    };
    let tokens = tokenize(src).map_err(fail)?;
    let (nodes, _) = parse(&mut tokens.into_iter().peekable(), true).map_err(fail)?;
    let mut out = String::new();
    exec(&nodes, data, &mut out).map_err(fail)?;
    Ok(out)
}

fn exec(nodes: &[Node], data: &Value, out: &mut String) -> Result<(), (usize, String)> {
    for node in nodes {
        match node {
            Node::Text(t) => out.push_str(t),
            Node::Output(p, line) => {
                let v = eval(p, data).map_err(|e| (*line, e))?;
                out.push_str(&print(&v));
            }
            Node::If(branches, otherwise, line) => {
                let mut taken = false;
                for (cond, body) in branches {
                    if truthy(&eval(cond, data).map_err(|e| (*line, e))?) {
                        exec(body, data, out)?;
                        taken = true;
                        break;
                    }
                }
                if !taken {
                    exec(otherwise, data, out)?;
                }
            }
        }
    }
    Ok(())
}

fn field(data: &Value, path: &[String]) -> Value {
    let mut cur = data;
    for p in path {
        match cur.get(p) {
            Some(v) => cur = v,
            None => return Value::Null,
        }
    }
    cur.clone()
}

fn eval(p: &Pipeline, data: &Value) -> Result<Value, String> {
    let mut piped: Option<Value> = None;
    for cmd in p {
        let mut args: Vec<Value> = Vec::new();
        let func = match &cmd[0] {
            Arg::Func(f) => Some(f.as_str()),
            _ => None,
        };
        for a in &cmd[usize::from(func.is_some())..] {
            args.push(match a {
                Arg::Field(path) => field(data, path),
                Arg::Str(s) => Value::String(s.clone()),
                Arg::Int(n) => Value::Number((*n).into()),
                Arg::Bool(b) => Value::Bool(*b),
                Arg::Func(f) => return Err(format!("{f} used as an argument")),
            });
        }
        if let Some(v) = piped.take() {
            args.push(v);
        }
        piped = Some(match func {
            None if args.len() == 1 => args.remove(0),
            None => return Err("can't give argument to non-function".into()),
            Some(f) => call(f, args)?,
        });
    }
    Ok(piped.unwrap_or(Value::Null))
}

fn call(f: &str, mut args: Vec<Value>) -> Result<Value, String> {
    let want = |n: usize| {
        if args.len() == n {
            Ok(())
        } else {
            Err(format!(
                "wrong number of args for {f}: want {n} got {}",
                args.len()
            ))
        }
    };
    Ok(match f {
        "index" => {
            let mut cur = args.first().cloned().unwrap_or(Value::Null);
            for k in &args[1..] {
                cur = match k {
                    Value::String(s) => cur.get(s).cloned().unwrap_or(Value::Null),
                    Value::Number(n) => cur
                        .get(n.as_u64().unwrap_or(u64::MAX) as usize)
                        .cloned()
                        .unwrap_or(Value::Null),
                    _ => Value::Null,
                };
            }
            cur
        }
        "default" => {
            want(2)?;
            let given = args.pop().unwrap_or(Value::Null);
            if truthy(&given) {
                given
            } else {
                args.pop().unwrap_or(Value::Null)
            }
        }
        "quote" => Value::String(
            args.iter()
                .map(|a| {
                    format!(
                        "\"{}\"",
                        print(a).replace('\\', "\\\\").replace('"', "\\\"")
                    )
                })
                .collect::<Vec<_>>()
                .join(" "),
        ),
        "toYaml" => {
            want(1)?;
            if args[0].is_null() {
                Value::String(String::new())
            } else {
                let text = serde_yaml::to_string(&args[0]).map_err(|e| e.to_string())?;
                Value::String(text.trim_end().to_string())
            }
        }
        "indent" | "nindent" => {
            want(2)?;
            let n = args[0].as_u64().ok_or("indent needs a number")? as usize;
            let pad = " ".repeat(n);
            let text = print(&args[1]);
            let body: Vec<String> = text.split('\n').map(|l| format!("{pad}{l}")).collect();
            let body = body.join("\n");
            Value::String(if f == "nindent" {
                format!("\n{body}")
            } else {
                body
            })
        }
        "not" => {
            want(1)?;
            Value::Bool(!truthy(&args[0]))
        }
        "empty" => {
            want(1)?;
            Value::Bool(!truthy(&args[0]))
        }
        "eq" | "ne" => {
            want(2)?;
            let same = args[0] == args[1];
            Value::Bool(if f == "eq" { same } else { !same })
        }
        "and" => args
            .iter()
            .find(|a| !truthy(a))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null),
        "or" => args
            .iter()
            .find(|a| truthy(a))
            .or(args.last())
            .cloned()
            .unwrap_or(Value::Null),
        other => return Err(format!("function \"{other}\" not defined")),
    })
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Prints a value as Go's template output does (missing values print nothing, as in helm).
fn print(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_fields_conditions_and_functions() {
        let data = json!({"Values": {"a": {"b": "x"}, "on": true, "n": 0, "gw": {"istio-ingressgateway": {"enabled": false}},
            "nets": {"network2": {"gateways": [{"address": "0.0.0.0", "port": 443}]}}},
            "Release": {"Name": "istio"}});
        let src = "name: {{ .Release.Name }}-{{ .Values.a.b | quote }}\n{{- if .Values.on }}\non: yes\n{{- else }}\non: no\n{{- end }}\n\
{{- if index .Values.gw \"istio-ingressgateway\" \"enabled\" }}\ngw: 1\n{{- else if .Values.n }}\nn: 1\n{{- else }}\nnone: 1\n{{- end }}\n\
nets:\n{{ toYaml .Values.nets | indent 2 }}\nmissing: {{ .Values.zzz }}{{ default \"d\" .Values.zzz }}";
        let out = render("t.yaml", src, &data).unwrap();
        assert_eq!(
            out,
            "name: istio-\"x\"\non: yes\nnone: 1\nnets:\n  network2:\n    gateways:\n    - address: 0.0.0.0\n      port: 443\nmissing: d"
        );
    }

    #[test]
    fn refuses_what_the_subset_lacks_with_the_line() {
        let e = render(
            "c/templates/t.yaml",
            "a\n{{ range .Values.x }}{{ end }}",
            &json!({}),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "template: c/templates/t.yaml:2: `range` is not in the stand-in chart subset"
        );
        assert!(render("t", "{{ .Values.a | nosuch }}", &json!({})).is_err());
        assert!(render("t", "{{ if .a }}x", &json!({})).is_err());
    }
}
