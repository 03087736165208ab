//! Performs an EmbeddedSource's plan: the owned metadata (finalizer, create intent written before
//! the create call), then the create or the update in Airbyte with the workspace's token. Thin.

use super::observe::{Observation, Seen, Wait};
use super::plan::Plan;
use crate::controllers::clock::rfc3339;
use crate::controllers::context::Context;
use crate::controllers::error::Error;
use crate::controllers::events::{EventAction, Note};
use crate::controllers::external::Events;
use crate::controllers::lifecycle::write_metadata;
use crate::controllers::status::OwnedMetadata;
use airbyte_client::{AirbyteApi, BearerToken};
use embedded_crds::EmbeddedSource;
use embedded_crds::conditions::Reason;

/// How this kind's Airbyte object appears in Events.
pub(super) const EVENTS: Events = Events {
    noun: "source",
    get: EventAction::GetSource,
    create: EventAction::CreateSource,
    update: EventAction::UpdateSource,
    delete: EventAction::DeleteSource,
};

/// What acting did.
#[derive(Debug, Default)]
pub struct Applied {
    /// The Airbyte source this object now is (`None`: waiting or stalled).
    pub id: Option<String>,
    pub wait: Option<Wait>,
    pub stall: Option<(Reason, String)>,
    pub notes: Vec<Note>,
}

pub async fn act<A: AirbyteApi>(
    source: &EmbeddedSource,
    ctx: &Context<A>,
    airbyte: &A,
    observation: &Observation,
    plan: Plan,
) -> Result<Applied, Error> {
    let metadata = metadata_for(source, observation, &plan);
    write_metadata(source, ctx, &metadata).await?;
    match plan {
        Plan::Wait(wait) => Ok(Applied {
            wait: Some(wait),
            ..Applied::default()
        }),
        Plan::Stall { reason, message } => Ok(Applied {
            stall: Some((reason, message)),
            ..Applied::default()
        }),
        Plan::Steady { id } => Ok(Applied {
            id: Some(id),
            ..Applied::default()
        }),
        Plan::Nothing { id } => Ok(Applied {
            id: Some(id),
            ..Applied::default()
        }),
        Plan::Create { replaces } => {
            let (seen, token) = read(observation)?;
            create(
                airbyte,
                seen,
                &token,
                replaces,
                &source.spec.workspace_ref.name,
            )
            .await
        }
        Plan::Update { id, origin, update } => {
            let (_, token) = read(observation)?;
            let mut notes = EVENTS.origin(&id, origin);
            if let Some(update) = update {
                airbyte.update_source(&token, &id, &update).await?;
                notes.push(EVENTS.updated(&id));
            }
            Ok(Applied {
                id: Some(id),
                notes,
                ..Applied::default()
            })
        }
    }
}

/// The operator's metadata for this plan. The finalizer guards an Airbyte source: added when one
/// is about to exist or is known, not while the object waits or stalls before having one (a
/// write saved per waiting source). Before a create, the intent is recorded (crash safety).
fn metadata_for(source: &EmbeddedSource, observation: &Observation, plan: &Plan) -> OwnedMetadata {
    let mut metadata = OwnedMetadata::of(source);
    let guards_a_source = matches!(
        plan,
        Plan::Create { .. } | Plan::Update { .. } | Plan::Nothing { .. } | Plan::Steady { .. }
    );
    metadata.finalizer =
        super::deletes_in_airbyte(source) && (metadata.finalizer || guards_a_source);
    if let (Plan::Create { .. }, Observation::Seen(seen)) = (plan, observation) {
        metadata.create_pending = Some(rfc3339(seen.now));
    }
    metadata
}

/// What was read, and the token it was read with (a create or an update always follows a read).
fn read(observation: &Observation) -> Result<(&Seen, BearerToken), Error> {
    match observation {
        Observation::Seen(seen) => seen
            .token
            .clone()
            .map(|token| (seen.as_ref(), token))
            .ok_or_else(|| Error::TokenUnavailable("no token was read for this source".into())),
        _ => Err(Error::TokenUnavailable(
            "nothing was read for this source".into(),
        )),
    }
}

async fn create<A: AirbyteApi>(
    airbyte: &A,
    seen: &Seen,
    token: &BearerToken,
    replaces: Option<String>,
    workspace: &str,
) -> Result<Applied, Error> {
    let created = airbyte
        .create_source(token, &seen.desired.create_request())
        .await?;
    let detail = format!(" in workspace {workspace}");
    let notes = EVENTS.created(replaces.as_deref(), &created.id, &detail);
    Ok(Applied {
        id: Some(created.id),
        notes,
        ..Applied::default()
    })
}
