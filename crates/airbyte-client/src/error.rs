//! Errors of the Airbyte Embedded API client.
//!
//! Each variant carries what a controller needs to write a useful condition: the HTTP status, the
//! API's own message and, for a refused request, every field it names (`body.source_config.host`),
//! and for throttling how long the server asked us to wait. Error bodies are read in every shape
//! Airbyte has used: the reference's `{"message", "errors": [{"field", "message", "error_code"}]}`,
//! FastAPI's `{"detail": ...}`, and Airbyte's own client's `userPresentableMessage` / `error`.
//! Messages never hold a token: request bodies and headers are not kept, and response details are
//! truncated.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use super::Endpoint;

/// Longest API detail kept in an error (a condition message should stay readable).
const MAX_DETAIL: usize = 400;

#[derive(Clone, Debug, thiserror::Error)]
pub enum ApiError {
    /// 401, after a freshly minted organization token was refused too (or a scoped token).
    #[error("{endpoint}: Airbyte refused the credentials (401): {detail}")]
    Unauthorized { endpoint: Endpoint, detail: String },
    /// 403: the reference's answer for a bad or expired token as well as for an object the token
    /// may not touch (a source of another workspace).
    #[error("{endpoint}: access denied (403): {detail}")]
    Forbidden { endpoint: Endpoint, detail: String },
    #[error("{endpoint}: not found (404): {detail}")]
    NotFound { endpoint: Endpoint, detail: String },
    /// 400 or 422: the request does not fit; one entry per field the answer names.
    #[error("{endpoint}: Airbyte rejected the request ({status}): {}", FieldErrors(.detail, .errors))]
    Validation {
        endpoint: Endpoint,
        status: u16,
        detail: String,
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
            ApiError::Validation { status, .. } => Some(*status),
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

    /// Whether the answer refused the credentials (401 or 403).
    pub fn is_auth_failure(&self) -> bool {
        matches!(
            self,
            ApiError::Unauthorized { .. } | ApiError::Forbidden { .. }
        )
    }

    /// Whether the server does not serve the path or method at all (404 or 405): an endpoint of
    /// another API revision.
    pub fn is_missing_endpoint(&self) -> bool {
        matches!(
            self,
            ApiError::NotFound { .. } | ApiError::Rejected { status: 405, .. }
        )
    }

    /// The fields a refused request was refused for (empty for other errors).
    pub fn fields(&self) -> &[FieldError] {
        match self {
            ApiError::Validation { errors, .. } => errors,
            _ => &[],
        }
    }

    /// Builds the error for a non-success answer from its status, body and `Retry-After`.
    pub fn from_response(
        endpoint: Endpoint,
        status: u16,
        body: &[u8],
        retry_after: Option<Duration>,
    ) -> ApiError {
        let (detail, errors) = parse_body(body);
        let detail = truncate(&detail);
        match status {
            401 => ApiError::Unauthorized { endpoint, detail },
            403 => ApiError::Forbidden { endpoint, detail },
            404 => ApiError::NotFound { endpoint, detail },
            400 | 422 => ApiError::Validation {
                endpoint,
                status,
                detail,
                errors,
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

/// The message and the field errors of an error body, in whichever shape it came.
fn parse_body(body: &[u8]) -> (String, Vec<FieldError>) {
    let raw = || String::from_utf8_lossy(body).trim().to_string();
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return (raw(), Vec::new());
    };
    let text = |value: &Value, keys: &[&str]| {
        keys.iter()
            .find_map(|key| value.get(*key).and_then(Value::as_str))
            .map(str::to_string)
    };
    let items = value
        .get("errors")
        .and_then(Value::as_array)
        .filter(|items| !items.is_empty())
        .or_else(|| value.get("detail").and_then(Value::as_array));
    let errors: Vec<FieldError> = items
        .into_iter()
        .flatten()
        .map(|item| FieldError {
            field: field_of(item),
            message: text(item, &["userPresentableMessage", "message", "msg", "error"])
                .unwrap_or_else(|| item.to_string()),
            code: text(item, &["error_code", "type", "code"]),
        })
        .collect();
    let message = text(&value, &["message", "detail", "error"]).unwrap_or_else(|| {
        if errors.is_empty() {
            raw()
        } else {
            String::new()
        }
    });
    (message, errors)
}

/// `field` (`body.source_config.host`) or FastAPI's `loc` list joined with dots.
fn field_of(item: &Value) -> Option<String> {
    if let Some(field) = item.get("field").and_then(Value::as_str) {
        return Some(field.to_string());
    }
    let loc = item.get("loc")?.as_array()?;
    Some(
        loc.iter()
            .map(|part| match part {
                Value::String(name) => name.clone(),
                other => other.to_string(),
            })
            .collect::<Vec<_>>()
            .join("."),
    )
}

/// One field a refused request was refused for.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldError {
    /// `body.source_config.host` (`None` when the answer names no field).
    pub field: Option<String>,
    pub message: String,
    /// `missing`, `value_error`, ... when the answer gives one.
    pub code: Option<String>,
}

struct FieldErrors<'a>(&'a str, &'a [FieldError]);

impl fmt::Display for FieldErrors<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.1.is_empty() {
            return f.write_str(if self.0.is_empty() {
                "no details given"
            } else {
                self.0
            });
        }
        for (i, error) in self.1.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            match error.field.as_deref().filter(|f| !f.is_empty()) {
                Some(field) => write!(f, "{field}: {}", truncate(&error.message))?,
                None => f.write_str(&truncate(&error.message))?,
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
    fn a_refusal_in_the_current_shape_names_every_field() {
        let body = br#"{"message":"Request validation failed","errors":[{"field":"body.source_config.host","message":"Field required","error_code":"missing"},{"field":"body.tags.0","message":"Input should be a valid string","error_code":"string_type"}]}"#;
        let error = ApiError::from_response(Endpoint::SourcesCreate, 422, body, None);
        assert_eq!(
            error.to_string(),
            "sources_create: Airbyte rejected the request (422): body.source_config.host: Field required; body.tags.0: Input should be a valid string"
        );
        assert_eq!(error.fields()[0].code.as_deref(), Some("missing"));
        assert!(!error.is_transient());
    }

    #[test]
    fn fastapi_details_and_airbytes_own_client_keys_are_read_the_same_way() {
        let cases: [(&[u8], &str); 5] = [
            (br#"{"detail":[{"loc":["body","name"],"msg":"field required","type":"value_error.missing"}]}"#, "body.name: field required"),
            (br#"{"detail":"Access denied to this resource"}"#, "Access denied to this resource"),
            (br#"{"errors":[{"userPresentableMessage":"Bad host","message":"x"}]}"#, "Bad host"),
            (br#"{"error":"boom"}"#, "boom"),
            (b"plain text", "plain text"),
        ];
        for (body, expected) in cases {
            let error = ApiError::from_response(Endpoint::SourcesCreate, 400, body, None);
            assert!(error.to_string().ends_with(expected), "{error}");
        }
    }

    #[test]
    fn status_codes_map_to_variants() {
        let body = br#"{"message":"Access denied","errors":[]}"#;
        type Check = fn(&ApiError) -> bool;
        let cases: [(u16, Check); 8] = [
            (400, |e| {
                matches!(e, ApiError::Validation { status: 400, .. })
            }),
            (401, |e| {
                matches!(e, ApiError::Unauthorized { .. }) && e.is_auth_failure()
            }),
            (403, |e| {
                matches!(e, ApiError::Forbidden { .. }) && e.is_auth_failure()
            }),
            (404, |e| e.is_not_found() && e.is_missing_endpoint()),
            (405, |e| e.is_missing_endpoint()),
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
