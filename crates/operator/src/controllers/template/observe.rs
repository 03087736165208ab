//! What a template's plan is decided from: the declared template with its Secret values, what
//! changed since the last sync, the kind's own check, and what Airbyte holds, read only when there
//! is a reason to (a change, a requested reconcile, a due drift check, or no template known yet).

use std::future::Future;
use std::time::SystemTime;

use kube::ResourceExt;

use super::{Calls, Declared, Template, TemplateObject};
use crate::controllers::context::Context;
use crate::controllers::error::Error;
use crate::controllers::external::{Lookup, Reader, look_up};
use crate::controllers::intent;
use crate::controllers::secret_values::{config_hash, resolve};
use airbyte_client::{AirbyteApi, ApiError};
use embedded_crds::{EXTERNAL_ID, RECONCILE_REQUESTED_AT};

pub struct Observation<K: Template> {
    pub desired: K::Desired,
    pub config_hash: String,
    /// The spec or a referenced Secret changed since the last sync.
    pub changed: bool,
    /// The `reconcile-requested-at` value.
    pub requested: Option<String>,
    pub now: SystemTime,
    pub check: K::Check,
    pub external: Lookup<K::Object>,
}

pub async fn observe<K: Template, A: AirbyteApi>(
    template: &K,
    ctx: &Context<A>,
    airbyte: &A,
) -> Result<Observation<K>, Error> {
    let synced = super::synced(template);
    let (inline, refs) = template.config();
    let base = inline.cloned().unwrap_or_default();
    let (config, versions) = resolve(
        &ctx.client,
        ctx.stores.secrets_in(&ctx.config.secret_namespace),
        &ctx.config.secret_namespace,
        &base,
        refs,
        K::SECRET_REFS,
    )
    .await?;
    let desired = template.desired(config);
    let hash = config_hash(&(desired.declared(), &base), &versions);
    let requested = template.annotations().get(RECONCILE_REQUESTED_AT).cloned();
    let request_pending = requested.is_some() && requested != synced.last_handled_reconcile_at;
    let changed = synced.observed_generation != template.meta().generation
        || synced.config_hash.as_deref() != Some(hash.as_str());
    let check = template.check(airbyte, &desired, changed).await?;
    let external = if K::stall(&check, &desired).is_some() {
        Lookup::Absent
    } else {
        let asked = changed || request_pending;
        read(template, ctx, airbyte, &desired, synced.template_id, asked).await?
    };
    Ok(Observation {
        desired,
        config_hash: hash,
        changed,
        requested,
        now: ctx.clock.now(),
        check,
        external,
    })
}

/// Airbyte's template, when something asks for a look (`asked`, or a due drift check) or none is
/// known yet.
async fn read<K: Template, A: AirbyteApi>(
    template: &K,
    ctx: &Context<A>,
    airbyte: &A,
    desired: &K::Desired,
    known: Option<String>,
    asked: bool,
) -> Result<Lookup<K::Object>, Error> {
    let uid = super::uid(template);
    ctx.ensure_drift_scheduled(&uid);
    if let Some(id) = &known
        && !asked
        && !ctx.drift_due(&uid)
    {
        return Ok(Lookup::Unread { id: id.clone() });
    }
    let _routine = match known {
        Some(_) => ctx.routine.acquire().await.ok(),
        None => None,
    };
    let adopt = template.annotations().get(EXTERNAL_ID).cloned();
    let reader = Airbyte::<K, A> { airbyte, desired };
    let lookup = look_up(&reader, known, adopt, intent::recorded(template)).await?;
    ctx.drift_checked(&uid);
    Ok(match lookup {
        Lookup::Taken { .. } if !K::claims_name(desired) => Lookup::Absent,
        other => other,
    })
}

/// The organization's templates of a kind, as the desired one sees them.
pub(super) struct Airbyte<'a, K: Template, A> {
    pub airbyte: &'a A,
    pub desired: &'a K::Desired,
}

impl<K: Template, A: AirbyteApi> Reader for Airbyte<'_, K, A> {
    type Object = K::Object;

    fn get(&self, id: &str) -> impl Future<Output = Result<K::Object, ApiError>> + Send {
        K::get(self.airbyte, id)
    }

    fn list(&self) -> impl Future<Output = Result<Vec<K::Object>, ApiError>> + Send {
        <K as Calls>::list(self.airbyte)
    }

    fn fits(&self, object: &K::Object) -> bool {
        K::fits(self.desired, object)
    }

    fn adoptable(&self, object: &K::Object) -> bool {
        object.belongs_to(self.airbyte.organization_id())
    }
}
