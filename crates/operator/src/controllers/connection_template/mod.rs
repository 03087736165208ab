//! The ConnectionTemplate controller: `observe` (Secrets of the operator's namespace, the cron
//! expression checked with Airbyte when it changed, then only the reads the plan needs) → `plan`
//! (pure) → `act` → `record`; deletion is `cleanup`. Destination credentials come back masked, so
//! a changed Secret is noticed from its version, never from the masked value.

mod act;
mod cleanup;
mod observe;
pub mod plan;
mod record;

use std::sync::Arc;

use kube::ResourceExt;
use kube::runtime::controller::Action;

use super::context::Context;
use super::error::Error;
use super::lifecycle::{self, managed};
use super::wiring::{Change, Kind, hash_of};
use crate::config::OperatorConfig;
use airbyte_client::AirbyteApi;
use embedded_crds::conditions::is_ready;
use embedded_crds::{
    ConnectionTemplate, ConnectionTemplateStatus, DataHostingType, DeletionPolicy,
};

managed!(
    ConnectionTemplate,
    ConnectionTemplateStatus,
    "ConnectionTemplate",
    cluster
);

impl Kind for ConnectionTemplate {
    async fn reconcile<A: AirbyteApi>(
        template: Arc<Self>,
        ctx: Arc<Context<A>>,
    ) -> Result<Action, Error> {
        lifecycle::run(template, ctx, |template, ctx| async move {
            if template.metadata.deletion_timestamp.is_some() {
                return cleanup::run(&template, &ctx).await;
            }
            let observation = observe::observe(&template, &ctx).await?;
            let plan = plan::plan(&template, &observation);
            let applied = act::act(&template, &ctx, &observation, plan).await?;
            record::record(&template, &ctx, &observation, applied).await
        })
        .await
    }

    fn concerns(&self, change: &Change, config: &OperatorConfig) -> bool {
        change.kind == "Secret"
            && change.namespace.as_deref() == Some(config.secret_namespace.as_str())
            && self
                .spec
                .destination_config_secret_refs
                .iter()
                .any(|r| r.secret_key_ref.name == change.name)
    }

    /// Sources show which templates their tags select: readiness, id and tags concern them.
    fn published(&self) -> Option<u64> {
        let status = self.status.as_ref();
        Some(hash_of((
            status.is_some_and(|s| is_ready(&s.conditions)),
            status.and_then(|s| s.template_id.as_ref()),
            &self.spec.tags,
        )))
    }
}

fn deletes_in_airbyte(template: &ConnectionTemplate) -> bool {
    template.spec.deletion_policy != Some(DeletionPolicy::Orphan)
}

fn airbyte_hosted(template: &ConnectionTemplate) -> bool {
    template.spec.data_hosting_type == Some(DataHostingType::AirbyteHosted)
}

fn uid(template: &ConnectionTemplate) -> String {
    template.uid().unwrap_or_default()
}

#[cfg(test)]
mod driver_tests;
