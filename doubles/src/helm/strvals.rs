//! `--set` and `--set-string` as helm's `pkg/strvals` parses them: comma-separated
//! `path=value` pairs, dotted paths with `[N]` list indexes, `{a,b}` lists, `\` escapes; `--set`
//! types `true`/`false`, integers and `null` (which removes the key), `--set-string` keeps text.

use serde_json::{Map, Value};

/// Applies one `--set` (`typed`) or `--set-string` argument to `values`.
pub fn apply(values: &mut Value, arg: &str, typed: bool) -> Result<(), String> {
    for (key, raw) in split_pairs(arg)? {
        let path = parse_path(&key)?;
        let value = match raw {
            Raw::List(items) => Value::Array(items.iter().map(|i| typed_value(i, typed)).collect()),
            Raw::One(text) => typed_value(&text, typed),
        };
        set(values, &path, value);
    }
    Ok(())
}

/// Sets one `path=value` (the whole text after the first `=` is the value, as istioctl's
/// `--set` takes it), typed as `--set` types values.
pub fn set_one(values: &mut Value, assignment: &str) -> Result<(), String> {
    let Some((key, text)) = assignment.split_once('=') else {
        return Err(format!(
            "\"{assignment}\": --set must have the form path=value"
        ));
    };
    let path = parse_path(key)?;
    set(values, &path, typed_value(text, true));
    Ok(())
}

enum Raw {
    One(String),
    List(Vec<String>),
}

fn typed_value(text: &str, typed: bool) -> Value {
    if !typed {
        return Value::String(text.to_string());
    }
    match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        "null" => Value::Null,
        // Leading zeros keep the text, as helm does ("0123" stays a string).
        _ if text.len() > 1 && text.starts_with('0') => Value::String(text.to_string()),
        _ => match text.parse::<i64>() {
            Ok(n) => Value::Number(n.into()),
            Err(_) => Value::String(text.to_string()),
        },
    }
}

/// Splits `a=1,b={x,y},c=z\,w` into pairs, honouring escapes and braces.
fn split_pairs(arg: &str) -> Result<Vec<(String, Raw)>, String> {
    let mut out = Vec::new();
    let mut chars = arg.chars().peekable();
    while chars.peek().is_some() {
        let mut key = String::new();
        let mut found_eq = false;
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        key.push(n);
                    }
                }
                '=' => {
                    found_eq = true;
                    break;
                }
                ',' => break,
                c => key.push(c),
            }
        }
        if !found_eq {
            return Err(format!("key \"{key}\" has no value"));
        }
        if chars.peek() == Some(&'{') {
            chars.next();
            let mut items = Vec::new();
            let mut cur = String::new();
            let mut closed = false;
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        if let Some(n) = chars.next() {
                            cur.push(n);
                        }
                    }
                    ',' => items.push(std::mem::take(&mut cur)),
                    '}' => {
                        closed = true;
                        break;
                    }
                    c => cur.push(c),
                }
            }
            if !closed {
                return Err(format!("key \"{key}\" has no value (cannot end with ,)"));
            }
            if !cur.is_empty() || !items.is_empty() {
                items.push(cur);
            }
            if chars.peek() == Some(&',') {
                chars.next();
            }
            out.push((key, Raw::List(items)));
            continue;
        }
        let mut value = String::new();
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    if let Some(n) = chars.next() {
                        value.push(n);
                    }
                }
                ',' => break,
                c => value.push(c),
            }
        }
        out.push((key, Raw::One(value)));
    }
    Ok(out)
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn parse_path(key: &str) -> Result<Vec<Seg>, String> {
    let mut out = Vec::new();
    for part in key.split('.') {
        let (name, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if name.is_empty() && out.is_empty() {
            return Err(format!("key \"{key}\" has no value"));
        }
        if !name.is_empty() {
            out.push(Seg::Key(name.to_string()));
        }
        while let Some(r) = rest.strip_prefix('[') {
            let Some(end) = r.find(']') else {
                return Err(format!("key \"{key}\" has no value"));
            };
            let n: usize = r[..end]
                .parse()
                .map_err(|_| format!("failed to parse index: {}", &r[..end]))?;
            if n > 65536 {
                return Err(format!(
                    "index of {n} is greater than maximum supported index of 65536"
                ));
            }
            out.push(Seg::Index(n));
            rest = &r[end + 1..];
        }
    }
    Ok(out)
}

fn set(target: &mut Value, path: &[Seg], value: Value) {
    let Some((first, rest)) = path.split_first() else {
        *target = value;
        return;
    };
    match first {
        Seg::Key(k) => {
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let map = target.as_object_mut().expect("made an object above");
            if rest.is_empty() && value.is_null() {
                map.remove(k);
                return;
            }
            let slot = map.entry(k.clone()).or_insert(Value::Null);
            set(slot, rest, value);
        }
        Seg::Index(n) => {
            if !target.is_array() {
                *target = Value::Array(Vec::new());
            }
            let list = target.as_array_mut().expect("made a list above");
            while list.len() <= *n {
                list.push(Value::Null);
            }
            set(&mut list[*n], rest, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn set_builds_nested_maps_lists_and_types() {
        let mut v = json!({"global": {"mtls": {"enabled": false}, "keep": 1}});
        apply(&mut v, "global.mtls.enabled=true", true).unwrap();
        apply(
            &mut v,
            "global.meshNetworks.network2.gateways[0].port=443",
            true,
        )
        .unwrap();
        apply(
            &mut v,
            "global.meshNetworks.network2.gateways[0].address=0.0.0.0",
            true,
        )
        .unwrap();
        apply(&mut v, "a=1,b={x,y},c=p\\,q,z=0123", true).unwrap();
        apply(&mut v, "s=42", false).unwrap();
        assert_eq!(v["global"]["mtls"]["enabled"], json!(true));
        assert_eq!(v["global"]["keep"], json!(1));
        assert_eq!(
            v["global"]["meshNetworks"]["network2"]["gateways"][0],
            json!({"port": 443, "address": "0.0.0.0"})
        );
        assert_eq!(v["a"], json!(1));
        assert_eq!(v["b"], json!(["x", "y"]));
        assert_eq!(v["c"], json!("p,q"));
        assert_eq!(v["z"], json!("0123"));
        assert_eq!(v["s"], json!("42"));
        apply(&mut v, "a=null", true).unwrap();
        assert!(v.get("a").is_none());
        assert!(apply(&mut v, "novalue", true).is_err());
    }
}
