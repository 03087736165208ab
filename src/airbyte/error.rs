//! Errors of the Airbyte Embedded API client.
//!
//! Each variant carries what a controller needs to write a useful condition: the HTTP status, the
//! API's own `detail` (for a 422 every `loc` and `msg`) and, for throttling, how long the server asked
//! us to wait. Messages never hold a token: request bodies and headers are not kept, and response
//! details are truncated.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::Endpoint;

/// Longest API detail kept in an error (a condition message should stay readable).
const MAX_DETAIL: usize = 400;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 401 even after a freshly minted organization token, or a scoped token that was refused.
    #[error("{endpoint}: Airbyte refused the credentials (401): {detail}")]
    Unauthorized { endpoint: Endpoint, detail: String },
    /// 403: a scoped token used outside its workspace, or a resource of another organization.
    #[error("{endpoint}: access denied (403): {detail}")]
    Forbidden { endpoint: Endpoint, detail: String },
    #[error("{endpoint}: not found (404): {detail}")]
    NotFound { endpoint: Endpoint, detail: String },
    /// 422 in FastAPI's shape: one entry per offending field.
    #[error("{endpoint}: Airbyte rejected the request (422): {}", FieldErrors(.errors))]
    Validation {
        endpoint: Endpoint,
        errors: Vec<FieldError>,
    },
    /// Any other 4xx: permanent until the request changes.
    #[error("{endpoint}: Airbyte rejected the request ({status}): {detail}")]
    Rejected {
        endpoint: Endpoint,
        status: u16,
        detail: String,
    },
    /// 429 after the client's own retries ran out (or the server asked for a longer wait than the
    /// client waits inline).
    #[error("{endpoint}: rate limited by Airbyte (429){}", RetryAfter(*.retry_after))]
    RateLimited {
        endpoint: Endpoint,
        retry_after: Option<Duration>,
    },
    /// 5xx after the client's own retries ran out.
    #[error("{endpoint}: Airbyte server error ({status}): {detail}")]
    Server {
        endpoint: Endpoint,
        status: u16,
        detail: String,
        retry_after: Option<Duration>,
    },
    /// The request never got an HTTP answer (connection refused, reset, timeout).
    #[error("{endpoint}: could not reach the Airbyte API: {message}")]
    Transport { endpoint: Endpoint, message: String },
    /// The server answered 2xx with a body the client cannot read.
    #[error("{endpoint}: unexpected response from the Airbyte API: {message}")]
    Decode { endpoint: Endpoint, message: String },
    /// The client is configured in a way it refuses to use (for example a plain-http remote URL).
    #[error("Airbyte client configuration: {0}")]
    Config(String),
}

impl ApiError {
    /// The HTTP status, when there was one.
    pub fn status(&self) -> Option<u16> {
        match self {
            ApiError::Unauthorized { .. } => Some(401),
            ApiError::Forbidden { .. } => Some(403),
            ApiError::NotFound { .. } => Some(404),
            ApiError::Validation { .. } => Some(422),
            ApiError::Rejected { status, .. } | ApiError::Server { status, .. } => Some(*status),
            ApiError::RateLimited { .. } => Some(429),
            ApiError::Transport { .. } | ApiError::Decode { .. } | ApiError::Config(_) => None,
        }
    }

    /// Worth retrying later without any change on our side: throttling, server trouble, network.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            ApiError::RateLimited { .. } | ApiError::Server { .. } | ApiError::Transport { .. }
        )
    }

    /// The wait the server asked for, if any.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ApiError::RateLimited { retry_after, .. } | ApiError::Server { retry_after, .. } => {
                *retry_after
            }
            _ => None,
        }
    }

    pub fn is_not_found(&self) -> bool {
        matches!(self, ApiError::NotFound { .. })
    }

    pub fn endpoint(&self) -> Option<Endpoint> {
        match self {
            ApiError::Unauthorized { endpoint, .. }
            | ApiError::Forbidden { endpoint, .. }
            | ApiError::NotFound { endpoint, .. }
            | ApiError::Validation { endpoint, .. }
            | ApiError::Rejected { endpoint, .. }
            | ApiError::RateLimited { endpoint, .. }
            | ApiError::Server { endpoint, .. }
            | ApiError::Transport { endpoint, .. }
            | ApiError::Decode { endpoint, .. } => Some(*endpoint),
            ApiError::Config(_) => None,
        }
    }

    /// Builds the error for a non-success answer from its status, body and `Retry-After`.
    pub fn from_response(
        endpoint: Endpoint,
        status: u16,
        body: &[u8],
        retry_after: Option<Duration>,
    ) -> ApiError {
        let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
        let detail = match &parsed {
            Some(ErrorBody {
                detail: Detail::Message(message),
            }) => truncate(message),
            Some(ErrorBody {
                detail: Detail::Fields(fields),
            }) => truncate(&FieldErrors(fields).to_string()),
            None => truncate(String::from_utf8_lossy(body).trim()),
        };
        match status {
            401 => ApiError::Unauthorized { endpoint, detail },
            403 => ApiError::Forbidden { endpoint, detail },
            404 => ApiError::NotFound { endpoint, detail },
            422 => ApiError::Validation {
                endpoint,
                errors: match parsed {
                    Some(ErrorBody {
                        detail: Detail::Fields(fields),
                    }) => fields,
                    _ => vec![FieldError {
                        loc: Vec::new(),
                        msg: detail,
                        kind: None,
                    }],
                },
            },
            429 => ApiError::RateLimited {
                endpoint,
                retry_after,
            },
            500..=599 => ApiError::Server {
                endpoint,
                status,
                detail,
                retry_after,
            },
            _ => ApiError::Rejected {
                endpoint,
                status,
                detail,
            },
        }
    }
}

/// One entry of a FastAPI validation error.
#[derive(Clone, Debug, PartialEq, Deserialize, serde::Serialize)]
pub struct FieldError {
    #[serde(default)]
    pub loc: Vec<LocPart>,
    pub msg: String,
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

impl FieldError {
    /// `body.source_config.host` style path.
    pub fn path(&self) -> String {
        self.loc
            .iter()
            .map(|part| part.to_string())
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// FastAPI `loc` entries are field names or list indexes.
#[derive(Clone, Debug, PartialEq, Deserialize, serde::Serialize)]
#[serde(untagged)]
pub enum LocPart {
    Index(u64),
    Name(String),
}

impl fmt::Display for LocPart {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocPart::Index(i) => write!(f, "{i}"),
            LocPart::Name(name) => f.write_str(name),
        }
    }
}

struct FieldErrors<'a>(&'a [FieldError]);

impl fmt::Display for FieldErrors<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("no details given");
        }
        for (i, error) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            let path = error.path();
            if path.is_empty() {
                f.write_str(&error.msg)?;
            } else {
                write!(f, "{path}: {}", error.msg)?;
            }
        }
        Ok(())
    }
}

struct RetryAfter(Option<Duration>);

impl fmt::Display for RetryAfter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(wait) => write!(f, "; retry after {}s", wait.as_secs_f64().ceil()),
            None => Ok(()),
        }
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    detail: Detail,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Detail {
    Message(String),
    Fields(Vec<FieldError>),
}

fn truncate(text: &str) -> String {
    if text.len() <= MAX_DETAIL {
        return text.to_string();
    }
    let mut end = MAX_DETAIL;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_422_names_every_field_and_message() {
        let body = br#"{"detail":[{"loc":["body","source_config","host"],"msg":"field required","type":"value_error.missing"},{"loc":["body","tags",0],"msg":"str type expected"}]}"#;
        let error = ApiError::from_response(Endpoint::SourcesCreate, 422, body, None);
        assert_eq!(
            error.to_string(),
            "sources_create: Airbyte rejected the request (422): body.source_config.host: field required; body.tags.0: str type expected"
        );
        assert!(!error.is_transient());
    }

    #[test]
    fn status_codes_map_to_variants() {
        let body = br#"{"detail":"Access denied to this resource"}"#;
        type Check = fn(&ApiError) -> bool;
        let cases: [(u16, Check); 6] = [
            (401, |e| matches!(e, ApiError::Unauthorized { .. })),
            (403, |e| matches!(e, ApiError::Forbidden { .. })),
            (404, |e| e.is_not_found()),
            (409, |e| matches!(e, ApiError::Rejected { status: 409, .. })),
            (429, |e| {
                matches!(e, ApiError::RateLimited { .. }) && e.is_transient()
            }),
            (503, |e| {
                matches!(e, ApiError::Server { status: 503, .. }) && e.is_transient()
            }),
        ];
        for (status, check) in cases {
            let error = ApiError::from_response(Endpoint::SourceGet, status, body, None);
            assert!(check(&error), "{status}: {error:?}");
            assert_eq!(error.status(), Some(status));
        }
    }

    #[test]
    fn a_body_that_is_not_json_is_kept_short() {
        let body = "x".repeat(5000);
        let error = ApiError::from_response(Endpoint::SourceGet, 500, body.as_bytes(), None);
        assert!(error.to_string().len() < 600);
    }

    #[test]
    fn retry_after_is_part_of_the_message() {
        let error = ApiError::from_response(
            Endpoint::SourcesCreate,
            429,
            b"",
            Some(Duration::from_secs(3)),
        );
        assert!(error.to_string().ends_with("retry after 3s"), "{error}");
        assert_eq!(error.retry_after(), Some(Duration::from_secs(3)));
    }
}
