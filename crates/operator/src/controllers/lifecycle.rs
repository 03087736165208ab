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
use super::organization::registry::Organization;
use super::organization::{self, Resolution};
use super::status::{OwnedMetadata, apply_metadata, apply_status};
use super::wiring::Kind;
use crate::metrics::{KindLabels, OutcomeLabels};
use airbyte_client::{AirbyteApi, ApiError, Endpoint};
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
    type Status: Serialize + Default + Clone + Send + Sync + OrganizationFields;
    const KIND: &'static str;
    /// The finalizer the operator holds the object with.
    const FINALIZER: &'static str;
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
        $crate::controllers::lifecycle::managed!($kind, $status, $name, namespaced, embedded_crds::FINALIZER);
    };
    ($kind:ty, $status:ty, $name:literal, cluster) => {
        $crate::controllers::lifecycle::managed!($kind, $status, $name, cluster, embedded_crds::FINALIZER);
    };
    ($kind:ty, $status:ty, $name:literal, namespaced, $finalizer:expr) => {
        $crate::controllers::lifecycle::managed!(@impl $kind, $status, $name, true, $finalizer,
            |client, object: &$kind| kube::Api::namespaced(client, &kube::ResourceExt::namespace(object).unwrap_or_default()),
            |client, namespace: Option<&str>| match namespace {
                Some(namespace) => kube::Api::namespaced(client, namespace),
                None => kube::Api::all(client),
            });
    };
    ($kind:ty, $status:ty, $name:literal, cluster, $finalizer:expr) => {
        $crate::controllers::lifecycle::managed!(@impl $kind, $status, $name, false, $finalizer,
            |client, _object: &$kind| kube::Api::all(client),
            |client, _namespace: Option<&str>| kube::Api::all(client));
    };
    (@impl $kind:ty, $status:ty, $name:literal, $namespaced:literal, $finalizer:expr, $api:expr, $watch:expr) => {
        impl $crate::controllers::lifecycle::Managed for $kind {
            type Status = $status;
            const KIND: &'static str = $name;
            const FINALIZER: &'static str = $finalizer;
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

/// What a status says about the organization its object acts for.
pub trait OrganizationFields {
    /// The Airbyte organization the external object was made in.
    fn organization_id(&self) -> Option<&str>;
    /// The external object's id, once known.
    fn external_id(&self) -> Option<&str>;
    fn set_organization(&mut self, name: String, id: Option<String>);
}

/// Implements [`OrganizationFields`] for statuses with `organization`, `organization_id` and
/// the named external id field.
macro_rules! organization_fields {
    ($($status:ty: $external:ident),*) => {$(
        impl OrganizationFields for $status {
            fn organization_id(&self) -> Option<&str> {
                self.organization_id.as_deref()
            }
            fn external_id(&self) -> Option<&str> {
                self.$external.as_deref()
            }
            fn set_organization(&mut self, name: String, id: Option<String>) {
                self.organization = Some(name);
                self.organization_id = id;
            }
        }
    )*};
}

organization_fields!(
    embedded_crds::EmbeddedWorkspaceStatus: workspace_id,
    embedded_crds::EmbeddedSourceStatus: source_id,
    embedded_crds::SourceTemplateStatus: template_id,
    embedded_crds::ConnectionTemplateStatus: template_id
);

/// An organization acts for none.
impl OrganizationFields for embedded_crds::OrganizationStatus {
    fn organization_id(&self) -> Option<&str> {
        None
    }
    fn external_id(&self) -> Option<&str> {
        None
    }
    fn set_organization(&mut self, _name: String, _id: Option<String>) {}
}

/// Writes status for `outcome` if it changed. `fields` replaces the status fields when the
/// reconcile got that far; otherwise the previous ones are kept. Publishes an Event when the Ready
/// condition's status or reason changes.
pub async fn record<K: Kind, A: AirbyteApi>(
    object: &K,
    ctx: &Context<A>,
    outcome: &Outcome,
    fields: Option<K::Status>,
) -> Result<(), Error> {
    let previous = object.status().cloned().unwrap_or_default();
    let mut status = fields.unwrap_or_else(|| previous.clone());
    bind_organization(object, ctx, &previous, &mut status);
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
        Reason::WorkspaceNotReady | Reason::TemplateNotReady | Reason::OrganizationNotReady
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

/// Which organization object `status` names, and the Airbyte organization it is bound to: the
/// one it was bound to, else (once its external object exists) the one it acts for now.
fn bind_organization<K: Kind, A: AirbyteApi>(
    object: &K,
    ctx: &Context<A>,
    previous: &K::Status,
    status: &mut K::Status,
) {
    let Some(request) = object.organization(&ctx.stores) else {
        return;
    };
    let uid = object.uid().unwrap_or_default();
    let bound = previous
        .organization_id()
        .map(str::to_string)
        .or_else(|| status.external_id().and(ctx.memory.organization_id(&uid)));
    status.set_organization(request.key.status_name(), bound);
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
fn guarded<K: Managed>(object: &K) -> bool {
    object.finalizers().iter().any(|f| f == K::FINALIZER)
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

/// How long an object waits, quietly, for its organization to be checked by this process.
const ORGANIZATION_WAIT: Duration = Duration::from_secs(2);

/// Runs one reconcile of an object that acts for an organization: resolves the organization
/// first ([`organization::resolve`]); an object it refuses stalls without any Airbyte call,
/// one whose organization is not checked yet waits quietly (no write).
pub async fn run<K, A, F, Fut>(
    object: Arc<K>,
    ctx: Arc<Context<A>>,
    body: F,
) -> Result<Action, Error>
where
    K: Kind,
    A: AirbyteApi,
    F: FnOnce(Arc<K>, Arc<Context<A>>, Arc<Organization<A>>) -> Fut,
    Fut: std::future::Future<Output = Result<Action, Error>>,
{
    run_unbound(object, ctx, |object, ctx| async move {
        let uid = object.uid().unwrap_or_default();
        match organization::resolve(object.as_ref(), &ctx) {
            Some(Resolution::Resolved(organization)) => {
                ctx.memory
                    .note_organization_id(&uid, &organization.organization_id);
                let action = body(object, ctx.clone(), organization).await?;
                ctx.memory.succeeded(&uid);
                Ok(action)
            }
            Some(Resolution::Wait) => Ok(Action::requeue(ORGANIZATION_WAIT)),
            Some(Resolution::Refused(outcome)) => refused(object.as_ref(), &ctx, &outcome).await,
            None => Ok(Action::await_change()),
        }
    })
    .await
}

/// An object its organization refuses: it stalls, retried with backoff (without an Airbyte
/// call while the organization refuses it). Being deleted, when the organization is gone, no
/// longer admits it or is another one than it was made in, it is let go without touching
/// Airbyte (a Warning Event says so): waiting would hold its namespace's deletion for ever.
async fn refused<K: Kind, A: AirbyteApi>(
    object: &K,
    ctx: &Context<A>,
    outcome: &Outcome,
) -> Result<Action, Error> {
    tracing::debug!(kind = K::KIND, name = %object.name_any(), reason = %outcome.reason(), "organization refused");
    let gone = matches!(
        outcome.reason(),
        Reason::OrganizationNotFound | Reason::OrganizationNotAllowed | Reason::OrganizationChanged
    );
    if object.meta().deletion_timestamp.is_some() && gone {
        ctx.publish(
            object,
            Note::warning(
                EventReason::Condition(outcome.reason()),
                EventAction::Reconcile,
                format!(
                    "deleted without touching Airbyte ({}); what it made there is left as it is",
                    outcome.message()
                ),
            ),
        );
        return finish_deletion(object, ctx, async { Ok(()) }).await;
    }
    record(object, ctx, outcome, None).await?;
    let attempt = ctx.memory.failed(&object.uid().unwrap_or_default());
    Ok(Action::requeue(backoff(attempt, None)))
}

/// Runs one reconcile of `object`: skips a stale cache, times it, and maps an error to its
/// condition and retry (backoff for transient trouble; a slow retry for permanent errors).
pub async fn run_unbound<K, A, F, Fut>(
    object: Arc<K>,
    ctx: Arc<Context<A>>,
    body: F,
) -> Result<Action, Error>
where
    K: Kind,
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
        Ok(action) => Ok(action),
        Err(error) => Ok(failed(object.as_ref(), &ctx, &error).await),
    }
}

/// Airbyte refused an organization object's credentials while this object acted: the
/// organization checks them afresh (woken now), and the object waits for it instead of
/// stalling on its own (a revoked secret is one organization's problem, not one per object).
fn organization_refused<K: Kind, A: AirbyteApi>(
    object: &K,
    ctx: &Context<A>,
    error: &Error,
) -> Option<Outcome> {
    let Error::Airbyte(error) = error else {
        return None;
    };
    let refusal = matches!(
        error,
        ApiError::Unauthorized { .. }
            | ApiError::Forbidden { .. }
            | ApiError::Validation { .. }
            | ApiError::Rejected { .. }
    );
    if !(refusal && error.endpoint() == Some(Endpoint::ApplicationToken)) {
        return None;
    }
    let key = object.organization(&ctx.stores)?.key;
    organization::organization_object(&ctx.stores, &key)?;
    ctx.organizations.mark_suspect(&key);
    if let Some(waker) = &ctx.waker {
        waker.wake(key.kind.as_str(), key.namespace.as_deref(), &key.name);
    }
    Some(Outcome::stalled(
        Reason::OrganizationNotReady,
        format!(
            "Airbyte refused the credentials of {} ({error}); nothing more is sent for this object until the organization has checked them (see its status)",
            key.describe()
        ),
    ))
}

/// A failed reconcile: its condition (with an Event if `Ready` changed), a metric, a log line,
/// and the retry (backoff for transient trouble and deletions, slowly for a permanent error,
/// never sooner than Airbyte's `Retry-After`).
async fn failed<K: Kind, A: AirbyteApi>(object: &K, ctx: &Context<A>, error: &Error) -> Action {
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
    } else if let Some(outcome) = organization_refused(object, ctx, error) {
        outcome
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
