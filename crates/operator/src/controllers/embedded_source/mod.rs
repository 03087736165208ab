//! The EmbeddedSource controller: `observe` (workspace and template, name claims, the
//! configuration with Secret values, the workspace's token, and only the Airbyte reads the plan
//! needs) → `plan` (pure) → `act` (create or update with the token) → `record` (status, events,
//! the next drift check). Deletion is `cleanup`. Once Ready, a source costs no call until its
//! spec, a referenced Secret or its workspace changes, apart from one read per drift interval.

mod act;
mod cleanup;
pub mod observe;
pub mod plan;
mod record;
pub mod workspace_token;

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;

use super::context::{Context, Stores};
use super::error::Error;
use super::lifecycle::{self, managed};
use super::organization::registry::Organization;
use super::organization::{self, rules::Request};
use super::wiring::{Kind, Relations, hash_of, those};
use airbyte_client::{AirbyteApi, ApiError, Endpoint};
use embedded_crds::{
    AirbyteOrganization, ClusterAirbyteOrganization, ConnectionTemplate, DeletionPolicy,
    EmbeddedSource, EmbeddedSourceStatus, EmbeddedWorkspace, SourceTemplate,
};

managed!(
    EmbeddedSource,
    EmbeddedSourceStatus,
    "EmbeddedSource",
    namespaced
);

impl Kind for EmbeddedSource {
    async fn reconcile<A: AirbyteApi>(
        source: Arc<Self>,
        ctx: Arc<Context<A>>,
    ) -> Result<Action, Error> {
        lifecycle::run(source, ctx, |source, ctx, organization| async move {
            let result = if source.metadata.deletion_timestamp.is_some() {
                cleanup::run(&source, &ctx, &organization.airbyte).await
            } else {
                apply(&source, &ctx, &organization).await
            };
            refused_token(&source, &ctx, result)
        })
        .await
    }

    /// Its workspace or template changed readiness or id or went away; a referenced Secret
    /// changed or went away; a connection template changed its tags or readiness (which
    /// templates the filter selects is shown in status).
    fn relations(relations: &mut Relations<Self>) {
        relations.watch::<EmbeddedWorkspace>(|workspace, sources, _| {
            let (namespace, name) = (workspace.namespace(), workspace.name_any());
            those(sources, |s| {
                s.namespace() == namespace && s.spec.workspace_ref.name == name
            })
        });
        relations.watch::<SourceTemplate>(|template, sources, _| {
            let name = template.name_any();
            those(sources, |s| {
                s.spec
                    .source_template_ref
                    .as_ref()
                    .is_some_and(|r| r.name == name)
            })
        });
        relations.watch::<ConnectionTemplate>(|_, sources, _| those(sources, |_| true));
        relations.watch::<ClusterAirbyteOrganization>(organization::users_of);
        relations.watch::<AirbyteOrganization>(organization::users_of);
        relations.watch::<PartialObjectMeta<Namespace>>(|namespace, sources, _| {
            let name = namespace.name_any();
            those(sources, |s| s.namespace().as_deref() == Some(name.as_str()))
        });
        relations.watch::<PartialObjectMeta<Secret>>(|secret, sources, _| {
            let (namespace, name) = (secret.namespace(), secret.name_any());
            those(sources, |s| {
                s.namespace() == namespace
                    && s.spec
                        .source_config_secret_refs
                        .iter()
                        .any(|r| r.secret_key_ref.name == name)
            })
        });
    }

    /// Its workspace's organization (it acts for that one only; its own reference must name the
    /// same, which observing checks); while the workspace is unknown, its own reference, else
    /// the default.
    fn organization(&self, stores: &Stores) -> Option<Request> {
        let namespace = self.namespace().unwrap_or_default();
        let reference = match stores
            .of::<EmbeddedWorkspace>()
            .get(&ObjectRef::new(&self.spec.workspace_ref.name).within(&namespace))
        {
            Some(workspace) => workspace.spec.organization_ref.clone(),
            None => self.spec.organization_ref.clone(),
        };
        Some(organization::request(reference.as_ref(), Some(&namespace)))
    }

    fn observe_event<A: AirbyteApi>(event: &kube::runtime::watcher::Event<Self>, ctx: &Context<A>) {
        ctx.stores.source_names.apply(event);
        if let kube::runtime::watcher::Event::Delete(source) = event {
            source.forget(ctx);
        }
    }

    fn published(&self) -> Option<u64> {
        let status = self.status.as_ref()?;
        Some(hash_of((
            status.source_id.as_ref(),
            self.spec.organization_ref.as_ref(),
        )))
    }
}

async fn apply<A: AirbyteApi>(
    source: &EmbeddedSource,
    ctx: &Context<A>,
    organization: &Organization<A>,
) -> Result<Action, Error> {
    let observation = observe::observe(source, ctx, organization).await?;
    let plan = plan::plan(source, &observation);
    let applied = act::act(source, ctx, &organization.airbyte, &observation, plan).await?;
    record::record(source, ctx, &observation, applied).await
}

/// Airbyte refused the workspace's scoped token: the first time, the workspace re-mints and this
/// source waits for the new token; when a fresh token is refused too, the refusal is real.
fn refused_token<A: AirbyteApi>(
    source: &EmbeddedSource,
    ctx: &Context<A>,
    result: Result<Action, Error>,
) -> Result<Action, Error> {
    let uid = source.uid().unwrap_or_default();
    let Err(Error::Airbyte(error)) = &result else {
        if result.is_ok() {
            ctx.memory.token_accepted(&uid);
        }
        return result;
    };
    let scoped_call = !matches!(
        error.endpoint(),
        Some(Endpoint::ApplicationToken | Endpoint::ScopedTokenCreate | Endpoint::WorkspaceGet)
    );
    if !(scoped_call
        && matches!(
            error,
            ApiError::Unauthorized { .. } | ApiError::Forbidden { .. }
        ))
    {
        return result;
    }
    let namespace = source.namespace().unwrap_or_default();
    let workspace = &source.spec.workspace_ref.name;
    let Some(found) = ctx
        .stores
        .of::<embedded_crds::EmbeddedWorkspace>()
        .get(&kube::runtime::reflector::ObjectRef::new(workspace).within(&namespace))
    else {
        return result;
    };
    let workspace_uid = found.uid().unwrap_or_default();
    let fingerprint = ctx
        .memory
        .token(&workspace_uid)
        .map(|t| hash_of(t.token.expose()))
        .unwrap_or_default();
    if ctx.memory.token_refused(&uid, fingerprint) {
        return result;
    }
    ctx.memory.mark_token_suspect(&workspace_uid);
    if let Some(waker) = &ctx.waker {
        waker.wake("EmbeddedWorkspace", Some(&namespace), workspace);
    }
    Err(Error::TokenUnavailable(format!(
        "Airbyte refused the token of EmbeddedWorkspace {namespace}/{workspace}; waiting for a fresh one"
    )))
}

/// `Delete` unless the spec says `Orphan`.
fn deletes_in_airbyte(source: &EmbeddedSource) -> bool {
    source.spec.deletion_policy != Some(DeletionPolicy::Orphan)
}

/// The Airbyte display name.
pub fn source_name(source: &EmbeddedSource) -> String {
    source
        .spec
        .name
        .clone()
        .unwrap_or_else(|| source.name_any())
}

#[cfg(test)]
mod driver_tests;
