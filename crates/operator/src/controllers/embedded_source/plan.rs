//! What an EmbeddedSource should look like in Airbyte, and what to change to get there.

use serde_json::{Map, Value};

use airbyte_client::models::{
    CreateSource, MASKED_SECRET, PatchSource, Source, TagMode as ApiTagMode,
};

/// The declared source, Secret values merged.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Desired {
    pub name: String,
    pub workspace_id: String,
    pub template_id: String,
    pub config: Map<String, Value>,
    pub tags: Option<Vec<String>>,
    pub mode: Option<ApiTagMode>,
}

impl Desired {
    pub fn create_request(&self) -> CreateSource {
        CreateSource {
            name: self.name.clone(),
            workspace_id: self.workspace_id.clone(),
            source_template_id: self.template_id.clone(),
            source_config: self.config.clone(),
            selected_connection_template_tags: self.tags.clone(),
            selected_connection_template_tags_mode: self.mode,
        }
    }
}

/// Whether every value declared in `desired` is in `observed` (nested objects compared the same
/// way). A masked value counts as equal: Airbyte never shows secrets back, and a changed Secret is
/// noticed through the config hash instead. Keys only Airbyte has (template defaults) are ignored.
pub fn contains(observed: &Map<String, Value>, desired: &Map<String, Value>) -> bool {
    desired
        .iter()
        .all(|(key, want)| match (observed.get(key), want) {
            (Some(Value::Object(have)), Value::Object(want)) => contains(have, want),
            (Some(Value::String(masked)), _) if masked == MASKED_SECRET => true,
            (Some(have), want) => have == want,
            (None, _) => false,
        })
}

/// The PATCH that brings `observed` to `desired`, if anything differs. `config_changed` (the
/// config hash moved) forces the configuration to be sent even when the masked answer hides it.
pub fn changes(desired: &Desired, observed: &Source, config_changed: bool) -> Option<PatchSource> {
    let mut patch = PatchSource::default();
    if observed.name != desired.name {
        patch.name = Some(desired.name.clone());
    }
    if config_changed || !contains(&observed.source_config, &desired.config) {
        patch.source_config = Some(desired.config.clone());
    }
    let wanted_tags = desired.tags.clone().unwrap_or_default();
    if observed.selected_connection_template_tags != wanted_tags
        || (desired.mode.is_some()
            && observed.selected_connection_template_tags_mode != desired.mode)
    {
        patch.selected_connection_template_tags = Some(wanted_tags);
        patch.selected_connection_template_tags_mode = desired.mode;
    }
    (patch != PatchSource::default()).then_some(patch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn map(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn desired() -> Desired {
        Desired {
            name: "stripe".into(),
            workspace_id: "w".into(),
            template_id: "t".into(),
            config: map(json!({"account_id": "acct", "client_secret": "sk", "nested": {"a": 1}})),
            tags: Some(vec!["s3".into()]),
            mode: Some(ApiTagMode::All),
        }
    }

    fn observed() -> Source {
        Source {
            id: "s".into(),
            name: "stripe".into(),
            workspace_id: "w".into(),
            source_template_id: Some("t".into()),
            source_config: map(
                json!({"account_id": "acct", "client_secret": MASKED_SECRET, "nested": {"a": 1}, "lookback_window_days": 0}),
            ),
            selected_connection_template_tags: vec!["s3".into()],
            selected_connection_template_tags_mode: Some(ApiTagMode::All),
            created_at: None,
            updated_at: None,
        }
    }

    #[test]
    fn masked_secrets_and_template_defaults_are_not_drift() {
        assert_eq!(changes(&desired(), &observed(), false), None);
    }

    #[test]
    fn a_changed_value_is_restored_with_the_full_config() {
        let mut drifted = observed();
        drifted
            .source_config
            .insert("account_id".into(), json!("other"));
        let patch = changes(&desired(), &drifted, false).unwrap();
        assert_eq!(patch.source_config.unwrap(), desired().config);
        assert!(patch.name.is_none() && patch.selected_connection_template_tags.is_none());
    }

    #[test]
    fn a_changed_secret_is_sent_even_though_the_answer_is_masked() {
        let patch = changes(&desired(), &observed(), true).unwrap();
        assert_eq!(patch.source_config.unwrap()["client_secret"], "sk");
    }

    #[test]
    fn names_and_tags_are_compared() {
        let mut drifted = observed();
        drifted.name = "renamed".into();
        drifted.selected_connection_template_tags = vec![];
        let patch = changes(&desired(), &drifted, false).unwrap();
        assert_eq!(patch.name.as_deref(), Some("stripe"));
        assert_eq!(patch.selected_connection_template_tags.unwrap(), ["s3"]);
    }

    #[test]
    fn a_removed_nested_value_is_drift() {
        let mut drifted = observed();
        drifted.source_config.insert("nested".into(), json!({}));
        assert!(!contains(&drifted.source_config, &desired().config));
    }
}
