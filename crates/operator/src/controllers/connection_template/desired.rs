//! A ConnectionTemplate as declared, with its Secret values, and the PATCH that brings Airbyte's
//! template to it (pure).

use std::collections::BTreeSet;

use serde_json::json;

use crate::controllers::compare;
use crate::controllers::convert::preference;
use crate::controllers::secret_values::ResolvedConfig;
use crate::controllers::template::Declared;
use airbyte_client::models::{
    ConnectionTemplate as ApiTemplate, CreateConnectionTemplate, DataHostingType,
    NonBreakingChangesPreference, PatchConnectionTemplate,
};
use embedded_crds::ConnectionTemplate;

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

impl Declared for Desired {
    fn declared(&self) -> serde_json::Value {
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

    fn tags(&self) -> &BTreeSet<String> {
        &self.tags
    }
}

/// Only what differs; `full`: a referenced Secret or the spec changed, so the destination
/// configuration is sent even when the masked answer hides a difference.
pub fn patch(
    desired: &Desired,
    observed: &ApiTemplate,
    full: bool,
) -> Option<PatchConnectionTemplate> {
    let mut patch = PatchConnectionTemplate::default();
    if !desired.airbyte_hosted {
        if observed.destination_name != desired.destination_name {
            patch.destination_name = Some(desired.destination_name.clone());
        }
        if full || !compare::same(&observed.destination_config, &desired.destination_config.0) {
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
    (patch != PatchConnectionTemplate::default()).then_some(patch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::template::plan::changes;
    use crate::controllers::testing::resolved as config;
    use airbyte_client::models::MASKED_SECRET;

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
        assert!(changes::<ConnectionTemplate>(&desired(), &observed(), false).is_empty());
        let sent = patch(&desired(), &observed(), true).unwrap();
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
        let wanted = changes::<ConnectionTemplate>(&desired(), &drifted, false);
        let patch = wanted.patch.unwrap();
        assert_eq!(patch.cron_expression.as_deref(), Some("0 0 2 * * ?"));
        assert!(patch.destination_config.is_none() && patch.destination_name.is_none());
        assert_eq!(wanted.add_tags, ["s3"]);
        assert_eq!(wanted.remove_tags, ["old"]);
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
