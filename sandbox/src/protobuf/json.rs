//! The JSON form of protobuf messages: the conversions `generated.rs` builds on, and the
//! messages whose JSON form is not an object of their fields (times, quantities, int-or-string,
//! embedded JSON), written as the Go types marshal them.

use std::collections::BTreeMap;

use base64::Engine;
use serde_json::{Map, Value, json};

use k8s_pb::apiextensions_apiserver::pkg::apis::apiextensions::{v1 as ext, v1beta1 as ext_beta};
use k8s_pb::apimachinery::pkg::api::resource::{Quantity, QuantityValue};
use k8s_pb::apimachinery::pkg::apis::meta::v1 as meta;
use k8s_pb::apimachinery::pkg::runtime::RawExtension;
use k8s_pb::apimachinery::pkg::util::intstr::IntOrString;

/// A value with a JSON form.
pub trait ToJson {
    /// The JSON form.
    fn to_json(&self) -> Value;
    /// Whether this is the zero value Go's `omitempty` drops.
    fn is_zero(&self) -> bool {
        false
    }
}

impl ToJson for String {
    fn to_json(&self) -> Value {
        Value::String(self.clone())
    }
    fn is_zero(&self) -> bool {
        self.is_empty()
    }
}

macro_rules! number {
    ($($t:ty),*) => {$(
        impl ToJson for $t {
            fn to_json(&self) -> Value {
                json!(self)
            }
            fn is_zero(&self) -> bool {
                *self == (0 as $t)
            }
        }
    )*};
}
number!(i32, i64, u32, u64, f32, f64);

impl ToJson for bool {
    fn to_json(&self) -> Value {
        Value::Bool(*self)
    }
    fn is_zero(&self) -> bool {
        !*self
    }
}

/// Decodes `raw` as message `T` and gives its JSON form.
pub fn object<T: prost::Message + Default + ToJson>(
    raw: &[u8],
) -> Result<Value, prost::DecodeError> {
    T::decode(raw).map(|t| t.to_json())
}

/// An optional field: written when present, and when zero only if `keep_zero`.
pub fn opt<T: ToJson + ?Sized>(
    m: &mut Map<String, Value>,
    name: &str,
    v: Option<&T>,
    keep_zero: bool,
) {
    if let Some(v) = v
        && (keep_zero || !v.is_zero())
    {
        m.insert(name.into(), v.to_json());
    }
}

/// A struct Go embeds inline: its fields join the parent's.
pub fn inline<T: ToJson>(m: &mut Map<String, Value>, v: Option<&T>) {
    if let Some(Value::Object(fields)) = v.map(ToJson::to_json) {
        m.extend(fields);
    }
}

/// A repeated field: written when not empty.
pub fn list<T: ToJson>(m: &mut Map<String, Value>, name: &str, v: &[T]) {
    if !v.is_empty() {
        m.insert(
            name.into(),
            Value::Array(v.iter().map(ToJson::to_json).collect()),
        );
    }
}

/// A map field: written when not empty.
pub fn map<T: ToJson>(m: &mut Map<String, Value>, name: &str, v: &BTreeMap<String, T>) {
    if !v.is_empty() {
        m.insert(
            name.into(),
            Value::Object(v.iter().map(|(k, x)| (k.clone(), x.to_json())).collect()),
        );
    }
}

fn b64(b: &[u8]) -> Value {
    Value::String(base64::engine::general_purpose::STANDARD.encode(b))
}

/// A `[]byte` field: base64, as Go encodes it.
pub fn bytes(m: &mut Map<String, Value>, name: &str, v: Option<&Vec<u8>>, keep_zero: bool) {
    if let Some(v) = v
        && (keep_zero || !v.is_empty())
    {
        m.insert(name.into(), b64(v));
    }
}

/// A `map[string][]byte` field (Secret data).
pub fn bytes_map(m: &mut Map<String, Value>, name: &str, v: &BTreeMap<String, Vec<u8>>) {
    if !v.is_empty() {
        m.insert(
            name.into(),
            Value::Object(v.iter().map(|(k, b)| (k.clone(), b64(b))).collect()),
        );
    }
}

/// Embedded JSON bytes (`RawExtension`, `FieldsV1`, `JSON`): the value they hold.
fn embedded(raw: Option<&Vec<u8>>) -> Value {
    raw.and_then(|r| serde_json::from_slice(r).ok())
        .unwrap_or(Value::Null)
}

fn time(seconds: Option<i64>, nanos: Option<i32>, micro: bool) -> Value {
    let (s, n) = (seconds.unwrap_or(0), nanos.unwrap_or(0));
    if s == 0 && n == 0 {
        // Go marshals the zero time.Time of these types as null.
        return Value::Null;
    }
    let text = crate::util::format_rfc3339(u64::try_from(s).unwrap_or(0));
    if micro {
        let micros = n / 1000;
        return json!(text.replace('Z', &format!(".{micros:06}Z")));
    }
    json!(text)
}

impl ToJson for meta::Time {
    fn to_json(&self) -> Value {
        time(self.seconds, self.nanos, false)
    }
}

impl ToJson for meta::MicroTime {
    fn to_json(&self) -> Value {
        time(self.seconds, self.nanos, true)
    }
}

/// Go's `time.Duration.String()`: `1h2m3s`, `1.5s`, `300ms`, `0s`.
fn go_duration(nanos: i64) -> String {
    if nanos == 0 {
        return "0s".into();
    }
    let sign = if nanos < 0 { "-" } else { "" };
    let n = nanos.unsigned_abs();
    if n < 1_000_000_000 {
        let (unit, div) = match n {
            0..1_000 => ("ns", 1),
            1_000..1_000_000 => ("µs", 1_000),
            _ => ("ms", 1_000_000),
        };
        return format!("{sign}{}{unit}", fraction(n, div));
    }
    let (h, rest) = (n / 3_600_000_000_000, n % 3_600_000_000_000);
    let (m, rest) = (rest / 60_000_000_000, rest % 60_000_000_000);
    let secs = fraction(rest, 1_000_000_000);
    match (h, m) {
        (0, 0) => format!("{sign}{secs}s"),
        (0, m) => format!("{sign}{m}m{secs}s"),
        (h, m) => format!("{sign}{h}h{m}m{secs}s"),
    }
}

/// `n / div` with its fraction, trailing zeros dropped.
fn fraction(n: u64, div: u64) -> String {
    let (whole, frac) = (n / div, n % div);
    if frac == 0 {
        return whole.to_string();
    }
    let width = div.to_string().len() - 1;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

impl ToJson for meta::Duration {
    fn to_json(&self) -> Value {
        json!(go_duration(self.duration.unwrap_or(0)))
    }
}

impl ToJson for meta::FieldsV1 {
    fn to_json(&self) -> Value {
        embedded(self.raw.as_ref())
    }
}

impl ToJson for RawExtension {
    fn to_json(&self) -> Value {
        embedded(self.raw.as_ref())
    }
}

impl ToJson for Quantity {
    fn to_json(&self) -> Value {
        json!(self.string.clone().unwrap_or_default())
    }
}

impl ToJson for QuantityValue {
    fn to_json(&self) -> Value {
        json!(self.string.clone().unwrap_or_default())
    }
}

impl ToJson for IntOrString {
    fn to_json(&self) -> Value {
        match self.r#type {
            Some(1) => json!(self.str_val.clone().unwrap_or_default()),
            _ => json!(self.int_val.unwrap_or(0)),
        }
    }
}

macro_rules! schema_unions {
    ($($m:ident),*) => {$(
        impl ToJson for $m::Json {
            fn to_json(&self) -> Value {
                embedded(self.raw.as_ref())
            }
        }

        impl ToJson for $m::JsonSchemaPropsOrArray {
            fn to_json(&self) -> Value {
                match &self.schema {
                    Some(s) => s.to_json(),
                    None => Value::Array(self.j_son_schemas.iter().map(ToJson::to_json).collect()),
                }
            }
        }

        impl ToJson for $m::JsonSchemaPropsOrBool {
            fn to_json(&self) -> Value {
                match &self.schema {
                    Some(s) => s.to_json(),
                    None => json!(self.allows.unwrap_or(false)),
                }
            }
        }

        impl ToJson for $m::JsonSchemaPropsOrStringArray {
            fn to_json(&self) -> Value {
                match &self.schema {
                    Some(s) => s.to_json(),
                    None => json!(self.property),
                }
            }
        }
    )*};
}
schema_unions!(ext, ext_beta);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_as_go_prints_them() {
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(3_600_000_000_000), "1h0m0s");
        assert_eq!(go_duration(90_000_000_000), "1m30s");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
        assert_eq!(go_duration(300_000_000), "300ms");
        assert_eq!(go_duration(-2_000_000_000), "-2s");
    }

    #[test]
    fn times_are_rfc3339_and_zero_is_null() {
        let t = meta::Time {
            seconds: Some(86_400),
            nanos: Some(0),
        };
        assert_eq!(t.to_json(), json!("1970-01-02T00:00:00Z"));
        assert_eq!(meta::Time::default().to_json(), Value::Null);
        let m = meta::MicroTime {
            seconds: Some(1),
            nanos: Some(5_000),
        };
        assert_eq!(m.to_json(), json!("1970-01-01T00:00:01.000005Z"));
    }
}
