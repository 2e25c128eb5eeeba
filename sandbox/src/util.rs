//! Small helpers shared by the API server and the controllers: time stamps, ids, hashes.

use std::time::{SystemTime, UNIX_EPOCH};

use rand::Rng;
use serde_json::Value;

/// The current time as an RFC 3339 UTC timestamp with second precision, as Kubernetes writes it.
pub fn now_rfc3339() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    format_rfc3339(secs)
}

/// Seconds since the Unix epoch, now.
pub fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Parses `YYYY-MM-DDTHH:MM:SSZ` (fractions ignored) into seconds since the Unix epoch.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let b = s.as_bytes();
    if b.len() < 20 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    // Days from civil (inverse of civil_from_days).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = if mo > 2 { mo - 3 } else { mo + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    u64::try_from(days * 86_400 + h * 3600 + mi * 60 + sec).ok()
}

/// Formats seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_rfc3339(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

use meshbook_inspect::calendar::civil_from_days;

/// A random version-4 UUID string.
pub fn new_uid() -> String {
    let b: [u8; 16] = rand::rng().random();
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-4{}-{}{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[13..16],
        ["8", "9", "a", "b"][(b[8] & 3) as usize],
        &hex[17..20],
        &hex[20..32]
    )
}

const NAME_CHARS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// A random suffix in the alphabet Kubernetes uses for generated names.
pub fn random_suffix(len: usize) -> String {
    let mut rng = rand::rng();
    (0..len)
        .map(|_| NAME_CHARS[rng.random_range(0..NAME_CHARS.len())] as char)
        .collect()
}

/// A random hex string, used for bearer tokens.
pub fn random_hex(bytes: usize) -> String {
    let mut rng = rand::rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

/// A stable short hash of a JSON value, in the name alphabet (like `pod-template-hash`).
pub fn short_hash(v: &Value) -> String {
    let text = v.to_string();
    // FNV-1a: stable across runs and platforms, unlike the std hasher.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    let mut out = String::new();
    for _ in 0..10 {
        out.push(NAME_CHARS[(h % NAME_CHARS.len() as u64) as usize] as char);
        h /= NAME_CHARS.len() as u64;
    }
    out
}

/// Reads a string at a dotted path such as `metadata.name`.
pub fn str_at<'a>(v: &'a Value, path: &str) -> Option<&'a str> {
    value_at(v, path).and_then(Value::as_str)
}

/// Reads the value at a dotted path.
pub fn value_at<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |cur, seg| cur.get(seg))
}

/// Object name.
pub fn name_of(v: &Value) -> &str {
    str_at(v, "metadata.name").unwrap_or("")
}

/// Object namespace, empty for cluster-scoped objects.
pub fn namespace_of(v: &Value) -> &str {
    str_at(v, "metadata.namespace").unwrap_or("")
}

/// Object uid.
pub fn uid_of(v: &Value) -> &str {
    str_at(v, "metadata.uid").unwrap_or("")
}

/// Returns a mutable object map at `key`, creating it (or replacing a non-object) if needed.
pub fn obj_mut<'a>(v: &'a mut Value, key: &str) -> &'a mut serde_json::Map<String, Value> {
    if !v.is_object() {
        *v = Value::Object(serde_json::Map::new());
    }
    let Value::Object(map) = v else {
        unreachable!("just made an object")
    };
    let entry = map
        .entry(key.to_string())
        .or_insert_with(|| Value::Object(serde_json::Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(serde_json::Map::new());
    }
    match entry {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

/// Sets `v.a.b.c = value` for the path `["a", "b", "c"]`, turning anything in the way into an
/// object (client-sent objects can hold a string where a map belongs; that must not panic).
pub fn set_at(v: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else {
        *v = value;
        return;
    };
    let mut cur = v;
    for key in parents {
        if !cur.is_object() {
            *cur = Value::Object(serde_json::Map::new());
        }
        let Value::Object(map) = cur else {
            unreachable!("just made an object")
        };
        cur = map
            .entry((*key).to_string())
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
    }
    if !cur.is_object() {
        *cur = Value::Object(serde_json::Map::new());
    }
    if let Value::Object(map) = cur {
        map.insert((*last).to_string(), value);
    }
}

/// The labels of an object as a map of strings.
pub fn labels_of(v: &Value) -> std::collections::BTreeMap<String, String> {
    value_at(v, "metadata.labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_at_replaces_whatever_is_in_the_way() {
        let mut v = serde_json::json!({"metadata": {"annotations": "x"}});
        set_at(
            &mut v,
            &["metadata", "annotations", "a"],
            serde_json::json!("1"),
        );
        assert_eq!(
            v,
            serde_json::json!({"metadata": {"annotations": {"a": "1"}}})
        );
        let mut n = serde_json::json!("scalar");
        set_at(&mut n, &["spec", "replicas"], serde_json::json!(2));
        assert_eq!(n, serde_json::json!({"spec": {"replicas": 2}}));
    }

    #[test]
    fn formats_known_dates() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }

    #[test]
    fn parses_what_it_formats() {
        for t in [0, 951_782_400, 1_700_000_000] {
            assert_eq!(parse_rfc3339(&format_rfc3339(t)), Some(t));
        }
        assert_eq!(parse_rfc3339("nope"), None);
    }

    #[test]
    fn uid_has_uuid_shape() {
        let u = new_uid();
        assert_eq!(u.len(), 36);
        assert_eq!(u.as_bytes()[14], b'4');
    }

    #[test]
    fn hash_is_stable() {
        let v = serde_json::json!({"a": 1});
        assert_eq!(short_hash(&v), short_hash(&v));
        assert_ne!(short_hash(&v), short_hash(&serde_json::json!({"a": 2})));
    }
}
