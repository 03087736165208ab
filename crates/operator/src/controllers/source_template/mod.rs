//! The SourceTemplate controller. A reconcile is `observe` (Secrets, then only the Airbyte reads
//! the plan needs) → `plan` (pure) → `act` (the calls) → `record` (status, events, next visit);
//! deletion is `cleanup`. Templates are organization-wide; their Secrets live in the operator's
//! namespace.

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
use super::wiring::{Change, Kind};
use crate::config::OperatorConfig;
use airbyte_client::AirbyteApi;
use embedded_crds::conditions::is_ready;
use embedded_crds::{SourceTemplate, SourceTemplateStatus};

managed!(
    SourceTemplate,
    SourceTemplateStatus,
    "SourceTemplate",
    cluster
);

impl Kind for SourceTemplate {
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
                .partial_default_config_secret_refs
                .iter()
                .any(|r| r.secret_key_ref.name == change.name)
    }

    fn published(&self) -> Option<u64> {
        let status = self.status.as_ref()?;
        Some(super::wiring::hash_of((
            is_ready(&status.conditions),
            status.template_id.as_ref(),
        )))
    }
}

/// `Delete` unless the spec says `Orphan`.
fn deletes_in_airbyte(template: &SourceTemplate) -> bool {
    template.spec.deletion_policy != Some(embedded_crds::DeletionPolicy::Orphan)
}

fn uid(template: &SourceTemplate) -> String {
    template.uid().unwrap_or_default()
}

#[cfg(test)]
mod driver_tests;
