//! Performs a ConnectionTemplate's plan: the owned metadata (finalizer, create intent before the
//! create call), then the create (and tags) or the update in Airbyte. Thin.

use super::observe::Observation;
use super::plan::{Changes, Origin, Plan};
use crate::controllers::clock::rfc3339;
use crate::controllers::context::Context;
use crate::controllers::error::Error;
use crate::controllers::events::{EventAction, Note};
use crate::controllers::external::External;
use crate::controllers::lifecycle::Managed;
use crate::controllers::status::{OwnedMetadata, apply_metadata};
use airbyte_client::AirbyteApi;
use embedded_crds::ConnectionTemplate;
use embedded_crds::conditions::Reason;

/// How this kind's Airbyte object appears in Events.
const EXTERNAL: External = External {
    noun: "connection template",
    get: EventAction::GetConnectionTemplate,
    create: EventAction::CreateConnectionTemplate,
    update: EventAction::UpdateConnectionTemplate,
};

#[derive(Debug, Default)]
pub struct Applied {
    pub id: Option<String>,
    pub stall: Option<(Reason, String)>,
    pub notes: Vec<Note>,
}

pub async fn act<A: AirbyteApi>(
    template: &ConnectionTemplate,
    ctx: &Context<A>,
    observation: &Observation,
    plan: Plan,
) -> Result<Applied, Error> {
    let mut metadata = OwnedMetadata::of(template);
    metadata.finalizer = super::deletes_in_airbyte(template);
    if matches!(plan, Plan::Create { .. }) {
        metadata.create_pending = Some(rfc3339(observation.now));
    }
    let api = ConnectionTemplate::api(ctx.client.clone(), template);
    let written = apply_metadata(&api, template, &metadata).await?;
    ctx.memory
        .note_write(&super::uid(template), written.as_deref());
    match plan {
        Plan::Nothing { id } => Ok(Applied {
            id: Some(id),
            ..Applied::default()
        }),
        Plan::Stall { reason, message } => Ok(Applied {
            stall: Some((reason, message)),
            ..Applied::default()
        }),
        Plan::Create { replaces } => create(ctx, observation, replaces).await,
        Plan::Update {
            id,
            origin,
            changes,
        } => update(ctx, id, origin, changes).await,
    }
}

async fn create<A: AirbyteApi>(
    ctx: &Context<A>,
    observation: &Observation,
    replaces: Option<String>,
) -> Result<Applied, Error> {
    let desired = &observation.desired;
    let created = ctx
        .airbyte
        .create_connection_template(&desired.create_request())
        .await?;
    for tag in &desired.tags {
        ctx.airbyte
            .add_connection_template_tag(&created.id, tag)
            .await?;
    }
    let notes = EXTERNAL.created(replaces.as_deref(), &created.id, "");
    Ok(Applied {
        id: Some(created.id),
        stall: None,
        notes,
    })
}

async fn update<A: AirbyteApi>(
    ctx: &Context<A>,
    id: String,
    origin: Origin,
    changes: Changes,
) -> Result<Applied, Error> {
    if let Some(patch) = &changes.patch {
        ctx.airbyte.patch_connection_template(&id, patch).await?;
    }
    for tag in &changes.add_tags {
        ctx.airbyte.add_connection_template_tag(&id, tag).await?;
    }
    for tag in &changes.remove_tags {
        ctx.airbyte.remove_connection_template_tag(&id, tag).await?;
    }
    let mut notes = EXTERNAL.origin(&id, origin);
    if !changes.is_empty() {
        notes.push(EXTERNAL.updated(&id));
    }
    Ok(Applied {
        id: Some(id),
        stall: None,
        notes,
    })
}
