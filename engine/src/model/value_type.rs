//! The value types that params and outputs declare, and the check that a text value is of its type.

use std::fmt;
use std::net::IpAddr;

use base64::Engine as _;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// The declared type of a param or an output. Values travel as text (they become environment
/// variables), so a type is a promise about the text's shape, checked when the value appears.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ValueType {
    /// Any text.
    #[default]
    String,
    /// A signed 64-bit integer.
    Int,
    /// A TCP/UDP port, 1 to 65535.
    Port,
    /// An IPv4 or IPv6 address.
    Ip,
    /// A network in CIDR notation, such as `10.0.0.0/8`.
    Cidr,
    /// A filesystem path.
    Path,
    /// The name of a kubeconfig context.
    Context,
    /// Standard base64 (CA data, tokens).
    Base64,
    /// A JSON document.
    Json,
    /// `true` or `false`.
    Bool,
}

/// Why a value is not of its declared type. Never carries the value itself, so that the
/// caller decides whether the value may be shown (it may be secret).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("is not a valid {ty}: {reason}")]
pub struct TypeMismatch {
    /// The declared type.
    pub ty: ValueType,
    /// What is wrong, without the value.
    pub reason: &'static str,
}

impl ValueType {
    /// Checks that `value` is of this type.
    pub fn admits(self, value: &str) -> Result<(), TypeMismatch> {
        let fail = |reason| Err(TypeMismatch { ty: self, reason });
        match self {
            ValueType::String | ValueType::Path => Ok(()),
            ValueType::Context => {
                if value.is_empty() {
                    fail("a context name cannot be empty")
                } else {
                    Ok(())
                }
            }
            ValueType::Int => match value.parse::<i64>() {
                Ok(_) => Ok(()),
                Err(_) => fail("expected a whole number"),
            },
            ValueType::Port => match value.parse::<u16>() {
                Ok(p) if p > 0 => Ok(()),
                _ => fail("expected a number from 1 to 65535"),
            },
            ValueType::Ip => match value.parse::<IpAddr>() {
                Ok(_) => Ok(()),
                Err(_) => fail("expected an IPv4 or IPv6 address"),
            },
            ValueType::Cidr => match value.parse::<ipnet::IpNet>() {
                Ok(_) => Ok(()),
                Err(_) => fail("expected an address range such as 10.8.0.0/14"),
            },
            ValueType::Base64 => {
                match base64::engine::general_purpose::STANDARD.decode(value.trim()) {
                    Ok(_) => Ok(()),
                    Err(_) => fail("expected standard base64"),
                }
            }
            ValueType::Json => match serde_json::from_str::<serde_json::Value>(value) {
                Ok(_) => Ok(()),
                Err(_) => fail("expected a JSON document"),
            },
            ValueType::Bool => match value {
                "true" | "false" => Ok(()),
                _ => fail("expected true or false"),
            },
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            ValueType::String => "string",
            ValueType::Int => "int",
            ValueType::Port => "port",
            ValueType::Ip => "ip",
            ValueType::Cidr => "cidr",
            ValueType::Path => "path",
            ValueType::Context => "context",
            ValueType::Base64 => "base64",
            ValueType::Json => "json",
            ValueType::Bool => "bool",
        };
        f.write_str(name)
    }
}

#[cfg(test)]
mod tests {
    use super::ValueType::*;

    #[test]
    fn accepts_well_formed_values() {
        for (ty, v) in [
            (Int, "-42"),
            (Port, "15443"),
            (Ip, "35.1.2.3"),
            (Ip, "fd00::1"),
            (Cidr, "10.8.0.0/14"),
            (Base64, "aGVsbG8="),
            (Json, r#"{"a": [1]}"#),
            (Bool, "true"),
            (Context, "gke_proj_zone_c1"),
            (String, ""),
        ] {
            assert!(ty.admits(v).is_ok(), "{ty} should accept {v}");
        }
    }

    #[test]
    fn rejects_malformed_values() {
        for (ty, v) in [
            (Int, "4.2"),
            (Port, "0"),
            (Port, "70000"),
            (Ip, "35.1.2"),
            (Ip, "pending"),
            (Cidr, "10.8.0.0"),
            (Base64, "not base64!"),
            (Json, "{"),
            (Bool, "yes"),
            (Context, ""),
        ] {
            assert!(ty.admits(v).is_err(), "{ty} should reject {v:?}");
        }
    }
}
