//! Prometheus metrics. Labels are bounded: kind, reason, endpoint, status, and for token expiry the
//! workspace's namespace and name (one series per EmbeddedWorkspace, removed with it). Error text
//! never becomes a label. The token expiry is a Unix timestamp (the Prometheus convention for
//! moments), so `airbyte_embedded_operator_workspace_token_expiry_timestamp_seconds - time()` is
//! the time left at any instant, between reconciles too.

use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use airbyte_client::{CallObserver, Endpoint};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct KindLabels {
    pub kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OutcomeLabels {
    pub kind: &'static str,
    pub reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct CallLabels {
    pub organization: String,
    pub endpoint: &'static str,
    pub status: String,
}

/// One organization object: `name` for a ClusterAirbyteOrganization (`default` for the one of
/// the flags), `namespace/name` for an AirbyteOrganization.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct OrganizationLabels {
    pub organization: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WorkspaceLabels {
    pub namespace: String,
    pub name: String,
}

pub struct Metrics {
    registry: Registry,
    pub reconciles: Family<OutcomeLabels, Counter>,
    pub reconcile_errors: Family<OutcomeLabels, Counter>,
    pub reconcile_duration: Family<KindLabels, Histogram>,
    pub api_calls: Family<CallLabels, Counter>,
    pub api_call_duration: Family<KindLabels, Histogram>,
    pub token_expiry: Family<WorkspaceLabels, Gauge<i64, AtomicI64>>,
    pub organization_ready: Family<OrganizationLabels, Gauge<i64, AtomicI64>>,
    pub organization_users: Family<OrganizationLabels, Gauge<i64, AtomicI64>>,
    pub organization_token_expiry: Family<OrganizationLabels, Gauge<i64, AtomicI64>>,
    pub leader: Gauge<i64, AtomicI64>,
    /// Fallbacks to an older form of the Airbyte API taken by this process (feature, choice).
    pub api_fallbacks: Family<FallbackLabels, Gauge<i64, AtomicI64>>,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct FallbackLabels {
    pub feature: &'static str,
    pub choice: &'static str,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}

fn histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.005, 2.0, 14))
}

impl Metrics {
    pub fn new() -> Metrics {
        let mut registry = Registry::with_prefix("airbyte_embedded_operator");
        let metrics = Metrics {
            reconciles: Family::default(),
            reconcile_errors: Family::default(),
            reconcile_duration: Family::new_with_constructor(histogram as fn() -> Histogram),
            api_calls: Family::default(),
            api_call_duration: Family::new_with_constructor(histogram as fn() -> Histogram),
            token_expiry: Family::default(),
            organization_ready: Family::default(),
            organization_users: Family::default(),
            organization_token_expiry: Family::default(),
            leader: Gauge::default(),
            api_fallbacks: Family::default(),
            registry: Registry::default(),
        };
        let r = &mut registry;
        r.register(
            "reconciles",
            "Reconciles by kind and resulting condition reason",
            metrics.reconciles.clone(),
        );
        r.register(
            "reconcile_errors",
            "Failed reconciles by kind and reason",
            metrics.reconcile_errors.clone(),
        );
        r.register(
            "reconcile_duration_seconds",
            "Reconcile duration by kind",
            metrics.reconcile_duration.clone(),
        );
        r.register(
            "airbyte_api_calls",
            "Airbyte API calls by endpoint and HTTP status (none: no answer)",
            metrics.api_calls.clone(),
        );
        r.register(
            "airbyte_api_call_duration_seconds",
            "Airbyte API call duration (kind: the endpoint)",
            metrics.api_call_duration.clone(),
        );
        r.register(
            "workspace_token_expiry_timestamp_seconds",
            "When the token in each workspace Secret expires (Unix time, seconds)",
            metrics.token_expiry.clone(),
        );
        metrics.register_organizations(r);
        r.register(
            "leader",
            "1 while this replica holds the leader Lease (or runs without election)",
            metrics.leader.clone(),
        );
        r.register("airbyte_api_fallback", "1 for each older form of the Airbyte API this process fell back to (token paths, tenant field, source update method)", metrics.api_fallbacks.clone());
        Metrics {
            registry,
            ..metrics
        }
    }

    /// The per-organization gauges.
    fn register_organizations(&self, r: &mut Registry) {
        r.register(
            "organization_ready",
            "1 while the organization's credentials obtain an application token",
            self.organization_ready.clone(),
        );
        r.register(
            "organization_users",
            "Objects that act for the organization",
            self.organization_users.clone(),
        );
        r.register(
            "organization_token_expiry_timestamp_seconds",
            "When the organization's application token last obtained expires (Unix time, seconds)",
            self.organization_token_expiry.clone(),
        );
    }

    /// Prometheus text exposition.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &self.registry);
        out
    }

    /// Records when a workspace's token expires, as Unix seconds.
    pub fn set_token_expiry(&self, namespace: &str, name: &str, unix_seconds: i64) {
        self.token_expiry
            .get_or_create(&WorkspaceLabels {
                namespace: namespace.into(),
                name: name.into(),
            })
            .set(unix_seconds);
    }

    /// Records what the organization controller found.
    pub fn set_organization(
        &self,
        organization: &str,
        ready: bool,
        users: usize,
        token_expires_at: Option<std::time::SystemTime>,
    ) {
        let labels = OrganizationLabels {
            organization: organization.into(),
        };
        self.organization_ready
            .get_or_create(&labels)
            .set(i64::from(ready));
        self.organization_users
            .get_or_create(&labels)
            .set(i64::try_from(users).unwrap_or(i64::MAX));
        if let Some(at) =
            token_expires_at.and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
        {
            self.organization_token_expiry
                .get_or_create(&labels)
                .set(i64::try_from(at.as_secs()).unwrap_or(i64::MAX));
        }
    }

    pub fn forget_organization(&self, organization: &str) {
        let labels = OrganizationLabels {
            organization: organization.into(),
        };
        self.organization_ready.remove(&labels);
        self.organization_users.remove(&labels);
        self.organization_token_expiry.remove(&labels);
    }

    pub fn forget_workspace(&self, namespace: &str, name: &str) {
        self.token_expiry.remove(&WorkspaceLabels {
            namespace: namespace.into(),
            name: name.into(),
        });
    }
}

/// Feeds one organization's Airbyte client's call records into the metrics.
pub struct ApiCallMetrics {
    pub metrics: Arc<Metrics>,
    /// The organization's label (see [`OrganizationLabels`]).
    pub organization: String,
}

impl CallObserver for ApiCallMetrics {
    fn observe(&self, endpoint: Endpoint, status: Option<u16>, elapsed: Duration) {
        self.metrics
            .api_calls
            .get_or_create(&CallLabels {
                organization: self.organization.clone(),
                endpoint: endpoint.label(),
                status: status.map_or_else(|| "none".to_string(), |s| s.to_string()),
            })
            .inc();
        self.metrics
            .api_call_duration
            .get_or_create(&KindLabels {
                kind: endpoint.label(),
            })
            .observe(elapsed.as_secs_f64());
    }

    fn fallback(&self, feature: &'static str, choice: &'static str) {
        self.metrics
            .api_fallbacks
            .get_or_create(&FallbackLabels { feature, choice })
            .set(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_counters_and_gauges_with_bounded_labels() {
        let metrics = Arc::new(Metrics::new());
        let calls = ApiCallMetrics {
            metrics: metrics.clone(),
            organization: "default".into(),
        };
        calls.observe(Endpoint::SourcesCreate, Some(201), Duration::from_millis(3));
        metrics
            .reconciles
            .get_or_create(&OutcomeLabels {
                kind: "EmbeddedSource",
                reason: "Synced",
            })
            .inc();
        metrics.set_token_expiry("tenant-a", "main", 2_000_000_000);
        calls.fallback("token_paths", "/api/v1/embedded/*");
        metrics.set_organization("tenant-a/own", true, 3, None);
        let text = metrics.encode();
        assert!(text.contains(r#"airbyte_embedded_operator_airbyte_api_calls_total{organization="default",endpoint="sources_create",status="201"} 1"#), "{text}");
        assert!(
            text.contains(
                r#"airbyte_embedded_operator_organization_users{organization="tenant-a/own"} 3"#
            ),
            "{text}"
        );
        assert!(text.contains(r#"airbyte_embedded_operator_reconciles_total{kind="EmbeddedSource",reason="Synced"} 1"#), "{text}");
        assert!(text.contains(r#"airbyte_embedded_operator_workspace_token_expiry_timestamp_seconds{namespace="tenant-a",name="main"} 2000000000"#), "{text}");
        assert!(text.contains(r#"airbyte_embedded_operator_airbyte_api_fallback{feature="token_paths",choice="/api/v1/embedded/*"} 1"#), "{text}");
        metrics.forget_workspace("tenant-a", "main");
        assert!(!metrics.encode().contains(r#"name="main""#));
    }
}
