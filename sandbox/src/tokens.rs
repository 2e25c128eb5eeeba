//! Service-account tokens the sandbox mints: bound tokens from TokenRequest (`kubectl create
//! token`) and the long-lived tokens of legacy token Secrets.
//!
//! A token names what it is bound to and carries a digest keyed by a secret only the sandbox
//! knows, so it is checked without being stored, survives restarts, and cannot be forged by
//! writing a token into a Secret (only minted tokens authenticate, as with a real API server's
//! signed JWTs).

use base64::Engine;
use sha2::{Digest, Sha256};

use crate::util::unix_seconds;

const PREFIX: &str = "sbx1";

/// What a minted token is bound to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claims {
    /// The service account's namespace.
    pub namespace: String,
    /// The service account.
    pub account: String,
    /// Unix time after which the token is refused; `None` for legacy Secret tokens.
    pub expires: Option<u64>,
    /// The legacy token Secret the token belongs to (it stops working when that is deleted).
    pub secret: Option<String>,
}

/// Mints and checks the tokens of one cluster.
pub struct Minter {
    key: String,
    cluster: String,
}

impl Minter {
    /// A minter keyed by `key` (never shown to clients) for the cluster `cluster`.
    pub fn new(key: &str, cluster: &str) -> Self {
        Minter {
            key: key.to_string(),
            cluster: cluster.to_string(),
        }
    }

    fn digest(&self, payload: &str) -> String {
        let mut h = Sha256::new();
        for part in [self.key.as_str(), self.cluster.as_str(), payload] {
            h.update(part.as_bytes());
            h.update(b"\0");
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Mints a token for `claims`.
    pub fn mint(&self, claims: &Claims) -> String {
        let text = format!(
            "{}/{}/{}/{}",
            claims.namespace,
            claims.account,
            claims.expires.unwrap_or(0),
            claims.secret.as_deref().unwrap_or_default()
        );
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
        format!("{PREFIX}.{payload}.{}", self.digest(&payload))
    }

    /// A bound token for `namespace/account` valid for `seconds`, and its expiry.
    pub fn bound(&self, namespace: &str, account: &str, seconds: u64) -> (String, u64) {
        let exp = unix_seconds() + seconds;
        let token = self.mint(&Claims {
            namespace: namespace.to_string(),
            account: account.to_string(),
            expires: Some(exp),
            secret: None,
        });
        (token, exp)
    }

    /// The claims of a token this minter made and that has not expired.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        let mut parts = token.split('.');
        let (Some(PREFIX), Some(payload), Some(mac), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return None;
        };
        if !constant_eq(self.digest(payload).as_bytes(), mac.as_bytes()) {
            return None;
        }
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())?;
        let fields: Vec<&str> = text.split('/').collect();
        let [ns, account, exp, secret] = fields.as_slice() else {
            return None;
        };
        let exp: u64 = exp.parse().ok()?;
        let expires = (exp != 0).then_some(exp);
        if expires.is_some_and(|e| e <= unix_seconds()) {
            return None;
        }
        Some(Claims {
            namespace: ns.to_string(),
            account: account.to_string(),
            expires,
            secret: (!secret.is_empty()).then(|| secret.to_string()),
        })
    }
}

/// Compares secrets in time independent of where they differ.
pub fn constant_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_tokens_verify_and_forgeries_do_not() {
        let m = Minter::new("k", "c1");
        let (t, _) = m.bound("ns", "sa", 600);
        let c = m.verify(&t).expect("valid");
        assert_eq!((c.namespace.as_str(), c.account.as_str()), ("ns", "sa"));
        assert!(m.verify("a").is_none());
        // Another cluster's key, or an edited payload, never verifies.
        assert!(Minter::new("k", "c2").verify(&t).is_none());
        let parts: Vec<&str> = t.split('.').collect();
        let forged_payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("ns/admin/0/");
        assert!(
            m.verify(&format!("{}.{forged_payload}.{}", parts[0], parts[2]))
                .is_none()
        );
        let legacy = m.mint(&Claims {
            namespace: "ns".into(),
            account: "sa".into(),
            expires: None,
            secret: Some("sa-token-x".into()),
        });
        assert_eq!(
            m.verify(&legacy).unwrap().secret.as_deref(),
            Some("sa-token-x")
        );
        let expired = m.mint(&Claims {
            namespace: "ns".into(),
            account: "sa".into(),
            expires: Some(1),
            secret: None,
        });
        assert!(m.verify(&expired).is_none());
    }
}
