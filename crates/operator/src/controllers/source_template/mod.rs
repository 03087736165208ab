//! The SourceTemplate controller: defaults (with Secret values) → observe → create, adopt or patch
//! → status. Templates are organization-wide; their Secrets live in the operator's namespace.

pub mod plan;

use std::sync::Arc;

use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use self::plan::Desired;
use super::adoption::{self, Found};
use super::config_hash::config_hash;
use super::context::Context;
use super::error::Error;
use super::lifecycle::{self, Managed, record};
use super::secret_values;
use super::status::{event, set_finalizer};
use airbyte_client::models::{SourceTemplate as ApiTemplate, TagMode};
use airbyte_client::{AirbyteApi, ApiError};
use embedded_crds::conditions::{Outcome, Reason};
use embedded_crds::{
    DeletionPolicy, EXTERNAL_ID, FINALIZER, RECONCILE_REQUESTED_AT, SourceTemplate,
    SourceTemplateStatus,
};

pub async fn reconcile<A: AirbyteApi>(
    template: Arc<SourceTemplate>,
    ctx: Arc<Context<A>>,
) -> Result<Action, Error> {
    lifecycle::run(template, ctx, |template, ctx| async move {
        if template.meta().deletion_timestamp.is_some() {
            cleanup(&template, &ctx).await
        } else {
            apply(&template, &ctx).await
        }
    })
    .await
}

fn delete_policy(template: &SourceTemplate) -> bool {
    template
        .spec
        .deletion_policy
        .unwrap_or(DeletionPolicy::Delete)
        == DeletionPolicy::Delete
}

async fn apply<A: AirbyteApi>(
    template: &SourceTemplate,
    ctx: &Context<A>,
) -> Result<Action, Error> {
    let uid = template.uid().unwrap_or_default();
    let status = template.status.clone().unwrap_or_default();
    let api = SourceTemplate::api(ctx.client.clone(), template);
    let written = set_finalizer(&api, template, delete_policy(template)).await?;
    ctx.note_write(&uid, written.as_deref());

    // Defaults with Secret values (Secrets of the operator's namespace).
    let namespace = ctx.config.secret_namespace.clone();
    let values = secret_values::read(
        &ctx.client,
        &ctx.stores.secrets,
        &namespace,
        &template.spec.partial_default_config_secret_refs,
    )
    .await?;
    let base = template
        .spec
        .partial_default_config
        .clone()
        .unwrap_or_default();
    let config = secret_values::merge(
        &base,
        &values,
        &template.spec.partial_default_config_secret_refs,
    )
    .map_err(|problem| {
        Error::InvalidConfig(format!("spec.partialDefaultConfigSecretRefs: {problem}"))
    })?;
    let desired = Desired::new(&template.spec, config);
    let hash = config_hash(&desired.partial_default_config);

    let requested = template.annotations().get(RECONCILE_REQUESTED_AT).cloned();
    let request_pending = requested.is_some() && requested != status.last_handled_reconcile_at;
    let changed = status.observed_generation != template.meta().generation
        || status.config_hash.as_deref() != Some(hash.as_str());
    let external = template.annotations().get(EXTERNAL_ID).cloned();

    // Observe: the known template when something changed or a drift check is due; otherwise
    // nothing is read.
    let observed: Option<ApiTemplate> = match (&status.template_id, &external) {
        (Some(id), _) => {
            if !(changed || request_pending || ctx.drift_due(&uid)) {
                return finish(template, ctx, &desired, id, &hash, requested, &status).await;
            }
            let _routine = if changed || request_pending {
                None
            } else {
                ctx.routine.acquire().await.ok()
            };
            match ctx.airbyte.get_source_template(id).await {
                Ok(found) => Some(found),
                Err(ApiError::NotFound { .. }) if external.as_deref() == Some(id.as_str()) => {
                    let outcome = Outcome::stalled(
                        Reason::AdoptionFailed,
                        format!(
                            "adopted template {id} no longer exists in Airbyte; remove the {EXTERNAL_ID} annotation to create a new one"
                        ),
                    );
                    record(template, ctx, &outcome, None).await?;
                    return Ok(Action::requeue(ctx.config.drift_interval));
                }
                Err(ApiError::NotFound { .. }) => {
                    event(
                        &ctx.recorder,
                        template,
                        true,
                        "DriftDetected",
                        "GetTemplate",
                        format!("Airbyte template {id} was deleted out of band; creating it again"),
                    );
                    None
                }
                Err(error) => return Err(error.into()),
            }
        }
        (None, Some(id)) => match ctx.airbyte.get_source_template(id).await {
            Ok(found)
                if found.organization_id.as_deref() == Some(ctx.airbyte.organization_id()) =>
            {
                Some(found)
            }
            Ok(_) | Err(ApiError::NotFound { .. }) => {
                let outcome = Outcome::stalled(
                    Reason::AdoptionFailed,
                    format!(
                        "{EXTERNAL_ID} {id}: no such template in this Airbyte organization; fix or remove the annotation"
                    ),
                );
                record(template, ctx, &outcome, None).await?;
                return Ok(Action::requeue(ctx.config.drift_interval));
            }
            Err(error) => return Err(error.into()),
        },
        (None, None) => {
            // Crash safety: a template of this name made after this object is ours.
            let existing = ctx.airbyte.list_source_templates(&[], TagMode::Any).await?;
            let candidates: Vec<(&str, Option<&str>)> = existing
                .iter()
                .filter(|t| {
                    t.organization_id.as_deref() == Some(ctx.airbyte.organization_id())
                        && t.name == desired.name
                        && t.actor_definition_id
                            .eq_ignore_ascii_case(&desired.actor_definition_id)
                })
                .map(|t| (t.id.as_str(), t.created_at.as_deref()))
                .collect();
            let created = template
                .meta()
                .creation_timestamp
                .as_ref()
                .map(|t| t.0.to_string())
                .unwrap_or_default();
            match adoption::classify(&candidates, &created) {
                Found::Ours(id) => existing.iter().find(|t| t.id == id).cloned(),
                Found::Nothing | Found::Foreign(_) => None,
            }
        }
    };
    ctx.drift_checked(&uid);

    let id = match observed {
        None => {
            let created = ctx
                .airbyte
                .create_source_template(&desired.create_request(ctx.airbyte.organization_id()))
                .await?;
            event(
                &ctx.recorder,
                template,
                false,
                "Created",
                "CreateTemplate",
                format!("created Airbyte source template {}", created.id),
            );
            created.id
        }
        Some(observed) => {
            let changes = plan::changes(&desired, &observed);
            if !changes.is_empty() {
                if let Some(patch) = &changes.patch {
                    ctx.airbyte
                        .patch_source_template(&observed.id, patch)
                        .await?;
                }
                for tag in &changes.add_tags {
                    ctx.airbyte
                        .add_source_template_tag(&observed.id, tag)
                        .await?;
                }
                for tag in &changes.remove_tags {
                    ctx.airbyte
                        .remove_source_template_tag(&observed.id, tag)
                        .await?;
                }
                event(
                    &ctx.recorder,
                    template,
                    false,
                    "Updated",
                    "UpdateTemplate",
                    format!("updated Airbyte source template {}", observed.id),
                );
            }
            observed.id
        }
    };
    finish(template, ctx, &desired, &id, &hash, requested, &status).await
}

async fn finish<A: AirbyteApi>(
    template: &SourceTemplate,
    ctx: &Context<A>,
    desired: &Desired,
    id: &str,
    hash: &str,
    requested: Option<String>,
    status: &SourceTemplateStatus,
) -> Result<Action, Error> {
    let fields = SourceTemplateStatus {
        template_id: Some(id.to_string()),
        config_hash: Some(hash.to_string()),
        last_handled_reconcile_at: requested.or(status.last_handled_reconcile_at.clone()),
        observed_generation: template.meta().generation,
        conditions: Vec::new(),
    };
    let message = format!(
        "template {:?} is Airbyte source template {id}",
        desired.name
    );
    record(
        template,
        ctx,
        &Outcome::ready(Reason::Synced, message),
        Some(fields),
    )
    .await?;
    let uid = template.uid().unwrap_or_default();
    ctx.drift_due(&uid);
    Ok(Action::requeue(
        ctx.until_drift(&uid).max(std::time::Duration::from_secs(1)),
    ))
}

async fn cleanup<A: AirbyteApi>(
    template: &SourceTemplate,
    ctx: &Context<A>,
) -> Result<Action, Error> {
    let uid = template.uid().unwrap_or_default();
    if !template.finalizers().iter().any(|f| f == FINALIZER) {
        ctx.forget(&uid);
        return Ok(Action::await_change());
    }
    if delete_policy(template)
        && let Some(id) = template.status.as_ref().and_then(|s| s.template_id.clone())
    {
        ctx.airbyte.delete_source_template(&id).await?;
        event(
            &ctx.recorder,
            template,
            false,
            "Deleted",
            "DeleteTemplate",
            format!("deleted Airbyte source template {id}"),
        );
    }
    let api = SourceTemplate::api(ctx.client.clone(), template);
    set_finalizer(&api, template, false).await?;
    ctx.forget(&uid);
    Ok(Action::await_change())
}
