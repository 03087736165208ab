//! What a ConnectionTemplate's plan is decided from: the declared template with its Secret
//! values, the schedule as Airbyte describes it (asked only when the spec changed), and what
//! Airbyte holds, read only when there is a reason to.

use std::time::SystemTime;

use kube::ResourceExt;

use super::plan::Desired;
use crate::controllers::context::Context;
use crate::controllers::error::Error;
use crate::controllers::intent::{self, Found};
use crate::controllers::secret_values::{config_hash, resolve};
use airbyte_client::models::{ConnectionTemplate as ApiTemplate, TagMode};
use airbyte_client::{AirbyteApi, ApiError};
use embedded_crds::{CREATE_PENDING, ConnectionTemplate, EXTERNAL_ID, RECONCILE_REQUESTED_AT};

/// What Airbyte holds for this template, as far as it was read.
#[derive(Debug)]
pub enum External {
    Unread { id: String },
    Found(ApiTemplate),
    Gone { id: String },
    Adoptable(ApiTemplate),
    AdoptionMissing { id: String },
    Recovered(ApiTemplate),
    Taken { id: String },
    Absent,
}

/// The schedule, as Airbyte describes it.
#[derive(Debug, PartialEq)]
pub enum Schedule {
    /// No schedule declared (Airbyte's default applies).
    None,
    /// As described before (the expression did not change).
    Known(Option<String>),
    Valid {
        description: String,
    },
    Invalid {
        description: String,
    },
}

#[derive(Debug)]
pub struct Observation {
    pub desired: Desired,
    pub config_hash: String,
    pub changed: bool,
    pub requested: Option<String>,
    pub intent: Option<SystemTime>,
    pub now: SystemTime,
    pub schedule: Schedule,
    pub external: External,
}

pub async fn observe<A: AirbyteApi>(
    template: &ConnectionTemplate,
    ctx: &Context<A>,
) -> Result<Observation, Error> {
    let status = template.status.clone().unwrap_or_default();
    let base = template.spec.destination_config.clone().unwrap_or_default();
    let (config, versions) = resolve(
        &ctx.client,
        ctx.stores.secrets.as_ref(),
        &ctx.config.secret_namespace,
        &base,
        &template.spec.destination_config_secret_refs,
        "spec.destinationConfigSecretRefs",
    )
    .await?;
    let desired = Desired::new(template, config);
    let hash = config_hash(&(desired.declared(), &base), &versions);
    let requested = template.annotations().get(RECONCILE_REQUESTED_AT).cloned();
    let request_pending = requested.is_some() && requested != status.last_handled_reconcile_at;
    let changed = status.observed_generation != template.metadata.generation
        || status.config_hash.as_deref() != Some(hash.as_str());
    let schedule = schedule(ctx, &desired, changed, &status.schedule_description).await?;
    let uid = super::uid(template);
    ctx.ensure_drift_scheduled(&uid);
    let look = changed || request_pending || ctx.drift_due(&uid);
    let intent = template
        .annotations()
        .get(CREATE_PENDING)
        .and_then(|t| crate::controllers::clock::parse_rfc3339(t));
    let external = if matches!(schedule, Schedule::Invalid { .. }) {
        External::Absent
    } else {
        read_external(template, ctx, &status.template_id, look, &desired, intent).await?
    };
    Ok(Observation {
        desired,
        config_hash: hash,
        changed,
        requested,
        intent,
        now: ctx.clock.now(),
        schedule,
        external,
    })
}

/// Asks Airbyte about the cron expression when it may have changed.
async fn schedule<A: AirbyteApi>(
    ctx: &Context<A>,
    desired: &Desired,
    changed: bool,
    known: &Option<String>,
) -> Result<Schedule, Error> {
    let Some(expression) = &desired.cron_expression else {
        return Ok(Schedule::None);
    };
    if !changed && known.is_some() {
        return Ok(Schedule::Known(known.clone()));
    }
    let described = ctx.airbyte.describe_cron(expression).await?;
    Ok(if described.is_valid {
        Schedule::Valid {
            description: described.description,
        }
    } else {
        Schedule::Invalid {
            description: described.description,
        }
    })
}

async fn read_external<A: AirbyteApi>(
    template: &ConnectionTemplate,
    ctx: &Context<A>,
    known: &Option<String>,
    look: bool,
    desired: &Desired,
    intent: Option<SystemTime>,
) -> Result<External, Error> {
    let adopt = template.annotations().get(EXTERNAL_ID).cloned();
    let external = match (known, adopt) {
        (Some(id), _) if !look => return Ok(External::Unread { id: id.clone() }),
        (Some(id), _) => {
            let _routine = ctx.routine.acquire().await.ok();
            match ctx.airbyte.get_connection_template(id).await {
                Ok(found) => External::Found(found),
                Err(ApiError::NotFound { .. }) => External::Gone { id: id.clone() },
                Err(error) => return Err(error.into()),
            }
        }
        (None, Some(id)) => match ctx.airbyte.get_connection_template(&id).await {
            Ok(found) => External::Adoptable(found),
            Err(ApiError::NotFound { .. } | ApiError::Forbidden { .. }) => {
                External::AdoptionMissing { id }
            }
            Err(error) => return Err(error.into()),
        },
        (None, None) => by_destination(ctx, desired, intent).await?,
    };
    ctx.drift_checked(&super::uid(template));
    Ok(external)
}

/// The organization's templates this one would have made, classified against the create intent.
async fn by_destination<A: AirbyteApi>(
    ctx: &Context<A>,
    desired: &Desired,
    intent: Option<SystemTime>,
) -> Result<External, Error> {
    let existing = ctx
        .airbyte
        .list_connection_templates(&[], TagMode::Any)
        .await?;
    let candidates: Vec<(&str, Option<&str>)> = existing
        .iter()
        .filter(|t| desired.resembles(t))
        .map(|t| (t.id.as_str(), t.created_at.as_deref()))
        .collect();
    Ok(match intent::classify(&candidates, intent) {
        Found::Nothing => External::Absent,
        // Airbyte-hosted templates have no name of ours: only one we made counts, and without a
        // record of making one, another is no reason to stop.
        Found::Taken(_) if desired.airbyte_hosted => External::Absent,
        Found::Taken(id) => External::Taken { id: id.to_string() },
        Found::Ours(id) => match ctx.airbyte.get_connection_template(id).await {
            Ok(found) => External::Recovered(found),
            Err(ApiError::NotFound { .. }) => External::Absent,
            Err(error) => return Err(error.into()),
        },
    })
}
