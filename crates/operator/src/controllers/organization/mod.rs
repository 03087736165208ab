//! Organizations as resources: `ClusterAirbyteOrganization` and `AirbyteOrganization`.
//!
//! The controller (`observe` → `plan` → `act` → `record`) reads an organization's credentials
//! Secret, builds its Airbyte client (own token cache, own request budget), obtains an
//! application token to prove the credentials, keeps the in-use finalizer while objects use it,
//! and publishes what it found in the [`registry`]. Every other kind asks for its organization
//! through [`resolve`] before it acts: the reference rules are [`rules`], and an object whose
//! organization is missing, not admitting it, or not Ready stalls without an Airbyte call.

mod act;
mod observe;
mod plan;
mod record;
pub mod registry;
pub mod rules;
pub mod users;

#[cfg(test)]
mod driver_tests;

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{ObjectRef, Store};

use self::registry::{Entry, Health, Organization};
use self::rules::{Decision, Found, Known, Request};
use super::context::{Context, Stores};
use super::error::Error;
use super::lifecycle::{self, Managed, managed};
use super::wiring::{Kind, Relations, Scope, hash_of, those};
use crate::config::OperatorConfig;
use airbyte_client::AirbyteApi;
use embedded_crds::conditions::{Outcome, Reason, is_ready};
use embedded_crds::{
    AirbyteOrganization, ClusterAirbyteOrganization, ConnectionTemplate, DEFAULT_ORGANIZATION,
    EmbeddedSource, EmbeddedWorkspace, NamespaceRule, OrganizationKind, OrganizationRef,
    OrganizationSettings, OrganizationStatus, SourceTemplate,
};

/// One organization object, by kind, namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrganizationKey {
    pub kind: OrganizationKind,
    pub namespace: Option<String>,
    pub name: String,
}

impl OrganizationKey {
    pub fn cluster(name: &str) -> OrganizationKey {
        OrganizationKey {
            kind: OrganizationKind::ClusterAirbyteOrganization,
            namespace: None,
            name: name.to_string(),
        }
    }

    pub fn namespaced(namespace: &str, name: &str) -> OrganizationKey {
        OrganizationKey {
            kind: OrganizationKind::AirbyteOrganization,
            namespace: Some(namespace.to_string()),
            name: name.to_string(),
        }
    }

    /// What `reference` names from an object in `namespace` (none: the default).
    pub fn of(reference: Option<&OrganizationRef>, namespace: Option<&str>) -> OrganizationKey {
        match reference {
            None => OrganizationKey::cluster(DEFAULT_ORGANIZATION),
            Some(reference) => match reference.kind {
                OrganizationKind::ClusterAirbyteOrganization => {
                    OrganizationKey::cluster(&reference.name)
                }
                OrganizationKind::AirbyteOrganization => OrganizationKey {
                    kind: OrganizationKind::AirbyteOrganization,
                    namespace: namespace.map(str::to_string),
                    name: reference.name.clone(),
                },
            },
        }
    }

    /// `ClusterAirbyteOrganization/default`: the same organization the flags describe, when no
    /// such object exists.
    pub fn is_default(&self) -> bool {
        self.kind == OrganizationKind::ClusterAirbyteOrganization
            && self.name == DEFAULT_ORGANIZATION
    }

    /// `ClusterAirbyteOrganization prod`, `AirbyteOrganization tenant-a/own`.
    pub fn describe(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{} {namespace}/{}", self.kind.as_str(), self.name),
            None => format!("{} {}", self.kind.as_str(), self.name),
        }
    }

    /// `ClusterAirbyteOrganization/prod`, `AirbyteOrganization/own` (status: the namespace is
    /// the object's own).
    pub fn status_name(&self) -> String {
        format!("{}/{}", self.kind.as_str(), self.name)
    }

    /// The metric label: `prod`, `tenant-a/own` (bounded by the organization objects).
    pub fn label(&self) -> String {
        match &self.namespace {
            Some(namespace) => format!("{namespace}/{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Both organization kinds, for the controller and the rules.
pub trait OrganizationObject: Kind + Managed<Status = OrganizationStatus> {
    fn key(&self) -> OrganizationKey;
    fn settings(&self) -> &OrganizationSettings;
    fn namespaces(&self) -> Option<&NamespaceRule>;
    /// Where its credentials Secret lives.
    fn secret_namespace(&self, config: &OperatorConfig) -> String;
}

managed!(
    ClusterAirbyteOrganization,
    OrganizationStatus,
    "ClusterAirbyteOrganization",
    cluster,
    embedded_crds::IN_USE_FINALIZER
);
managed!(
    AirbyteOrganization,
    OrganizationStatus,
    "AirbyteOrganization",
    namespaced,
    embedded_crds::IN_USE_FINALIZER
);

impl OrganizationObject for ClusterAirbyteOrganization {
    fn key(&self) -> OrganizationKey {
        OrganizationKey::cluster(&self.name_any())
    }
    fn settings(&self) -> &OrganizationSettings {
        &self.spec.settings
    }
    fn namespaces(&self) -> Option<&NamespaceRule> {
        self.spec.namespaces.as_ref()
    }
    fn secret_namespace(&self, config: &OperatorConfig) -> String {
        config.secret_namespace.clone()
    }
}

impl OrganizationObject for AirbyteOrganization {
    fn key(&self) -> OrganizationKey {
        OrganizationKey::namespaced(&self.namespace().unwrap_or_default(), &self.name_any())
    }
    fn settings(&self) -> &OrganizationSettings {
        &self.spec.settings
    }
    fn namespaces(&self) -> Option<&NamespaceRule> {
        None
    }
    fn secret_namespace(&self, _config: &OperatorConfig) -> String {
        self.namespace().unwrap_or_default()
    }
}

/// The organization kinds' `Kind`: the same pipeline for both.
macro_rules! organization_kind {
    ($($kind:ty),*) => {$(
        impl Kind for $kind {
            async fn reconcile<A: AirbyteApi>(
                object: Arc<Self>,
                ctx: Arc<Context<A>>,
            ) -> Result<Action, Error> {
                lifecycle::run_unbound(object, ctx, |object, ctx| async move {
                    reconcile(object.as_ref(), &ctx).await
                })
                .await
            }

            fn relations(relations: &mut Relations<Self>) {
                organization_relations(relations);
            }

            fn published(&self) -> Option<u64> {
                organization_published(self)
            }

            fn forget<A: AirbyteApi>(&self, ctx: &Context<A>) {
                ctx.memory.forget(&self.uid().unwrap_or_default());
                ctx.organizations.remove(&self.key());
                ctx.metrics.forget_organization(&self.key().label());
            }
        }
    )*};
}

organization_kind!(ClusterAirbyteOrganization, AirbyteOrganization);

async fn reconcile<K: OrganizationObject, A: AirbyteApi>(
    organization: &K,
    ctx: &Context<A>,
) -> Result<Action, Error> {
    let observation = match observe::observe(organization, ctx).await {
        Ok(observation) => observation,
        Err(error) => {
            unobserved(organization, ctx, &error);
            return Err(error);
        }
    };
    let defaults = plan::Defaults {
        allow_insecure_http: ctx.config.allow_insecure_http,
        requests_per_second: ctx.config.max_requests_per_second,
        allowed_api_urls: (K::KIND == "AirbyteOrganization")
            .then_some(ctx.config.allowed_api_urls.as_slice()),
    };
    let plan = plan::plan(organization.settings(), &observation, defaults);
    let applied = match act::act(organization, ctx, &observation, plan).await {
        Ok(applied) => applied,
        Err(error) => {
            unobserved(organization, ctx, &error);
            return Err(error);
        }
    };
    record::record(organization, ctx, &observation, applied).await
}

/// The organization could not be looked at (Kubernetes failed): its objects must not wait for
/// it without a word. One that worked stays usable; one never checked is not Ready, saying why.
fn unobserved<K: OrganizationObject, A: AirbyteApi>(
    organization: &K,
    ctx: &Context<A>,
    error: &Error,
) {
    let key = organization.key();
    let generation = organization.meta().generation;
    let previous = ctx.organizations.entry(&key);
    let (health, client) = match previous {
        // The same generation that was proven: it stays usable.
        Some((seen, Health::Ready, client)) if seen == generation => (Health::Ready, client),
        other => {
            let outcome = error.outcome(&organization.describe());
            let health = Health::NotReady {
                reason: outcome.reason(),
                message: outcome.message().to_string(),
            };
            (health, other.and_then(|(_, _, client)| client))
        }
    };
    ctx.organizations.set(
        key,
        Entry {
            generation,
            health,
            organization: client,
        },
    );
}

/// What users depend on: readiness, the organization's id and namespace rules (generation),
/// and whether it is going away.
fn organization_published<K: OrganizationObject>(organization: &K) -> Option<u64> {
    let ready = organization
        .status()
        .is_some_and(|status| is_ready(&status.conditions));
    Some(hash_of((
        ready,
        organization.meta().generation,
        organization.meta().deletion_timestamp.is_some(),
    )))
}

/// An organization is reconciled when its credentials Secret changes and when an object that
/// uses it appears, changes its reference or goes away (so that it counts its users).
fn organization_relations<K: OrganizationObject + Kind>(relations: &mut Relations<K>) {
    relations.watch::<PartialObjectMeta<Secret>>(|secret, organizations, scope| {
        let (namespace, name) = (secret.namespace().unwrap_or_default(), secret.name_any());
        those(organizations, |o| {
            o.settings().credentials_secret_ref.name == name
                && o.secret_namespace(&scope.config) == namespace
        })
    });
    relations.watch::<EmbeddedWorkspace>(user_of::<EmbeddedWorkspace, K>);
    relations.watch::<EmbeddedSource>(user_of::<EmbeddedSource, K>);
    relations.watch::<SourceTemplate>(user_of::<SourceTemplate, K>);
    relations.watch::<ConnectionTemplate>(user_of::<ConnectionTemplate, K>);
}

/// The organization object `user` asks for, when it is of kind `K`.
fn user_of<U: Kind, K: OrganizationObject>(
    user: &U,
    _organizations: &Store<K>,
    scope: &Scope,
) -> Vec<ObjectRef<K>> {
    let Some(request) = user.organization(&scope.stores) else {
        return Vec::new();
    };
    let key = request.key;
    if key.kind.as_str() != K::KIND {
        return Vec::new();
    }
    let reference = ObjectRef::new(&key.name);
    vec![match &key.namespace {
        Some(namespace) => reference.within(namespace),
        None => reference,
    }]
}

/// The objects of `U` that act for `organization` (users watch their organization: its
/// readiness decides whether they may act).
pub fn users_of<O: OrganizationObject, U: Kind>(
    organization: &O,
    users: &Store<U>,
    scope: &Scope,
) -> Vec<ObjectRef<U>> {
    let key = organization.key();
    those(users, |user| {
        user.organization(&scope.stores)
            .is_some_and(|request| request.key == key)
    })
}

/// What an object's reconcile may act with.
pub enum Resolution<A> {
    Resolved(Arc<Organization<A>>),
    /// The organization has not been checked in its current form: wait quietly.
    Wait,
    /// The object stalls with this outcome; nothing is sent to Airbyte.
    Refused(Outcome),
}

/// The organization `object` acts for, if the rules let it.
pub fn resolve<K: Kind, A: AirbyteApi>(object: &K, ctx: &Context<A>) -> Option<Resolution<A>> {
    let request = object.organization(&ctx.stores)?;
    let stores = &ctx.stores;
    let labels = request
        .namespace
        .as_deref()
        .and_then(|namespace| stores.namespace_labels(namespace));
    let found = organization_object(stores, &request.key);
    let entry = ctx.organizations.entry(&request.key);
    let known = entry.as_ref().map(|(generation, health, _)| Known {
        generation: *generation,
        health,
    });
    let found_view = found.as_ref().map(|found| Found {
        generation: found.generation,
        namespaces: found.namespaces.as_ref(),
        deleting: found.deleting,
    });
    let mut request = request;
    request.bound = object
        .status()
        .and_then(|status| lifecycle::OrganizationFields::organization_id(status))
        .is_some();
    let decision = rules::decide(
        &request,
        found_view,
        labels.as_ref(),
        known,
        ctx.organizations.fallback().is_some(),
    );
    let organization = match decision {
        Decision::Use => match entry.and_then(|(_, _, organization)| organization) {
            Some(organization) => organization,
            None => return Some(Resolution::Wait),
        },
        Decision::UseFallback => ctx.organizations.fallback()?,
        Decision::Wait => return Some(Resolution::Wait),
        Decision::Refuse { reason, message } => {
            return Some(Resolution::Refused(Outcome::stalled(reason, message)));
        }
    };
    Some(bound(object, organization))
}

/// An object bound to one Airbyte organization never acts in another.
fn bound<K: Kind, A>(object: &K, organization: Arc<Organization<A>>) -> Resolution<A> {
    let bound = object
        .status()
        .and_then(|status| lifecycle::OrganizationFields::organization_id(status));
    match bound {
        Some(id) if !id.eq_ignore_ascii_case(&organization.organization_id) => {
            Resolution::Refused(Outcome::stalled(
                Reason::OrganizationChanged,
                format!(
                    "{} was made in Airbyte organization {id}, but {} is organization {}: an object never moves to another organization; point spec.organizationRef back, or create a new object",
                    object.describe(),
                    organization.key.describe(),
                    organization.organization_id
                ),
            ))
        }
        _ => Resolution::Resolved(organization),
    }
}

/// An organization object as the cache holds it.
pub struct Cached {
    pub generation: Option<i64>,
    pub organization_id: String,
    pub namespaces: Option<NamespaceRule>,
    pub deleting: bool,
}

/// The organization object `key` names, from the cache.
pub fn organization_object(stores: &Stores, key: &OrganizationKey) -> Option<Cached> {
    match key.kind {
        OrganizationKind::ClusterAirbyteOrganization => stores
            .of::<ClusterAirbyteOrganization>()
            .get(&ObjectRef::new(&key.name))
            .map(|o| Cached {
                generation: o.metadata.generation,
                organization_id: o.spec.settings.organization_id.clone(),
                namespaces: o.spec.namespaces.clone(),
                deleting: o.metadata.deletion_timestamp.is_some(),
            }),
        OrganizationKind::AirbyteOrganization => stores
            .of::<AirbyteOrganization>()
            .get(&ObjectRef::new(&key.name).within(key.namespace.as_deref()?))
            .map(|o| Cached {
                generation: o.metadata.generation,
                organization_id: o.spec.settings.organization_id.clone(),
                namespaces: None,
                deleting: o.metadata.deletion_timestamp.is_some(),
            }),
    }
}

/// The Airbyte organization id `key` stands for, as far as the caches and flags tell.
pub fn organization_id_of<A>(
    stores: &Stores,
    fallback: Option<&Organization<A>>,
    key: &OrganizationKey,
) -> Option<String> {
    match organization_object(stores, key) {
        Some(found) => Some(found.organization_id.to_lowercase()),
        None if key.is_default() => fallback.map(|f| f.organization_id.to_lowercase()),
        None => None,
    }
}

/// The request of an object in `namespace` (none: cluster-scoped) with `reference`.
pub fn request(reference: Option<&OrganizationRef>, namespace: Option<&str>) -> Request {
    Request {
        key: OrganizationKey::of(reference, namespace),
        namespace: namespace.map(str::to_string),
        defaulted: reference.is_none(),
        bound: false,
    }
}
