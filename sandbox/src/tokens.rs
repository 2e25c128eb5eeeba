//! Bound service-account tokens issued through TokenRequest (`kubectl create token`).
//!
//! A token names its service account and expiry and carries a digest keyed by the cluster's
//! admin token, so it can be checked without storing it and survives restarts.

use base64::Engine;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::cluster::Cluster;
use crate::util::{format_rfc3339, unix_seconds};

const PREFIX: &str = "sbx1";

fn digest(cluster: &Cluster, payload: &str) -> String {
    let mut h = Sha256::new();
    h.update(cluster.token.as_bytes());
    h.update(b"\0");
    h.update(cluster.name.as_bytes());
    h.update(b"\0");
    h.update(payload.as_bytes());
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Issues a token for `namespace/name` valid for `seconds`.
pub fn issue(cluster: &Cluster, namespace: &str, name: &str, seconds: u64) -> (String, u64) {
    let exp = unix_seconds() + seconds;
    let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{namespace}/{name}/{exp}"));
    let token = format!("{PREFIX}.{payload}.{}", digest(cluster, &payload));
    (token, exp)
}

/// Whether `token` was issued by this cluster, is unexpired, and its account still exists.
pub fn verify(cluster: &Cluster, token: &str) -> bool {
    let mut parts = token.split('.');
    let (Some(PREFIX), Some(payload), Some(mac), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    if digest(cluster, payload) != mac {
        return false;
    }
    let Some(text) = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
    else {
        return false;
    };
    let fields: Vec<&str> = text.split('/').collect();
    let [ns, name, exp] = fields.as_slice() else {
        return false;
    };
    exp.parse::<u64>().is_ok_and(|e| e > unix_seconds())
        && cluster.store.get("serviceaccounts", ns, name).is_some()
}

/// The TokenRequest answer for a service account.
pub fn token_request(cluster: &Cluster, sa: &Value, request: &Value) -> Value {
    let ns = crate::util::namespace_of(sa);
    let name = crate::util::name_of(sa);
    let seconds = request["spec"]["expirationSeconds"]
        .as_u64()
        .unwrap_or(3600)
        .clamp(600, 48 * 3600);
    let (token, exp) = issue(cluster, ns, name, seconds);
    let audiences = match &request["spec"]["audiences"] {
        Value::Array(a) if !a.is_empty() => Value::Array(a.clone()),
        _ => json!(["https://kubernetes.default.svc.cluster.local"]),
    };
    json!({"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1",
           "metadata": {"name": name, "namespace": ns, "creationTimestamp": null},
           "spec": {"audiences": audiences, "expirationSeconds": seconds, "boundObjectRef": null},
           "status": {"token": token, "expirationTimestamp": format_rfc3339(exp)}})
}
