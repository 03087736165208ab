//! Writes what a template reconcile did into its status (only when it changed), publishes its
//! Events, and says when to come back (the next drift check).

use std::time::Duration;

use kube::runtime::controller::Action;

use super::act::Applied;
use super::observe::Observation;
use super::{Synced, Template, TemplateStatus};
use crate::controllers::context::Context;
use crate::controllers::error::Error;
use crate::controllers::lifecycle::record as write_status;
use airbyte_client::AirbyteApi;
use embedded_crds::conditions::{Outcome, Reason};

pub async fn record<K: Template, A: AirbyteApi>(
    template: &K,
    ctx: &Context<A>,
    observation: &Observation<K>,
    applied: Applied,
) -> Result<Action, Error> {
    if let Some((reason, message)) = applied.stall {
        write_status(template, ctx, &Outcome::stalled(reason, message), None).await?;
        return Ok(Action::requeue(ctx.config.drift_interval));
    }
    let id = applied.id.unwrap_or_default();
    let synced = Synced {
        template_id: Some(id.clone()),
        config_hash: Some(observation.config_hash.clone()),
        last_handled_reconcile_at: observation
            .requested
            .clone()
            .or(super::synced(template).last_handled_reconcile_at),
        observed_generation: template.meta().generation,
    };
    let outcome = Outcome::ready(Reason::Synced, K::ready(&observation.desired, &id));
    let mut status = K::Status::default();
    status.set_synced(synced);
    K::record_check(&mut status, &observation.check);
    write_status(template, ctx, &outcome, Some(status)).await?;
    for note in applied.notes {
        ctx.publish(template, note);
    }
    Ok(Action::requeue(
        ctx.until_drift(&super::uid(template))
            .max(Duration::from_secs(1)),
    ))
}
