//! Deleting a ConnectionTemplate: with the `Delete` policy the Airbyte template goes first,
//! found the way creation would find it (status, or inside the recorded create window after an
//! interrupted create), then the finalizer is released.

use kube::ResourceExt;
use kube::runtime::controller::Action;

use super::plan::Desired;
use crate::controllers::context::Context;
use crate::controllers::error::Error;
use crate::controllers::events::{EventAction, EventReason, Note};
use crate::controllers::intent::{self, Found};
use crate::controllers::lifecycle::Managed;
use crate::controllers::secret_values::ResolvedConfig;
use crate::controllers::status::{OwnedMetadata, apply_metadata};
use airbyte_client::AirbyteApi;
use airbyte_client::models::TagMode;
use embedded_crds::{CREATE_PENDING, ConnectionTemplate, FINALIZER};

pub async fn run<A: AirbyteApi>(
    template: &ConnectionTemplate,
    ctx: &Context<A>,
) -> Result<Action, Error> {
    let uid = super::uid(template);
    if !template.finalizers().iter().any(|f| f == FINALIZER) {
        ctx.memory.forget(&uid);
        return Ok(Action::await_change());
    }
    if super::deletes_in_airbyte(template)
        && let Some(id) = external_id(template, ctx).await?
    {
        ctx.airbyte.delete_connection_template(&id).await?;
        ctx.publish(
            template,
            Note::normal(
                EventReason::Deleted,
                EventAction::DeleteConnectionTemplate,
                format!("deleted Airbyte connection template {id}"),
            ),
        );
    }
    let mut metadata = OwnedMetadata::of(template);
    metadata.finalizer = false;
    let api = ConnectionTemplate::api(ctx.client.clone(), template);
    apply_metadata(&api, template, &metadata).await?;
    ctx.memory.forget(&uid);
    Ok(Action::await_change())
}

async fn external_id<A: AirbyteApi>(
    template: &ConnectionTemplate,
    ctx: &Context<A>,
) -> Result<Option<String>, Error> {
    if let Some(id) = template.status.as_ref().and_then(|s| s.template_id.clone()) {
        return Ok(Some(id));
    }
    let Some(intent) = template
        .annotations()
        .get(CREATE_PENDING)
        .and_then(|t| crate::controllers::clock::parse_rfc3339(t))
    else {
        return Ok(None);
    };
    let desired = Desired::new(template, ResolvedConfig::default());
    let existing = ctx
        .airbyte
        .list_connection_templates(&[], TagMode::Any)
        .await?;
    let candidates: Vec<(&str, Option<&str>)> = existing
        .iter()
        .filter(|t| desired.resembles(t))
        .map(|t| (t.id.as_str(), t.created_at.as_deref()))
        .collect();
    Ok(match intent::classify(&candidates, Some(intent)) {
        Found::Ours(id) => Some(id.to_string()),
        Found::Nothing | Found::Taken(_) => None,
    })
}
