//! The EmbeddedSource controller: dereference (workspace, template) → validate (name, config with
//! Secret values) → observe → create, adopt or patch → status.
//!
//! A source is created with at most two calls (a lookup by name, then the create), so a crash
//! between the API's answer and the status write never makes a second one. Once Ready, a source
//! costs no call until its spec, a referenced Secret or its workspace changes, apart from one read
//! per drift interval.

pub mod plan;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::core::v1::Secret;
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};

use self::plan::Desired;
use super::adoption::{self, Found};
use super::config_hash::config_hash;
use super::context::{CachedToken, Context};
use super::embedded_workspace::naming::{self, Claim};
use super::embedded_workspace::token_secret;
use super::error::Error;
use super::hash_of;
use super::lifecycle::{self, Managed, record};
use super::secret_values;
use super::status::{event, set_finalizer};
use airbyte_client::models::Source;
use airbyte_client::{AirbyteApi, ApiError, BearerToken};
use embedded_crds::conditions::{self, Outcome, Reason};
use embedded_crds::{
    DeletionPolicy, EXTERNAL_ID, EmbeddedSource, EmbeddedSourceStatus, EmbeddedWorkspace,
    FINALIZER, RECONCILE_REQUESTED_AT, SourceTemplate,
};

/// A cached token must live at least this long to be used.
const TOKEN_MARGIN: Duration = Duration::from_secs(5);

pub async fn reconcile<A: AirbyteApi>(
    source: Arc<EmbeddedSource>,
    ctx: Arc<Context<A>>,
) -> Result<Action, Error> {
    lifecycle::run(source, ctx, |source, ctx| async move {
        let result = if source.meta().deletion_timestamp.is_some() {
            cleanup(&source, &ctx).await
        } else {
            apply(&source, &ctx).await
        };
        match result {
            // Airbyte refused the workspace's scoped token (revoked): the workspace re-mints, and
            // this source waits for the new token instead of stalling.
            Err(Error::Airbyte(ApiError::Unauthorized { endpoint, .. }))
                if endpoint != airbyte_client::Endpoint::ApplicationToken =>
            {
                let namespace = source.namespace().unwrap_or_default();
                ctx.suspect_token(&namespace, &source.spec.workspace_ref.name);
                Err(Error::TokenUnavailable(format!(
                    "Airbyte refused the token of EmbeddedWorkspace {namespace}/{}; waiting for a fresh one",
                    source.spec.workspace_ref.name
                )))
            }
            other => other,
        }
    })
    .await
}

fn delete_policy(source: &EmbeddedSource) -> bool {
    source
        .spec
        .deletion_policy
        .unwrap_or(DeletionPolicy::Delete)
        == DeletionPolicy::Delete
}

/// The Airbyte display name.
pub fn source_name(source: &EmbeddedSource) -> String {
    source
        .spec
        .name
        .clone()
        .unwrap_or_else(|| source.name_any())
}

/// Waits (in progress, without calls) for something that may still appear. A source applied
/// together with its workspace usually waits a second or two: its condition is written only
/// once it has waited longer (until then the schema's `observedGeneration: -1` already reads as
/// in progress), which spares a status write per object in the common case.
async fn wait<A: AirbyteApi>(
    source: &EmbeddedSource,
    ctx: &Context<A>,
    reason: Reason,
    message: String,
) -> Result<Action, Error> {
    let never_reconciled = source
        .status
        .as_ref()
        .is_none_or(|s| s.conditions.is_empty());
    let age = source
        .meta()
        .creation_timestamp
        .as_ref()
        .map(|t| jiff::Timestamp::now().duration_since(t.0).unsigned_abs())
        .unwrap_or_default();
    if never_reconciled && age < Duration::from_secs(10) {
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    record(source, ctx, &Outcome::in_progress(reason, message), None).await?;
    // The workspace and template watches wake us; the requeue is only a safety net.
    Ok(Action::requeue(Duration::from_secs(60)))
}

async fn stall<A: AirbyteApi>(
    source: &EmbeddedSource,
    ctx: &Context<A>,
    reason: Reason,
    message: String,
) -> Result<Action, Error> {
    record(source, ctx, &Outcome::stalled(reason, message), None).await?;
    Ok(Action::requeue(ctx.config.drift_interval))
}

/// The workspace's scoped token: from memory, else from its token Secret.
async fn workspace_token<A: AirbyteApi>(
    ctx: &Context<A>,
    namespace: &str,
    workspace: &EmbeddedWorkspace,
    workspace_id: &str,
) -> Result<BearerToken, Error> {
    let fresh = |token: &CachedToken| {
        token.workspace_id == workspace_id && token.expires_at > SystemTime::now() + TOKEN_MARGIN
    };
    if let Some(token) = ctx.cached_token(namespace, &workspace.name_any())
        && fresh(&token)
    {
        return Ok(token.token);
    }
    let secret_name = workspace
        .status
        .as_ref()
        .and_then(|s| s.token_secret_name.clone())
        .unwrap_or_else(|| super::embedded_workspace::token_secret_name(workspace));
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    if let Some(secret) = secrets.get_opt(&secret_name).await?
        && token_secret::owned_by(&secret.metadata, &workspace.uid().unwrap_or_default())
        && let Some((text, id, expires_at)) = token_secret::read_token(&secret)
    {
        let token = CachedToken {
            token: BearerToken::new(text),
            workspace_id: id,
            expires_at,
        };
        ctx.cache_token(namespace, &workspace.name_any(), token.clone());
        if fresh(&token) {
            return Ok(token.token);
        }
    }
    Err(Error::TokenUnavailable(format!(
        "the token of EmbeddedWorkspace {namespace}/{} is missing or about to expire; waiting for it to be refreshed",
        workspace.name_any()
    )))
}

async fn apply<A: AirbyteApi>(source: &EmbeddedSource, ctx: &Context<A>) -> Result<Action, Error> {
    let namespace = source.namespace().unwrap_or_default();
    let uid = source.uid().unwrap_or_default();
    let status = source.status.clone().unwrap_or_default();
    let api = EmbeddedSource::api(ctx.client.clone(), source);
    let written = set_finalizer(&api, source, delete_policy(source)).await?;
    ctx.note_write(&uid, written.as_deref());

    // Dereference: the workspace (same namespace only) and the template.
    let workspace_name = source.spec.workspace_ref.name.clone();
    let Some(workspace) = ctx
        .stores
        .workspaces
        .get(&ObjectRef::new(&workspace_name).within(&namespace))
    else {
        return wait(
            source,
            ctx,
            Reason::WorkspaceNotReady,
            format!("EmbeddedWorkspace {namespace}/{workspace_name} does not exist yet"),
        )
        .await;
    };
    let workspace_status = workspace.status.clone().unwrap_or_default();
    let workspace_id = match (
        &workspace_status.workspace_id,
        conditions::is_ready(&workspace_status.conditions),
    ) {
        (Some(id), true) => id.clone(),
        _ => {
            let why = conditions::ready(&workspace_status.conditions)
                .map(|c| format!("{}: {}", c.reason, c.message))
                .unwrap_or_else(|| "not reconciled yet".into());
            return wait(
                source,
                ctx,
                Reason::WorkspaceNotReady,
                format!("EmbeddedWorkspace {namespace}/{workspace_name} is not Ready ({why})"),
            )
            .await;
        }
    };
    let template_id = match (
        &source.spec.source_template_ref,
        &source.spec.source_template_id,
    ) {
        (Some(reference), _) => {
            let Some(template) = ctx
                .stores
                .templates
                .get(&ObjectRef::<SourceTemplate>::new(&reference.name))
            else {
                return wait(
                    source,
                    ctx,
                    Reason::TemplateNotReady,
                    format!("SourceTemplate {} does not exist yet", reference.name),
                )
                .await;
            };
            let template_status = template.status.clone().unwrap_or_default();
            match (
                &template_status.template_id,
                conditions::is_ready(&template_status.conditions),
            ) {
                (Some(id), true) => id.clone(),
                _ => {
                    return wait(
                        source,
                        ctx,
                        Reason::TemplateNotReady,
                        format!("SourceTemplate {} is not Ready", reference.name),
                    )
                    .await;
                }
            }
        }
        (None, Some(id)) => id.to_lowercase(),
        (None, None) => {
            return stall(
                source,
                ctx,
                Reason::InvalidConfig,
                "set spec.sourceTemplateRef or spec.sourceTemplateId".into(),
            )
            .await;
        }
    };

    // Validate: one source per name in a workspace (watch cache), then the configuration.
    let name = source_name(source);
    let claim = |s: &EmbeddedSource| Claim {
        namespace: s.namespace().unwrap_or_default(),
        name: s.name_any(),
        uid: s.uid().unwrap_or_default(),
        bound: s
            .status
            .as_ref()
            .and_then(|st| st.source_id.as_ref())
            .is_some(),
        created: s
            .meta()
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.to_string())
            .unwrap_or_default(),
    };
    let rivals: Vec<Claim> = ctx
        .stores
        .sources
        .state_filter(|s| {
            s.spec.workspace_ref.name == workspace_name
                && s.meta().namespace.as_deref() == Some(namespace.as_str())
                && s.spec.name.as_deref().or(s.meta().name.as_deref()) == Some(name.as_str())
                && s.meta().deletion_timestamp.is_none()
                && s.uid() != source.uid()
        })
        .iter()
        .map(|s| claim(s))
        .collect();
    if let Some(winner) = naming::winner(&claim(source), &rivals) {
        return stall(source, ctx, Reason::DuplicateSourceName, format!("source name {name:?} is already used in workspace {workspace_name} by EmbeddedSource {namespace}/{}; set a distinct spec.name", winner.name)).await;
    }
    let refs = &source.spec.source_config_secret_refs;
    // Synced by this process from these very inputs (same Secret versions, spec, workspace and
    // template) and Ready: nothing to read, nothing to write until the drift check is due.
    let inputs =
        secret_values::cached_versions(&ctx.stores.secrets, &namespace, refs).map(|versions| {
            hash_of((
                versions,
                source.meta().generation,
                &workspace_id,
                &template_id,
                source.annotations().get(EXTERNAL_ID),
                source.annotations().get(RECONCILE_REQUESTED_AT),
            ))
        });
    if let Some(inputs) = inputs
        && ctx.synced_from(&uid, inputs)
        && status.observed_generation == source.meta().generation
        && conditions::is_ready(&status.conditions)
        && !ctx.drift_due(&uid)
    {
        return requeue_at_drift(ctx, &uid);
    }
    let values = secret_values::read(&ctx.client, &ctx.stores.secrets, &namespace, refs).await?;
    let base = source.spec.source_config.clone().unwrap_or_default();
    let config = secret_values::merge(&base, &values, refs).map_err(|problem| {
        Error::InvalidConfig(format!("spec.sourceConfigSecretRefs: {problem}"))
    })?;
    let filter = source.spec.connection_template_tags.clone();
    let desired = Desired {
        name: name.clone(),
        workspace_id: workspace_id.clone(),
        template_id: template_id.clone(),
        config,
        tags: filter.as_ref().map(|f| f.tags.clone()),
        mode: filter.as_ref().map(|f| super::convert::tag_mode(f.mode())),
    };
    let hash = config_hash(&desired);

    let requested = source.annotations().get(RECONCILE_REQUESTED_AT).cloned();
    let request_pending = requested.is_some() && requested != status.last_handled_reconcile_at;
    let config_changed = status.config_hash.as_deref() != Some(hash.as_str());
    let changed = status.observed_generation != source.meta().generation || config_changed;
    let external = source.annotations().get(EXTERNAL_ID).cloned();
    let same_workspace = status.workspace_id.as_deref() == Some(workspace_id.as_str());

    // Observe only when there is a reason to: nothing is read while nothing changes.
    if let Some(id) = &status.source_id
        && same_workspace
        && !(changed || request_pending || ctx.drift_due(&uid))
    {
        let action = finish(source, ctx, &desired, id, &hash, requested, &status).await?;
        ctx.note_synced_inputs(&uid, inputs);
        return Ok(action);
    }
    let _routine = if changed || request_pending || status.source_id.is_none() {
        None
    } else {
        ctx.routine.acquire().await.ok()
    };
    let token = workspace_token(ctx, &namespace, &workspace, &workspace_id).await?;
    let observed: Option<Source> = match (&status.source_id, &external) {
        (Some(id), _) if same_workspace => match ctx.airbyte.get_source(&token, id).await {
            Ok(found) => Some(found),
            Err(ApiError::NotFound { .. }) | Err(ApiError::Forbidden { .. })
                if external.as_deref() == Some(id.as_str()) =>
            {
                return stall(source, ctx, Reason::AdoptionFailed, format!("adopted source {id} no longer exists in workspace {workspace_name}; remove the {EXTERNAL_ID} annotation to create a new one")).await;
            }
            Err(ApiError::NotFound { .. }) => {
                event(
                    &ctx.recorder,
                    source,
                    true,
                    "DriftDetected",
                    "GetSource",
                    format!("Airbyte source {id} was deleted out of band; creating it again"),
                );
                None
            }
            Err(error) => return Err(error.into()),
        },
        (_, Some(id)) => match ctx.airbyte.get_source(&token, id).await {
            Ok(found) => Some(found),
            Err(ApiError::NotFound { .. }) => {
                return stall(
                    source,
                    ctx,
                    Reason::AdoptionFailed,
                    format!("{EXTERNAL_ID} {id}: no such source; fix or remove the annotation"),
                )
                .await;
            }
            Err(ApiError::Forbidden { .. }) => {
                return stall(source, ctx, Reason::AdoptionFailed, format!("{EXTERNAL_ID} {id}: the source belongs to another workspace; only a source of workspace {workspace_name} can be adopted")).await;
            }
            Err(error) => return Err(error.into()),
        },
        _ => {
            // Crash safety: a source of this name made after this object is ours.
            let existing = ctx.airbyte.list_sources(&token).await?;
            let candidates: Vec<(&str, Option<&str>)> = existing
                .iter()
                .filter(|s| s.name == name)
                .map(|s| (s.id.as_str(), s.created_at.as_deref()))
                .collect();
            let created = source
                .meta()
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_default();
            match adoption::classify(&candidates, &created) {
                Found::Ours(id) => existing.iter().find(|s| s.id == id).cloned(),
                Found::Foreign(id) => {
                    return stall(source, ctx, Reason::SourceNameTaken, format!("workspace {workspace_name} already has a source named {name:?} ({id}) that this object did not create; set a distinct spec.name, or adopt it with the {EXTERNAL_ID} annotation")).await;
                }
                Found::Nothing => None,
            }
        }
    };
    ctx.drift_checked(&uid);

    let id = match observed {
        None => {
            let created = ctx
                .airbyte
                .create_source(&token, &desired.create_request())
                .await?;
            // Record the id at once: a crash after this point must not create a second source.
            let early = EmbeddedSourceStatus {
                source_id: Some(created.id.clone()),
                workspace_id: Some(workspace_id.clone()),
                source_template_id: Some(template_id.clone()),
                config_hash: Some(hash.clone()),
                last_handled_reconcile_at: requested
                    .clone()
                    .or(status.last_handled_reconcile_at.clone()),
                observed_generation: source.meta().generation,
                conditions: Vec::new(),
            };
            event(
                &ctx.recorder,
                source,
                false,
                "Created",
                "CreateSource",
                format!(
                    "created Airbyte source {} in workspace {workspace_name}",
                    created.id
                ),
            );
            let message = format!(
                "source {name:?} is Airbyte source {} in workspace {workspace_name}",
                created.id
            );
            record(
                source,
                ctx,
                &Outcome::ready(Reason::Synced, message),
                Some(early),
            )
            .await?;
            ctx.note_synced_inputs(&uid, inputs);
            return requeue_at_drift(ctx, &uid);
        }
        Some(observed) => {
            if let Some(patch) = plan::changes(&desired, &observed, config_changed) {
                ctx.airbyte
                    .patch_source(&token, &observed.id, &patch)
                    .await?;
                event(
                    &ctx.recorder,
                    source,
                    false,
                    "Updated",
                    "UpdateSource",
                    format!("updated Airbyte source {}", observed.id),
                );
            }
            observed.id
        }
    };
    let action = finish(source, ctx, &desired, &id, &hash, requested, &status).await?;
    ctx.note_synced_inputs(&uid, inputs);
    Ok(action)
}

fn requeue_at_drift<A: AirbyteApi>(ctx: &Context<A>, uid: &str) -> Result<Action, Error> {
    ctx.drift_due(uid);
    Ok(Action::requeue(
        ctx.until_drift(uid).max(Duration::from_secs(1)),
    ))
}

async fn finish<A: AirbyteApi>(
    source: &EmbeddedSource,
    ctx: &Context<A>,
    desired: &Desired,
    id: &str,
    hash: &str,
    requested: Option<String>,
    status: &EmbeddedSourceStatus,
) -> Result<Action, Error> {
    let fields = EmbeddedSourceStatus {
        source_id: Some(id.to_string()),
        workspace_id: Some(desired.workspace_id.clone()),
        source_template_id: Some(desired.template_id.clone()),
        config_hash: Some(hash.to_string()),
        last_handled_reconcile_at: requested.or(status.last_handled_reconcile_at.clone()),
        observed_generation: source.meta().generation,
        conditions: Vec::new(),
    };
    let message = format!(
        "source {:?} is Airbyte source {id} in workspace {}",
        desired.name, source.spec.workspace_ref.name
    );
    record(
        source,
        ctx,
        &Outcome::ready(Reason::Synced, message),
        Some(fields),
    )
    .await?;
    requeue_at_drift(ctx, &source.uid().unwrap_or_default())
}

async fn cleanup<A: AirbyteApi>(
    source: &EmbeddedSource,
    ctx: &Context<A>,
) -> Result<Action, Error> {
    let uid = source.uid().unwrap_or_default();
    if !source.finalizers().iter().any(|f| f == FINALIZER) {
        ctx.forget(&uid);
        return Ok(Action::await_change());
    }
    let status = source.status.clone().unwrap_or_default();
    if delete_policy(source)
        && let (Some(id), Some(workspace_id)) = (&status.source_id, &status.workspace_id)
    {
        let namespace = source.namespace().unwrap_or_default();
        let workspace = ctx
            .stores
            .workspaces
            .get(&ObjectRef::new(&source.spec.workspace_ref.name).within(&namespace));
        let token = match &workspace {
            Some(workspace) => workspace_token(ctx, &namespace, workspace, workspace_id)
                .await
                .ok(),
            None => None,
        };
        let token = match token {
            Some(token) => Some(token),
            // No stored token (the workspace object is gone too): mint one by the workspace's name.
            None => match ctx.airbyte.get_workspace(workspace_id).await {
                Ok(found) => Some(
                    ctx.airbyte
                        .mint_scoped_token(&found.name, None)
                        .await?
                        .token,
                ),
                Err(ApiError::NotFound { .. }) => None,
                Err(error) => return Err(error.into()),
            },
        };
        if let Some(token) = token {
            ctx.airbyte.delete_source(&token, id).await?;
            event(
                &ctx.recorder,
                source,
                false,
                "Deleted",
                "DeleteSource",
                format!("deleted Airbyte source {id}"),
            );
        }
    }
    let api = EmbeddedSource::api(ctx.client.clone(), source);
    set_finalizer(&api, source, false).await?;
    ctx.forget(&uid);
    Ok(Action::await_change())
}
