//! What a SourceTemplate should look like in Airbyte, and what to change to get there.

use std::collections::BTreeSet;

use serde_json::{Map, Value};

use airbyte_client::models::{
    CreateSourceTemplate, PatchSourceTemplate, SourceTemplate as ApiTemplate, TemplateCustomization,
};
use embedded_crds::SourceTemplateSpec;

/// The declared template, with Secret values merged into its defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub name: String,
    pub actor_definition_id: String,
    pub partial_default_config: Map<String, Value>,
    pub tags: BTreeSet<String>,
    pub customization: Option<TemplateCustomization>,
}

impl Desired {
    pub fn new(spec: &SourceTemplateSpec, config: Map<String, Value>) -> Desired {
        Desired {
            name: spec.name.clone(),
            actor_definition_id: spec.actor_definition_id.to_lowercase(),
            partial_default_config: config,
            tags: spec.tags.iter().cloned().collect(),
            customization: spec
                .stream_selection
                .as_ref()
                .map(|s| TemplateCustomization {
                    stream_selection_mode: crate::controllers::convert::stream_selection_mode(
                        s.mode,
                    ),
                    stream_whitelist: s.streams.clone(),
                }),
        }
    }

    pub fn create_request(&self, organization_id: &str) -> CreateSourceTemplate {
        CreateSourceTemplate {
            organization_id: organization_id.to_string(),
            actor_definition_id: self.actor_definition_id.clone(),
            partial_default_config: self.partial_default_config.clone(),
            name: Some(self.name.clone()),
            tags: self.tags.iter().cloned().collect(),
            customization: self.customization.clone(),
            user_config_spec: None,
        }
    }
}

/// The changes that bring `observed` to `desired`: a PATCH of the fields that differ, and the
/// tags to add and remove (only the difference).
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    pub patch: Option<PatchSourceTemplate>,
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.patch.is_none() && self.add_tags.is_empty() && self.remove_tags.is_empty()
    }
}

pub fn changes(desired: &Desired, observed: &ApiTemplate) -> Changes {
    let mut patch = PatchSourceTemplate::default();
    if observed.name != desired.name {
        patch.name = Some(desired.name.clone());
    }
    if observed.partial_default_config != desired.partial_default_config {
        patch.partial_default_config = Some(desired.partial_default_config.clone());
    }
    if desired.customization.is_some() && observed.customization != desired.customization {
        patch.customization = desired.customization.clone();
    }
    let observed_tags: BTreeSet<String> = observed.tags.iter().cloned().collect();
    Changes {
        patch: (patch != PatchSourceTemplate::default()).then_some(patch),
        add_tags: desired.tags.difference(&observed_tags).cloned().collect(),
        remove_tags: observed_tags.difference(&desired.tags).cloned().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn desired() -> Desired {
        Desired {
            name: "Postgres".into(),
            actor_definition_id: "d".into(),
            partial_default_config: json!({"port": 5432}).as_object().unwrap().clone(),
            tags: ["crm".to_string(), "eu".to_string()].into(),
            customization: None,
        }
    }

    fn observed() -> ApiTemplate {
        ApiTemplate {
            id: "t".into(),
            name: "Postgres".into(),
            actor_definition_id: "d".into(),
            organization_id: Some("org".into()),
            tags: vec!["crm".into(), "eu".into()],
            partial_default_config: json!({"port": 5432}).as_object().unwrap().clone(),
            customization: None,
            created_at: None,
            updated_at: None,
        }
    }

    #[test]
    fn an_identical_template_needs_nothing() {
        assert!(changes(&desired(), &observed()).is_empty());
    }

    #[test]
    fn only_the_differences_are_sent() {
        let mut drifted = observed();
        drifted.name = "Renamed".into();
        drifted.partial_default_config = json!({"port": 1}).as_object().unwrap().clone();
        drifted.tags = vec!["eu".into(), "old".into()];
        let changes = changes(&desired(), &drifted);
        let patch = changes.patch.unwrap();
        assert_eq!(patch.name.as_deref(), Some("Postgres"));
        assert_eq!(patch.partial_default_config.unwrap()["port"], 5432);
        assert!(patch.customization.is_none());
        assert_eq!(changes.add_tags, ["crm"]);
        assert_eq!(changes.remove_tags, ["old"]);
    }
}
