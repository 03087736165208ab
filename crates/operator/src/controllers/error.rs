//! Errors of a reconcile, and the one place that turns each into a condition (reason, message)
//! and a retry schedule. Messages are built from typed, redacted errors: an API body or a URL that
//! might carry a token never reaches a condition, an event or a log line.

use std::time::Duration;

use airbyte_client::{ApiError, Endpoint};
use embedded_crds::conditions::{Outcome, Reason};

/// Failures while acting. Expected situations (a missing reference, a conflict) are not errors:
/// the plan functions turn them into an [`Outcome`] directly.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Airbyte(#[from] ApiError),
    #[error("Kubernetes API: {}", kube_summary(.0))]
    Kube(#[from] kube::Error),
    #[error("Secret {namespace}/{name} not found: create it, or fix the reference")]
    SecretNotFound { namespace: String, name: String },
    #[error("Secret {namespace}/{name} has no key {key}: add the key, or fix the reference")]
    SecretKeyNotFound {
        namespace: String,
        name: String,
        key: String,
    },
    #[error("{0}")]
    InvalidConfig(String),
    #[error("{0}")]
    TokenUnavailable(String),
}

/// A Kubernetes error without its body: code and reason only (a body can echo submitted data).
fn kube_summary(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => format!("{} {}", status.code, status.reason),
        kube::Error::HyperError(_) | kube::Error::Service(_) => "connection failed".into(),
        kube::Error::SerdeError(_) => "unexpected answer".into(),
        _ => "request failed".into(),
    }
}

impl Error {
    /// The condition this error leaves the object in.
    pub fn outcome(&self, what: &str) -> Outcome {
        match self {
            Error::Airbyte(error) => airbyte_outcome(error, what),
            Error::Kube(_) => Outcome::in_progress(Reason::KubernetesError, self.to_string()),
            Error::SecretNotFound { .. } => {
                Outcome::stalled(Reason::SecretNotFound, self.to_string())
            }
            Error::SecretKeyNotFound { .. } => {
                Outcome::stalled(Reason::SecretKeyNotFound, self.to_string())
            }
            Error::InvalidConfig(_) => Outcome::stalled(Reason::InvalidConfig, self.to_string()),
            Error::TokenUnavailable(_) => {
                Outcome::in_progress(Reason::WorkspaceNotReady, self.to_string())
            }
        }
    }

    /// Transient: retry with backoff. Permanent: wait for a change (and retry slowly).
    pub fn is_transient(&self) -> bool {
        match self {
            Error::Airbyte(error) => {
                error.is_transient() || matches!(error, ApiError::Decode { .. })
            }
            Error::Kube(_) | Error::TokenUnavailable(_) => true,
            _ => false,
        }
    }

    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            Error::Airbyte(error) => error.retry_after(),
            _ => None,
        }
    }

    /// Bounded metric label.
    pub fn metric_label(&self) -> &'static str {
        self.outcome("").reason().as_str()
    }
}

/// Operations on a collection path: a 404 there means the API moved, not that an object is gone.
fn is_collection(endpoint: Endpoint) -> bool {
    matches!(
        endpoint,
        Endpoint::SourcesCreate
            | Endpoint::SourcesList
            | Endpoint::SourceTemplatesList
            | Endpoint::SourceTemplateCreate
            | Endpoint::ConnectionTemplatesList
            | Endpoint::ConnectionTemplateCreate
            | Endpoint::WorkspacesList
            | Endpoint::ScopedTokenCreate
            | Endpoint::WidgetTokenCreate
            | Endpoint::ApplicationToken
            | Endpoint::CronDescribe
    )
}

fn airbyte_outcome(error: &ApiError, what: &str) -> Outcome {
    let message = format!("{what}: {error}");
    match error {
        ApiError::Validation { .. } | ApiError::Rejected { .. } => {
            Outcome::stalled(Reason::ApiRejected, format!("{message}; fix the spec"))
        }
        ApiError::Forbidden { .. } => Outcome::stalled(
            Reason::Forbidden,
            format!(
                "{message}; Airbyte refused access even with fresh credentials: check the operator's Airbyte credentials and organization, or whether the object belongs to another workspace or organization"
            ),
        ),
        ApiError::Unauthorized { .. } => Outcome::stalled(
            Reason::Unauthorized,
            format!("{message}; check the operator's Airbyte credentials"),
        ),
        ApiError::NotFound { endpoint, .. } if is_collection(*endpoint) => Outcome::stalled(
            Reason::ApiEndpointMissing,
            format!(
                "{message}; the Airbyte API at --api-url does not serve this operation: check the URL, or whether the API moved"
            ),
        ),
        ApiError::NotFound { .. } => Outcome::stalled(Reason::NotFound, message),
        ApiError::Config(_) => Outcome::stalled(Reason::InvalidConfig, message),
        ApiError::RateLimited { .. } => Outcome::in_progress(Reason::RateLimited, message),
        ApiError::Server { .. } | ApiError::Transport { .. } | ApiError::Decode { .. } => {
            Outcome::in_progress(Reason::ApiUnavailable, format!("{message}; retrying"))
        }
    }
}

/// Exponential backoff for an object's `attempt`-th consecutive failure, never sooner than the
/// server asked: 2 s, 4 s, 8 s … capped at 5 minutes, with ±20% jitter.
pub fn backoff(attempt: u32, retry_after: Option<Duration>) -> Duration {
    let base = Duration::from_secs(2u64.saturating_pow(attempt.min(16)).min(300));
    let jitter = 0.8 + rand::random::<f64>() * 0.4;
    let delay = base.mul_f64(jitter).min(Duration::from_secs(300));
    retry_after.map_or(delay, |wait| wait.max(delay))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn airbyte_errors_map_to_reasons() {
        let cases: Vec<(ApiError, Reason, bool)> = vec![
            (
                ApiError::from_response(Endpoint::SourcesCreate, 422, br#"{"message":"invalid","errors":[{"field":"body.source_config.host","message":"Field required"}]}"#, None),
                Reason::ApiRejected,
                false,
            ),
            (
                ApiError::from_response(Endpoint::SourceGet, 403, b"{}", None),
                Reason::Forbidden,
                false,
            ),
            (
                ApiError::from_response(Endpoint::SourceGet, 401, b"{}", None),
                Reason::Unauthorized,
                false,
            ),
            (
                ApiError::from_response(Endpoint::SourceGet, 429, b"{}", Some(Duration::from_secs(7))),
                Reason::RateLimited,
                true,
            ),
            (
                ApiError::from_response(Endpoint::SourcesList, 404, b"{}", None),
                Reason::ApiEndpointMissing,
                false,
            ),
            (
                ApiError::from_response(Endpoint::SourceGet, 404, b"{}", None),
                Reason::NotFound,
                false,
            ),
            (
                ApiError::from_response(Endpoint::SourceGet, 503, b"{}", None),
                Reason::ApiUnavailable,
                true,
            ),
        ];
        for (api, reason, transient) in cases {
            let error = Error::from(api);
            assert_eq!(error.outcome("source").reason(), reason, "{error}");
            assert_eq!(error.is_transient(), transient, "{error}");
        }
    }

    #[test]
    fn a_422_message_names_the_field() {
        let error = Error::from(ApiError::from_response(
            Endpoint::SourcesCreate,
            422,
            br#"{"message":"invalid","errors":[{"field":"body.source_config.username","message":"Field required","error_code":"missing"}]}"#,
            None,
        ));
        let outcome = error.outcome("creating source stripe");
        assert!(outcome.is_stalled());
        assert!(
            outcome
                .message()
                .contains("body.source_config.username: Field required"),
            "{}",
            outcome.message()
        );
    }

    #[test]
    fn backoff_grows_is_capped_and_honours_retry_after() {
        assert!(backoff(0, None) <= Duration::from_millis(1200));
        assert!(backoff(3, None) >= Duration::from_millis(6400));
        assert!(backoff(30, None) <= Duration::from_secs(300));
        assert!(backoff(0, Some(Duration::from_secs(30))) >= Duration::from_secs(30));
    }

    #[test]
    fn secret_errors_are_stalled_with_a_fix() {
        let error = Error::SecretKeyNotFound {
            namespace: "tenant-a".into(),
            name: "stripe".into(),
            key: "api_key".into(),
        };
        let outcome = error.outcome("source");
        assert_eq!(outcome.reason(), Reason::SecretKeyNotFound);
        assert_eq!(
            outcome.message(),
            "Secret tenant-a/stripe has no key api_key: add the key, or fix the reference"
        );
    }
}
