//! The EmbeddedWorkspace controller: name checks → token decision → mint → Secret → status.
//!
//! A reconcile reads only watch caches (workspaces, Secret metadata, namespace labels) unless it
//! has something to do: it mints when the token Secret is missing, edited, stale or due
//! (`token_refresh`), writes the Secret by server-side apply, syncs `suspend`, and requeues itself
//! at the token's refresh moment. A steady workspace costs no call at all between refreshes, apart
//! from one workspace read per drift interval.

pub mod naming;
pub mod token_refresh;
pub mod token_secret;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::{Api, Resource, ResourceExt};

use self::naming::{Claim, NAMESPACE_POLICY_LABEL};
use self::token_refresh::{MintReason, StoredToken};
use super::context::{CachedToken, Context};
use super::error::Error;
use super::lifecycle::{self, record};
use super::status::{FIELD_MANAGER, event, set_finalizer};
use crate::config::WorkspaceNamePolicy;
use airbyte_client::models::{REGION_US, WidgetTokenRequest, WorkspaceStatus};
use airbyte_client::{AirbyteApi, ApiError, BearerToken};
use embedded_crds::conditions::{Outcome, Reason};
use embedded_crds::{
    DeletionPolicy, EmbeddedWorkspace, EmbeddedWorkspaceStatus, FINALIZER, RECONCILE_REQUESTED_AT,
};

pub const KIND: &str = "EmbeddedWorkspace";

/// How long a token Secret we just wrote may be missing from a lagging cache before it is read
/// back from the apiserver instead (a relist can leave the cache behind with no event to follow).
const CACHE_LAG_TRUSTED: Duration = Duration::from_secs(30);

/// Default Secret name for a workspace's token.
pub fn token_secret_name(workspace: &EmbeddedWorkspace) -> String {
    workspace
        .spec
        .token_secret_name
        .clone()
        .unwrap_or_else(|| format!("{}-airbyte-token", workspace.name_any()))
}

fn region_id(workspace: &EmbeddedWorkspace) -> String {
    match (&workspace.spec.region_id, workspace.spec.region) {
        (Some(id), _) => id.clone(),
        (None, Some(region)) => region.id().to_string(),
        (None, None) => REGION_US.to_string(),
    }
}

/// The settings a token depends on: a change re-mints.
fn settings(workspace: &EmbeddedWorkspace, name: &str, region: &str) -> String {
    let widget = workspace
        .spec
        .widget
        .as_ref()
        .map(|w| serde_json::to_string(w).unwrap_or_default())
        .unwrap_or_default();
    token_secret::settings_hash(&[name, region, &widget])
}

pub async fn reconcile<A: AirbyteApi>(
    workspace: Arc<EmbeddedWorkspace>,
    ctx: Arc<Context<A>>,
) -> Result<Action, Error> {
    lifecycle::run(workspace, ctx, |workspace, ctx| async move {
        if workspace.meta().deletion_timestamp.is_some() {
            cleanup(&workspace, &ctx).await
        } else {
            apply(&workspace, &ctx).await
        }
    })
    .await
}

async fn apply<A: AirbyteApi>(
    workspace: &EmbeddedWorkspace,
    ctx: &Context<A>,
) -> Result<Action, Error> {
    let namespace = workspace.namespace().unwrap_or_default();
    let name = workspace.name_any();
    let uid = workspace.uid().unwrap_or_default();
    let status = workspace.status.clone().unwrap_or_default();
    let workspace_name =
        naming::effective_name(&namespace, &name, workspace.spec.workspace_name.as_deref());
    let first_visit = status.observed_generation.unwrap_or(-1) < 0;

    // 1. Who may hold this workspace name (watch caches only, no call).
    let namespace_allows_any = ctx
        .stores
        .namespaces
        .get(&kube::runtime::reflector::ObjectRef::new(&namespace))
        .and_then(|ns| {
            ns.metadata
                .labels
                .as_ref()?
                .get(NAMESPACE_POLICY_LABEL)
                .cloned()
        })
        .is_some_and(|v| v == "any");
    let claim = |w: &EmbeddedWorkspace| Claim {
        namespace: w.namespace().unwrap_or_default(),
        name: w.name_any(),
        uid: w.uid().unwrap_or_default(),
        bound: w.status.as_ref().and_then(|s| s.workspace_name.as_deref())
            == Some(
                naming::effective_name(
                    &w.namespace().unwrap_or_default(),
                    &w.name_any(),
                    w.spec.workspace_name.as_deref(),
                )
                .as_str(),
            ),
        created: w
            .meta()
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.to_string())
            .unwrap_or_default(),
    };
    let rivals: Vec<Claim> = ctx
        .stores
        .workspaces
        .state_filter(|w| {
            w.meta().deletion_timestamp.is_none()
                && naming::claims(
                    w.meta().namespace.as_deref().unwrap_or_default(),
                    w.meta().name.as_deref().unwrap_or_default(),
                    w.spec.workspace_name.as_deref(),
                    &workspace_name,
                )
                && w.uid() != workspace.uid()
        })
        .iter()
        .map(|w| claim(w))
        .collect();
    if let Some(outcome) = naming::check(
        &namespace,
        &workspace_name,
        status.workspace_name.as_deref(),
        ctx.config.workspace_name_policy,
        namespace_allows_any || ctx.config.workspace_name_policy == WorkspaceNamePolicy::Any,
        &claim(workspace),
        &rivals,
    ) {
        record(workspace, ctx, &outcome, None).await?;
        return Ok(Action::requeue(ctx.config.drift_interval));
    }

    // 2. The finalizer guards external deletion only with the Delete policy.
    let delete_policy = workspace.spec.deletion_policy == Some(DeletionPolicy::Delete);
    let api: Api<EmbeddedWorkspace> = Api::namespaced(ctx.client.clone(), &namespace);
    let finalized = set_finalizer(&api, workspace, delete_policy).await?;
    ctx.note_write(&uid, finalized.as_deref());

    // 3. The token Secret: ours, someone else's, or missing.
    let secret_name = token_secret_name(workspace);
    let secret_meta = ctx
        .stores
        .secrets
        .get(&kube::runtime::reflector::ObjectRef::new(&secret_name).within(&namespace));
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &namespace);
    let recorded = ctx.recorded_token(&namespace, &secret_name);
    let cache_rv = secret_meta
        .as_ref()
        .and_then(|m| m.metadata.resource_version.as_deref()?.parse::<u64>().ok());
    let stored: Option<StoredToken> = match (&secret_meta, recorded) {
        // The cache holds our own write, or has not caught up with it yet.
        (Some(_), Some((rv, token))) if cache_rv.is_some_and(|cached| cached <= rv) => Some(token),
        // Written by us moments ago and the cache is behind that write: it lags (a reconcile
        // woken by our own status write usually runs before the Secret's watch event arrives).
        (None, Some((rv, token)))
            if !ctx.stores.secrets_caught_up(rv)
                && token.minted_at + CACHE_LAG_TRUSTED > SystemTime::now() =>
        {
            Some(token)
        }
        (Some(meta), _) if !token_secret::owned_by(&meta.metadata, &uid) => {
            let outcome = Outcome::stalled(
                Reason::SecretConflict,
                format!(
                    "Secret {namespace}/{secret_name} exists and is not owned by this EmbeddedWorkspace; it is left untouched: delete it, or set spec.tokenSecretName to another name"
                ),
            );
            record(workspace, ctx, &outcome, None).await?;
            return Ok(Action::requeue(ctx.config.drift_interval));
        }
        // Changed since we last saw it (edited, or never seen since a restart): read it once.
        // Missing from the cache but written by us: the cache may lag, or it was deleted.
        (Some(_), _) | (None, Some(_)) => match secrets.get_opt(&secret_name).await? {
            Some(secret) if token_secret::owned_by(&secret.metadata, &uid) => {
                let mut token = token_secret::stored_token(&secret.metadata);
                if let Some(token) = token.as_mut() {
                    token.intact = token_secret::intact(&secret, workspace.spec.widget.is_some());
                    if token.intact {
                        ctx.record_token(
                            &namespace,
                            &secret_name,
                            secret.metadata.resource_version.as_deref(),
                            token.clone(),
                        );
                        if let Some((text, workspace_id, expires_at)) =
                            token_secret::read_token(&secret)
                        {
                            ctx.cache_token(
                                &namespace,
                                &name,
                                CachedToken {
                                    token: BearerToken::new(text),
                                    workspace_id,
                                    expires_at,
                                },
                            );
                        }
                    }
                }
                token
            }
            Some(_) => {
                let outcome = Outcome::stalled(
                    Reason::SecretConflict,
                    format!(
                        "Secret {namespace}/{secret_name} exists and is not owned by this EmbeddedWorkspace; it is left untouched: delete it, or set spec.tokenSecretName to another name"
                    ),
                );
                record(workspace, ctx, &outcome, None).await?;
                return Ok(Action::requeue(ctx.config.drift_interval));
            }
            None => {
                ctx.forget_recorded_token(&namespace, &secret_name);
                None
            }
        },
        (None, None) => None,
    };

    // 4. Decide whether to mint.
    let region = region_id(workspace);
    let settings_hash = settings(workspace, &workspace_name, &region);
    let requested = workspace.annotations().get(RECONCILE_REQUESTED_AT).cloned();
    let request_pending = requested.is_some() && requested != status.last_handled_reconcile_at;
    let refresh_before = workspace
        .spec
        .refresh_before
        .map(|d| Duration::from(d).max(Duration::from_secs(1)));
    let now = SystemTime::now();
    let mut reason = token_refresh::mint_reason(
        stored.as_ref(),
        &settings_hash,
        request_pending,
        &uid,
        refresh_before,
        now,
    );

    // 5. Drift: once per drift interval (or when a source found the token refused) the stored
    //    token is checked with Airbyte, which also proves the workspace still exists; the
    //    workspace's status is read only when `suspend` matters (set, or the spec changed).
    let suspend = workspace.spec.suspend.unwrap_or(false);
    let generation_changed = status.observed_generation != workspace.meta().generation;
    // The workspace id: from status, else from the token Secret (an operator that died between
    // writing the Secret and writing status left it only there). Without either, mint.
    let known_id = status
        .workspace_id
        .clone()
        .or_else(|| ctx.cached_token(&namespace, &name).map(|t| t.workspace_id));
    if known_id.is_none() && reason.is_none() {
        reason = Some(MintReason::Missing);
    }
    let suspect = ctx.take_suspect_token(&namespace, &name);
    let drift_due = ctx.drift_due(&uid);
    let validate_token = known_id.is_some() && reason.is_none() && (drift_due || suspect);
    let check_status = known_id.is_some()
        && reason.is_none()
        && ((generation_changed && !first_visit) || (suspend && (drift_due || first_visit)));
    let _routine = if reason == Some(MintReason::Refresh) || validate_token || check_status {
        Some(ctx.routine.acquire().await.ok())
    } else {
        None
    };
    if validate_token && let Some(id) = &known_id {
        match ctx.cached_token(&namespace, &name) {
            Some(cached) => match ctx.airbyte.scoped_token_info(&cached.token).await {
                Ok(info) if info.workspace_id == *id => {}
                Ok(_) | Err(ApiError::Forbidden { .. }) | Err(ApiError::NotFound { .. }) => {
                    reason = Some(MintReason::WorkspaceGone)
                }
                Err(ApiError::Unauthorized { .. }) => reason = Some(MintReason::Revoked),
                Err(error) => return Err(error.into()),
            },
            // Nothing to check the token with: a fresh one settles it.
            None => reason = Some(MintReason::Revoked),
        }
        ctx.drift_checked(&uid);
    }
    let mut airbyte_status = None;
    if check_status
        && reason.is_none()
        && let Some(id) = &known_id
    {
        match ctx.airbyte.get_workspace(id).await {
            Ok(found) => airbyte_status = Some(found.status),
            Err(ApiError::NotFound { .. }) => reason = Some(MintReason::WorkspaceGone),
            Err(error) => return Err(error.into()),
        }
        ctx.drift_checked(&uid);
    }

    // 6. Mint and write the Secret.
    let mut token_expires_at = stored.as_ref().map(|s| s.expires_at);
    let mut workspace_id = known_id.clone();
    let mut minted_at = stored.as_ref().map(|s| s.minted_at);
    if let Some(why) = reason {
        tracing::debug!(
            stored = ?stored.as_ref().map(|s| (token_secret::rfc3339(s.minted_at), token_secret::rfc3339(s.expires_at), s.intact)),
            refresh_at = ?stored.as_ref().map(|s| token_secret::rfc3339(token_refresh::refresh_at(&uid, s.minted_at, s.expires_at, refresh_before))),
            reason = why.as_str(),
            "about to mint"
        );
        let minted_now = SystemTime::now();
        let scoped = ctx
            .airbyte
            .mint_scoped_token(&workspace_name, Some(&region))
            .await?;
        let widget = match &workspace.spec.widget {
            Some(widget) => {
                let source = widget.source_template_tags.clone().unwrap_or_default();
                let connection = widget.connection_template_tags.clone().unwrap_or_default();
                Some(
                    ctx.airbyte
                        .mint_widget_token(&WidgetTokenRequest {
                            workspace_name: workspace_name.clone(),
                            allowed_origin: widget.allowed_origin.clone(),
                            region_id: Some(region.clone()),
                            selected_source_template_tags: source.tags.clone(),
                            selected_source_template_tags_mode: super::convert::tag_mode(
                                source.mode(),
                            ),
                            selected_connection_template_tags: connection.tags.clone(),
                            selected_connection_template_tags_mode: super::convert::tag_mode(
                                connection.mode(),
                            ),
                        })
                        .await?,
                )
            }
            None => None,
        };
        let mut owner = workspace
            .controller_owner_ref(&())
            .ok_or_else(|| Error::InvalidConfig("workspace has no uid yet".into()))?;
        // Not blocking the owner's foreground deletion spares RBAC on workspaces/finalizers.
        owner.block_owner_deletion = None;
        let secret = token_secret::build(
            &secret_name,
            &namespace,
            &name,
            owner,
            &token_secret::TokenData {
                token: scoped.token.expose(),
                workspace_id: &scoped.workspace_id,
                organization_id: &scoped.organization_id,
                region_id: &region,
                expires_at: scoped.expires_at,
                widget_token: widget.as_ref().map(|w| w.expose()),
            },
            minted_now,
            &settings_hash,
        );
        let written = write_secret(&secrets, &secret_name, &secret, secret_meta.is_none()).await?;
        if let Some(token) = token_secret::stored_token(&written.metadata) {
            ctx.record_token(
                &namespace,
                &secret_name,
                written.metadata.resource_version.as_deref(),
                token,
            );
        }
        ctx.cache_token(
            &namespace,
            &name,
            CachedToken {
                token: scoped.token.clone(),
                workspace_id: scoped.workspace_id.clone(),
                expires_at: scoped.expires_at,
            },
        );
        ctx.drift_checked(&uid);
        let recreated = known_id
            .as_deref()
            .is_some_and(|old| old != scoped.workspace_id);
        let note = match why {
            MintReason::Missing if known_id.is_none() => {
                format!("minted a scoped token for workspace {workspace_name}")
            }
            MintReason::Refresh => {
                format!("refreshed the scoped token for workspace {workspace_name}")
            }
            other => format!(
                "minted a new scoped token for workspace {workspace_name}: {}",
                other.as_str()
            ),
        };
        event(
            &ctx.recorder,
            workspace,
            recreated,
            if why == MintReason::Refresh {
                "TokenRefreshed"
            } else {
                "TokenIssued"
            },
            "MintToken",
            note,
        );
        if recreated {
            event(
                &ctx.recorder,
                workspace,
                true,
                "WorkspaceRecreated",
                "MintToken",
                format!(
                    "Airbyte workspace {workspace_name} had been deleted out of band; minting created it again"
                ),
            );
        }
        tracing::info!(namespace = %namespace, name = %name, reason = why.as_str(), "minted token");
        token_expires_at = Some(scoped.expires_at);
        workspace_id = Some(scoped.workspace_id.clone());
        minted_at = Some(minted_now);
        // A freshly minted (possibly new) workspace is active; sync suspend below if asked.
        if known_id.as_deref() != Some(scoped.workspace_id.as_str()) {
            airbyte_status = if suspend {
                Some(WorkspaceStatus::Active)
            } else {
                None
            };
        }
    }

    // 7. Suspend: set the Airbyte workspace status when it differs from the spec.
    if let (Some(id), Some(current)) = (&workspace_id, airbyte_status) {
        let desired = if suspend {
            WorkspaceStatus::Inactive
        } else {
            WorkspaceStatus::Active
        };
        if current != desired {
            ctx.airbyte.set_workspace_status(id, desired).await?;
            event(
                &ctx.recorder,
                workspace,
                false,
                if suspend { "Suspended" } else { "Resumed" },
                "SetWorkspaceStatus",
                format!(
                    "Airbyte workspace {workspace_name} set {}",
                    if suspend { "inactive" } else { "active" }
                ),
            );
        }
    }

    // 8. Status.
    let expires_at = token_expires_at.unwrap_or(now);
    let fields = EmbeddedWorkspaceStatus {
        workspace_id: workspace_id.clone(),
        workspace_name: Some(workspace_name.clone()),
        region_id: Some(region.clone()),
        token_expires_at: Some(token_secret::rfc3339(expires_at)),
        token_secret_name: Some(secret_name.clone()),
        last_handled_reconcile_at: requested.or(status.last_handled_reconcile_at.clone()),
        observed_generation: workspace.meta().generation,
        conditions: Vec::new(),
    };
    let message = format!(
        "token for workspace {workspace_name} in Secret {secret_name}{}",
        if suspend {
            " (workspace suspended)"
        } else {
            ""
        }
    );
    record(
        workspace,
        ctx,
        &Outcome::ready(Reason::TokenIssued, message),
        Some(fields),
    )
    .await?;
    let seconds_left = expires_at
        .duration_since(SystemTime::now())
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    ctx.metrics
        .set_token_expiry(&namespace, &name, seconds_left);

    // 9. Come back at the refresh moment or the drift check, whichever is first.
    let refresh =
        token_refresh::refresh_at(&uid, minted_at.unwrap_or(now), expires_at, refresh_before);
    let until_refresh = refresh
        .duration_since(SystemTime::now())
        .unwrap_or(Duration::ZERO);
    ctx.drift_due(&uid);
    let next = until_refresh
        .min(ctx.until_drift(&uid))
        .max(Duration::from_millis(500));
    Ok(Action::requeue(next))
}

/// Writes the token Secret: a plain create when none exists (so the RBAC `create` verb shows in the
/// audit log as what it is), else a server-side apply; a create that finds one falls back to it.
async fn write_secret(
    secrets: &Api<Secret>,
    name: &str,
    secret: &Secret,
    absent: bool,
) -> Result<Secret, kube::Error> {
    if absent {
        let mut fresh = secret.clone();
        fresh.metadata.managed_fields = None;
        match secrets
            .create(
                &kube::api::PostParams {
                    field_manager: Some(FIELD_MANAGER.into()),
                    ..Default::default()
                },
                &fresh,
            )
            .await
        {
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

async fn cleanup<A: AirbyteApi>(
    workspace: &EmbeddedWorkspace,
    ctx: &Context<A>,
) -> Result<Action, Error> {
    let namespace = workspace.namespace().unwrap_or_default();
    if !workspace.finalizers().iter().any(|f| f == FINALIZER) {
        forget(ctx, workspace);
        return Ok(Action::await_change());
    }
    let api: Api<EmbeddedWorkspace> = Api::namespaced(ctx.client.clone(), &namespace);
    let status = workspace.status.clone().unwrap_or_default();
    if workspace.spec.deletion_policy == Some(DeletionPolicy::Delete)
        && let Some(id) = &status.workspace_id
    {
        ctx.airbyte.delete_workspace(id).await?;
        event(
            &ctx.recorder,
            workspace,
            false,
            "Deleted",
            "DeleteWorkspace",
            format!(
                "deleted Airbyte workspace {}",
                status.workspace_name.clone().unwrap_or_default()
            ),
        );
    }
    set_finalizer(&api, workspace, false).await?;
    forget(ctx, workspace);
    ctx.forget_recorded_token(&namespace, &token_secret_name(workspace));
    Ok(Action::await_change())
}

/// Drops in-memory state and metrics of a workspace that is going away.
pub fn forget<A: AirbyteApi>(ctx: &Context<A>, workspace: &EmbeddedWorkspace) {
    let namespace = workspace.namespace().unwrap_or_default();
    ctx.forget(&workspace.uid().unwrap_or_default());
    ctx.forget_token(&namespace, &workspace.name_any());
    ctx.metrics
        .forget_workspace(&namespace, &workspace.name_any());
}
