//! What a SourceTemplate's plan is decided from: the declared template with its Secret values,
//! what changed since the last sync, and what Airbyte holds, read only when there is a reason to
//! (a change, a requested reconcile, a due drift check, or no template known yet).

use std::time::SystemTime;

use kube::ResourceExt;

use super::plan::Desired;
use crate::controllers::context::Context;
use crate::controllers::error::Error;
use crate::controllers::intent::{self, Found};
use crate::controllers::secret_values::{config_hash, resolve};
use airbyte_client::models::{SourceTemplate as ApiTemplate, TagMode};
use airbyte_client::{AirbyteApi, ApiError};
use embedded_crds::{CREATE_PENDING, EXTERNAL_ID, RECONCILE_REQUESTED_AT, SourceTemplate};

/// What Airbyte holds for this template, as far as it was read.
#[derive(Debug)]
pub enum External {
    /// Nothing was read: the template is known and nothing asks for a look.
    Unread { id: String },
    /// The known template.
    Found(ApiTemplate),
    /// The known template is gone (deleted out of band).
    Gone { id: String },
    /// The template the `external-id` annotation names.
    Adoptable(ApiTemplate),
    /// The `external-id` annotation names no template of this organization.
    AdoptionMissing { id: String },
    /// A template of this name made inside the recorded create window: ours, from an
    /// interrupted create.
    Recovered(ApiTemplate),
    /// A template of this name that this object did not make.
    Taken { id: String },
    /// Nothing of this name.
    Absent,
}

#[derive(Debug)]
pub struct Observation {
    pub desired: Desired,
    pub config_hash: String,
    /// The spec or a referenced Secret changed since the last sync.
    pub changed: bool,
    /// The `reconcile-requested-at` value, and whether it is new.
    pub requested: Option<String>,
    pub request_pending: bool,
    /// When the operator last set out to create the template (`create-pending`).
    pub intent: Option<SystemTime>,
    pub now: SystemTime,
    pub external: External,
}

pub async fn observe<A: AirbyteApi>(
    template: &SourceTemplate,
    ctx: &Context<A>,
) -> Result<Observation, Error> {
    let status = template.status.clone().unwrap_or_default();
    let spec = &template.spec;
    let base = spec.partial_default_config.clone().unwrap_or_default();
    let (config, versions) = resolve(
        &ctx.client,
        ctx.stores.secrets.as_ref(),
        &ctx.config.secret_namespace,
        &base,
        &spec.partial_default_config_secret_refs,
        "spec.partialDefaultConfigSecretRefs",
    )
    .await?;
    let desired = Desired::new(spec, config);
    let hash = config_hash(&(&desired.declared(), &base), &versions);
    let requested = template.annotations().get(RECONCILE_REQUESTED_AT).cloned();
    let request_pending = requested.is_some() && requested != status.last_handled_reconcile_at;
    let changed = status.observed_generation != template.metadata.generation
        || status.config_hash.as_deref() != Some(hash.as_str());
    let intent = template
        .annotations()
        .get(CREATE_PENDING)
        .and_then(|t| crate::controllers::clock::parse_rfc3339(t));
    let uid = super::uid(template);
    ctx.ensure_drift_scheduled(&uid);
    let look = changed || request_pending || ctx.drift_due(&uid);
    let external =
        read_external(template, ctx, &status.template_id, look, &desired, intent).await?;
    Ok(Observation {
        desired,
        config_hash: hash,
        changed,
        requested,
        request_pending,
        intent,
        now: ctx.clock.now(),
        external,
    })
}

async fn read_external<A: AirbyteApi>(
    template: &SourceTemplate,
    ctx: &Context<A>,
    known: &Option<String>,
    look: bool,
    desired: &Desired,
    intent: Option<SystemTime>,
) -> Result<External, Error> {
    let uid = super::uid(template);
    let adopt = template.annotations().get(EXTERNAL_ID).cloned();
    let external = match (known, adopt) {
        (Some(id), _) if !look => return Ok(External::Unread { id: id.clone() }),
        (Some(id), _) => {
            let _routine = ctx.routine.acquire().await.ok();
            match ctx.airbyte.get_source_template(id).await {
                Ok(found) => External::Found(found),
                Err(ApiError::NotFound { .. }) => External::Gone { id: id.clone() },
                Err(error) => return Err(error.into()),
            }
        }
        (None, Some(id)) => match ctx.airbyte.get_source_template(&id).await {
            Ok(found) if owned_by(&found, ctx.airbyte.organization_id()) => {
                External::Adoptable(found)
            }
            Ok(_) | Err(ApiError::NotFound { .. }) | Err(ApiError::Forbidden { .. }) => {
                External::AdoptionMissing { id }
            }
            Err(error) => return Err(error.into()),
        },
        (None, None) => by_name(ctx, desired, intent).await?,
    };
    ctx.drift_checked(&uid);
    Ok(external)
}

/// A template of this organization (a standard template has no organization and cannot be
/// changed; a template that does not say is taken as the organization's, which is all a GET with
/// the organization's token can return).
fn owned_by(template: &ApiTemplate, organization: &str) -> bool {
    template
        .organization_id
        .as_deref()
        .is_none_or(|org| org.eq_ignore_ascii_case(organization))
}

/// The organization's templates of the declared name, classified against the create intent.
async fn by_name<A: AirbyteApi>(
    ctx: &Context<A>,
    desired: &Desired,
    intent: Option<SystemTime>,
) -> Result<External, Error> {
    let existing = ctx.airbyte.list_source_templates(&[], TagMode::Any).await?;
    let candidates: Vec<(&str, Option<&str>)> = existing
        .iter()
        .filter(|t| t.name == desired.name)
        .filter(|t| {
            t.source_definition_id
                .as_deref()
                .is_none_or(|d| d.eq_ignore_ascii_case(&desired.actor_definition_id))
        })
        .map(|t| (t.id.as_str(), t.created_at.as_deref()))
        .collect();
    Ok(match intent::classify(&candidates, intent) {
        Found::Nothing => External::Absent,
        Found::Taken(id) => External::Taken { id: id.to_string() },
        Found::Ours(id) => match ctx.airbyte.get_source_template(id).await {
            Ok(found) => External::Recovered(found),
            Err(ApiError::NotFound { .. }) => External::Absent,
            Err(error) => return Err(error.into()),
        },
    })
}
