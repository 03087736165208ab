//! What every kind's reconcile does the same way: skip a cache that has not seen our own write,
//! time and count the reconcile, turn an error into its condition and retry schedule, write the
//! metadata the operator owns (finalizer, create intent) and status (each only when it changed,
//! with an Event when `Ready` changes), and finish a deletion (external object, then finalizer).

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use kube::runtime::controller::Action;
use kube::{Api, Client, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::context::Context;
use super::error::{Error, backoff};
use super::events::{EventAction, EventReason, Note};
use super::status::{OwnedMetadata, apply_metadata, apply_status};
use super::wiring::Kind;
use crate::metrics::{KindLabels, OutcomeLabels};
use airbyte_client::AirbyteApi;
use embedded_crds::FINALIZER;
use embedded_crds::conditions::{self, Outcome, Reason};

/// A kind this operator reconciles.
pub trait Managed:
    Resource<DynamicType = ()>
    + Clone
    + DeserializeOwned
    + Serialize
    + std::fmt::Debug
    + Send
    + Sync
    + 'static
{
    type Status: Serialize + Default + Clone + Send + Sync;
    const KIND: &'static str;
    /// Namespaced (`true`) or cluster-scoped.
    const NAMESPACED: bool;
    fn status(&self) -> Option<&Self::Status>;
    fn conditions(status: &Self::Status) -> &[Condition];
    fn set_conditions(
        status: &mut Self::Status,
        conditions: Vec<Condition>,
        generation: Option<i64>,
    );
    fn api(client: Client, object: &Self) -> Api<Self>;
    /// The objects to watch: one namespace's (namespaced kinds, when given) or all.
    fn watch_api(client: Client, namespace: Option<&str>) -> Api<Self>;
    /// `kind namespace/name` (or `kind name`) for messages.
    fn describe(&self) -> String {
        match self.namespace() {
            Some(ns) => format!("{} {ns}/{}", Self::KIND, self.name_any()),
            None => format!("{} {}", Self::KIND, self.name_any()),
        }
    }
}

/// Implements [`Managed`] for a kind whose status has `conditions` and `observed_generation`.
macro_rules! managed {
    ($kind:ty, $status:ty, $name:literal, namespaced) => {
        $crate::controllers::lifecycle::managed!(@impl $kind, $status, $name, true,
            |client, object: &$kind| kube::Api::namespaced(client, &kube::ResourceExt::namespace(object).unwrap_or_default()),
            |client, namespace: Option<&str>| match namespace {
                Some(namespace) => kube::Api::namespaced(client, namespace),
                None => kube::Api::all(client),
            });
    };
    ($kind:ty, $status:ty, $name:literal, cluster) => {
        $crate::controllers::lifecycle::managed!(@impl $kind, $status, $name, false,
            |client, _object: &$kind| kube::Api::all(client),
            |client, _namespace: Option<&str>| kube::Api::all(client));
    };
    (@impl $kind:ty, $status:ty, $name:literal, $namespaced:literal, $api:expr, $watch:expr) => {
        impl $crate::controllers::lifecycle::Managed for $kind {
            type Status = $status;
            const KIND: &'static str = $name;
            const NAMESPACED: bool = $namespaced;
            fn status(&self) -> Option<&$status> {
                self.status.as_ref()
            }
            fn conditions(status: &$status) -> &[k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition] {
                &status.conditions
            }
            fn set_conditions(
                status: &mut $status,
                conditions: Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>,
                generation: Option<i64>,
            ) {
                status.conditions = conditions;
                status.observed_generation = generation;
            }
            fn api(client: kube::Client, object: &Self) -> kube::Api<Self> {
                let make: fn(kube::Client, &$kind) -> kube::Api<$kind> = $api;
                make(client, object)
            }
            fn watch_api(client: kube::Client, namespace: Option<&str>) -> kube::Api<Self> {
                let make: fn(kube::Client, Option<&str>) -> kube::Api<$kind> = $watch;
                make(client, namespace)
            }
        }
    };
}
pub(crate) use managed;

/// Writes status for `outcome` if it changed. `fields` replaces the status fields when the
/// reconcile got that far; otherwise the previous ones are kept. Publishes an Event when the Ready
/// condition's status or reason changes.
pub async fn record<K: Managed, A: AirbyteApi>(
    object: &K,
    ctx: &Context<A>,
    outcome: &Outcome,
    fields: Option<K::Status>,
) -> Result<(), Error> {
    let previous = object.status().cloned().unwrap_or_default();
    let mut status = fields.unwrap_or_else(|| previous.clone());
    let now =
        Time(jiff::Timestamp::try_from(ctx.clock.now()).unwrap_or_else(|_| jiff::Timestamp::now()));
    let generation = object.meta().generation;
    let conditions = conditions::conditions(outcome, generation, K::conditions(&previous), &now);
    K::set_conditions(&mut status, conditions, generation);
    let api = K::api(ctx.client.clone(), object);
    let written = apply_status(&api, object, object.status(), &status).await?;
    ctx.memory
        .note_write(&object.uid().unwrap_or_default(), written.as_deref());
    ctx.metrics
        .reconciles
        .get_or_create(&OutcomeLabels {
            kind: K::KIND,
            reason: outcome.reason().as_str(),
        })
        .inc();
    let ready = |s: &K::Status| {
        conditions::ready(K::conditions(s)).map(|c| (c.status.clone(), c.reason.clone()))
    };
    let (was, is) = (ready(&previous), ready(&status));
    // An Event when the Ready condition changes, except the two that say nothing new: the first
    // Ready (the action's own Event, "Created" or "TokenIssued", already told) and waiting for a
    // workspace or template (a normal, short state). Failures and recoveries always get one.
    let first_ready = was.is_none() && outcome.is_ready();
    let waiting = matches!(
        outcome.reason(),
        Reason::WorkspaceNotReady | Reason::TemplateNotReady
    );
    if written.is_some() && was != is && !first_ready && !waiting {
        ctx.publish(
            object,
            Note {
                warning: !outcome.is_ready(),
                reason: EventReason::Condition(outcome.reason()),
                action: EventAction::Reconcile,
                message: outcome.message().to_string(),
            },
        );
    }
    Ok(())
}

/// Writes the metadata the operator owns on `object` (finalizer, create intent) when that changes
/// something, and remembers the write so that a cache which has not seen it is not acted on.
pub async fn write_metadata<K: Managed, A: AirbyteApi>(
    object: &K,
    ctx: &Context<A>,
    metadata: &OwnedMetadata,
) -> Result<(), Error> {
    let api = K::api(ctx.client.clone(), object);
    let written = apply_metadata(&api, object, metadata).await?;
    ctx.memory
        .note_write(&object.uid().unwrap_or_default(), written.as_deref());
    Ok(())
}

/// Whether `object` still carries the operator's finalizer (its deletion waits for us).
fn guarded<K: Resource>(object: &K) -> bool {
    object.finalizers().iter().any(|f| f == FINALIZER)
}

/// Lets a deleted object go: removes the operator's finalizer.
async fn release<K: Managed, A: AirbyteApi>(object: &K, ctx: &Context<A>) -> Result<(), Error> {
    let mut metadata = OwnedMetadata::of(object);
    metadata.finalizer = false;
    write_metadata(object, ctx, &metadata).await
}

/// Ends a deletion: while the operator's finalizer holds `object`, `external` runs first (the
/// external object's deletion, as the policy says; never polled otherwise), then the finalizer is
/// released; what the process kept about the object is dropped ([`Kind::forget`]).
pub async fn finish_deletion<K: Kind, A: AirbyteApi>(
    object: &K,
    ctx: &Context<A>,
    external: impl std::future::Future<Output = Result<(), Error>>,
) -> Result<Action, Error> {
    if guarded(object) {
        external.await?;
        release(object, ctx).await?;
    }
    object.forget(ctx);
    Ok(Action::await_change())
}

/// Runs one reconcile of `object`: skips a stale cache, times it, and maps an error to its
/// condition and retry (backoff for transient trouble; a slow retry for permanent errors).
pub async fn run<K, A, F, Fut>(
    object: Arc<K>,
    ctx: Arc<Context<A>>,
    body: F,
) -> Result<Action, Error>
where
    K: Managed,
    A: AirbyteApi,
    F: FnOnce(Arc<K>, Arc<Context<A>>) -> Fut,
    Fut: std::future::Future<Output = Result<Action, Error>>,
{
    let uid = object.uid().unwrap_or_default();
    if ctx
        .memory
        .is_stale(&uid, object.resource_version().as_deref())
    {
        tracing::debug!(kind = K::KIND, name = %object.name_any(), "the cache has not seen our last write yet; deciding once it has");
        return Ok(Action::requeue(Duration::from_millis(250)));
    }
    if let Some(wait) = ctx.memory.held_off(&uid, ctx.clock.instant()) {
        // Airbyte asked for a pause (Retry-After): whatever woke us, wait it out first.
        return Ok(Action::requeue(wait));
    }
    let started = std::time::Instant::now();
    let result = body(object.clone(), ctx.clone()).await;
    ctx.metrics
        .reconcile_duration
        .get_or_create(&KindLabels { kind: K::KIND })
        .observe(started.elapsed().as_secs_f64());
    match result {
        Ok(action) => {
            ctx.memory.succeeded(&uid);
            Ok(action)
        }
        Err(error) => Ok(failed(object.as_ref(), &ctx, &error).await),
    }
}

/// A failed reconcile: its condition (with an Event if `Ready` changed), a metric, a log line,
/// and the retry (backoff for transient trouble and deletions, slowly for a permanent error,
/// never sooner than Airbyte's `Retry-After`).
async fn failed<K: Managed, A: AirbyteApi>(object: &K, ctx: &Context<A>, error: &Error) -> Action {
    let uid = object.uid().unwrap_or_default();
    let deleting = object.meta().deletion_timestamp.is_some();
    let outcome = if deleting {
        Outcome::in_progress(
            Reason::DeletionFailed,
            format!(
                "deleting {}: {error}; the finalizer stays until the external delete succeeds",
                object.describe()
            ),
        )
    } else {
        error.outcome(&object.describe())
    };
    ctx.metrics
        .reconcile_errors
        .get_or_create(&OutcomeLabels {
            kind: K::KIND,
            reason: outcome.reason().as_str(),
        })
        .inc();
    tracing::warn!(
        kind = K::KIND,
        namespace = %object.namespace().unwrap_or_default(),
        name = %object.name_any(),
        reason = %outcome.reason(),
        message = %outcome.message(),
        "reconcile failed"
    );
    if let Err(status_error) = record(object, ctx, &outcome, None).await {
        tracing::debug!(error = %status_error, "could not write the failure to status");
    }
    if let Some(wait) = error.retry_after() {
        ctx.memory.hold_off(&uid, ctx.clock.instant() + wait);
    }
    let attempt = ctx.memory.failed(&uid);
    Action::requeue(if error.is_transient() || deleting {
        backoff(attempt, error.retry_after())
    } else {
        ctx.config.drift_interval.max(backoff(attempt, None))
    })
}

/// Errors that escape `run` (none do today) only requeue.
pub fn error_policy<K, A: AirbyteApi>(
    _object: Arc<K>,
    _error: &Error,
    _ctx: Arc<Context<A>>,
) -> Action {
    Action::requeue(Duration::from_secs(5))
}
