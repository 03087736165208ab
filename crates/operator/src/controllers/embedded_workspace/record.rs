//! Writes what an EmbeddedWorkspace reconcile did into its status (only when it changed),
//! publishes its Events and the token-expiry metric, and says when to come back: the token's
//! refresh moment or the next drift check, whichever is first.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kube::ResourceExt;
use kube::runtime::controller::Action;

use super::act::Applied;
use super::observe::{Basis, Observation, SecretState};
use super::refresh;
use super::token_secret::rfc3339;
use crate::controllers::context::Context;
use crate::controllers::error::Error;
use crate::controllers::lifecycle::record as write_status;
use airbyte_client::AirbyteApi;
use embedded_crds::conditions::{Outcome, Reason};
use embedded_crds::{EmbeddedWorkspace, EmbeddedWorkspaceStatus};

pub async fn record<A: AirbyteApi>(
    workspace: &EmbeddedWorkspace,
    ctx: &Context<A>,
    observation: &Observation,
    applied: Applied,
) -> Result<Action, Error> {
    let basis = &observation.basis;
    if let Some((reason, message)) = applied.stall {
        write_status(workspace, ctx, &Outcome::stalled(reason, message), None).await?;
        return Ok(Action::requeue(ctx.config.drift_interval));
    }
    let token = TokenTimes::of(basis, &applied);
    let fields = status_fields(workspace, basis, &token);
    write_status(
        workspace,
        ctx,
        &Outcome::ready(Reason::TokenIssued, ready_message(basis)),
        Some(fields),
    )
    .await?;
    for note in applied.notes {
        ctx.publish(workspace, note);
    }
    let refresh = keep_schedule(workspace, ctx, basis, &token);
    Ok(Action::requeue(next_visit(
        ctx,
        &basis.uid,
        refresh,
        ctx.clock.now(),
    )))
}

fn ready_message(basis: &Basis) -> String {
    let kept = if basis.keep_token {
        format!(
            "token for workspace {} in Secret {}",
            basis.workspace_name, basis.secret_name
        )
    } else {
        format!(
            "workspace {}; no token kept (tokenPolicy OnDemand)",
            basis.workspace_name
        )
    };
    let suspended = if basis.suspend {
        " (workspace suspended)"
    } else {
        ""
    };
    format!("{kept}{suspended}")
}

/// The token-expiry metric, and the refresh moment of a kept token (`None`: none is kept).
fn keep_schedule<A: AirbyteApi>(
    workspace: &EmbeddedWorkspace,
    ctx: &Context<A>,
    basis: &Basis,
    token: &TokenTimes,
) -> Option<SystemTime> {
    let (namespace, name) = (
        workspace.namespace().unwrap_or_default(),
        workspace.name_any(),
    );
    if !basis.keep_token {
        ctx.metrics.forget_workspace(&namespace, &name);
        return None;
    }
    let unix = token
        .expires_at
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    ctx.metrics.set_token_expiry(&namespace, &name, unix);
    Some(refresh::refresh_at(
        &basis.uid,
        token.minted_at,
        token.expires_at,
        basis.refresh_before,
    ))
}

/// The token the Secret holds after this reconcile: minted now, or the stored one.
struct TokenTimes {
    minted_at: SystemTime,
    expires_at: SystemTime,
    workspace_id: Option<String>,
}

impl TokenTimes {
    fn of(basis: &Basis, applied: &Applied) -> TokenTimes {
        if let Some(minted) = &applied.minted {
            return TokenTimes {
                minted_at: minted.minted_at,
                expires_at: minted.expires_at,
                workspace_id: Some(minted.workspace_id.clone()),
            };
        }
        let stored = match &basis.secret {
            SecretState::Ours(Some(stored)) => Some(stored),
            _ => None,
        };
        TokenTimes {
            minted_at: stored.map_or(basis.now, |s| s.minted_at),
            expires_at: stored.map_or(basis.now, |s| s.expires_at),
            workspace_id: basis.known_id.clone(),
        }
    }
}

fn status_fields(
    workspace: &EmbeddedWorkspace,
    basis: &Basis,
    token: &TokenTimes,
) -> EmbeddedWorkspaceStatus {
    let previous = workspace.status.clone().unwrap_or_default();
    EmbeddedWorkspaceStatus {
        workspace_id: token.workspace_id.clone(),
        workspace_name: Some(basis.workspace_name.clone()),
        region_id: Some(basis.region.clone()),
        token_expires_at: basis.keep_token.then(|| rfc3339(token.expires_at)),
        token_secret_name: basis.keep_token.then(|| basis.secret_name.clone()),
        last_handled_reconcile_at: basis
            .requested
            .clone()
            .or(previous.last_handled_reconcile_at),
        observed_generation: workspace.metadata.generation,
        conditions: Vec::new(),
        ..previous
    }
}

fn next_visit<A: AirbyteApi>(
    ctx: &Context<A>,
    uid: &str,
    refresh: Option<SystemTime>,
    now: SystemTime,
) -> Duration {
    let until_drift = ctx.until_drift(uid);
    refresh
        .map_or(until_drift, |at| {
            at.duration_since(now)
                .unwrap_or(Duration::ZERO)
                .min(until_drift)
        })
        .max(Duration::from_millis(500))
}
