//! An organization's status (its token's expiry, its users, its conditions; written only when
//! it differs, with an Event when Ready changes), its metrics, and the next visit.

use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::controller::Action;

use super::OrganizationObject;
use super::act::Applied;
use super::observe::Observation;
use crate::controllers::clock::rfc3339;
use crate::controllers::context::Context;
use crate::controllers::error::{Error, backoff};
use crate::controllers::lifecycle;
use airbyte_client::AirbyteApi;
use embedded_crds::OrganizationStatus;
use embedded_crds::conditions::{Outcome, Reason};

/// How often an organization being deleted looks again at who still uses it.
const DELETION_RECHECK: Duration = Duration::from_secs(5);

pub async fn record<K: OrganizationObject, A: AirbyteApi>(
    organization: &K,
    ctx: &Context<A>,
    observation: &Observation<A>,
    applied: Applied,
) -> Result<Action, Error> {
    let uid = organization.uid().unwrap_or_default();
    if applied.released {
        organization.forget_all(ctx);
        return Ok(Action::await_change());
    }
    let previous = organization.status().cloned().unwrap_or_default();
    let users = &observation.users;
    let outcome = if observation.deleting {
        Outcome::in_progress(
            Reason::InUse,
            format!(
                "deletion waits for the {} object(s) that use this organization: {}; delete them or point them at another organization",
                users.count, users.some
            ),
        )
    } else {
        applied.outcome.clone()
    };
    let fields = OrganizationStatus {
        organization_id: applied
            .token
            .as_ref()
            .and_then(|t| t.organization_id.clone())
            .or(previous.organization_id.clone()),
        token_expires_at: applied
            .token
            .as_ref()
            .map(|t| rfc3339(t.expires_at))
            .or(previous.token_expires_at.clone()),
        users: Some(u32::try_from(users.count).unwrap_or(u32::MAX)),
        last_handled_reconcile_at: observation
            .requested
            .clone()
            .or(previous.last_handled_reconcile_at.clone()),
        observed_generation: None,
        conditions: Vec::new(),
    };
    lifecycle::record(organization, ctx, &outcome, Some(fields)).await?;
    let label = observation.key.label();
    ctx.metrics.set_organization(
        &label,
        applied.outcome.is_ready(),
        users.count,
        applied.token.as_ref().map(|t| t.expires_at),
    );
    Ok(next_visit(ctx, &uid, observation, &applied.outcome))
}

fn next_visit<A: AirbyteApi>(
    ctx: &Context<A>,
    uid: &str,
    observation: &Observation<A>,
    outcome: &Outcome,
) -> Action {
    if observation.deleting {
        return Action::requeue(DELETION_RECHECK);
    }
    let next = if outcome.is_ready() {
        ctx.memory.succeeded(uid);
        ctx.config.drift_interval
    } else {
        backoff(ctx.memory.failed(uid), None)
    };
    Action::requeue(
        observation
            .recount_in
            .map_or(next, |recount| recount.min(next)),
    )
}

/// Forgetting an organization that was let go: its memory, registry entry and metrics.
trait ForgetAll {
    fn forget_all<A: AirbyteApi>(&self, ctx: &Context<A>);
}

impl<K: OrganizationObject> ForgetAll for K {
    fn forget_all<A: AirbyteApi>(&self, ctx: &Context<A>) {
        ctx.memory.forget(&self.uid().unwrap_or_default());
        ctx.organizations.remove(&self.key());
        ctx.metrics.forget_organization(&self.key().label());
    }
}
