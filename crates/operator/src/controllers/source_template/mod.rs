//! The SourceTemplate kind: what its reconcile (the shared template pipeline in
//! [`template`](crate::controllers::template)) needs to know about it. The declared template and
//! its PATCH are in `desired`; its Airbyte calls are the client's, named below.

pub mod desired;

use serde_json::{Map, Value};

use self::desired::Desired;
use super::error::Error;
use super::events::EventAction;
use super::external::Events;
use super::lifecycle::managed;
use super::secret_values::ResolvedConfig;
use super::template::{Template, calls};
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

calls!(SourceTemplate {
    object: ApiTemplate,
    desired: Desired,
    patch: PatchSourceTemplate,
    get: get_source_template,
    list: list_source_templates,
    create: create_source_template,
    update: patch_source_template,
    tag: add_source_template_tag,
    untag: remove_source_template_tag,
    delete: delete_source_template,
});

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

    fn organization_ref(&self) -> Option<&embedded_crds::OrganizationRef> {
        self.spec.organization_ref.as_ref()
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
        _airbyte: &A,
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
