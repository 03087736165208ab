//! What SourceTemplate and ConnectionTemplate share: the whole reconcile. A template kind is a
//! [`Template`] (its spec, its status and the decisions particular to it) whose Airbyte calls are
//! its [`Calls`]; everything else is this folder's pipeline, `observe` (Secrets of the operator's
//! namespace, the kind's own check, then only the Airbyte reads the plan needs) → `plan` (pure) →
//! `act` (the calls) → `record` (status, events, next visit), and `cleanup` on deletion.
//! Templates are organization-wide; their Secrets live in the operator's namespace.

mod act;
mod cleanup;
mod observe;
pub mod plan;
mod record;

use std::collections::BTreeSet;
use std::fmt::Debug;
use std::future::Future;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use serde_json::{Map, Value};

use super::context::{Context, Stores};
use super::error::Error;
use super::external::{AirbyteObject, Events};
use super::lifecycle::{self, Managed};
use super::organization::{self, rules::Request};
use super::secret_values::ResolvedConfig;
use super::wiring::{Kind, Relations, hash_of, those};
use airbyte_client::models::{
    ConnectionTemplate as ApiConnectionTemplate, SourceTemplate as ApiSourceTemplate,
};
use airbyte_client::{AirbyteApi, ApiError};
use embedded_crds::conditions::Reason;
use embedded_crds::{
    ClusterAirbyteOrganization, ConnectionTemplateStatus, DeletionPolicy, OrganizationRef,
    SecretValueRef, SourceTemplateStatus,
};

pub use observe::Observation;

/// The status fields every template kind records the same way.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Synced {
    pub template_id: Option<String>,
    pub config_hash: Option<String>,
    pub last_handled_reconcile_at: Option<String>,
    pub observed_generation: Option<i64>,
}

/// A template kind's status: the [`Synced`] fields, and whatever the kind adds.
pub trait TemplateStatus {
    fn synced(&self) -> Synced;
    fn set_synced(&mut self, synced: Synced);
}

macro_rules! template_status {
    ($($status:ty),*) => {$(
        impl TemplateStatus for $status {
            fn synced(&self) -> Synced {
                Synced {
                    template_id: self.template_id.clone(),
                    config_hash: self.config_hash.clone(),
                    last_handled_reconcile_at: self.last_handled_reconcile_at.clone(),
                    observed_generation: self.observed_generation,
                }
            }

            fn set_synced(&mut self, synced: Synced) {
                self.template_id = synced.template_id;
                self.config_hash = synced.config_hash;
                self.last_handled_reconcile_at = synced.last_handled_reconcile_at;
                self.observed_generation = synced.observed_generation;
            }
        }
    )*};
}

template_status!(SourceTemplateStatus, ConnectionTemplateStatus);

/// What the pipeline reads of a declared template (which holds Secret values: its `Debug` shows
/// none).
pub trait Declared: Debug + Send + Sync {
    /// Everything declared except the configuration (which may hold Secret values).
    fn declared(&self) -> Value;
    fn tags(&self) -> &BTreeSet<String>;
}

/// An Airbyte template: an object with tags, of an organization (a standard template has none).
pub trait TemplateObject: AirbyteObject + Debug + Send + Sync {
    fn tags(&self) -> &[String];
    fn organization_id(&self) -> Option<&str>;

    /// Whether `organization` may adopt it: its own (a template that does not say is taken as
    /// the organization's, which is all a GET with the organization's token can return), never
    /// a standard template or another organization's.
    fn belongs_to(&self, organization: &str) -> bool {
        self.organization_id()
            .is_none_or(|org| org.eq_ignore_ascii_case(organization))
    }
}

macro_rules! template_object {
    ($($model:ty),*) => {$(
        impl TemplateObject for $model {
            fn tags(&self) -> &[String] {
                &self.tags
            }
            fn organization_id(&self) -> Option<&str> {
                self.organization_id.as_deref()
            }
        }
    )*};
}

template_object!(ApiSourceTemplate, ApiConnectionTemplate);

/// A kind of template as the Airbyte API offers it.
pub trait Calls {
    /// Airbyte's template.
    type Object: TemplateObject;
    /// The declared template with its Secret values.
    type Desired: Declared;
    /// A change to an existing template.
    type Patch: Debug + PartialEq + Send + Sync;

    fn get<A: AirbyteApi>(
        airbyte: &A,
        id: &str,
    ) -> impl Future<Output = Result<Self::Object, ApiError>> + Send;
    /// The organization's templates.
    fn list<A: AirbyteApi>(
        airbyte: &A,
    ) -> impl Future<Output = Result<Vec<Self::Object>, ApiError>> + Send;
    /// Makes the template (untagged: the create schemas take no tags); answers its id.
    fn create<A: AirbyteApi>(
        airbyte: &A,
        desired: &Self::Desired,
    ) -> impl Future<Output = Result<String, ApiError>> + Send;
    fn update<A: AirbyteApi>(
        airbyte: &A,
        id: &str,
        patch: &Self::Patch,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
    fn tag<A: AirbyteApi>(
        airbyte: &A,
        id: &str,
        tag: &str,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
    fn untag<A: AirbyteApi>(
        airbyte: &A,
        id: &str,
        tag: &str,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
    /// Deletes the template; one already gone counts as deleted.
    fn delete<A: AirbyteApi>(
        airbyte: &A,
        id: &str,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
}

/// Implements [`Calls`] for a template kind with the client's methods for it (the two kinds'
/// APIs differ only in paths and names).
macro_rules! calls {
    ($kind:ty {
        object: $object:ty, desired: $desired:ty, patch: $patch:ty,
        get: $get:ident, list: $list:ident, create: $create:ident, update: $update:ident,
        tag: $tag:ident, untag: $untag:ident, delete: $delete:ident $(,)?
    }) => {
        impl $crate::controllers::template::Calls for $kind {
            type Object = $object;
            type Desired = $desired;
            type Patch = $patch;

            async fn get<A: airbyte_client::AirbyteApi>(
                airbyte: &A,
                id: &str,
            ) -> Result<$object, airbyte_client::ApiError> {
                airbyte.$get(id).await
            }

            async fn list<A: airbyte_client::AirbyteApi>(
                airbyte: &A,
            ) -> Result<Vec<$object>, airbyte_client::ApiError> {
                airbyte
                    .$list(&[], airbyte_client::models::TagMode::Any)
                    .await
            }

            async fn create<A: airbyte_client::AirbyteApi>(
                airbyte: &A,
                desired: &$desired,
            ) -> Result<String, airbyte_client::ApiError> {
                Ok(airbyte.$create(&desired.create_request()).await?.id)
            }

            async fn update<A: airbyte_client::AirbyteApi>(
                airbyte: &A,
                id: &str,
                patch: &$patch,
            ) -> Result<(), airbyte_client::ApiError> {
                airbyte.$update(id, patch).await.map(drop)
            }

            async fn tag<A: airbyte_client::AirbyteApi>(
                airbyte: &A,
                id: &str,
                tag: &str,
            ) -> Result<(), airbyte_client::ApiError> {
                airbyte.$tag(id, tag).await.map(drop)
            }

            async fn untag<A: airbyte_client::AirbyteApi>(
                airbyte: &A,
                id: &str,
                tag: &str,
            ) -> Result<(), airbyte_client::ApiError> {
                airbyte.$untag(id, tag).await
            }

            async fn delete<A: airbyte_client::AirbyteApi>(
                airbyte: &A,
                id: &str,
            ) -> Result<(), airbyte_client::ApiError> {
                airbyte.$delete(id).await
            }
        }
    };
}
pub(crate) use calls;

/// A template kind: what differs between SourceTemplate and ConnectionTemplate.
pub trait Template: Managed<Status: TemplateStatus> + Calls {
    /// What the kind asks Airbyte before the template itself (a schedule); `()` for nothing.
    type Check: Debug + Send + Sync;

    /// How the template appears in Events.
    const EVENTS: Events;
    /// The spec field holding the Secret references, for messages.
    const SECRET_REFS: &'static str;

    /// The configuration declared inline, and the Secret values merged into it.
    fn config(&self) -> (Option<&Map<String, Value>>, &[SecretValueRef]);
    fn desired(&self, config: ResolvedConfig) -> Self::Desired;
    fn deletion_policy(&self) -> Option<DeletionPolicy>;
    /// The ClusterAirbyteOrganization it belongs to (none: `default`).
    fn organization_ref(&self) -> Option<&OrganizationRef>;
    /// What other kinds depend on (see [`Kind::published`]).
    fn published(&self) -> Option<u64>;
    /// Records in status what the check found (nothing, unless the kind says).
    fn record_check(status: &mut Self::Status, check: &Self::Check) {
        let _ = (status, check);
    }
    /// Whether `object` is one this template would have made (for recovery and namesakes).
    fn fits(desired: &Self::Desired, object: &Self::Object) -> bool;
    /// Whether a namesake this object did not make stops it (`false`: any number may exist).
    fn claims_name(desired: &Self::Desired) -> bool {
        let _ = desired;
        true
    }
    /// The change that brings `object` to `desired`; `full`: send the configuration even when the
    /// masked answer hides a difference.
    fn patch(desired: &Self::Desired, object: &Self::Object, full: bool) -> Option<Self::Patch>;
    /// This object's claim on a namesake (`a source template named "pg"`) and how to free it.
    fn claim(desired: &Self::Desired) -> (String, &'static str);
    /// The Ready message.
    fn ready(desired: &Self::Desired, id: &str) -> String;

    /// Asks Airbyte what the kind needs checked before the template (when it may have changed).
    fn check<A: AirbyteApi>(
        &self,
        airbyte: &A,
        desired: &Self::Desired,
        changed: bool,
    ) -> impl Future<Output = Result<Self::Check, Error>> + Send;
    /// A check that stops the reconcile.
    fn stall(check: &Self::Check, desired: &Self::Desired) -> Option<(Reason, String)>;
}

/// One reconcile of a template.
async fn reconcile<K: Template, A: AirbyteApi>(
    template: Arc<K>,
    ctx: Arc<Context<A>>,
) -> Result<Action, Error> {
    lifecycle::run(template, ctx, |template, ctx, organization| async move {
        let airbyte = &organization.airbyte;
        if template.meta().deletion_timestamp.is_some() {
            return cleanup::run(template.as_ref(), &ctx, airbyte).await;
        }
        let observation = observe::observe(template.as_ref(), &ctx, airbyte).await?;
        let plan = plan::plan(template.as_ref(), &observation);
        let applied = act::act(template.as_ref(), &ctx, airbyte, &observation, plan).await?;
        record::record(template.as_ref(), &ctx, &observation, applied).await
    })
    .await
}

impl<K: Template> Kind for K {
    fn reconcile<A: AirbyteApi>(
        object: Arc<Self>,
        ctx: Arc<Context<A>>,
    ) -> impl Future<Output = Result<Action, Error>> + Send {
        reconcile(object, ctx)
    }

    /// A change of a Secret of the operator's namespace that the template reads.
    fn relations(relations: &mut Relations<Self>) {
        relations.watch::<PartialObjectMeta<Secret>>(|secret, templates, scope| {
            if secret.namespace().as_deref() != Some(scope.config.secret_namespace.as_str()) {
                return Vec::new();
            }
            let name = secret.name_any();
            those(templates, |t| {
                t.config().1.iter().any(|r| r.secret_key_ref.name == name)
            })
        });
        relations.watch::<ClusterAirbyteOrganization>(organization::users_of);
    }

    fn organization(&self, _stores: &Stores) -> Option<Request> {
        Some(organization::request(self.organization_ref(), None))
    }

    fn published(&self) -> Option<u64> {
        Some(hash_of((
            Template::published(self),
            self.organization_ref(),
        )))
    }
}

/// `Delete` unless the spec says `Orphan`.
fn deletes_in_airbyte<K: Template>(template: &K) -> bool {
    template.deletion_policy() != Some(DeletionPolicy::Orphan)
}

fn uid<K: Template>(template: &K) -> String {
    template.uid().unwrap_or_default()
}

/// What status says of the last sync.
fn synced<K: Template>(template: &K) -> Synced {
    template
        .status()
        .map(TemplateStatus::synced)
        .unwrap_or_default()
}
