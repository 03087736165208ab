//! What an EmbeddedWorkspace's plan is decided from: the names it claims and who else claims
//! them (watch caches), what its token Secret records (metadata cache, or one read when the cache
//! cannot tell), and only the Airbyte reads the plan needs: the stored token checked at the drift
//! interval or when a source saw it refused, the workspace's status when `suspend` matters, and
//! the workspaces of the name before the name is bound.

use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Resource, ResourceExt};

use super::naming::{self, Claim, NAMESPACE_POLICY_LABEL};
use super::plan::{self, Reads};
use super::token_secret;
use crate::config::WorkspaceNamePolicy;
use crate::controllers::context::Context;
use crate::controllers::error::Error;
use crate::controllers::memory::{CachedToken, RecordedSecret, StoredToken};
use crate::controllers::organization::{self, registry::Organization};
use airbyte_client::models::WorkspaceStatus;
use airbyte_client::{AirbyteApi, ApiError, BearerToken};
use embedded_crds::conditions::Outcome;
use embedded_crds::{EmbeddedWorkspace, RECONCILE_REQUESTED_AT, REGION_US};

/// How long a token Secret we just wrote may be missing from a lagging cache before it is read
/// back from the apiserver instead (a relist can leave the cache behind with no event to follow).
const CACHE_LAG_TRUSTED: Duration = Duration::from_secs(30);

/// The token Secret, as far as the operator can tell.
#[derive(Clone, Debug, PartialEq)]
pub enum SecretState {
    Missing,
    /// A Secret of that name this workspace does not own: never touched.
    Foreign,
    /// Ours, with what its metadata records (`None`: it records nothing readable).
    Ours(Option<StoredToken>),
}

/// What Airbyte said about the stored token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenCheck {
    Valid,
    /// The token no longer opens the bound workspace (deleted out of band).
    WorkspaceGone,
    /// Airbyte refused the token.
    Revoked,
}

/// Everything decided from Kubernetes alone.
#[derive(Clone, Debug)]
pub struct Basis {
    pub now: SystemTime,
    pub uid: String,
    pub workspace_name: String,
    pub region: String,
    pub settings_hash: String,
    pub secret_name: String,
    /// `tokenPolicy: Keep` (the default): the token lives in the Secret.
    pub keep_token: bool,
    /// `OnDemand` and the cache holds a token Secret this workspace owns: it goes.
    pub stale_secret: bool,
    /// A name-policy or claim problem: nothing else matters.
    pub naming: Option<Outcome>,
    pub secret: SecretState,
    /// The Secret is in the metadata cache (written by apply then, else created).
    pub secret_cached: bool,
    /// The bound Airbyte workspace (status, else the token Secret).
    pub known_id: Option<String>,
    pub requested: Option<String>,
    pub request_pending: bool,
    pub refresh_before: Option<Duration>,
    pub suspend: bool,
    pub first_visit: bool,
    pub generation_changed: bool,
    pub drift_due: bool,
    pub token_suspect: bool,
}

/// What Airbyte was asked.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Checks {
    pub token: Option<TokenCheck>,
    /// `None` inside: the workspace is gone.
    pub airbyte_status: Option<Option<WorkspaceStatus>>,
    /// The ids of the workspaces named like this one (before the name is bound).
    pub same_named: Option<Vec<String>>,
}

#[derive(Clone, Debug)]
pub struct Observation {
    pub basis: Basis,
    pub checks: Checks,
}

/// The region the workspace is created in: its own, else its organization's default, else US.
pub fn region_id(workspace: &EmbeddedWorkspace, organization_default: Option<&str>) -> String {
    match (&workspace.spec.region_id, workspace.spec.region) {
        (Some(id), _) => id.clone(),
        (None, Some(region)) => region.id().to_string(),
        (None, None) => organization_default.unwrap_or(REGION_US).to_string(),
    }
}

pub async fn observe<A: AirbyteApi>(
    workspace: &EmbeddedWorkspace,
    ctx: &Context<A>,
    organization: &Organization<A>,
) -> Result<Observation, Error> {
    let basis = basis(workspace, ctx, organization).await?;
    let reads = plan::reads(&basis);
    let _routine = if reads.routine {
        ctx.routine.acquire().await.ok()
    } else {
        None
    };
    let checks = check(&organization.airbyte, ctx, &basis, reads).await?;
    Ok(Observation { basis, checks })
}

async fn basis<A: AirbyteApi>(
    workspace: &EmbeddedWorkspace,
    ctx: &Context<A>,
    organization: &Organization<A>,
) -> Result<Basis, Error> {
    let namespace = workspace.namespace().unwrap_or_default();
    let uid = workspace.uid().unwrap_or_default();
    let status = workspace.status.clone().unwrap_or_default();
    let workspace_name = naming::effective_name(
        &namespace,
        &workspace.name_any(),
        workspace.spec.workspace_name.as_deref(),
    );
    let region = region_id(workspace, organization.region.as_deref());
    let widget = workspace
        .spec
        .widget
        .as_ref()
        .map(|w| serde_json::to_string(w).unwrap_or_default())
        .unwrap_or_default();
    let settings_hash = token_secret::settings_hash(&[&workspace_name, &region, &widget]);
    let secret_name = secret_name_of(workspace, &status);
    let naming = claims_problem(workspace, ctx, organization, &workspace_name, &status);
    let keep_token = workspace.spec.keeps_token();
    let (secret, secret_cached, stale_secret) =
        secret_of(workspace, ctx, naming.is_some(), &secret_name).await?;
    let requested = workspace.annotations().get(RECONCILE_REQUESTED_AT).cloned();
    ctx.ensure_drift_scheduled(&uid);
    Ok(Basis {
        now: ctx.clock.now(),
        known_id: status
            .workspace_id
            .clone()
            .or_else(|| ctx.memory.token(&uid).map(|t| t.workspace_id)),
        request_pending: requested.is_some() && requested != status.last_handled_reconcile_at,
        requested,
        refresh_before: workspace
            .spec
            .refresh_before
            .map(|d| Duration::from(d).max(Duration::from_secs(1))),
        suspend: workspace.spec.suspend.unwrap_or(false),
        first_visit: status.observed_generation.unwrap_or(-1) < 0,
        generation_changed: status.observed_generation != workspace.meta().generation,
        drift_due: ctx.drift_due(&uid),
        token_suspect: ctx.memory.take_token_suspect(&uid),
        uid,
        workspace_name,
        region,
        settings_hash,
        secret_name,
        keep_token,
        stale_secret,
        naming,
        secret,
        secret_cached,
    })
}

/// The token Secret's name; without a kept token, the Secret it last kept (to delete it), which
/// may have had a name of its own before the switch (admission refuses one with OnDemand).
fn secret_name_of(
    workspace: &EmbeddedWorkspace,
    status: &embedded_crds::EmbeddedWorkspaceStatus,
) -> String {
    match &status.token_secret_name {
        Some(kept) if !workspace.spec.keeps_token() => kept.clone(),
        _ => super::token_secret_name(workspace),
    }
}

/// The token Secret's state, whether it is cached, and whether it is stale (a Secret this
/// workspace owns although it keeps no token). Not read when the name is in question.
async fn secret_of<A: AirbyteApi>(
    workspace: &EmbeddedWorkspace,
    ctx: &Context<A>,
    naming_problem: bool,
    secret_name: &str,
) -> Result<(SecretState, bool, bool), Error> {
    let namespace = workspace.namespace().unwrap_or_default();
    if !workspace.spec.keeps_token() {
        let uid = workspace.uid().unwrap_or_default();
        let stale = ctx
            .stores
            .secret(&namespace, secret_name)
            .is_some_and(|meta| token_secret::owned_by(&meta.metadata, &uid));
        return Ok((SecretState::Missing, false, stale));
    }
    if naming_problem {
        return Ok((SecretState::Missing, false, false));
    }
    let (state, cached) = secret_state(workspace, ctx, &namespace, secret_name).await?;
    Ok((state, cached, false))
}

/// Who may hold this workspace name (watch caches only, no call).
fn claims_problem<A: AirbyteApi>(
    workspace: &EmbeddedWorkspace,
    ctx: &Context<A>,
    organization: &Organization<A>,
    workspace_name: &str,
    status: &embedded_crds::EmbeddedWorkspaceStatus,
) -> Option<Outcome> {
    let namespace = &workspace.namespace().unwrap_or_default();
    let allows_any = ctx.config.workspace_name_policy == WorkspaceNamePolicy::Any
        || ctx
            .stores
            .namespace_label(namespace, NAMESPACE_POLICY_LABEL)
            .as_deref()
            == Some("any");
    let store = ctx.stores.of::<EmbeddedWorkspace>();
    let rivals: Vec<Claim> = ctx
        .stores
        .workspace_names
        .candidates(workspace_name)
        .iter()
        .filter_map(|candidate| store.get(candidate))
        .filter(|w| {
            w.meta().deletion_timestamp.is_none()
                && naming::claims(
                    w.meta().namespace.as_deref().unwrap_or_default(),
                    w.meta().name.as_deref().unwrap_or_default(),
                    w.spec.workspace_name.as_deref(),
                    workspace_name,
                )
                && w.uid() != workspace.uid()
                && same_organization(ctx, w, organization)
        })
        .map(|w| claim(&w))
        .collect();
    naming::check(
        namespace,
        workspace_name,
        status.workspace_name.as_deref(),
        ctx.config.workspace_name_policy,
        allows_any,
        &claim(workspace),
        &rivals,
    )
}

/// Names are unique per Airbyte organization: only workspaces acting for the same one (by id:
/// two organization objects may name one organization) are rivals.
fn same_organization<A: AirbyteApi>(
    ctx: &Context<A>,
    rival: &EmbeddedWorkspace,
    organization: &Organization<A>,
) -> bool {
    rival
        .status
        .as_ref()
        .and_then(|s| s.organization_id.clone())
        .or_else(|| {
            let key = organization::OrganizationKey::of(
                rival.spec.organization_ref.as_ref(),
                rival.meta().namespace.as_deref(),
            );
            let fallback = ctx.organizations.fallback();
            organization::organization_id_of(&ctx.stores, fallback.as_deref(), &key)
        })
        .is_none_or(|id| id.eq_ignore_ascii_case(&organization.organization_id))
}

fn claim(workspace: &EmbeddedWorkspace) -> Claim {
    let namespace = workspace.namespace().unwrap_or_default();
    let effective = naming::effective_name(
        &namespace,
        &workspace.name_any(),
        workspace.spec.workspace_name.as_deref(),
    );
    Claim {
        bound: workspace
            .status
            .as_ref()
            .and_then(|s| s.workspace_name.as_deref())
            == Some(effective.as_str()),
        namespace,
        name: workspace.name_any(),
        uid: workspace.uid().unwrap_or_default(),
        created: workspace
            .meta()
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.to_string())
            .unwrap_or_default(),
    }
}

/// The token Secret: from what the operator recorded when the cache cannot be newer, else from
/// the cache's metadata, else one read.
async fn secret_state<A: AirbyteApi>(
    workspace: &EmbeddedWorkspace,
    ctx: &Context<A>,
    namespace: &str,
    secret_name: &str,
) -> Result<(SecretState, bool), Error> {
    let uid = workspace.uid().unwrap_or_default();
    let cached = ctx.stores.secret(namespace, secret_name);
    let recorded = ctx
        .memory
        .recorded_secret(&uid)
        .filter(|r| r.name == secret_name);
    let cache_version = cached.as_ref().and_then(|m| {
        crate::controllers::memory::parse_version(m.metadata.resource_version.as_deref())
    });
    let now = ctx.clock.now();
    let state = match (&cached, recorded) {
        // The cache holds our own write, or has not caught up with it yet.
        (Some(_), Some(recorded)) if cache_version.is_some_and(|v| v <= recorded.version) => {
            SecretState::Ours(Some(recorded.token))
        }
        // Written by us moments ago and the cache is behind that write: it lags (a reconcile
        // woken by our own status write usually runs before the Secret's watch event arrives).
        (None, Some(recorded))
            if !ctx.stores.secrets_caught_up(recorded.version)
                && recorded.token.minted_at + CACHE_LAG_TRUSTED > now =>
        {
            SecretState::Ours(Some(recorded.token))
        }
        (Some(meta), _) if !token_secret::owned_by(&meta.metadata, &uid) => SecretState::Foreign,
        // Changed since we last saw it (edited, or never seen since a restart), or missing from
        // the cache although we wrote it: read it once.
        (Some(_), _) | (None, Some(_)) => {
            read_secret(workspace, ctx, namespace, secret_name).await?
        }
        (None, None) => SecretState::Missing,
    };
    Ok((state, cached.is_some()))
}

async fn read_secret<A: AirbyteApi>(
    workspace: &EmbeddedWorkspace,
    ctx: &Context<A>,
    namespace: &str,
    secret_name: &str,
) -> Result<SecretState, Error> {
    let uid = workspace.uid().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let Some(secret) = secrets.get_opt(secret_name).await? else {
        ctx.memory.record_secret(&uid, None);
        return Ok(SecretState::Missing);
    };
    if !token_secret::owned_by(&secret.metadata, &uid) {
        return Ok(SecretState::Foreign);
    }
    let mut stored = token_secret::stored_token(&secret.metadata);
    if let Some(token) = stored.as_mut() {
        token.intact = token_secret::intact(&secret, workspace.spec.widget.is_some());
        if token.intact {
            remember(ctx, &uid, secret_name, &secret, token.clone());
        }
    }
    Ok(SecretState::Ours(stored))
}

/// Keeps what an intact token Secret holds: its version and record, and the token itself for the
/// workspace's sources.
fn remember<A: AirbyteApi>(
    ctx: &Context<A>,
    uid: &str,
    secret_name: &str,
    secret: &Secret,
    token: StoredToken,
) {
    if let Some(version) =
        crate::controllers::memory::parse_version(secret.metadata.resource_version.as_deref())
    {
        ctx.memory.record_secret(
            uid,
            Some(RecordedSecret {
                name: secret_name.to_string(),
                version,
                token,
            }),
        );
    }
    if let Some((text, workspace_id, expires_at)) = token_secret::read_token(secret) {
        ctx.memory.remember_token(
            uid,
            CachedToken {
                token: BearerToken::new(text),
                workspace_id,
                expires_at,
            },
        );
    }
}

/// The Airbyte reads the plan needs.
async fn check<A: AirbyteApi>(
    airbyte: &A,
    ctx: &Context<A>,
    basis: &Basis,
    reads: Reads,
) -> Result<Checks, Error> {
    let mut checks = Checks::default();
    if reads.validate_token
        && let Some(id) = &basis.known_id
    {
        checks.token = Some(match ctx.memory.token(&basis.uid) {
            Some(cached) => match airbyte.scoped_token_info(&cached.token).await {
                Ok(info) if info.workspace_id == *id => TokenCheck::Valid,
                Ok(_) | Err(ApiError::NotFound { .. }) => TokenCheck::WorkspaceGone,
                Err(ApiError::Unauthorized { .. } | ApiError::Forbidden { .. }) => {
                    TokenCheck::Revoked
                }
                Err(error) => return Err(error.into()),
            },
            // Nothing to check the token with: a fresh one settles it.
            None => TokenCheck::Revoked,
        });
        ctx.drift_checked(&basis.uid);
    }
    if reads.check_status
        && let Some(id) = &basis.known_id
    {
        checks.airbyte_status = Some(match airbyte.get_workspace(id).await {
            Ok(found) => Some(found.status),
            Err(ApiError::NotFound { .. }) => None,
            Err(error) => return Err(error.into()),
        });
        ctx.drift_checked(&basis.uid);
    }
    if plan::needs_name_check(basis, &checks) {
        let found = airbyte.find_workspaces_named(&basis.workspace_name).await?;
        checks.same_named = Some(found.into_iter().map(|w| w.id).collect());
    }
    Ok(checks)
}
