//! How kubectl turns results into text: Go's `fmt.Print` for scalars and
//! `encoding/json` (sorted map keys, HTML-safe escaping) for maps and arrays.

use std::fmt::Write as _;

use serde_json::Value;

use super::item::{GoNumber, Item, number};

/// One result as `kubectl -o jsonpath` prints it.
pub(crate) fn text(item: Item<'_>, out: &mut String) {
    match item {
        Item::Json(value @ (Value::Object(_) | Value::Array(_))) => json(value, None, 0, out),
        Item::Json(Value::String(s)) => out.push_str(s),
        Item::Text(s) => out.push_str(s),
        Item::Json(Value::Bool(b)) => push_display(out, b),
        Item::Bool(b) => push_display(out, b),
        Item::Json(Value::Null) => out.push_str("null"),
        Item::Json(Value::Number(n)) => match number(n) {
            GoNumber::Int(i) => push_display(out, i),
            GoNumber::Float(f) => go_float(f, FloatStyle::Print, out),
        },
        Item::Int(i) => push_display(out, i),
        Item::Float(f) => go_float(f, FloatStyle::Print, out),
        Item::Byte(b) => push_display(out, b),
        Item::Invalid => out.push_str("<no value>"),
    }
}

/// The results of one template node as `-o jsonpath-as-json` prints them.
pub(crate) fn json_array(items: &[Item<'_>], out: &mut String) {
    let values: Vec<Value> = items.iter().map(|item| item.to_value()).collect();
    json(&Value::Array(values), Some("    "), 0, out);
    out.push('\n');
}

/// Go's `%v` of a value, used where client-go formats data into an error message.
pub(crate) fn go_value(item: Item<'_>, out: &mut String) {
    match item {
        Item::Json(value) => go_json_value(value, out),
        Item::Invalid => out.push_str("<invalid reflect.Value>"),
        other => text(other, out),
    }
}

fn go_json_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("<nil>"),
        Value::Object(map) => {
            out.push_str("map[");
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(key);
                out.push(':');
                go_json_value(&map[key.as_str()], out);
            }
            out.push(']');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                go_json_value(item, out);
            }
            out.push(']');
        }
        scalar => text(Item::Json(scalar), out),
    }
}

/// Go's `encoding/json` output, compact (`indent == None`) or `MarshalIndent`-style.
pub(crate) fn json(value: &Value, indent: Option<&str>, depth: usize, out: &mut String) {
    let newline = |out: &mut String, depth: usize| {
        if let Some(unit) = indent {
            out.push('\n');
            for _ in 0..depth {
                out.push_str(unit);
            }
        }
    };
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match number(n) {
            GoNumber::Int(i) => push_display(out, i),
            GoNumber::Float(f) => go_float(f, FloatStyle::Json, out),
        },
        Value::String(s) => json_string(s, out),
        Value::Array(items) => {
            if items.is_empty() {
                out.push_str("[]");
                return;
            }
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                json(item, indent, depth + 1, out);
            }
            newline(out, depth);
            out.push(']');
        }
        Value::Object(map) => {
            if map.is_empty() {
                out.push_str("{}");
                return;
            }
            // Go maps marshal with sorted keys, whatever order the document had.
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                newline(out, depth + 1);
                json_string(key, out);
                out.push(':');
                if indent.is_some() {
                    out.push(' ');
                }
                json(&map[key.as_str()], indent, depth + 1, out);
            }
            newline(out, depth);
            out.push('}');
        }
    }
}

/// A JSON string the way Go escapes it (HTML-safe, `\u2028`/`\u2029` escaped).
fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

#[derive(Clone, Copy)]
enum FloatStyle {
    /// `fmt.Print` (`%v`): exponent form below 1e-4 and from 1e6 up, at least two exponent digits.
    Print,
    /// `encoding/json`: exponent form below 1e-6 and from 1e21 up, `e-7` not `e-07`.
    Json,
}

/// Formats a float64 with Go's shortest round-trip digits.
fn go_float(f: f64, style: FloatStyle, out: &mut String) {
    // Rust's `{:e}` gives the same shortest round-trip digits as Go's strconv.
    let sci = format!("{:e}", f.abs());
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    if f.is_sign_negative() {
        out.push('-');
    }
    let exponent_form = match style {
        FloatStyle::Print => !(-4..6).contains(&exp),
        FloatStyle::Json => f != 0.0 && (f.abs() < 1e-6 || f.abs() >= 1e21),
    };
    if !exponent_form {
        fixed(&digits, exp + 1, out);
        return;
    }
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    out.push('e');
    out.push(if exp < 0 { '-' } else { '+' });
    let magnitude = exp.unsigned_abs();
    match style {
        FloatStyle::Print if magnitude < 10 => {
            let _ = write!(out, "0{magnitude}");
        }
        FloatStyle::Json if exp >= 0 && magnitude < 10 => {
            let _ = write!(out, "0{magnitude}");
        }
        _ => push_display(out, magnitude),
    }
}

/// Digits with the decimal point after `point` of them (Go's `%f` with shortest digits).
fn fixed(digits: &str, point: i32, out: &mut String) {
    let len = digits.len() as i32;
    if point <= 0 {
        out.push_str("0.");
        for _ in 0..-point {
            out.push('0');
        }
        out.push_str(digits);
    } else if point >= len {
        out.push_str(digits);
        for _ in 0..point - len {
            out.push('0');
        }
    } else {
        let (int, frac) = digits.split_at(point as usize);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    }
}

fn push_display(out: &mut String, value: impl std::fmt::Display) {
    let _ = write!(out, "{value}");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn print_float(f: f64) -> String {
        let mut out = String::new();
        go_float(f, FloatStyle::Print, &mut out);
        out
    }

    fn json_float(f: f64) -> String {
        let mut out = String::new();
        go_float(f, FloatStyle::Json, &mut out);
        out
    }

    #[test]
    fn floats_print_like_go_percent_v() {
        let cases = [
            (1.0, "1"),
            (0.5, "0.5"),
            (1234567.5, "1.2345675e+06"),
            (1e6, "1e+06"),
            (123456.5, "123456.5"),
            (100000.0, "100000"),
            (0.0001, "0.0001"),
            (0.00001, "1e-05"),
            (1e20, "1e+20"),
            (-0.0, "-0"),
            (0.0, "0"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (1.2345678901234567e19, "1.2345678901234567e+19"),
        ];
        for (f, expected) in cases {
            assert_eq!(print_float(f), expected, "{f}");
        }
    }

    #[test]
    fn floats_marshal_like_go_json() {
        let cases = [
            (1.0, "1"),
            (1e6, "1000000"),
            (1e20, "100000000000000000000"),
            (1e21, "1e+21"),
            (1e-7, "1e-7"),
            (1.5e-10, "1.5e-10"),
            (0.000001, "0.000001"),
            (-0.0, "-0"),
            (1.2345678901234567e19, "12345678901234567000"),
        ];
        for (f, expected) in cases {
            assert_eq!(json_float(f), expected, "{f}");
        }
    }

    #[test]
    fn json_escapes_like_go() {
        let mut out = String::new();
        json_string(
            "a\u{8}b\u{c}c\u{2028}d\u{1}e\u{7f}<>&\"\\/\u{2029}\t\n\r\u{1f}",
            &mut out,
        );
        assert_eq!(
            out,
            "\"a\\bb\\fc\\u2028d\\u0001e\u{7f}\\u003c\\u003e\\u0026\\\"\\\\/\\u2029\\t\\n\\r\\u001f\""
        );
    }

    #[test]
    fn maps_sort_keys_and_indent_like_marshal_indent() {
        let value: Value = serde_json::from_str(r#"{"b":[1,{}],"a":{"c":[]}}"#).expect("json");
        let mut compact = String::new();
        json(&value, None, 0, &mut compact);
        assert_eq!(compact, r#"{"a":{"c":[]},"b":[1,{}]}"#);
        let mut indented = String::new();
        json(&value, Some("    "), 0, &mut indented);
        assert_eq!(
            indented,
            "{\n    \"a\": {\n        \"c\": []\n    },\n    \"b\": [\n        1,\n        {}\n    ]\n}"
        );
    }

    #[test]
    fn go_value_formats_like_percent_v() {
        let value: Value =
            serde_json::from_str(r#"{"s":"x y","a":[1,"x",null,{"b":true}],"g":1e-7}"#)
                .expect("json");
        let mut out = String::new();
        go_value(Item::Json(&value), &mut out);
        assert_eq!(out, "map[a:[1 x <nil> map[b:true]] g:1e-07 s:x y]");
    }
}
