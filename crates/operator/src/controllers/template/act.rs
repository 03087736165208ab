//! Performs a template's plan against Kubernetes (the owned metadata: finalizer, and the create
//! intent before the create call) and Airbyte. Thin: every decision was made by `plan`.

use super::observe::Observation;
use super::plan::{Changes, Plan};
use super::{Calls, Declared, Template};
use crate::controllers::clock::rfc3339;
use crate::controllers::context::Context;
use crate::controllers::error::Error;
use crate::controllers::events::Note;
use crate::controllers::external::{Decision, Origin};
use crate::controllers::lifecycle::write_metadata;
use crate::controllers::status::OwnedMetadata;
use airbyte_client::AirbyteApi;
use embedded_crds::conditions::Reason;

/// What acting did.
#[derive(Debug, Default)]
pub struct Applied {
    /// The Airbyte template this object now is.
    pub id: Option<String>,
    /// A stall the plan decided (nothing was done in Airbyte).
    pub stall: Option<(Reason, String)>,
    /// Events to publish with the status.
    pub notes: Vec<Note>,
}

pub async fn act<K: Template, A: AirbyteApi>(
    template: &K,
    ctx: &Context<A>,
    airbyte: &A,
    observation: &Observation<K>,
    plan: Plan<K::Patch>,
) -> Result<Applied, Error> {
    let mut metadata = OwnedMetadata::of(template);
    metadata.finalizer = super::deletes_in_airbyte(template);
    if matches!(plan, Decision::Create { .. }) {
        // The intent is on the object before the create call (crash safety by design).
        metadata.create_pending = Some(rfc3339(observation.now));
    }
    write_metadata(template, ctx, &metadata).await?;
    match plan {
        Decision::Nothing { id } => Ok(Applied {
            id: Some(id),
            ..Applied::default()
        }),
        Decision::Stall { reason, message } => Ok(Applied {
            stall: Some((reason, message)),
            ..Applied::default()
        }),
        Decision::Create { replaces } => {
            create::<K, A>(airbyte, &observation.desired, replaces).await
        }
        Decision::Update {
            id,
            origin,
            changes,
        } => update::<K, A>(airbyte, id, origin, changes).await,
    }
}

async fn create<K: Template, A: AirbyteApi>(
    airbyte: &A,
    desired: &K::Desired,
    replaces: Option<String>,
) -> Result<Applied, Error> {
    let id = K::create(airbyte, desired).await?;
    for tag in desired.tags() {
        K::tag(airbyte, &id, tag).await?;
    }
    let notes = K::EVENTS.created(replaces.as_deref(), &id, "");
    Ok(Applied {
        id: Some(id),
        stall: None,
        notes,
    })
}

async fn update<K: Template, A: AirbyteApi>(
    airbyte: &A,
    id: String,
    origin: Origin,
    changes: Changes<K::Patch>,
) -> Result<Applied, Error> {
    if let Some(patch) = &changes.patch {
        <K as Calls>::update(airbyte, &id, patch).await?;
    }
    for tag in &changes.add_tags {
        K::tag(airbyte, &id, tag).await?;
    }
    for tag in &changes.remove_tags {
        K::untag(airbyte, &id, tag).await?;
    }
    let mut notes = K::EVENTS.origin(&id, origin);
    if !changes.is_empty() {
        notes.push(K::EVENTS.updated(&id));
    }
    Ok(Applied {
        id: Some(id),
        stall: None,
        notes,
    })
}
