//! Error answers of the simulated API.
//!
//! A handler returns a [`SimError`]; the request pipeline renders it in the shape the simulator
//! was started with: the reference's `ApiErrorResponse` (`{"message", "errors": [{"field",
//! "message", "error_code"}]}`, the default) or FastAPI's `{"detail": …}` of older Airbyte prose.
//! Authentication failures answer 403 (what the reference documents) or 401 (an option).

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// One problem with a request, located like Pydantic does (`["body", "source_config", "host"]`).
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub loc: Vec<String>,
    pub message: String,
    pub code: String,
}

impl Problem {
    pub fn new(loc: &[&str], message: impl Into<String>, code: &str) -> Problem {
        Problem {
            loc: loc.iter().map(|part| part.to_string()).collect(),
            message: message.into(),
            code: code.to_string(),
        }
    }

    /// `body.source_config.host`
    pub fn field(&self) -> String {
        self.loc.join(".")
    }
}

/// An error answer of the simulated API.
#[derive(Clone, Debug, PartialEq)]
pub enum SimError {
    /// No token, a bad token, or the wrong kind of token.
    Unauthenticated,
    /// A valid token that may not act on this object.
    Forbidden(String),
    NotFound(String),
    /// The request does not fit the reference (422).
    Validation(Vec<Problem>),
    /// Any other status (409, 429, injected faults).
    Status {
        status: StatusCode,
        message: String,
        retry_after: Option<u64>,
    },
}

impl SimError {
    pub fn not_found(what: &str) -> SimError {
        SimError::NotFound(format!("{what} not found"))
    }

    pub fn forbidden(why: impl Into<String>) -> SimError {
        SimError::Forbidden(why.into())
    }

    pub fn field(loc: &[&str], message: impl Into<String>, code: &str) -> SimError {
        SimError::Validation(vec![Problem::new(loc, message, code)])
    }

    pub fn conflict(message: impl Into<String>) -> SimError {
        SimError::Status {
            status: StatusCode::CONFLICT,
            message: message.into(),
            retry_after: None,
        }
    }
}

/// How error bodies look.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ErrorShape {
    /// `ApiErrorResponse` of the current reference.
    #[default]
    Current,
    /// FastAPI's `{"detail": …}` of older prose.
    FastApi,
}

/// Which status an authentication failure gets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AuthFailure {
    /// 403, the only failure status the reference documents for a bad token.
    #[default]
    Forbidden,
    /// 401, as older prose and generic HTTP practice have it.
    Unauthorized,
}

/// The rendered answer: status, body, and a `Retry-After` when there is one.
pub fn render(error: &SimError, shape: ErrorShape, auth: AuthFailure) -> Response {
    let (status, message, problems, retry_after) = parts(error, auth);
    let body = match shape {
        ErrorShape::Current => json!({
            "message": message,
            "errors": problems.iter().map(|p| json!({
                "field": p.field(),
                "message": p.message,
                "error_code": p.code,
            })).collect::<Vec<Value>>(),
        }),
        ErrorShape::FastApi if problems.is_empty() => json!({"detail": message}),
        ErrorShape::FastApi => json!({
            "detail": problems.iter().map(|p| json!({
                "loc": p.loc,
                "msg": p.message,
                "type": p.code,
            })).collect::<Vec<Value>>(),
        }),
    };
    let mut headers = HeaderMap::new();
    if let Some(seconds) = retry_after {
        headers.insert("retry-after", HeaderValue::from(seconds));
    }
    (status, headers, Json(body)).into_response()
}

fn parts(error: &SimError, auth: AuthFailure) -> (StatusCode, String, Vec<Problem>, Option<u64>) {
    match error {
        SimError::Unauthenticated => (
            match auth {
                AuthFailure::Forbidden => StatusCode::FORBIDDEN,
                AuthFailure::Unauthorized => StatusCode::UNAUTHORIZED,
            },
            "Invalid authentication credentials".into(),
            Vec::new(),
            None,
        ),
        SimError::Forbidden(why) => (StatusCode::FORBIDDEN, why.clone(), Vec::new(), None),
        SimError::NotFound(what) => (StatusCode::NOT_FOUND, what.clone(), Vec::new(), None),
        SimError::Validation(problems) => (
            StatusCode::UNPROCESSABLE_ENTITY,
            "Request validation failed".into(),
            problems.clone(),
            None,
        ),
        SimError::Status {
            status,
            message,
            retry_after,
        } => (*status, message.clone(), Vec::new(), *retry_after),
    }
}

/// Handlers return errors as a response carrying the error itself; the pipeline renders it in
/// the configured shape (see [`render`]).
impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
        response.extensions_mut().insert(self);
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn body(response: Response) -> (u16, Value) {
        let status = response.status().as_u16();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 16)
            .await
            .unwrap();
        (status, serde_json::from_slice(&bytes).unwrap())
    }

    #[tokio::test]
    async fn a_validation_error_in_the_current_shape_names_each_field() {
        let error = SimError::Validation(vec![Problem::new(
            &["body", "workspace_id"],
            "Field required",
            "missing",
        )]);
        let (status, value) =
            body(render(&error, ErrorShape::Current, AuthFailure::Forbidden)).await;
        assert_eq!(status, 422);
        assert_eq!(
            value["errors"][0],
            json!({"field": "body.workspace_id", "message": "Field required", "error_code": "missing"})
        );
    }

    #[tokio::test]
    async fn the_fastapi_shape_keeps_loc_as_a_list() {
        let error = SimError::field(&["body", "name"], "Field required", "missing");
        let (_, value) = body(render(&error, ErrorShape::FastApi, AuthFailure::Forbidden)).await;
        assert_eq!(value["detail"][0]["loc"], json!(["body", "name"]));
        let (_, value) = body(render(
            &SimError::not_found("Source"),
            ErrorShape::FastApi,
            AuthFailure::Forbidden,
        ))
        .await;
        assert_eq!(value, json!({"detail": "Source not found"}));
    }

    #[tokio::test]
    async fn authentication_failures_are_403_unless_asked_for_401() {
        let forbidden = render(
            &SimError::Unauthenticated,
            ErrorShape::Current,
            AuthFailure::Forbidden,
        );
        assert_eq!(forbidden.status(), 403);
        let unauthorized = render(
            &SimError::Unauthenticated,
            ErrorShape::Current,
            AuthFailure::Unauthorized,
        );
        assert_eq!(unauthorized.status(), 401);
    }
}
