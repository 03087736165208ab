//! Deleting a template: with the `Delete` policy the Airbyte template goes first, found the way
//! creation would find it (status, or inside the recorded create window after an interrupted
//! create; never a namesake someone else made), then the finalizer is released.

use kube::runtime::controller::Action;

use super::Template;
use super::observe::Airbyte;
use crate::controllers::context::Context;
use crate::controllers::error::Error;
use crate::controllers::external::made_by;
use crate::controllers::intent;
use crate::controllers::lifecycle::finish_deletion;
use crate::controllers::secret_values::ResolvedConfig;
use airbyte_client::AirbyteApi;

pub async fn run<K: Template, A: AirbyteApi>(
    template: &K,
    ctx: &Context<A>,
    airbyte: &A,
) -> Result<Action, Error> {
    finish_deletion(template, ctx, delete(template, ctx, airbyte)).await
}

/// Deletes the Airbyte template unless the policy is `Orphan`.
async fn delete<K: Template, A: AirbyteApi>(
    template: &K,
    ctx: &Context<A>,
    airbyte: &A,
) -> Result<(), Error> {
    if !super::deletes_in_airbyte(template) {
        return Ok(());
    }
    let desired = template.desired(ResolvedConfig::default());
    let reader = Airbyte::<K, A> {
        airbyte,
        desired: &desired,
    };
    let known = super::synced(template).template_id;
    if let Some(id) = made_by(&reader, known, intent::recorded(template)).await? {
        K::delete(airbyte, &id).await?;
        ctx.publish(template, K::EVENTS.deleted(&id));
    }
    Ok(())
}
