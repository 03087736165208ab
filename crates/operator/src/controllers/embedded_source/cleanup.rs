//! Deleting an EmbeddedSource: with the `Delete` policy the Airbyte source goes first, found the
//! way creation would find it (status, or by name inside the recorded create window after an
//! interrupted create), with the workspace's token (or, when the workspace is gone too, a token
//! minted by the workspace's name); then the finalizer is released.

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;

use super::observe::workspace_token;
use crate::controllers::context::Context;
use crate::controllers::error::Error;
use crate::controllers::events::{EventAction, EventReason, Note};
use crate::controllers::intent::{self, Found};
use crate::controllers::lifecycle::Managed;
use crate::controllers::status::{OwnedMetadata, apply_metadata};
use airbyte_client::{AirbyteApi, ApiError, BearerToken};
use embedded_crds::{CREATE_PENDING, EmbeddedSource, EmbeddedWorkspace, FINALIZER};

pub async fn run<A: AirbyteApi>(
    source: &EmbeddedSource,
    ctx: &Context<A>,
) -> Result<Action, Error> {
    let uid = source.uid().unwrap_or_default();
    if !source.finalizers().iter().any(|f| f == FINALIZER) {
        ctx.memory.forget(&uid);
        return Ok(Action::await_change());
    }
    if super::deletes_in_airbyte(source) {
        delete_external(source, ctx).await?;
    }
    let mut metadata = OwnedMetadata::of(source);
    metadata.finalizer = false;
    let api = EmbeddedSource::api(ctx.client.clone(), source);
    apply_metadata(&api, source, &metadata).await?;
    ctx.memory.forget(&uid);
    Ok(Action::await_change())
}

async fn delete_external<A: AirbyteApi>(
    source: &EmbeddedSource,
    ctx: &Context<A>,
) -> Result<(), Error> {
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
    let intent = source
        .annotations()
        .get(CREATE_PENDING)
        .and_then(|t| crate::controllers::clock::parse_rfc3339(t));
    let Some(workspace_id) =
        workspace_id.filter(|_| status.source_id.is_some() || intent.is_some())
    else {
        return Ok(());
    };
    let token = match &workspace {
        Some(workspace) => workspace_token(ctx, workspace, &workspace_id).await.ok(),
        None => None,
    };
    let token = match token {
        Some(token) => token,
        // No stored token (the workspace object is gone too): mint one by the workspace's name.
        None => match ctx.airbyte.get_workspace(&workspace_id).await {
            Ok(found) => {
                ctx.airbyte
                    .mint_scoped_token(&found.name, None)
                    .await?
                    .token
            }
            Err(ApiError::NotFound { .. }) => return Ok(()),
            Err(error) => return Err(error.into()),
        },
    };
    let id = match status.source_id {
        Some(id) => Some(id),
        None => left_by_interrupted_create(source, ctx, &token, &workspace_id, intent).await?,
    };
    if let Some(id) = id {
        ctx.airbyte.delete_source(&token, &id).await?;
        ctx.publish(
            source,
            Note::normal(
                EventReason::Deleted,
                EventAction::DeleteSource,
                format!("deleted Airbyte source {id}"),
            ),
        );
    }
    Ok(())
}

/// The source an operator that died between the create call and the status write left behind.
async fn left_by_interrupted_create<A: AirbyteApi>(
    source: &EmbeddedSource,
    ctx: &Context<A>,
    token: &BearerToken,
    workspace_id: &str,
    intent: Option<std::time::SystemTime>,
) -> Result<Option<String>, Error> {
    let name = super::source_name(source);
    let existing = ctx.airbyte.list_sources(token, workspace_id).await?;
    let candidates: Vec<(&str, Option<&str>)> = existing
        .iter()
        .filter(|s| s.name == name)
        .map(|s| (s.id.as_str(), s.created_at.as_deref()))
        .collect();
    Ok(match intent::classify(&candidates, intent) {
        Found::Ours(id) => Some(id.to_string()),
        Found::Nothing | Found::Taken(_) => None,
    })
}
