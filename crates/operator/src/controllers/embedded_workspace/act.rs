//! Performs an EmbeddedWorkspace's plan: the finalizer, minting (scoped and widget tokens) and
//! writing the token Secret, setting the workspace's status. Thin: `plan` decided.

use std::time::SystemTime;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::{Api, Resource, ResourceExt};

use super::observe::Observation;
use super::plan::{self, Plan};
use super::refresh::MintReason;
use super::token_secret;
use crate::controllers::context::Context;
use crate::controllers::convert::tag_mode;
use crate::controllers::error::Error;
use crate::controllers::events::{EventAction, EventReason, Note};
use crate::controllers::lifecycle::write_metadata;
use crate::controllers::memory::{CachedToken, RecordedSecret};
use crate::controllers::organization::registry::Organization;
use crate::controllers::status::{FIELD_MANAGER, OwnedMetadata};
use airbyte_client::models::{UpdateWorkspace, WidgetTokenRequest, WorkspaceStatus};
use airbyte_client::{AirbyteApi, BearerToken, ScopedToken};
use embedded_crds::conditions::Reason;
use embedded_crds::{DeletionPolicy, EmbeddedWorkspace};

/// A token minted by this reconcile.
#[derive(Clone, Debug)]
pub struct Minted {
    pub workspace_id: String,
    pub minted_at: SystemTime,
    pub expires_at: SystemTime,
}

#[derive(Debug, Default)]
pub struct Applied {
    pub minted: Option<Minted>,
    pub stall: Option<(Reason, String)>,
    pub notes: Vec<Note>,
}

pub async fn act<A: AirbyteApi>(
    workspace: &EmbeddedWorkspace,
    ctx: &Context<A>,
    organization: &Organization<A>,
    observation: &Observation,
    plan: Plan,
) -> Result<Applied, Error> {
    let airbyte = &organization.airbyte;
    let mut metadata = OwnedMetadata::of(workspace);
    // The finalizer guards external deletion only with the Delete policy.
    metadata.finalizer = workspace.spec.deletion_policy == Some(DeletionPolicy::Delete);
    write_metadata(workspace, ctx, &metadata).await?;
    let mut applied = match plan {
        Plan::Stall { reason, message } => Applied {
            stall: Some((reason, message)),
            ..Applied::default()
        },
        Plan::Nothing => Applied::default(),
        Plan::SetStatus(status) => {
            let id = observation.basis.known_id.clone().unwrap_or_default();
            let note = set_status(airbyte, &id, status, &observation.basis.workspace_name).await?;
            Applied {
                notes: vec![note],
                ..Applied::default()
            }
        }
        Plan::Mint { reason, suspend } => {
            mint(workspace, ctx, airbyte, observation, reason, suspend).await?
        }
    };
    if plan::removes_secret(&observation.basis) {
        applied
            .notes
            .extend(remove_secret(workspace, ctx, &observation.basis).await?);
    }
    Ok(applied)
}

/// Deletes the token Secret this workspace owned (it keeps no token now), only while it is
/// still the one this workspace owns (a precondition on its uid); `None` when it was gone.
async fn remove_secret<A: AirbyteApi>(
    workspace: &EmbeddedWorkspace,
    ctx: &Context<A>,
    basis: &super::observe::Basis,
) -> Result<Option<Note>, Error> {
    let namespace = workspace.namespace().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let cached_uid = ctx
        .stores
        .secret(&namespace, &basis.secret_name)
        .and_then(|meta| meta.metadata.uid.clone());
    let params = DeleteParams {
        preconditions: Some(Preconditions {
            uid: cached_uid,
            resource_version: None,
        }),
        ..DeleteParams::default()
    };
    let deleted = match secrets.delete(&basis.secret_name, &params).await {
        Ok(_) => true,
        Err(kube::Error::Api(status)) if status.code == 404 || status.code == 409 => false,
        Err(error) => return Err(error.into()),
    };
    ctx.memory.record_secret(&basis.uid, None);
    Ok(deleted.then(|| {
        Note::normal(
            EventReason::TokenSecretRemoved,
            EventAction::DeleteTokenSecret,
            format!(
                "deleted token Secret {}: tokenPolicy is OnDemand, so no token is kept",
                basis.secret_name
            ),
        )
    }))
}

async fn set_status<A: AirbyteApi>(
    airbyte: &A,
    id: &str,
    status: WorkspaceStatus,
    name: &str,
) -> Result<Note, Error> {
    airbyte
        .update_workspace(id, &UpdateWorkspace::status(status))
        .await?;
    let inactive = status == WorkspaceStatus::Inactive;
    Ok(Note::normal(
        if inactive {
            EventReason::Suspended
        } else {
            EventReason::Resumed
        },
        EventAction::SetWorkspaceStatus,
        format!(
            "Airbyte workspace {name} set {}",
            if inactive { "inactive" } else { "active" }
        ),
    ))
}

async fn mint<A: AirbyteApi>(
    workspace: &EmbeddedWorkspace,
    ctx: &Context<A>,
    airbyte: &A,
    observation: &Observation,
    reason: MintReason,
    suspend: bool,
) -> Result<Applied, Error> {
    let basis = &observation.basis;
    tracing::debug!(reason = reason.as_str(), "about to mint");
    let minted_at = ctx.clock.now();
    let scoped = airbyte
        .mint_scoped_token(&basis.workspace_name, Some(&basis.region))
        .await?;
    if basis.keep_token {
        let widget = mint_widget(workspace, airbyte, observation).await?;
        write_secret(
            workspace,
            ctx,
            observation,
            &scoped,
            widget.as_ref(),
            minted_at,
        )
        .await?;
    } else {
        remember(ctx, &basis.uid, &scoped);
    }
    ctx.drift_checked(&basis.uid);
    let recreated = basis
        .known_id
        .as_deref()
        .is_some_and(|old| old != scoped.workspace_id);
    let mut notes = mint_notes(basis, reason, recreated);
    // A workspace minted anew is active; suspend it if asked.
    if suspend && basis.known_id.as_deref() != Some(scoped.workspace_id.as_str()) {
        notes.push(
            set_status(
                airbyte,
                &scoped.workspace_id,
                WorkspaceStatus::Inactive,
                &basis.workspace_name,
            )
            .await?,
        );
    }
    tracing::info!(namespace = %workspace.namespace().unwrap_or_default(), name = %workspace.name_any(), reason = reason.as_str(), "minted token");
    Ok(Applied {
        minted: Some(Minted {
            workspace_id: scoped.workspace_id,
            minted_at,
            expires_at: scoped.expires_at,
        }),
        stall: None,
        notes,
    })
}

fn mint_notes(basis: &super::observe::Basis, reason: MintReason, recreated: bool) -> Vec<Note> {
    let name = &basis.workspace_name;
    let message = match reason {
        MintReason::Missing if basis.known_id.is_none() => {
            format!("minted a scoped token for workspace {name}")
        }
        MintReason::Refresh => format!("refreshed the scoped token for workspace {name}"),
        other => format!(
            "minted a new scoped token for workspace {name}: {}",
            other.as_str()
        ),
    };
    let event = if reason == MintReason::Refresh {
        EventReason::TokenRefreshed
    } else {
        EventReason::TokenIssued
    };
    let mut notes = vec![Note {
        warning: recreated,
        reason: event,
        action: EventAction::MintToken,
        message,
    }];
    if recreated {
        notes.push(Note::warning(
            EventReason::WorkspaceRecreated,
            EventAction::MintToken,
            format!(
                "Airbyte workspace {name} had been deleted out of band; minting created it again"
            ),
        ));
    }
    notes
}

async fn mint_widget<A: AirbyteApi>(
    workspace: &EmbeddedWorkspace,
    airbyte: &A,
    observation: &Observation,
) -> Result<Option<BearerToken>, Error> {
    let Some(widget) = &workspace.spec.widget else {
        return Ok(None);
    };
    let source = widget.source_template_tags.clone().unwrap_or_default();
    let connection = widget.connection_template_tags.clone().unwrap_or_default();
    let request = WidgetTokenRequest {
        workspace_name: observation.basis.workspace_name.clone(),
        allowed_origin: widget.allowed_origin.clone(),
        region_id: Some(observation.basis.region.clone()),
        selected_source_template_tags: source.tags.clone(),
        selected_source_template_tags_mode: tag_mode(source.mode()),
        selected_connection_template_tags: connection.tags.clone(),
        selected_connection_template_tags_mode: tag_mode(connection.mode()),
    };
    Ok(Some(airbyte.mint_widget_token(&request).await?))
}

/// Writes the token Secret: a plain create when none is cached (so the RBAC `create` verb shows
/// in the audit log as what it is), else a server-side apply; a create that finds one falls back
/// to it. Records what it wrote, and keeps the token for the workspace's sources.
async fn write_secret<A: AirbyteApi>(
    workspace: &EmbeddedWorkspace,
    ctx: &Context<A>,
    observation: &Observation,
    scoped: &ScopedToken,
    widget: Option<&BearerToken>,
    minted_at: SystemTime,
) -> Result<(), Error> {
    let basis = &observation.basis;
    let namespace = workspace.namespace().unwrap_or_default();
    let mut owner = workspace
        .controller_owner_ref(&())
        .ok_or_else(|| Error::InvalidConfig("workspace has no uid yet".into()))?;
    // Not blocking the owner's foreground deletion spares RBAC on workspaces/finalizers.
    owner.block_owner_deletion = None;
    let secret = token_secret::build(
        &basis.secret_name,
        &namespace,
        &workspace.name_any(),
        owner,
        &token_secret::TokenData {
            token: scoped.token.expose(),
            workspace_id: &scoped.workspace_id,
            organization_id: &scoped.organization_id,
            region_id: &basis.region,
            expires_at: scoped.expires_at,
            widget_token: widget.map(|w| w.expose()),
        },
        minted_at,
        &basis.settings_hash,
    );
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let written =
        apply_or_create(&secrets, &basis.secret_name, &secret, !basis.secret_cached).await?;
    let version =
        crate::controllers::memory::parse_version(written.metadata.resource_version.as_deref());
    if let (Some(version), Some(token)) = (version, token_secret::stored_token(&written.metadata)) {
        ctx.memory.record_secret(
            &basis.uid,
            Some(RecordedSecret {
                name: basis.secret_name.clone(),
                version,
                token,
            }),
        );
    }
    remember(ctx, &basis.uid, scoped);
    Ok(())
}

/// Keeps the token in memory for the workspace's sources.
fn remember<A: AirbyteApi>(ctx: &Context<A>, uid: &str, scoped: &ScopedToken) {
    ctx.memory.remember_token(
        uid,
        CachedToken {
            token: scoped.token.clone(),
            workspace_id: scoped.workspace_id.clone(),
            expires_at: scoped.expires_at,
        },
    );
}

async fn apply_or_create(
    secrets: &Api<Secret>,
    name: &str,
    secret: &Secret,
    absent: bool,
) -> Result<Secret, kube::Error> {
    if absent {
        let params = PostParams {
            field_manager: Some(FIELD_MANAGER.into()),
            ..Default::default()
        };
        match secrets.create(&params, secret).await {
            Err(kube::Error::Api(status)) if status.code == 409 => {}
            other => return other,
        }
    }
    secrets
        .patch(
            name,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(secret),
        )
        .await
}
