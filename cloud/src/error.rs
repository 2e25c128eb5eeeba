//! Google's JSON error format: what every API of the simulated cloud answers a bad request with.
//!
//! gcloud renders these itself, so users see the texts they would see against Google:
//! `ResponseError: code=400, message=...` for Kubernetes Engine and `Could not fetch resource:
//! - ...` for Compute Engine (whose errors also carry an `errors` list with a reason).

use serde_json::{Value, json};

/// One error answer of a Google API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub code: u16,
    /// The text gcloud shows.
    pub message: String,
    /// The canonical status (`NOT_FOUND`, `ALREADY_EXISTS`, ...).
    pub status: &'static str,
    /// Compute Engine's reason (`notFound`, `alreadyExists`, `invalid`, ...).
    pub reason: &'static str,
}

impl ApiError {
    fn new(code: u16, status: &'static str, reason: &'static str, message: String) -> Self {
        ApiError {
            code,
            message,
            status,
            reason,
        }
    }

    /// 400 INVALID_ARGUMENT.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(400, "INVALID_ARGUMENT", "invalid", message.into())
    }

    /// 404 NOT_FOUND.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "NOT_FOUND", "notFound", message.into())
    }

    /// 409 ALREADY_EXISTS.
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(409, "ALREADY_EXISTS", "alreadyExists", message.into())
    }

    /// 412 for a stale fingerprint.
    pub fn fingerprint() -> Self {
        Self::new(
            412,
            "FAILED_PRECONDITION",
            "conditionNotMet",
            "Supplied fingerprint does not match current metadata fingerprint.".into(),
        )
    }

    /// 401: no or a wrong access token.
    pub fn unauthenticated() -> Self {
        Self::new(
            401,
            "UNAUTHENTICATED",
            "required",
            "Request is missing required authentication credential. Expected OAuth 2 access \
             token, login cookie or other valid authentication credential."
                .into(),
        )
    }

    /// 403 for a project the caller cannot see.
    pub fn denied(message: impl Into<String>) -> Self {
        Self::new(403, "PERMISSION_DENIED", "forbidden", message.into())
    }

    /// 404 for a method the simulated cloud does not serve (names what was asked).
    pub fn unsupported(method: &str, path: &str) -> Self {
        Self::new(
            404,
            "NOT_FOUND",
            "notFound",
            format!("The simulated Google Cloud does not serve {method} {path}"),
        )
    }

    /// 500 for a failure inside the simulation (a cluster that could not start).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(500, "INTERNAL", "backendError", message.into())
    }

    /// The JSON body: Google's `{"error": {...}}`, with Compute Engine's `errors` list too.
    pub fn body(&self) -> Value {
        json!({"error": {
            "code": self.code,
            "message": self.message,
            "errors": [{"message": self.message, "domain": "global", "reason": self.reason}],
            "status": self.status,
        }})
    }
}

/// Handler results.
pub type ApiResult<T = Value> = Result<T, ApiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn body_has_the_fields_both_api_families_read() {
        let b = ApiError::conflict("Already exists: projects/p/zones/z/clusters/c.").body();
        assert_eq!(b["error"]["code"], 409);
        assert_eq!(b["error"]["status"], "ALREADY_EXISTS");
        assert_eq!(b["error"]["errors"][0]["reason"], "alreadyExists");
        assert_eq!(
            b["error"]["message"],
            "Already exists: projects/p/zones/z/clusters/c."
        );
    }
}
