//! The SourceTemplate kind: what its reconcile (the shared template pipeline in
//! [`template`](crate::controllers::template)) needs to know about it. The declared template and
//! its PATCH are in `desired`, the Airbyte calls in `calls`.

mod calls;
pub mod desired;

use serde_json::{Map, Value};

use self::desired::Desired;
use super::context::Context;
use super::error::Error;
use super::events::EventAction;
use super::external::Events;
use super::lifecycle::managed;
use super::secret_values::ResolvedConfig;
use super::template::Template;
use super::wiring::hash_of;
use airbyte_client::AirbyteApi;
use airbyte_client::models::{PatchSourceTemplate, SourceTemplate as ApiTemplate};
use embedded_crds::conditions::{Reason, is_ready};
use embedded_crds::{DeletionPolicy, SecretValueRef, SourceTemplate, SourceTemplateStatus};

managed!(
    SourceTemplate,
    SourceTemplateStatus,
    "SourceTemplate",
    cluster
);

impl Template for SourceTemplate {
    type Check = ();

    const EVENTS: Events = Events {
        noun: "source template",
        get: EventAction::GetTemplate,
        create: EventAction::CreateTemplate,
        update: EventAction::UpdateTemplate,
        delete: EventAction::DeleteTemplate,
    };
    const SECRET_REFS: &'static str = "spec.partialDefaultConfigSecretRefs";

    fn config(&self) -> (Option<&Map<String, Value>>, &[SecretValueRef]) {
        (
            self.spec.partial_default_config.as_ref(),
            &self.spec.partial_default_config_secret_refs,
        )
    }

    fn desired(&self, config: ResolvedConfig) -> Desired {
        Desired::new(&self.spec, config)
    }

    fn deletion_policy(&self) -> Option<DeletionPolicy> {
        self.spec.deletion_policy
    }

    /// Sources wait for their template: readiness and id concern them.
    fn published(&self) -> Option<u64> {
        let status = self.status.as_ref()?;
        Some(hash_of((
            is_ready(&status.conditions),
            status.template_id.as_ref(),
        )))
    }

    /// Same name, and the same connector when the answer says.
    fn fits(desired: &Desired, object: &ApiTemplate) -> bool {
        object.name == desired.name
            && object
                .source_definition_id
                .as_deref()
                .is_none_or(|d| d.eq_ignore_ascii_case(&desired.actor_definition_id))
    }

    /// A template of this organization (a standard template has no organization and cannot be
    /// changed; a template that does not say is taken as the organization's, which is all a GET
    /// with the organization's token can return).
    fn adoptable(object: &ApiTemplate, organization: &str) -> bool {
        object
            .organization_id
            .as_deref()
            .is_none_or(|org| org.eq_ignore_ascii_case(organization))
    }

    fn patch(desired: &Desired, object: &ApiTemplate, full: bool) -> Option<PatchSourceTemplate> {
        desired::patch(desired, object, full)
    }

    fn claim(desired: &Desired) -> (String, &'static str) {
        (
            format!("a source template named {:?}", desired.name),
            "set a distinct spec.name",
        )
    }

    fn ready(desired: &Desired, id: &str) -> String {
        format!(
            "template {:?} is Airbyte source template {id}",
            desired.name
        )
    }

    async fn check<A: AirbyteApi>(
        &self,
        _ctx: &Context<A>,
        _desired: &Desired,
        _changed: bool,
    ) -> Result<(), Error> {
        Ok(())
    }

    fn stall((): &(), _desired: &Desired) -> Option<(Reason, String)> {
        None
    }
}

#[cfg(test)]
mod driver_tests;
