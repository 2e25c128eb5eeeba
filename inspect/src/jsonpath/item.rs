//! The values that flow through an evaluation: object data, template literals, and numbers
//! as kubectl holds them.

use serde_json::Value;

/// One value flowing through the evaluation: object data or a template literal.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Item<'a> {
    Json(&'a Value),
    Text(&'a str),
    /// An integer literal (Go `int`).
    Int(i64),
    Float(f64),
    Bool(bool),
    /// One byte of a string, produced by `.*` or `..` over a string (Go `uint8`).
    Byte(u8),
    /// The "no value" a `{range}` body sees when the range selected nothing.
    Invalid,
}

impl Item<'_> {
    /// The item as an owned JSON value (bytes and literals become numbers and strings).
    pub(crate) fn to_value(self) -> Value {
        match self {
            Item::Json(value) => value.clone(),
            Item::Text(s) => Value::String(s.to_string()),
            Item::Int(i) => Value::from(i),
            Item::Float(f) => Value::from(f),
            Item::Bool(b) => Value::Bool(b),
            Item::Byte(b) => Value::from(b),
            Item::Invalid => Value::Null,
        }
    }

    /// Go type name used in "X is not array or slice".
    pub(crate) fn go_type(self) -> &'static str {
        match self {
            Item::Json(Value::Object(_)) => "map[string]interface {}",
            Item::Json(Value::Array(_)) => "[]interface {}",
            Item::Json(Value::String(_)) | Item::Text(_) => "string",
            Item::Json(Value::Bool(_)) | Item::Bool(_) => "bool",
            Item::Json(Value::Number(n)) => match number(n) {
                GoNumber::Int(_) => "int64",
                GoNumber::Float(_) => "float64",
            },
            Item::Json(Value::Null) => "interface {}",
            Item::Int(_) => "int",
            Item::Float(_) => "float64",
            Item::Byte(_) => "uint8",
            // client-go panics here; an error is the safer answer.
            Item::Invalid => "<invalid Value>",
        }
    }

    pub(crate) fn is_null(self) -> bool {
        matches!(self, Item::Json(Value::Null))
    }
}

/// How kubectl holds a JSON number: whole numbers that fit are int64, the rest float64.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum GoNumber {
    Int(i64),
    Float(f64),
}

pub(crate) fn number(n: &serde_json::Number) -> GoNumber {
    match n.as_i64() {
        Some(i) => GoNumber::Int(i),
        None => GoNumber::Float(n.as_f64().unwrap_or(f64::NAN)),
    }
}
