//! Deleting an EmbeddedSource: with the `Delete` policy the Airbyte source goes first, found the
//! way creation would find it (status, or by name inside the recorded create window after an
//! interrupted create), with the workspace's token (or, when the workspace is gone too, a token
//! minted by the workspace's name); then the finalizer is released.

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;

use super::act::EVENTS;
use super::observe::Sources;
use super::workspace_token::workspace_token;
use crate::controllers::context::Context;
use crate::controllers::error::Error;
use crate::controllers::external::made_by;
use crate::controllers::intent;
use crate::controllers::lifecycle::finish_deletion;
use airbyte_client::{AirbyteApi, ApiError, BearerToken};
use embedded_crds::{EmbeddedSource, EmbeddedWorkspace};

pub async fn run<A: AirbyteApi>(
    source: &EmbeddedSource,
    ctx: &Context<A>,
    airbyte: &A,
) -> Result<Action, Error> {
    finish_deletion(source, ctx, delete_external(source, ctx, airbyte)).await
}

/// Deletes the Airbyte source unless the policy is `Orphan`.
async fn delete_external<A: AirbyteApi>(
    source: &EmbeddedSource,
    ctx: &Context<A>,
    airbyte: &A,
) -> Result<(), Error> {
    if !super::deletes_in_airbyte(source) {
        return Ok(());
    }
    let namespace = source.namespace().unwrap_or_default();
    let status = source.status.clone().unwrap_or_default();
    let workspace = ctx
        .stores
        .of::<EmbeddedWorkspace>()
        .get(&ObjectRef::new(&source.spec.workspace_ref.name).within(&namespace));
    let workspace_id = status.workspace_id.clone().or_else(|| {
        workspace
            .as_ref()
            .and_then(|w| w.status.as_ref()?.workspace_id.clone())
    });
    let intent = intent::recorded(source);
    let Some(workspace_id) =
        workspace_id.filter(|_| status.source_id.is_some() || intent.is_some())
    else {
        return Ok(());
    };
    let Some(token) = token(ctx, airbyte, workspace.as_deref(), &workspace_id).await? else {
        return Ok(());
    };
    let name = super::source_name(source);
    let reader = Sources {
        airbyte,
        token: &token,
        workspace_id: &workspace_id,
        name: &name,
    };
    if let Some(id) = made_by(&reader, status.source_id, intent).await? {
        airbyte.delete_source(&token, &id).await?;
        ctx.publish(source, EVENTS.deleted(&id));
    }
    Ok(())
}

/// A token for the workspace: its own, or (the workspace object is gone too) one minted by the
/// Airbyte workspace's name; `None` when the Airbyte workspace is gone (and its sources with it).
async fn token<A: AirbyteApi>(
    ctx: &Context<A>,
    airbyte: &A,
    workspace: Option<&EmbeddedWorkspace>,
    workspace_id: &str,
) -> Result<Option<BearerToken>, Error> {
    if let Some(workspace) = workspace
        && let Ok(token) = workspace_token(ctx, airbyte, workspace, workspace_id).await
    {
        return Ok(Some(token));
    }
    match airbyte.get_workspace(workspace_id).await {
        Ok(found) => Ok(Some(
            airbyte.mint_scoped_token(&found.name, None).await?.token,
        )),
        Err(ApiError::NotFound { .. }) => Ok(None),
        Err(error) => Err(error.into()),
    }
}
