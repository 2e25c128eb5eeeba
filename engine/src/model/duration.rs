//! Durations written the way operators write them: `500ms`, `10s`, `5m`, `1h30m`.

use std::fmt;
use std::time::Duration as StdDuration;

use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A duration read from a runbook; displays in the same compact form it is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Duration(pub StdDuration);

/// Why a duration did not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error(
    "invalid duration `{input}`: expected a number and a unit (ms, s, m, h), like 500ms, 10s, 5m or 1h30m"
)]
pub struct DurationError {
    /// The text as written.
    pub input: String,
}

impl Duration {
    /// Parses `500ms`, `10s`, `5m`, `2h`, or combinations such as `1m30s`.
    pub fn parse(input: &str) -> Result<Self, DurationError> {
        let err = || DurationError {
            input: input.to_string(),
        };
        let s = input.trim();
        if s.is_empty() {
            return Err(err());
        }
        let mut total = StdDuration::ZERO;
        let mut rest = s;
        while !rest.is_empty() {
            let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return Err(err());
            }
            let number: u64 = rest[..digits].parse().map_err(|_| err())?;
            rest = &rest[digits..];
            let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
            let unit = &rest[..unit_len];
            rest = &rest[unit_len..];
            let part = match unit {
                "ms" => StdDuration::from_millis(number),
                "s" => StdDuration::from_secs(number),
                "m" => StdDuration::from_secs(number.checked_mul(60).ok_or_else(err)?),
                "h" => StdDuration::from_secs(number.checked_mul(3600).ok_or_else(err)?),
                _ => return Err(err()),
            };
            total = total.checked_add(part).ok_or_else(err)?;
        }
        Ok(Duration(total))
    }

    /// The standard-library duration.
    pub fn get(self) -> StdDuration {
        self.0
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms == 0 {
            return f.write_str("0s");
        }
        if !ms.is_multiple_of(1000) {
            return write!(f, "{ms}ms");
        }
        let mut secs = self.0.as_secs();
        let h = secs / 3600;
        secs %= 3600;
        let m = secs / 60;
        secs %= 60;
        if h > 0 {
            write!(f, "{h}h")?;
        }
        if m > 0 {
            write!(f, "{m}m")?;
        }
        if secs > 0 {
            write!(f, "{secs}s")?;
        }
        Ok(())
    }
}

impl<'de> Deserialize<'de> for Duration {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Seconds(u64),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Text(s) => Duration::parse(&s).map_err(serde::de::Error::custom),
            Raw::Seconds(n) => Err(serde::de::Error::custom(format!(
                "a duration needs a unit: write {n}s, {n}ms or {n}m"
            ))),
        }
    }
}

impl Serialize for Duration {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl JsonSchema for Duration {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Duration".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "pattern": "^([0-9]+(ms|s|m|h))+$",
            "description": "a duration such as 500ms, 10s, 5m or 1h30m"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units_and_combinations() {
        assert_eq!(
            Duration::parse("500ms").unwrap().0,
            StdDuration::from_millis(500)
        );
        assert_eq!(
            Duration::parse("10s").unwrap().0,
            StdDuration::from_secs(10)
        );
        assert_eq!(
            Duration::parse("5m").unwrap().0,
            StdDuration::from_secs(300)
        );
        assert_eq!(
            Duration::parse("1h30m").unwrap().0,
            StdDuration::from_secs(5400)
        );
        assert_eq!(
            Duration::parse("1m500ms").unwrap().0,
            StdDuration::from_millis(60_500)
        );
    }

    #[test]
    fn rejects_missing_or_unknown_units() {
        for bad in ["", "10", "s", "5x", "1.5s", "-3s", "10 s"] {
            assert!(Duration::parse(bad).is_err(), "{bad} should not parse");
        }
    }

    #[test]
    fn displays_compactly() {
        for text in ["500ms", "10s", "5m", "1h30m", "1m30s"] {
            assert_eq!(Duration::parse(text).unwrap().to_string(), text);
        }
    }
}
