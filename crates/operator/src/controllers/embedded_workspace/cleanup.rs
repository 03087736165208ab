//! Deleting an EmbeddedWorkspace: with the `Delete` policy the Airbyte workspace goes first
//! (found from status, or, after an interrupted first reconcile, from the token Secret the way
//! apply finds it), then the finalizer is released. The token Secret goes with its owner.

use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::Action;
use kube::{Api, ResourceExt};

use super::token_secret;
use crate::controllers::context::Context;
use crate::controllers::error::Error;
use crate::controllers::events::{EventAction, EventReason, Note};
use crate::controllers::lifecycle::finish_deletion;
use crate::controllers::organization::registry::Organization;
use airbyte_client::AirbyteApi;
use embedded_crds::{DeletionPolicy, EmbeddedWorkspace};

pub async fn run<A: AirbyteApi>(
    workspace: &EmbeddedWorkspace,
    ctx: &Context<A>,
    organization: &Organization<A>,
) -> Result<Action, Error> {
    finish_deletion(workspace, ctx, delete(workspace, ctx, organization)).await
}

/// Deletes the Airbyte workspace with the `Delete` policy (the default is `Orphan`).
async fn delete<A: AirbyteApi>(
    workspace: &EmbeddedWorkspace,
    ctx: &Context<A>,
    organization: &Organization<A>,
) -> Result<(), Error> {
    if workspace.spec.deletion_policy != Some(DeletionPolicy::Delete) {
        return Ok(());
    }
    let Some(id) = workspace_id(workspace, ctx).await? else {
        return Ok(());
    };
    organization.airbyte.delete_workspace(&id).await?;
    let name = workspace
        .status
        .as_ref()
        .and_then(|s| s.workspace_name.clone())
        .unwrap_or(id);
    ctx.publish(
        workspace,
        Note::normal(
            EventReason::Deleted,
            EventAction::DeleteWorkspace,
            format!("deleted Airbyte workspace {name}"),
        ),
    );
    Ok(())
}

/// The bound Airbyte workspace: status, else the token this process holds, else the token Secret
/// (written before status by an operator that then died).
async fn workspace_id<A: AirbyteApi>(
    workspace: &EmbeddedWorkspace,
    ctx: &Context<A>,
) -> Result<Option<String>, Error> {
    let uid = workspace.uid().unwrap_or_default();
    if let Some(id) = workspace
        .status
        .as_ref()
        .and_then(|s| s.workspace_id.clone())
    {
        return Ok(Some(id));
    }
    if let Some(token) = ctx.memory.token(&uid) {
        return Ok(Some(token.workspace_id));
    }
    let secrets: Api<Secret> = Api::namespaced(
        ctx.client.clone(),
        &workspace.namespace().unwrap_or_default(),
    );
    Ok(secrets
        .get_opt(&super::token_secret_name(workspace))
        .await?
        .filter(|secret| token_secret::owned_by(&secret.metadata, &uid))
        .and_then(|secret| token_secret::read_token(&secret))
        .map(|(_, workspace_id, _)| workspace_id))
}
