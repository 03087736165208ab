//! A SourceTemplate as declared, with its Secret values, and the PATCH that brings Airbyte's
//! template to it (pure).

use std::collections::BTreeSet;

use serde_json::json;

use crate::controllers::compare;
use crate::controllers::convert::stream_selection_mode;
use crate::controllers::secret_values::ResolvedConfig;
use crate::controllers::template::Declared;
use airbyte_client::models::{
    CreateSourceTemplate, PatchSourceTemplate, SourceTemplate as ApiTemplate, TemplateCustomization,
};
use embedded_crds::SourceTemplateSpec;

/// The declared template, with Secret values merged into its defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub name: String,
    pub actor_definition_id: String,
    pub partial_default_config: ResolvedConfig,
    pub tags: BTreeSet<String>,
    pub customization: Option<TemplateCustomization>,
    pub propagate: bool,
}

impl Desired {
    pub fn new(spec: &SourceTemplateSpec, config: ResolvedConfig) -> Desired {
        Desired {
            name: spec.name.clone(),
            actor_definition_id: spec.actor_definition_id.to_lowercase(),
            partial_default_config: config,
            tags: spec.tags.iter().cloned().collect(),
            customization: spec
                .stream_selection
                .as_ref()
                .map(|s| TemplateCustomization {
                    stream_selection_mode: stream_selection_mode(s.mode),
                    stream_whitelist: s.streams.clone(),
                }),
            propagate: spec.propagate_changes.unwrap_or(false),
        }
    }

    pub fn create_request(&self) -> CreateSourceTemplate {
        CreateSourceTemplate {
            actor_definition_id: self.actor_definition_id.clone(),
            partial_default_config: self.partial_default_config.0.clone(),
            name: Some(self.name.clone()),
            customization: self.customization.clone(),
        }
    }
}

impl Declared for Desired {
    fn declared(&self) -> serde_json::Value {
        json!({
            "name": self.name,
            "actor_definition_id": self.actor_definition_id,
            "tags": self.tags,
            "customization": self.customization,
            "propagate": self.propagate,
        })
    }

    fn tags(&self) -> &BTreeSet<String> {
        &self.tags
    }
}

/// The PATCH, always with the full defaults (as the reference requires); `full`: a referenced
/// Secret or the spec changed, so the defaults are sent even when the masked answer hides a
/// difference.
pub fn patch(desired: &Desired, observed: &ApiTemplate, full: bool) -> Option<PatchSourceTemplate> {
    let name_differs = observed.name != desired.name;
    let config_differs = full
        || !compare::same(
            &observed.partial_default_config,
            &desired.partial_default_config.0,
        );
    let customization_differs =
        desired.customization.is_some() && observed.customization != desired.customization;
    (name_differs || config_differs || customization_differs).then(|| PatchSourceTemplate {
        name: name_differs.then(|| desired.name.clone()),
        partial_default_config: desired.partial_default_config.0.clone(),
        propagate: desired.propagate,
        customization: if customization_differs {
            desired.customization.clone()
        } else {
            None
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::template::plan::changes;
    use crate::controllers::testing::resolved as config;
    use embedded_crds::SourceTemplate;

    fn desired() -> Desired {
        Desired {
            name: "Postgres".into(),
            actor_definition_id: "d".into(),
            partial_default_config: config(json!({"port": 5432, "password": "pw"})),
            tags: ["crm".to_string(), "eu".to_string()].into(),
            customization: None,
            propagate: false,
        }
    }

    fn observed() -> ApiTemplate {
        ApiTemplate {
            id: "t".into(),
            name: "Postgres".into(),
            source_definition_id: Some("d".into()),
            tags: vec!["crm".into(), "eu".into()],
            partial_default_config: json!({"port": 5432, "password": "**********"})
                .as_object()
                .unwrap()
                .clone(),
            ..Default::default()
        }
    }

    #[test]
    fn only_the_differences_are_sent_and_the_defaults_always_in_full() {
        let mut drifted = observed();
        drifted.name = "Renamed".into();
        drifted.tags = vec!["eu".into(), "old".into()];
        let wanted = changes::<SourceTemplate>(&desired(), &drifted, false);
        let sent = wanted.patch.unwrap();
        assert_eq!(sent.name.as_deref(), Some("Postgres"));
        assert_eq!(sent.partial_default_config["password"], "pw");
        assert!(!sent.propagate);
        assert_eq!(wanted.add_tags, ["crm"]);
        assert_eq!(wanted.remove_tags, ["old"]);
        assert!(changes::<SourceTemplate>(&desired(), &observed(), false).is_empty());
    }

    #[test]
    fn a_removed_default_is_drift() {
        let mut drifted = observed();
        drifted
            .partial_default_config
            .insert("extra".into(), json!(1));
        assert!(patch(&desired(), &drifted, false).is_some());
        assert!(patch(&desired(), &observed(), false).is_none());
        assert!(
            patch(&desired(), &observed(), true).is_some(),
            "a changed Secret sends the defaults although the answer is masked"
        );
    }

    #[test]
    fn the_resolved_defaults_never_print() {
        assert!(!format!("{:?}", desired()).contains("pw"));
    }
}
