//! One API request as kube steps send it: sent again after transient failures, and summarized
//! without object data when it fails for good.

use std::future::Future;
use std::time::Duration;

use meshbook_engine::run::executor::Permanence;

/// A failed API request, summarized without any object data: HTTP code, reason and the
/// server's message.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{summary}")]
pub(crate) struct ApiFailure {
    /// The HTTP status code, for answers from the server.
    pub(crate) code: Option<u16>,
    /// The Kubernetes reason (`NotFound`, `Conflict`, ...), when the server gave one.
    pub(crate) reason: String,
    summary: String,
}

impl ApiFailure {
    /// Summarizes a kube error; `quiet` leaves out the server's message (for requests whose
    /// answer may echo secret data).
    pub(crate) fn new(error: &kube::Error, quiet: bool) -> ApiFailure {
        match error {
            kube::Error::Api(status) => {
                let summary = if quiet || status.message.is_empty() {
                    format!("{} ({})", status.reason, status.code)
                } else {
                    format!("{} ({} {})", status.message, status.code, status.reason)
                };
                ApiFailure {
                    code: Some(status.code),
                    reason: status.reason.clone(),
                    summary,
                }
            }
            other => ApiFailure {
                code: None,
                reason: String::new(),
                summary: other.to_string(),
            },
        }
    }

    /// Whether sending the request again can help: throttling, server errors, timeouts and
    /// broken connections may pass; a refusal (403 Forbidden, 422 Invalid, ...) will not. A
    /// missing object (404) or a lost race (409) may be mended by time or by another step.
    pub(crate) fn permanence(&self) -> Permanence {
        match self.code {
            None | Some(404 | 408 | 409 | 429 | 500..) => Permanence::Transient,
            Some(_) => Permanence::Permanent,
        }
    }

    /// Whether the request lost a race with another writer.
    pub(crate) fn is_conflict(&self) -> bool {
        self.code == Some(409)
    }
}

impl From<kube::Error> for ApiFailure {
    fn from(error: kube::Error) -> Self {
        ApiFailure::new(&error, false)
    }
}

/// Whether a failed request may succeed when sent again unchanged: server errors, throttling
/// and broken connections. kube's own retry layer covers only 429, 503 and 504.
pub(crate) fn is_transient(error: &kube::Error) -> bool {
    match error {
        kube::Error::Api(status) => matches!(status.code, 429 | 500 | 502 | 503 | 504),
        kube::Error::HyperError(_) | kube::Error::Service(_) | kube::Error::ReadEvents(_) => true,
        _ => false,
    }
}

const RETRIES: u32 = 6;

/// Runs one API request, sending it again after transient failures with a short backoff.
pub(crate) async fn retrying<T, F, Fut>(mut request: F) -> Result<T, kube::Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, kube::Error>>,
{
    let mut delay = Duration::from_millis(50);
    let mut attempt = 0;
    loop {
        match request().await {
            Err(e) if attempt < RETRIES && is_transient(&e) => {
                attempt += 1;
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(2));
            }
            other => return other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transient_failures_are_the_retryable_ones() {
        let status = |code| {
            kube::Error::Api(Box::new(kube::core::Status {
                code,
                ..kube::core::Status::default()
            }))
        };
        assert!(is_transient(&status(500)));
        assert!(is_transient(&status(429)));
        assert!(!is_transient(&status(404)));
        assert!(!is_transient(&status(409)));
        assert_eq!(ApiFailure::from(status(404)).code, Some(404));
        let permanence = |code| ApiFailure::from(status(code)).permanence();
        assert_eq!(permanence(403), Permanence::Permanent);
        assert_eq!(permanence(422), Permanence::Permanent);
        assert_eq!(permanence(429), Permanence::Transient);
        assert_eq!(permanence(503), Permanence::Transient);
        let dropped = kube::Error::Service("connection reset".into());
        assert_eq!(
            ApiFailure::from(dropped).permanence(),
            Permanence::Transient
        );
    }
}
