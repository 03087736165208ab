//! The ConnectionTemplate kind: what its reconcile (the shared template pipeline in
//! [`template`](crate::controllers::template)) needs to know about it. Its own step is the
//! `schedule` check (the cron expression, described by Airbyte); the declared template and its
//! PATCH are in `desired`; its Airbyte calls are the client's, named below. Destination
//! credentials come back masked, so a changed Secret is noticed from its version, never from the
//! masked value.

pub mod desired;
pub mod schedule;

use serde_json::{Map, Value};

use self::desired::Desired;
use self::schedule::Schedule;
use super::error::Error;
use super::events::EventAction;
use super::external::Events;
use super::lifecycle::managed;
use super::secret_values::ResolvedConfig;
use super::template::{Template, calls};
use super::wiring::hash_of;
use airbyte_client::AirbyteApi;
use airbyte_client::models::{ConnectionTemplate as ApiTemplate, PatchConnectionTemplate};
use embedded_crds::conditions::{Reason, is_ready};
use embedded_crds::{
    ConnectionTemplate, ConnectionTemplateStatus, DataHostingType, DeletionPolicy, SecretValueRef,
};

managed!(
    ConnectionTemplate,
    ConnectionTemplateStatus,
    "ConnectionTemplate",
    cluster
);

calls!(ConnectionTemplate {
    object: ApiTemplate,
    desired: Desired,
    patch: PatchConnectionTemplate,
    get: get_connection_template,
    list: list_connection_templates,
    create: create_connection_template,
    update: patch_connection_template,
    tag: add_connection_template_tag,
    untag: remove_connection_template_tag,
    delete: delete_connection_template,
});

impl Template for ConnectionTemplate {
    type Check = Schedule;

    const EVENTS: Events = Events {
        noun: "connection template",
        get: EventAction::GetConnectionTemplate,
        create: EventAction::CreateConnectionTemplate,
        update: EventAction::UpdateConnectionTemplate,
        delete: EventAction::DeleteConnectionTemplate,
    };
    const SECRET_REFS: &'static str = "spec.destinationConfigSecretRefs";

    fn config(&self) -> (Option<&Map<String, Value>>, &[SecretValueRef]) {
        (
            self.spec.destination_config.as_ref(),
            &self.spec.destination_config_secret_refs,
        )
    }

    fn desired(&self, config: ResolvedConfig) -> Desired {
        Desired::new(self, config)
    }

    fn deletion_policy(&self) -> Option<DeletionPolicy> {
        self.spec.deletion_policy
    }

    fn organization_ref(&self) -> Option<&embedded_crds::OrganizationRef> {
        self.spec.organization_ref.as_ref()
    }

    fn record_check(status: &mut ConnectionTemplateStatus, schedule: &Schedule) {
        status.schedule_description = schedule.description();
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

    fn fits(desired: &Desired, object: &ApiTemplate) -> bool {
        desired.resembles(object)
    }

    /// Airbyte-hosted templates have no name of ours: only one we made counts, and without a
    /// record of making one, another is no reason to stop.
    fn claims_name(desired: &Desired) -> bool {
        !desired.airbyte_hosted
    }

    fn patch(
        desired: &Desired,
        object: &ApiTemplate,
        full: bool,
    ) -> Option<PatchConnectionTemplate> {
        desired::patch(desired, object, full)
    }

    fn claim(desired: &Desired) -> (String, &'static str) {
        (
            format!(
                "a connection template for destination {:?}",
                desired.destination_name
            ),
            "set a distinct spec.destinationName",
        )
    }

    fn ready(desired: &Desired, id: &str) -> String {
        let destination = if desired.airbyte_hosted {
            "Airbyte-hosted storage".to_string()
        } else {
            format!("destination {:?}", desired.destination_name)
        };
        format!("connection template for {destination} is Airbyte connection template {id}")
    }

    async fn check<A: AirbyteApi>(
        &self,
        airbyte: &A,
        desired: &Desired,
        changed: bool,
    ) -> Result<Schedule, Error> {
        let known = self
            .status
            .as_ref()
            .and_then(|s| s.schedule_description.clone());
        schedule::check(airbyte, desired, changed, known).await
    }

    fn stall(schedule: &Schedule, desired: &Desired) -> Option<(Reason, String)> {
        schedule.stall(desired)
    }
}

fn airbyte_hosted(template: &ConnectionTemplate) -> bool {
    template.spec.data_hosting_type == Some(DataHostingType::AirbyteHosted)
}

#[cfg(test)]
mod driver_tests;
