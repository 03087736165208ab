//! The EmbeddedWorkspace controller: `observe` (names and claims, the token Secret, and only the
//! Airbyte reads the plan needs) → `plan` (pure: mint, set status, stall or nothing) → `act`
//! (mint, write the Secret, set the workspace's status) → `record` (status, events, the next
//! visit at the refresh moment). Deletion is `cleanup`. A steady workspace costs no call at all
//! between refreshes, apart from one token check per drift interval.

mod act;
mod cleanup;
pub mod naming;
mod observe;
pub mod plan;
mod record;
pub mod refresh;
pub mod token_secret;

use std::sync::Arc;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::ResourceExt;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;

use super::context::{Context, Stores};
use super::error::Error;
use super::lifecycle::{self, managed};
use super::organization::{self, rules::Request};
use super::wiring::{Kind, Relations, hash_of, those};
use airbyte_client::AirbyteApi;
use embedded_crds::conditions::is_ready;
use embedded_crds::{
    AirbyteOrganization, ClusterAirbyteOrganization, EmbeddedWorkspace, EmbeddedWorkspaceStatus,
};

managed!(
    EmbeddedWorkspace,
    EmbeddedWorkspaceStatus,
    "EmbeddedWorkspace",
    namespaced
);

impl Kind for EmbeddedWorkspace {
    async fn reconcile<A: AirbyteApi>(
        workspace: Arc<Self>,
        ctx: Arc<Context<A>>,
    ) -> Result<Action, Error> {
        lifecycle::run(workspace, ctx, |workspace, ctx, organization| async move {
            if workspace.metadata.deletion_timestamp.is_some() {
                return cleanup::run(&workspace, &ctx, &organization).await;
            }
            let observation = observe::observe(&workspace, &ctx, &organization).await?;
            let plan = plan::plan(&observation);
            let applied = act::act(&workspace, &ctx, &organization, &observation, plan).await?;
            record::record(&workspace, &ctx, &observation, applied).await
        })
        .await
    }

    /// Its token Secret changed or went away; its namespace's labels (the name policy, an
    /// organization's namespace rules) changed; its organization changed.
    fn relations(relations: &mut Relations<Self>) {
        relations.watch::<PartialObjectMeta<Secret>>(|secret, _, _| {
            let namespace = secret.namespace().unwrap_or_default();
            secret
                .metadata
                .owner_references
                .iter()
                .flatten()
                .filter(|owner| owner.kind == "EmbeddedWorkspace")
                .map(|owner| ObjectRef::new(&owner.name).within(&namespace))
                .collect()
        });
        relations.watch::<PartialObjectMeta<Namespace>>(|namespace, workspaces, _| {
            let name = namespace.name_any();
            those(workspaces, |w| {
                w.namespace().as_deref() == Some(name.as_str())
            })
        });
        relations.watch::<ClusterAirbyteOrganization>(organization::users_of);
        relations.watch::<AirbyteOrganization>(organization::users_of);
    }

    fn organization(&self, _stores: &Stores) -> Option<Request> {
        Some(organization::request(
            self.spec.organization_ref.as_ref(),
            Some(&self.namespace().unwrap_or_default()),
        ))
    }

    fn published(&self) -> Option<u64> {
        let status = self.status.as_ref()?;
        Some(hash_of((
            is_ready(&status.conditions),
            status.workspace_id.as_ref(),
            self.spec.organization_ref.as_ref(),
        )))
    }

    fn forget<A: AirbyteApi>(&self, ctx: &Context<A>) {
        forget(ctx, self);
    }

    fn observe_event<A: AirbyteApi>(event: &kube::runtime::watcher::Event<Self>, ctx: &Context<A>) {
        ctx.stores.workspace_names.apply(event);
        if let kube::runtime::watcher::Event::Delete(workspace) = event {
            forget(ctx, workspace);
        }
    }
}

/// Default Secret name for a workspace's token.
pub fn token_secret_name(workspace: &EmbeddedWorkspace) -> String {
    workspace
        .spec
        .token_secret_name
        .clone()
        .unwrap_or_else(|| format!("{}-airbyte-token", workspace.name_any()))
}

/// Drops in-memory state and metrics of a workspace that is going away.
pub fn forget<A: AirbyteApi>(ctx: &Context<A>, workspace: &EmbeddedWorkspace) {
    ctx.memory.forget(&workspace.uid().unwrap_or_default());
    ctx.metrics.forget_workspace(
        &workspace.namespace().unwrap_or_default(),
        &workspace.name_any(),
    );
}

#[cfg(test)]
mod driver_tests;
