//! Performs a SourceTemplate's plan against Kubernetes (the owned metadata: finalizer and create
//! intent) and Airbyte. Thin: every decision was made by `plan`.

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
use embedded_crds::SourceTemplate;
use embedded_crds::conditions::Reason;

/// How this kind's Airbyte object appears in Events.
const EXTERNAL: External = External {
    noun: "source template",
    get: EventAction::GetTemplate,
    create: EventAction::CreateTemplate,
    update: EventAction::UpdateTemplate,
};

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

pub async fn act<A: AirbyteApi>(
    template: &SourceTemplate,
    ctx: &Context<A>,
    observation: &Observation,
    plan: Plan,
) -> Result<Applied, Error> {
    let mut metadata = OwnedMetadata::of(template);
    metadata.finalizer = super::deletes_in_airbyte(template);
    if matches!(plan, Plan::Create { .. }) {
        // The intent is on the object before the create call (crash safety by design).
        metadata.create_pending = Some(rfc3339(observation.now));
    }
    let api = SourceTemplate::api(ctx.client.clone(), template);
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
        .create_source_template(&desired.create_request())
        .await?;
    for tag in &desired.tags {
        ctx.airbyte
            .add_source_template_tag(&created.id, tag)
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
        ctx.airbyte.patch_source_template(&id, patch).await?;
    }
    for tag in &changes.add_tags {
        ctx.airbyte.add_source_template_tag(&id, tag).await?;
    }
    for tag in &changes.remove_tags {
        ctx.airbyte.remove_source_template_tag(&id, tag).await?;
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
