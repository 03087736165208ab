//! Writes what a ConnectionTemplate reconcile did into its status (only when it changed), with
//! the schedule in words, publishes its Events, and says when to come back.

use std::time::Duration;

use kube::runtime::controller::Action;

use super::act::Applied;
use super::observe::{Observation, Schedule};
use crate::controllers::context::Context;
use crate::controllers::error::Error;
use crate::controllers::lifecycle::record as write_status;
use airbyte_client::AirbyteApi;
use embedded_crds::conditions::{Outcome, Reason};
use embedded_crds::{ConnectionTemplate, ConnectionTemplateStatus};

pub async fn record<A: AirbyteApi>(
    template: &ConnectionTemplate,
    ctx: &Context<A>,
    observation: &Observation,
    applied: Applied,
) -> Result<Action, Error> {
    let uid = super::uid(template);
    if let Some((reason, message)) = applied.stall {
        write_status(template, ctx, &Outcome::stalled(reason, message), None).await?;
        return Ok(Action::requeue(ctx.config.drift_interval));
    }
    let previous = template.status.clone().unwrap_or_default();
    let id = applied.id.unwrap_or_default();
    let fields = ConnectionTemplateStatus {
        template_id: Some(id.clone()),
        schedule_description: match &observation.schedule {
            Schedule::None => None,
            Schedule::Known(known) => known.clone(),
            Schedule::Valid { description } | Schedule::Invalid { description } => {
                Some(description.clone())
            }
        },
        config_hash: Some(observation.config_hash.clone()),
        last_handled_reconcile_at: observation
            .requested
            .clone()
            .or(previous.last_handled_reconcile_at),
        observed_generation: template.metadata.generation,
        conditions: Vec::new(),
    };
    let destination = if observation.desired.airbyte_hosted {
        "Airbyte-hosted storage".to_string()
    } else {
        format!("destination {:?}", observation.desired.destination_name)
    };
    let message =
        format!("connection template for {destination} is Airbyte connection template {id}");
    write_status(
        template,
        ctx,
        &Outcome::ready(Reason::Synced, message),
        Some(fields),
    )
    .await?;
    for note in applied.notes {
        ctx.publish(template, note);
    }
    Ok(Action::requeue(
        ctx.until_drift(&uid).max(Duration::from_secs(1)),
    ))
}
