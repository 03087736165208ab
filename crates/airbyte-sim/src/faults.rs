//! Fault injection, the organization's request quota, and call accounting (used by the request
//! pipeline in front of every API route).
//!
//! Each API request is delayed and possibly failed according to the configured [`FaultRule`]s
//! (matched by operation id), then recorded: a counter per operation and status, and a log entry
//! with the times it arrived and was answered and any `Retry-After` sent, so a test can prove that
//! a client waited as long as it was told.

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::Duration;

use std::time::Instant;

use serde::{Deserialize, Serialize};

use crate::state::SimState;

/// One fault rule. A rule matches a request when its endpoint list is empty or names the request's
/// endpoint, and (with `writes_only`) the request is a write.
#[derive(Clone, Debug, Default, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct FaultRule {
    /// Operation ids of `reference/api.yaml` (e.g. `sources_create`); empty: every operation.
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
    fn matches(&self, operation: &str, is_write: bool) -> bool {
        (self.endpoints.is_empty() || self.endpoints.iter().any(|e| e == operation))
            && (!self.writes_only || is_write)
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
    /// The organization the request was for, when it could be told.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
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
    pub fn record(&self, mut record: RequestRecord) {
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

/// Total latency before and after handling of the matching rules, and the first failure that
/// fires.
pub type Decision = (Duration, Duration, Option<(u16, Option<u64>)>);

pub fn decide(state: &SimState, operation: &str, is_write: bool) -> Decision {
    let mut rules = state.faults.lock().unwrap_or_else(|p| p.into_inner());
    let mut latency = Duration::ZERO;
    let mut latency_after = Duration::ZERO;
    let mut failure = None;
    for rule in rules
        .iter_mut()
        .filter(|rule| rule.matches(operation, is_write))
    {
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
pub fn request_key(body: &[u8]) -> String {
    let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice::<serde_json::Value>(body)
    else {
        return String::new();
    };
    [
        "workspace_name",
        "customer_name",
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

/// The organization's request quota: at most `limit` requests per hour, counted from the first
/// request of the window. No quota is documented, so it is off unless asked for.
pub struct Quota {
    limit: Mutex<Option<u64>>,
    window: Mutex<(Instant, u64)>,
}

impl Quota {
    pub fn new(limit: Option<u64>) -> Quota {
        Quota {
            limit: Mutex::new(limit),
            window: Mutex::new((Instant::now(), 0)),
        }
    }

    pub fn set_limit(&self, limit: Option<u64>) {
        *self.limit.lock().unwrap_or_else(|p| p.into_inner()) = limit;
        *self.window.lock().unwrap_or_else(|p| p.into_inner()) = (Instant::now(), 0);
    }

    /// Counts one request; `Err(seconds)` when the quota is spent, with the wait until the window
    /// ends.
    pub fn take(&self) -> Result<(), u64> {
        let Some(limit) = *self.limit.lock().unwrap_or_else(|p| p.into_inner()) else {
            return Ok(());
        };
        let hour = Duration::from_secs(3600);
        let mut window = self.window.lock().unwrap_or_else(|p| p.into_inner());
        if window.0.elapsed() >= hour {
            *window = (Instant::now(), 0);
        }
        if window.1 >= limit {
            let left = hour.saturating_sub(window.0.elapsed());
            return Err(left.as_secs().max(1));
        }
        window.1 += 1;
        Ok(())
    }
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
        assert!(rule.matches("sources_create", true));
        assert!(!rule.matches("source_get", false));
        let rule = FaultRule {
            endpoints: vec!["source_get".into()],
            ..FaultRule::default()
        };
        assert!(rule.matches("source_get", false));
        assert!(!rule.matches("sources_create", true));
    }

    #[test]
    fn request_keys_hold_names_only() {
        let key = request_key(br#"{"workspace_name":"acme","client_secret":"s3cret"}"#);
        assert_eq!(key, "workspace_name=acme");
    }

    #[test]
    fn a_spent_quota_answers_with_the_wait_until_the_hour_ends() {
        let quota = Quota::new(Some(2));
        assert!(quota.take().is_ok() && quota.take().is_ok());
        let wait = quota.take().unwrap_err();
        assert!((3590..=3600).contains(&wait), "{wait}");
        quota.set_limit(None);
        assert!(quota.take().is_ok());
    }
}
