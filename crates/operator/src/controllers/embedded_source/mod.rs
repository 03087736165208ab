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

use std::sync::Arc;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;

use super::context::Context;
use super::error::Error;
use super::lifecycle::{self, managed};
use super::wiring::{Kind, Relations, hash_of, those};
use airbyte_client::{AirbyteApi, ApiError, Endpoint};
use embedded_crds::{
    ConnectionTemplate, DeletionPolicy, EmbeddedSource, EmbeddedSourceStatus, EmbeddedWorkspace,
    SourceTemplate,
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
        lifecycle::run(source, ctx, |source, ctx| async move {
            let result = if source.metadata.deletion_timestamp.is_some() {
                cleanup::run(&source, &ctx).await
            } else {
                apply(&source, &ctx).await
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

    fn published(&self) -> Option<u64> {
        let status = self.status.as_ref()?;
        Some(hash_of(status.source_id.as_ref()))
    }
}

async fn apply<A: AirbyteApi>(source: &EmbeddedSource, ctx: &Context<A>) -> Result<Action, Error> {
    let observation = observe::observe(source, ctx).await?;
    let plan = plan::plan(source, &observation);
    let applied = act::act(source, ctx, &observation, plan).await?;
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
