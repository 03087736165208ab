//! Error answers in the shape Airbyte's FastAPI services use, and strict request-body parsing:
//! unknown fields, missing fields and wrong types are a 422 naming the field, as the real server
//! answers.

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde_json::json;

use crate::airbyte::error::{FieldError, LocPart};

/// An error answer of the simulated API.
#[derive(Debug)]
pub enum SimError {
    Unauthorized,
    Forbidden,
    NotFound(String),
    Validation(Vec<FieldError>),
    Status {
        status: StatusCode,
        detail: String,
        retry_after: Option<u64>,
    },
}

impl SimError {
    pub fn not_found(what: &str) -> SimError {
        SimError::NotFound(format!("{what} not found"))
    }

    pub fn field(loc: &[&str], msg: impl Into<String>, kind: &str) -> SimError {
        SimError::Validation(vec![FieldError {
            loc: loc
                .iter()
                .map(|part| LocPart::Name(part.to_string()))
                .collect(),
            msg: msg.into(),
            kind: Some(kind.into()),
        }])
    }

    pub fn status(&self) -> StatusCode {
        match self {
            SimError::Unauthorized => StatusCode::UNAUTHORIZED,
            SimError::Forbidden => StatusCode::FORBIDDEN,
            SimError::NotFound(_) => StatusCode::NOT_FOUND,
            SimError::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            SimError::Status { status, .. } => *status,
        }
    }
}

impl IntoResponse for SimError {
    fn into_response(self) -> Response {
        let status = self.status();
        let (body, retry_after) = match self {
            SimError::Unauthorized => (
                json!({"detail": "Invalid authentication credentials"}),
                None,
            ),
            SimError::Forbidden => (json!({"detail": "Access denied to this resource"}), None),
            SimError::NotFound(detail) => (json!({"detail": detail}), None),
            SimError::Validation(errors) => (json!({"detail": errors}), None),
            SimError::Status {
                detail,
                retry_after,
                ..
            } => (json!({"detail": detail}), retry_after),
        };
        let mut headers = HeaderMap::new();
        if let Some(seconds) = retry_after {
            headers.insert("retry-after", HeaderValue::from(seconds));
        }
        (status, headers, Json(body)).into_response()
    }
}

/// Parses a JSON body into `T` strictly, reporting the first problem FastAPI-style.
pub fn parse_body<T: DeserializeOwned>(body: &[u8]) -> Result<T, SimError> {
    if body.is_empty() {
        return Err(SimError::field(
            &["body"],
            "field required",
            "value_error.missing",
        ));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(&mut deserializer) {
        Ok(value) => Ok(value),
        Err(error) => {
            let mut loc = vec![LocPart::Name("body".into())];
            for segment in error.path().iter() {
                match segment {
                    serde_path_to_error::Segment::Seq { index } => {
                        loc.push(LocPart::Index(*index as u64))
                    }
                    serde_path_to_error::Segment::Map { key }
                    | serde_path_to_error::Segment::Enum { variant: key } => {
                        loc.push(LocPart::Name(key.clone()))
                    }
                    serde_path_to_error::Segment::Unknown => {}
                }
            }
            let message = error.inner().to_string();
            let (msg, kind) = if let Some(field) = quoted(&message, "missing field `") {
                loc.push(LocPart::Name(field));
                ("field required".to_string(), "value_error.missing")
            } else if let Some(field) = quoted(&message, "unknown field `") {
                if !matches!(loc.last(), Some(LocPart::Name(last)) if *last == field) {
                    loc.push(LocPart::Name(field));
                }
                (
                    "extra fields not permitted".to_string(),
                    "value_error.extra",
                )
            } else if error.inner().is_syntax() || error.inner().is_eof() {
                ("invalid JSON body".to_string(), "value_error.jsondecode")
            } else {
                (strip_position(&message), "type_error")
            };
            Err(SimError::Validation(vec![FieldError {
                loc,
                msg,
                kind: Some(kind.into()),
            }]))
        }
    }
}

fn quoted(message: &str, prefix: &str) -> Option<String> {
    let start = message.find(prefix)? + prefix.len();
    let end = message[start..].find('`')? + start;
    Some(message[start..end].to_string())
}

/// serde_json appends "at line 1 column 42"; FastAPI does not.
fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(index) => message[..index].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::airbyte::models::{CreateSource, ScopedTokenRequest};

    fn loc_and_msg(result: Result<impl std::fmt::Debug, SimError>) -> (String, String) {
        match result {
            Err(SimError::Validation(errors)) => (errors[0].path(), errors[0].msg.clone()),
            other => panic!("expected 422, got {other:?}"),
        }
    }

    #[test]
    fn a_missing_field_is_named() {
        let result = parse_body::<ScopedTokenRequest>(br#"{"region_id": "x"}"#);
        assert_eq!(
            loc_and_msg(result),
            ("body.workspace_name".into(), "field required".into())
        );
    }

    #[test]
    fn an_unknown_field_is_refused() {
        let result =
            parse_body::<ScopedTokenRequest>(br#"{"workspace_name": "a", "workspace": "b"}"#);
        assert_eq!(
            loc_and_msg(result),
            ("body.workspace".into(), "extra fields not permitted".into())
        );
    }

    #[test]
    fn a_wrong_type_is_located() {
        let result = parse_body::<CreateSource>(
            br#"{"name": "s", "workspace_id": "w", "source_template_id": "t", "source_config": [], "selected_connection_template_tags": "x"}"#,
        );
        let (loc, _) = loc_and_msg(result);
        assert_eq!(loc, "body.source_config");
    }

    #[test]
    fn broken_json_is_a_422() {
        let (loc, msg) = loc_and_msg(parse_body::<ScopedTokenRequest>(b"{nope"));
        assert_eq!((loc.as_str(), msg.as_str()), ("body", "invalid JSON body"));
    }
}
