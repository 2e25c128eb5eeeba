//! Filter comparisons, with the rules of Go's (forked) `text/template` `eq`/`lt`:
//! both sides must be the same basic kind, except that signed and unsigned integers mix.

use serde_json::Value;

use super::error::ExecError;
use super::item::{GoNumber, Item, number};

#[derive(Debug, Clone, Copy)]
enum Basic<'a> {
    Bool(bool),
    Int(i64),
    Uint(u64),
    Float(f64),
    Str(&'a str),
}

fn basic(item: Item<'_>) -> Result<Basic<'_>, ExecError> {
    match item {
        Item::Json(Value::Bool(b)) => Ok(Basic::Bool(*b)),
        Item::Bool(b) => Ok(Basic::Bool(b)),
        Item::Json(Value::String(s)) => Ok(Basic::Str(s)),
        Item::Text(s) => Ok(Basic::Str(s)),
        Item::Json(Value::Number(n)) => Ok(match number(n) {
            GoNumber::Int(i) => Basic::Int(i),
            GoNumber::Float(f) => Basic::Float(f),
        }),
        Item::Int(i) => Ok(Basic::Int(i)),
        Item::Float(f) => Ok(Basic::Float(f)),
        Item::Byte(b) => Ok(Basic::Uint(u64::from(b))),
        Item::Json(Value::Null | Value::Array(_) | Value::Object(_)) | Item::Invalid => {
            Err(ExecError::InvalidComparisonType)
        }
    }
}

/// Applies a filter operator to one left and one right value.
pub(crate) fn apply(op: &str, left: Item<'_>, right: Item<'_>) -> Result<bool, ExecError> {
    match op {
        "<" => less(left, right),
        ">" => less_or_equal(left, right).map(|le| !le),
        "==" => equal(left, right),
        "!=" => equal(left, right).map(|eq| !eq),
        "<=" => less_or_equal(left, right),
        ">=" => less(left, right).map(|lt| !lt),
        other => Err(ExecError::UnrecognizedOperator(other.to_string())),
    }
}

fn equal(left: Item<'_>, right: Item<'_>) -> Result<bool, ExecError> {
    let (a, b) = (basic(left)?, basic(right)?);
    Ok(match (a, b) {
        (Basic::Bool(x), Basic::Bool(y)) => x == y,
        (Basic::Int(x), Basic::Int(y)) => x == y,
        (Basic::Uint(x), Basic::Uint(y)) => x == y,
        (Basic::Float(x), Basic::Float(y)) => x == y,
        (Basic::Str(x), Basic::Str(y)) => x == y,
        (Basic::Int(x), Basic::Uint(y)) | (Basic::Uint(y), Basic::Int(x)) => {
            u64::try_from(x).is_ok_and(|x| x == y)
        }
        _ => return Err(ExecError::IncompatibleTypes),
    })
}

fn less(left: Item<'_>, right: Item<'_>) -> Result<bool, ExecError> {
    let (a, b) = (basic(left)?, basic(right)?);
    Ok(match (a, b) {
        (Basic::Bool(_), Basic::Bool(_)) => return Err(ExecError::InvalidComparisonType),
        (Basic::Int(x), Basic::Int(y)) => x < y,
        (Basic::Uint(x), Basic::Uint(y)) => x < y,
        (Basic::Float(x), Basic::Float(y)) => x < y,
        (Basic::Str(x), Basic::Str(y)) => x < y,
        (Basic::Int(x), Basic::Uint(y)) => u64::try_from(x).map_or(true, |x| x < y),
        (Basic::Uint(x), Basic::Int(y)) => u64::try_from(y).is_ok_and(|y| x < y),
        _ => return Err(ExecError::IncompatibleTypes),
    })
}

fn less_or_equal(left: Item<'_>, right: Item<'_>) -> Result<bool, ExecError> {
    if less(left, right)? {
        return Ok(true);
    }
    equal(left, right)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_kinds_compare() {
        let one = Value::from(1);
        assert_eq!(apply("<", Item::Json(&one), Item::Int(2)), Ok(true));
        assert_eq!(apply(">=", Item::Json(&one), Item::Int(1)), Ok(true));
        assert_eq!(apply("!=", Item::Text("a"), Item::Text("b")), Ok(true));
        assert_eq!(apply("==", Item::Bool(true), Item::Bool(true)), Ok(true));
        assert_eq!(apply("==", Item::Byte(97), Item::Int(97)), Ok(true));
    }

    #[test]
    fn int_and_float_do_not_mix() {
        let one = Value::from(1);
        assert_eq!(
            apply("==", Item::Json(&one), Item::Float(1.0)),
            Err(ExecError::IncompatibleTypes)
        );
    }

    #[test]
    fn null_maps_and_ordered_bools_are_invalid() {
        let null = Value::Null;
        assert_eq!(
            apply("==", Item::Json(&null), Item::Int(1)),
            Err(ExecError::InvalidComparisonType)
        );
        assert_eq!(
            apply(">", Item::Bool(true), Item::Bool(false)),
            Err(ExecError::InvalidComparisonType)
        );
    }

    #[test]
    fn unknown_operator_is_reported() {
        assert_eq!(
            apply("<>", Item::Int(1), Item::Int(1)),
            Err(ExecError::UnrecognizedOperator("<>".into()))
        );
    }
}
