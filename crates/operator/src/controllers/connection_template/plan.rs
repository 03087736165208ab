//! What to do about a ConnectionTemplate: a pure function of the declared template and what was
//! observed, with the reason that will show in its condition.

use std::collections::BTreeSet;

use serde_json::json;

use super::observe::{External, Observation, Schedule};
use crate::controllers::compare;
use crate::controllers::convert::preference;
use crate::controllers::secret_values::ResolvedConfig;
use airbyte_client::models::{
    ConnectionTemplate as ApiTemplate, CreateConnectionTemplate, DataHostingType,
    NonBreakingChangesPreference, PatchConnectionTemplate,
};
use embedded_crds::conditions::Reason;
use embedded_crds::{ConnectionTemplate, EXTERNAL_ID};

/// The declared template, with Secret values merged into the destination's configuration.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub airbyte_hosted: bool,
    pub destination_name: String,
    pub destination_definition_id: String,
    pub destination_config: ResolvedConfig,
    pub cron_expression: Option<String>,
    pub preference: Option<NonBreakingChangesPreference>,
    pub sync_on_create: Option<bool>,
    pub tags: BTreeSet<String>,
}

impl Desired {
    pub fn new(template: &ConnectionTemplate, config: ResolvedConfig) -> Desired {
        let spec = &template.spec;
        Desired {
            airbyte_hosted: super::airbyte_hosted(template),
            destination_name: spec.destination_name.clone().unwrap_or_default(),
            destination_definition_id: spec
                .destination_definition_id
                .clone()
                .unwrap_or_default()
                .to_lowercase(),
            destination_config: config,
            cron_expression: spec.cron_expression.clone(),
            preference: spec.non_breaking_changes_preference.map(preference),
            sync_on_create: spec.sync_on_create,
            tags: spec.tags.iter().cloned().collect(),
        }
    }

    /// Everything declared except the configuration (which may hold Secret values).
    pub fn declared(&self) -> serde_json::Value {
        json!({
            "airbyte_hosted": self.airbyte_hosted,
            "destination_name": self.destination_name,
            "destination_definition_id": self.destination_definition_id,
            "cron_expression": self.cron_expression,
            "preference": self.preference,
            "sync_on_create": self.sync_on_create,
            "tags": self.tags,
        })
    }

    pub fn create_request(&self) -> CreateConnectionTemplate {
        if self.airbyte_hosted {
            return CreateConnectionTemplate::AirbyteHosted {
                data_hosting_type: DataHostingType::AirbyteHosted,
                cron_expression: self.cron_expression.clone(),
            };
        }
        CreateConnectionTemplate::UserHosted {
            destination_name: self.destination_name.clone(),
            destination_definition_id: self.destination_definition_id.clone(),
            destination_config: self.destination_config.0.clone(),
            cron_expression: self.cron_expression.clone(),
            non_breaking_changes_preference: self.preference.unwrap_or_default(),
            sync_on_create: self.sync_on_create.unwrap_or(true),
        }
    }

    /// Whether an Airbyte template of the organization is one this object would have made.
    pub fn resembles(&self, found: &ApiTemplate) -> bool {
        if self.airbyte_hosted {
            return found.data_hosting_type == Some(DataHostingType::AirbyteHosted);
        }
        found.destination_name == self.destination_name
            && found
                .destination_definition_id
                .as_deref()
                .is_none_or(|d| d.eq_ignore_ascii_case(&self.destination_definition_id))
    }
}

/// The PATCH and the tag differences that bring an observed template to the declared one.
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    pub patch: Option<PatchConnectionTemplate>,
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.patch.is_none() && self.add_tags.is_empty() && self.remove_tags.is_empty()
    }
}

/// `config_changed`: a referenced Secret or the spec changed, so the destination configuration is
/// sent even when the masked answer hides a difference.
pub fn changes(desired: &Desired, observed: &ApiTemplate, config_changed: bool) -> Changes {
    let mut patch = PatchConnectionTemplate::default();
    if !desired.airbyte_hosted {
        if observed.destination_name != desired.destination_name {
            patch.destination_name = Some(desired.destination_name.clone());
        }
        if config_changed
            || !compare::same(&observed.destination_config, &desired.destination_config.0)
        {
            patch.destination_config = Some(desired.destination_config.0.clone());
        }
        if desired.preference.is_some()
            && observed.non_breaking_changes_preference != desired.preference
        {
            patch.non_breaking_changes_preference = desired.preference;
        }
        if desired.sync_on_create.is_some() && observed.sync_on_create != desired.sync_on_create {
            patch.sync_on_create = desired.sync_on_create;
        }
    }
    if desired.cron_expression.is_some() && observed.cron_expression != desired.cron_expression {
        patch.cron_expression = desired.cron_expression.clone();
    }
    let observed_tags: BTreeSet<String> = observed.tags.iter().cloned().collect();
    Changes {
        patch: (patch != PatchConnectionTemplate::default()).then_some(patch),
        add_tags: desired.tags.difference(&observed_tags).cloned().collect(),
        remove_tags: observed_tags.difference(&desired.tags).cloned().collect(),
    }
}

pub use crate::controllers::external::Origin;

#[derive(Debug, PartialEq)]
pub enum Plan {
    Nothing {
        id: String,
    },
    Create {
        replaces: Option<String>,
    },
    Update {
        id: String,
        origin: Origin,
        changes: Changes,
    },
    Stall {
        reason: Reason,
        message: String,
    },
}

pub fn plan(template: &ConnectionTemplate, observation: &Observation) -> Plan {
    if let Schedule::Invalid { description } = &observation.schedule {
        return Plan::Stall {
            reason: Reason::InvalidCronExpression,
            message: format!(
                "spec.cronExpression {:?} is not a valid Quartz cron expression: {description}",
                observation
                    .desired
                    .cron_expression
                    .clone()
                    .unwrap_or_default()
            ),
        };
    }
    let adopt = template
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(EXTERNAL_ID));
    plan_external(
        &observation.desired,
        &observation.external,
        observation.changed,
        adopt,
    )
}

fn plan_external(
    desired: &Desired,
    external: &External,
    changed: bool,
    adopt: Option<&String>,
) -> Plan {
    match external {
        External::Unread { id } => Plan::Nothing { id: id.clone() },
        External::Found(found) => Plan::Update {
            id: found.id.clone(),
            origin: Origin::Known,
            changes: changes(desired, found, changed),
        },
        External::Gone { id } if adopt == Some(id) => Plan::Stall {
            reason: Reason::AdoptionFailed,
            message: format!(
                "adopted connection template {id} no longer exists in Airbyte; remove the {EXTERNAL_ID} annotation to create a new one"
            ),
        },
        External::Gone { id } => Plan::Create {
            replaces: Some(id.clone()),
        },
        External::Adoptable(found) => Plan::Update {
            id: found.id.clone(),
            origin: Origin::Annotation,
            changes: changes(desired, found, true),
        },
        External::AdoptionMissing { id } => Plan::Stall {
            reason: Reason::AdoptionFailed,
            message: format!(
                "{EXTERNAL_ID} {id}: no such connection template in this Airbyte organization; fix or remove the annotation"
            ),
        },
        External::Recovered(found) => Plan::Update {
            id: found.id.clone(),
            origin: Origin::Recovered,
            changes: changes(desired, found, true),
        },
        External::Taken { id } => Plan::Stall {
            reason: Reason::TemplateNameTaken,
            message: format!(
                "Airbyte already has a connection template for destination {:?} ({id}) that this object did not create; set a distinct spec.destinationName, or adopt it with the {EXTERNAL_ID} annotation",
                desired.destination_name
            ),
        },
        External::Absent => Plan::Create { replaces: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use airbyte_client::models::MASKED_SECRET;
    use serde_json::Value;

    fn config(value: Value) -> ResolvedConfig {
        ResolvedConfig(value.as_object().unwrap().clone())
    }

    fn desired() -> Desired {
        Desired {
            airbyte_hosted: false,
            destination_name: "lake".into(),
            destination_definition_id: "d".into(),
            destination_config: config(
                json!({"s3_bucket_name": "b", "secret_access_key": "s3cr3t"}),
            ),
            cron_expression: Some("0 0 2 * * ?".into()),
            preference: Some(NonBreakingChangesPreference::PropagateColumns),
            sync_on_create: Some(false),
            tags: ["s3".to_string()].into(),
        }
    }

    fn observed() -> ApiTemplate {
        ApiTemplate {
            id: "c".into(),
            destination_name: "lake".into(),
            destination_definition_id: Some("d".into()),
            destination_config: json!({"s3_bucket_name": "b", "secret_access_key": MASKED_SECRET})
                .as_object()
                .unwrap()
                .clone(),
            cron_expression: Some("0 0 2 * * ?".into()),
            non_breaking_changes_preference: Some(NonBreakingChangesPreference::PropagateColumns),
            sync_on_create: Some(false),
            tags: vec!["s3".into()],
            ..Default::default()
        }
    }

    #[test]
    fn masked_credentials_are_not_drift_but_a_changed_secret_is_sent() {
        assert!(changes(&desired(), &observed(), false).is_empty());
        let sent = changes(&desired(), &observed(), true).patch.unwrap();
        assert_eq!(
            sent.destination_config.unwrap()["secret_access_key"],
            "s3cr3t"
        );
    }

    #[test]
    fn schedule_preference_and_tags_differences_are_sent_alone() {
        let mut drifted = observed();
        drifted.cron_expression = Some("0 0 3 * * ?".into());
        drifted.tags = vec!["old".into()];
        let changes = changes(&desired(), &drifted, false);
        let patch = changes.patch.unwrap();
        assert_eq!(patch.cron_expression.as_deref(), Some("0 0 2 * * ?"));
        assert!(patch.destination_config.is_none() && patch.destination_name.is_none());
        assert_eq!(changes.add_tags, ["s3"]);
        assert_eq!(changes.remove_tags, ["old"]);
    }

    #[test]
    fn an_airbyte_hosted_template_sends_no_destination() {
        let hosted = Desired {
            airbyte_hosted: true,
            ..desired()
        };
        let request = serde_json::to_value(hosted.create_request()).unwrap();
        assert_eq!(
            request,
            json!({"data_hosting_type": "airbyte_hosted", "cron_expression": "0 0 2 * * ?"})
        );
        assert!(
            !format!("{:?}", desired()).contains("s3cr3t"),
            "credentials never print"
        );
    }
}
