//! Fault injection and call accounting, as one middleware in front of every API route.
//!
//! Each API request is classified into an [`Endpoint`], delayed and possibly failed according to the
//! configured [`FaultRule`]s, then recorded: a counter per endpoint and status, and a log entry with
//! the times it arrived and was answered and any `Retry-After` sent, so a test can prove that a
//! client waited as long as it was told.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};

use super::fastapi::SimError;
use super::state::SimState;
use crate::airbyte::Endpoint;

/// Largest request body the simulator reads (the API has no large bodies).
const MAX_BODY: usize = 1 << 20;

/// One fault rule. A rule matches a request when its endpoint list is empty or names the request's
/// endpoint, and (with `writes_only`) the request is a write.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FaultRule {
    /// Endpoint labels (see `Endpoint::label`); empty: every endpoint.
    pub endpoints: Vec<String>,
    pub writes_only: bool,
    /// Share of matching requests that fail, 0.0..=1.0.
    pub error_rate: f64,
    /// Status of the injected failure (e.g. 503, 429).
    pub status: u16,
    /// `Retry-After` seconds sent with the injected failure.
    pub retry_after_seconds: Option<u64>,
    /// Delay added to every matching request before it is handled, injected failures included.
    pub latency_ms: u64,
    /// Delay added after a matching request was handled, before the answer goes out: the
    /// change is made but the client does not know yet (the window a crash test needs).
    pub latency_after_ms: u64,
    /// Fail at most this many requests, then stop failing (latency still applies).
    pub max_failures: Option<u64>,
    #[serde(skip_deserializing)]
    pub failures: u64,
}

impl FaultRule {
    fn matches(&self, endpoint: Endpoint) -> bool {
        (self.endpoints.is_empty() || self.endpoints.iter().any(|e| e == endpoint.label()))
            && (!self.writes_only || endpoint.is_write())
    }
}

/// One answered API request.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct RequestRecord {
    pub sequence: u64,
    pub endpoint: String,
    pub method: String,
    pub path: String,
    /// What the request is about beyond its path (the workspace or object name in a create), so
    /// repeated attempts of one operation can be grouped.
    pub key: String,
    pub status: u16,
    pub injected: bool,
    pub retry_after_seconds: Option<u64>,
    /// Milliseconds since the simulator started.
    pub received_ms: u64,
    pub answered_ms: u64,
}

#[derive(Default)]
pub struct Recorder {
    inner: Mutex<RecorderInner>,
}

#[derive(Default)]
struct RecorderInner {
    sequence: u64,
    counts: BTreeMap<(String, u16), u64>,
    log: Vec<RequestRecord>,
}

/// Counter of calls for one endpoint and status.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct CallCount {
    pub endpoint: String,
    pub status: u16,
    pub count: u64,
}

impl Recorder {
    fn record(&self, mut record: RequestRecord) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.sequence += 1;
        record.sequence = inner.sequence;
        *inner
            .counts
            .entry((record.endpoint.clone(), record.status))
            .or_default() += 1;
        inner.log.push(record);
    }

    pub fn counts(&self) -> Vec<CallCount> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .counts
            .iter()
            .map(|((endpoint, status), count)| CallCount {
                endpoint: endpoint.clone(),
                status: *status,
                count: *count,
            })
            .collect()
    }

    /// Log entries after `since` (a sequence number; 0 for all).
    pub fn log_since(&self, since: u64) -> Vec<RequestRecord> {
        let inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner
            .log
            .iter()
            .filter(|r| r.sequence > since)
            .cloned()
            .collect()
    }

    pub fn reset(&self) {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        inner.counts.clear();
        inner.log.clear();
    }
}

/// The middleware: classify, delay, maybe fail, record.
pub async fn inject_and_record(
    State(state): State<Arc<SimState>>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().as_str().to_string();
    let path = request.uri().path().to_string();
    let Some(endpoint) = Endpoint::classify(&method, &path) else {
        return next.run(request).await;
    };
    let received_ms = state.started.elapsed().as_millis() as u64;
    let (parts, body) = request.into_parts();
    let bytes = match to_bytes(body, MAX_BODY).await {
        Ok(bytes) => bytes,
        Err(_) => return StatusCode::PAYLOAD_TOO_LARGE.into_response(),
    };
    let key = request_key(&bytes);
    // A client that goes away before the answer (a killed operator) still made the request:
    // the guard records it as 499, nginx's "client closed request".
    let mut guard = Unanswered {
        state: state.clone(),
        record: Some(RequestRecord {
            sequence: 0,
            endpoint: endpoint.label().to_string(),
            method,
            path,
            key,
            status: 499,
            injected: false,
            retry_after_seconds: None,
            received_ms,
            answered_ms: 0,
        }),
    };

    let (latency, latency_after, failure) = decide(&state, endpoint);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }
    let (response, injected) = match failure {
        Some((status, retry_after)) => (
            SimError::Status {
                status: StatusCode::from_u16(status).unwrap_or(StatusCode::SERVICE_UNAVAILABLE),
                detail: format!("injected fault ({status})"),
                retry_after,
            }
            .into_response(),
            true,
        ),
        None => {
            let response = next
                .run(Request::from_parts(parts, Body::from(bytes)))
                .await;
            if !latency_after.is_zero() {
                tokio::time::sleep(latency_after).await;
            }
            (response, false)
        }
    };
    if let Some(mut record) = guard.record.take() {
        record.status = response.status().as_u16();
        record.injected = injected;
        record.retry_after_seconds = response
            .headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        record.answered_ms = state.started.elapsed().as_millis() as u64;
        state.recorder.record(record);
    }
    response
}

struct Unanswered {
    state: Arc<SimState>,
    record: Option<RequestRecord>,
}

impl Drop for Unanswered {
    fn drop(&mut self) {
        if let Some(mut record) = self.record.take() {
            record.answered_ms = self.state.started.elapsed().as_millis() as u64;
            self.state.recorder.record(record);
        }
    }
}

/// Total latency before and after handling of the matching rules, and the first failure that
/// fires.
type Decision = (Duration, Duration, Option<(u16, Option<u64>)>);

fn decide(state: &SimState, endpoint: Endpoint) -> Decision {
    let mut rules = state.faults.lock().unwrap_or_else(|p| p.into_inner());
    let mut latency = Duration::ZERO;
    let mut latency_after = Duration::ZERO;
    let mut failure = None;
    for rule in rules.iter_mut().filter(|rule| rule.matches(endpoint)) {
        latency += Duration::from_millis(rule.latency_ms);
        latency_after += Duration::from_millis(rule.latency_after_ms);
        let exhausted = rule.max_failures.is_some_and(|max| rule.failures >= max);
        if failure.is_none()
            && !exhausted
            && rule.error_rate > 0.0
            && rand::random::<f64>() < rule.error_rate
        {
            rule.failures += 1;
            failure = Some((rule.status, rule.retry_after_seconds));
        }
    }
    (latency, latency_after, failure)
}

/// Names in a create body that tell one operation from another (never a secret field).
fn request_key(body: &[u8]) -> String {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return String::new();
    };
    [
        "workspace_name",
        "workspace_id",
        "name",
        "tag",
        "destination_name",
    ]
    .iter()
    .filter_map(|key| {
        fields
            .get(*key)
            .and_then(|v| v.as_str())
            .map(|v| format!("{key}={v}"))
    })
    .collect::<Vec<_>>()
    .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_match_by_endpoint_and_kind() {
        let rule = FaultRule {
            writes_only: true,
            ..FaultRule::default()
        };
        assert!(rule.matches(Endpoint::SourcesCreate));
        assert!(!rule.matches(Endpoint::SourceGet));
        let rule = FaultRule {
            endpoints: vec!["source_get".into()],
            ..FaultRule::default()
        };
        assert!(rule.matches(Endpoint::SourceGet));
        assert!(!rule.matches(Endpoint::SourcesCreate));
    }

    #[test]
    fn request_keys_hold_names_only() {
        let key = request_key(br#"{"workspace_name":"acme","client_secret":"s3cret"}"#);
        assert_eq!(key, "workspace_name=acme");
    }
}
