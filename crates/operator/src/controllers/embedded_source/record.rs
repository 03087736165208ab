//! Writes what an EmbeddedSource reconcile did into its status (only when it changed), publishes
//! its Events, and says when to come back (the next drift check; sooner while it waits).

use std::time::Duration;

use kube::runtime::controller::Action;
use kube::{Resource, ResourceExt};

use super::act::Applied;
use super::observe::{Observation, Wait};
use crate::controllers::context::Context;
use crate::controllers::error::Error;
use crate::controllers::lifecycle::record as write_status;
use airbyte_client::AirbyteApi;
use embedded_crds::conditions::{Outcome, Reason};
use embedded_crds::{EmbeddedSource, EmbeddedSourceStatus};

pub async fn record<A: AirbyteApi>(
    source: &EmbeddedSource,
    ctx: &Context<A>,
    observation: &Observation,
    applied: Applied,
) -> Result<Action, Error> {
    let uid = source.uid().unwrap_or_default();
    if let Some(waiting) = applied.wait {
        return wait(source, ctx, waiting).await;
    }
    if let Some((reason, message)) = applied.stall {
        write_status(source, ctx, &Outcome::stalled(reason, message), None).await?;
        return Ok(Action::requeue(ctx.config.drift_interval));
    }
    let Observation::Seen(seen) = observation else {
        // Steady: status already says so.
        return Ok(requeue_at_drift(ctx, &uid));
    };
    let id = applied.id.unwrap_or_default();
    let previous = source.status.clone().unwrap_or_default();
    let fields = EmbeddedSourceStatus {
        source_id: Some(id.clone()),
        workspace_id: Some(seen.desired.workspace_id.clone()),
        source_template_id: Some(seen.desired.template_id.clone()),
        config_hash: Some(seen.config_hash.clone()),
        connection_templates: seen.connection_templates.clone(),
        last_handled_reconcile_at: seen
            .requested
            .clone()
            .or(previous.last_handled_reconcile_at),
        observed_generation: source.meta().generation,
        conditions: Vec::new(),
        organization: None,
        organization_id: None,
    };
    let message = format!(
        "source {:?} is Airbyte source {id} in workspace {}",
        seen.desired.name, source.spec.workspace_ref.name
    );
    write_status(
        source,
        ctx,
        &Outcome::ready(Reason::Synced, message),
        Some(fields),
    )
    .await?;
    for note in applied.notes {
        ctx.publish(source, note);
    }
    ctx.memory.note_synced(&uid, seen.inputs);
    Ok(requeue_at_drift(ctx, &uid))
}

fn requeue_at_drift<A: AirbyteApi>(ctx: &Context<A>, uid: &str) -> Action {
    Action::requeue(ctx.until_drift(uid).max(Duration::from_secs(1)))
}

/// Waits (in progress, without calls) for something that may still appear. A source applied
/// together with its workspace usually waits a second or two, and in a rollout of thousands it
/// waits for its workspace's turn in the queue: its condition is written only once it has waited
/// longer than 10 s for a dependency that is not merely queued, or 10 minutes for one that is
/// (never reconciled: perhaps no operator selects it; until then the schema's
/// `observedGeneration: -1` already reads as in progress), which spares a status write per
/// object. The dependency's watch wakes it; the requeue is a safety net.
async fn wait<A: AirbyteApi>(
    source: &EmbeddedSource,
    ctx: &Context<A>,
    waiting: Wait,
) -> Result<Action, Error> {
    let Wait {
        reason,
        message,
        queued,
    } = waiting;
    let never_reconciled = source
        .status
        .as_ref()
        .is_none_or(|s| s.conditions.is_empty());
    let now = jiff::Timestamp::try_from(ctx.clock.now()).unwrap_or_else(|_| jiff::Timestamp::now());
    let age = source
        .meta()
        .creation_timestamp
        .as_ref()
        .map(|t| now.duration_since(t.0).unsigned_abs())
        .unwrap_or_default();
    if never_reconciled && queued && age < Duration::from_secs(600) {
        return Ok(Action::requeue(Duration::from_secs(30)));
    }
    if never_reconciled && age < Duration::from_secs(10) {
        return Ok(Action::requeue(Duration::from_secs(2)));
    }
    write_status(source, ctx, &Outcome::in_progress(reason, message), None).await?;
    // The workspace and template watches wake us; the requeue is only a safety net.
    Ok(Action::requeue(Duration::from_secs(60)))
}
