//! The scoped token a source's calls use: its workspace's, from memory, else from the token
//! Secret the workspace keeps (`tokenPolicy: Keep`), else minted now and kept in memory only
//! (`tokenPolicy: OnDemand`: one mint per token lifetime for all the workspace's sources).

use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};

use crate::controllers::context::Context;
use crate::controllers::embedded_workspace::{token_secret, token_secret_name};
use crate::controllers::error::Error;
use crate::controllers::memory::CachedToken;
use airbyte_client::{AirbyteApi, ApiError, BearerToken};
use embedded_crds::EmbeddedWorkspace;

/// A token kept in the workspace's Secret must live at least this long to be used (the workspace
/// refreshes it long before).
const KEPT_MARGIN: Duration = Duration::from_secs(5);
/// A token minted on demand is replaced this long before it expires, so that no call of a
/// reconcile (a create, then its reads) runs with an expired token.
const ON_DEMAND_MARGIN: Duration = Duration::from_secs(60);

pub async fn workspace_token<A: AirbyteApi>(
    ctx: &Context<A>,
    airbyte: &A,
    workspace: &EmbeddedWorkspace,
    workspace_id: &str,
) -> Result<BearerToken, Error> {
    if let Some(token) = remembered(ctx, workspace, workspace_id) {
        return Ok(token);
    }
    if workspace.spec.keeps_token() {
        kept(ctx, workspace, workspace_id).await
    } else {
        on_demand(ctx, airbyte, workspace, workspace_id).await
    }
}

/// The token in memory, when it opens `workspace_id` and lives long enough.
fn remembered<A: AirbyteApi>(
    ctx: &Context<A>,
    workspace: &EmbeddedWorkspace,
    workspace_id: &str,
) -> Option<BearerToken> {
    let margin = if workspace.spec.keeps_token() {
        KEPT_MARGIN
    } else {
        ON_DEMAND_MARGIN
    };
    let now = ctx.clock.now();
    ctx.memory
        .token(&workspace.uid().unwrap_or_default())
        .filter(|t| t.workspace_id == workspace_id && t.expires_at > now + margin)
        .map(|t| t.token)
}

/// The token the workspace keeps in its Secret.
async fn kept<A: AirbyteApi>(
    ctx: &Context<A>,
    workspace: &EmbeddedWorkspace,
    workspace_id: &str,
) -> Result<BearerToken, Error> {
    let workspace_uid = workspace.uid().unwrap_or_default();
    let namespace = workspace.namespace().unwrap_or_default();
    let secret_name = workspace
        .status
        .as_ref()
        .and_then(|s| s.token_secret_name.clone())
        .unwrap_or_else(|| token_secret_name(workspace));
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    if let Some(secret) = secrets.get_opt(&secret_name).await?
        && token_secret::owned_by(&secret.metadata, &workspace_uid)
        && let Some((text, id, expires_at)) = token_secret::read_token(&secret)
    {
        ctx.memory.remember_token(
            &workspace_uid,
            CachedToken {
                token: BearerToken::new(text),
                workspace_id: id,
                expires_at,
            },
        );
        if let Some(token) = remembered(ctx, workspace, workspace_id) {
            return Ok(token);
        }
    }
    Err(Error::TokenUnavailable(format!(
        "the token of EmbeddedWorkspace {namespace}/{} is missing or about to expire; waiting for it to be refreshed",
        workspace.name_any()
    )))
}

/// A token minted now by the workspace's bound name, under the workspace's lock (another source
/// may have minted one while this one waited).
async fn on_demand<A: AirbyteApi>(
    ctx: &Context<A>,
    airbyte: &A,
    workspace: &EmbeddedWorkspace,
    workspace_id: &str,
) -> Result<BearerToken, Error> {
    let uid = workspace.uid().unwrap_or_default();
    let lock = ctx.memory.mint_lock(&uid);
    let _minting = lock.lock().await;
    if let Some(token) = remembered(ctx, workspace, workspace_id) {
        return Ok(token);
    }
    let namespace = workspace.namespace().unwrap_or_default();
    let status = workspace.status.clone().unwrap_or_default();
    let name = bound_name(ctx, airbyte, workspace, workspace_id).await?;
    let minted = airbyte
        .mint_scoped_token(&name, status.region_id.as_deref())
        .await?;
    if minted.workspace_id != workspace_id {
        // The name opens another workspace: the workspace's own reconcile settles which one is
        // bound (it mints by name when a source reports this); the source waits for it.
        return Err(settle(
            ctx,
            workspace,
            format!(
                "workspace {name} now opens Airbyte workspace {}, not the bound {workspace_id}; waiting for EmbeddedWorkspace {namespace}/{} to settle it",
                minted.workspace_id,
                workspace.name_any()
            ),
        ));
    }
    tracing::debug!(%namespace, workspace = %workspace.name_any(), "minted a token on demand");
    ctx.memory.remember_token(
        &uid,
        CachedToken {
            token: minted.token.clone(),
            workspace_id: minted.workspace_id,
            expires_at: minted.expires_at,
        },
    );
    Ok(minted.token)
}

/// The workspace's bound name, when a mint by it opens the bound workspace: not while the
/// workspace is being deleted, and not when the bound Airbyte workspace is gone (minting by name
/// would create it again; checked with the organization's token).
async fn bound_name<A: AirbyteApi>(
    ctx: &Context<A>,
    airbyte: &A,
    workspace: &EmbeddedWorkspace,
    workspace_id: &str,
) -> Result<String, Error> {
    let namespace = workspace.namespace().unwrap_or_default();
    let Some(name) = workspace
        .status
        .as_ref()
        .and_then(|s| s.workspace_name.clone())
        .filter(|_| workspace.metadata.deletion_timestamp.is_none())
    else {
        return Err(Error::TokenUnavailable(format!(
            "EmbeddedWorkspace {namespace}/{} has not bound its workspace name yet, or is being deleted",
            workspace.name_any()
        )));
    };
    if let Err(ApiError::NotFound { .. }) = airbyte.get_workspace(workspace_id).await {
        return Err(settle(
            ctx,
            workspace,
            format!(
                "Airbyte workspace {workspace_id} of EmbeddedWorkspace {namespace}/{} is gone; waiting for the workspace to settle it",
                workspace.name_any()
            ),
        ));
    }
    Ok(name)
}

/// Reports the workspace's binding suspect and wakes it; the source waits with `message`.
fn settle<A: AirbyteApi>(
    ctx: &Context<A>,
    workspace: &EmbeddedWorkspace,
    message: String,
) -> Error {
    ctx.memory
        .mark_token_suspect(&workspace.uid().unwrap_or_default());
    if let Some(waker) = &ctx.waker {
        waker.wake(
            "EmbeddedWorkspace",
            workspace.namespace().as_deref(),
            &workspace.name_any(),
        );
    }
    Error::TokenUnavailable(message)
}
