//! The path every API request takes before and after its handler, in one place:
//! identify the operation (from the route that matched) → record it (even if the client goes
//! away) → injected latency and faults → the organization's quota → `X-Organization-Id` → the
//! caller's token against the operation's `auth` → the body and query against the reference →
//! handler → error rendering in the configured shape → `Deprecation` header → the answer checked
//! against the reference's response schema (when asked) → record.

use std::sync::Arc;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::Value;

use crate::errors::{SimError, render};
use crate::faults::{RequestRecord, decide, request_key};
use crate::reference::{Auth, Operation};
use crate::state::{Caller, Input, SimState};

/// Largest request or answer body the simulator reads (the API has no large bodies).
const MAX_BODY: usize = 1 << 20;

/// The middleware in front of every route.
pub async fn pipeline(
    State(state): State<Arc<SimState>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().as_str().to_string();
    let template = request
        .extensions()
        .get::<MatchedPath>()
        .map(|m| m.as_str().to_string());
    let found = template
        .as_deref()
        .and_then(|t| state.reference.route(&method, t));
    let Some((operation, deprecated)) = found else {
        return unmatched(&state, &method, request, next).await;
    };
    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    let mut guard = Unanswered::new(
        &state,
        &operation.id,
        &method,
        parts.uri.path(),
        request_key(&bytes),
    );
    let is_write =
        method != "GET" && operation.id != "application_token" && operation.id != "cron_describe";
    let (latency, latency_after, failure) = decide(&state, &operation.id, is_write);
    pause(latency).await;
    let (response, injected) = match failure {
        Some((status, retry_after)) => (injected_fault(status, retry_after), true),
        None => {
            let response = match admit(&state, operation, deprecated, &parts, &bytes) {
                Ok((caller, input)) => {
                    guard.organization(organization_of(&state, &caller, &input));
                    let mut request = Request::from_parts(parts, Body::from(bytes));
                    if let Some(organization) = caller.organization() {
                        request.extensions_mut().insert(organization.clone());
                    }
                    request.extensions_mut().insert(caller);
                    request.extensions_mut().insert(input);
                    next.run(request).await
                }
                Err(error) => {
                    guard.organization(
                        crate::auth::bearer(&parts.headers)
                            .and_then(|token| state.signer.peek_organization(token)),
                    );
                    error.into_response()
                }
            };
            pause(latency_after).await;
            (response, false)
        }
    };
    let mut response = finish(&state, operation, response).await;
    if deprecated {
        response
            .headers_mut()
            .insert("deprecation", HeaderValue::from_static("true"));
    }
    guard.answered(&response, injected);
    response
}

/// The organization a request is for: the caller's, or for the token request the one whose
/// client id it names.
fn organization_of(state: &SimState, caller: &Caller, input: &Input) -> Option<String> {
    match caller.organization() {
        Some(organization) => Some(organization.id.clone()),
        None => input
            .str("client_id")
            .and_then(|client| state.organization_by_client(client))
            .map(|organization| organization.id.clone()),
    }
}

/// Waits out an injected latency (none: no timer at all).
async fn pause(latency: std::time::Duration) {
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
}

/// Not an operation (a wrong method, an unknown or removed path): answered by the fallbacks,
/// recorded as `unmatched`.
async fn unmatched(state: &SimState, method: &str, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_string();
    let mut guard = Unanswered::new(state, "unmatched", method, &path, String::new());
    let response = next.run(request).await;
    guard.answered(&response, false);
    response
}

/// The answer to a call the fault schedule fails.
fn injected_fault(status: u16, retry_after: Option<u64>) -> Response {
    SimError::Status {
        status: StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
        message: format!("injected fault ({status})"),
        retry_after,
    }
    .into_response()
}

/// Everything checked before the handler; the handler gets the checked input.
fn admit(
    state: &SimState,
    operation: &Operation,
    deprecated: bool,
    parts: &axum::http::request::Parts,
    bytes: &Bytes,
) -> Result<(Caller, Input), SimError> {
    if let Err(wait) = state.quota.take() {
        return Err(SimError::Status {
            status: StatusCode::TOO_MANY_REQUESTS,
            message: "the organization's hourly request quota is spent".into(),
            retry_after: Some(wait),
        });
    }
    let caller = state.caller(&parts.headers);
    // The token operation takes no organization header [E].
    if operation.auth != Auth::None {
        state.check_organization_header(&parts.headers, &caller)?;
    }
    let allowed = match operation.auth {
        Auth::None => true,
        Auth::Organization => matches!(caller, Caller::Organization(_)),
        Auth::Scoped => matches!(caller, Caller::Workspace(..)),
        Auth::Either => !matches!(caller, Caller::Anonymous),
    };
    if !allowed {
        return Err(SimError::Unauthenticated);
    }
    let body = if bytes.is_empty() {
        None
    } else {
        Some(
            serde_json::from_slice::<Value>(bytes)
                .map_err(|_| SimError::field(&["body"], "JSON decode error", "json_invalid"))?,
        )
    };
    operation.check_body(body.as_ref(), deprecated)?;
    let query = operation.check_query(parts.uri.query().unwrap_or_default())?;
    Ok((
        caller,
        Input {
            body: body.unwrap_or(Value::Null),
            query,
            deprecated_path: deprecated,
        },
    ))
}

/// Renders a handler's error in the configured shape and, when asked, checks a 200 answer
/// against the reference (a mismatch is the simulator's own defect: 500 and an error log).
async fn finish(state: &SimState, operation: &Operation, response: Response) -> Response {
    if let Some(error) = response.extensions().get::<SimError>() {
        let modes = state.modes();
        return render(error, modes.error_shape, modes.auth_failure);
    }
    if !state.modes().check_responses || response.status() != StatusCode::OK {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_BODY).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    let problems = operation.check_response(&value);
    if !problems.is_empty() {
        let fields: Vec<String> = problems
            .iter()
            .map(|p| format!("{} ({})", p.field(), p.message))
            .collect();
        tracing::error!(operation = %operation.id, problems = ?fields, "the simulator's answer does not match the reference");
        let error = SimError::Status {
            status: StatusCode::INTERNAL_SERVER_ERROR,
            message: format!(
                "simulator defect: the answer of {} does not match the reference: {}",
                operation.id,
                fields.join("; ")
            ),
            retry_after: None,
        };
        return render(
            &error,
            state.modes().error_shape,
            state.modes().auth_failure,
        );
    }
    Response::from_parts(parts, Body::from(bytes))
}

/// Records a request once: when it is answered, or as 499 ("client closed request", nginx's
/// code) when the client went away first (a killed operator still made the request).
struct Unanswered<'a> {
    state: &'a SimState,
    record: Option<RequestRecord>,
}

impl<'a> Unanswered<'a> {
    fn new(state: &'a SimState, operation: &str, method: &str, path: &str, key: String) -> Self {
        Unanswered {
            state,
            record: Some(RequestRecord {
                sequence: 0,
                endpoint: operation.to_string(),
                method: method.to_string(),
                path: path.to_string(),
                key,
                status: 499,
                injected: false,
                retry_after_seconds: None,
                received_ms: state.started.elapsed().as_millis() as u64,
                answered_ms: 0,
                organization: None,
            }),
        }
    }

    fn organization(&mut self, organization: Option<String>) {
        if let Some(record) = self.record.as_mut() {
            record.organization = organization;
        }
    }

    fn answered(&mut self, response: &Response, injected: bool) {
        if let Some(mut record) = self.record.take() {
            record.status = response.status().as_u16();
            record.injected = injected;
            record.retry_after_seconds = response
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse().ok());
            record.answered_ms = self.state.started.elapsed().as_millis() as u64;
            self.state.recorder.record(record);
        }
    }
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if let Some(mut record) = self.record.take() {
            record.answered_ms = self.state.started.elapsed().as_millis() as u64;
            self.state.recorder.record(record);
        }
    }
}
