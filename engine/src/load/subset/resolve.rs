//! What serde_yaml makes of an untagged plain scalar: a null, a boolean, a number, or the string
//! it is. serde_yaml 0.9 keeps these rules private (`visit_untagged_scalar` in its `de.rs`), so
//! they are restated here, in its order; the tests hold them to serde_yaml's own answers.

use std::num::ParseIntError;

use super::super::strict::surely_string;

/// A plain scalar as serde_yaml reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum Resolved {
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    U128(u128),
    I128(i128),
    F64(f64),
    Str,
}

/// How serde_yaml reads the plain scalar `v`.
pub(super) fn resolve(v: &str) -> Resolved {
    if surely_string(v) {
        return Resolved::Str;
    }
    if v.is_empty() || is_null(v) {
        return Resolved::Null;
    }
    match v {
        "true" | "True" | "TRUE" => return Resolved::Bool(true),
        "false" | "False" | "FALSE" => return Resolved::Bool(false),
        _ => {}
    }
    if let Some(n) = unsigned(v, u64::from_str_radix) {
        return Resolved::U64(n);
    }
    if let Some(n) = negative(v, i64::from_str_radix) {
        return Resolved::I64(n);
    }
    if let Some(n) = unsigned(v, u128::from_str_radix) {
        return Resolved::U128(n);
    }
    if let Some(n) = negative(v, i128::from_str_radix) {
        return Resolved::I128(n);
    }
    if !digits_but_not_number(v)
        && let Some(f) = float(v)
    {
        return Resolved::F64(f);
    }
    Resolved::Str
}

/// Whether serde_yaml reads the plain scalar `v` as a null (an empty one is too).
pub(super) fn is_null(v: &str) -> bool {
    matches!(v, "" | "~" | "null" | "Null" | "NULL")
}

/// A non-negative integer: decimal, or `0x`, `0o`, `0b`, with an optional `+`.
fn unsigned<T>(v: &str, radix: fn(&str, u32) -> Result<T, ParseIntError>) -> Option<T> {
    let unsigned = v.strip_prefix('+').unwrap_or(v);
    for (prefix, base) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(rest) = unsigned.strip_prefix(prefix) {
            if rest.starts_with(['+', '-']) {
                return None;
            }
            if let Ok(n) = radix(rest, base) {
                return Some(n);
            }
        }
    }
    if unsigned.starts_with(['+', '-']) || digits_but_not_number(v) {
        return None;
    }
    radix(unsigned, 10).ok()
}

/// A negative integer: decimal, or `-0x`, `-0o`, `-0b`.
fn negative<T>(v: &str, radix: fn(&str, u32) -> Result<T, ParseIntError>) -> Option<T> {
    for (prefix, base) in [("-0x", 16), ("-0o", 8), ("-0b", 2)] {
        if let Some(rest) = v.strip_prefix(prefix)
            && let Ok(n) = radix(&format!("-{rest}"), base)
        {
            return Some(n);
        }
    }
    if digits_but_not_number(v) {
        return None;
    }
    radix(v, 10).ok()
}

fn float(v: &str) -> Option<f64> {
    let unsigned = match v.strip_prefix('+') {
        Some(rest) if rest.starts_with(['+', '-']) => return None,
        Some(rest) => rest,
        None => v,
    };
    if let ".inf" | ".Inf" | ".INF" = unsigned {
        return Some(f64::INFINITY);
    }
    if let "-.inf" | "-.Inf" | "-.INF" = v {
        return Some(f64::NEG_INFINITY);
    }
    if let ".nan" | ".NaN" | ".NAN" = v {
        return Some(f64::NAN);
    }
    unsigned.parse::<f64>().ok().filter(|f| f.is_finite())
}

/// A leading zero followed by digits is a string in YAML 1.2 (`0755`, `-012`).
fn digits_but_not_number(v: &str) -> bool {
    let v = v.strip_prefix(['-', '+']).unwrap_or(v);
    v.len() > 1 && v.starts_with('0') && v[1..].bytes().all(|b| b.is_ascii_digit())
}
