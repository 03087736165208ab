//! Request and response bodies of the Airbyte Embedded API.
//!
//! Requests carry exactly the fields the current reference documents (the embedded API spec and
//! the Agent Engine spec in `airbytehq/airbyte` under `docusaurus/src/data/`). Responses are read
//! tolerantly: unknown fields are ignored, fields the reference does not promise are optional,
//! and names that changed between revisions are accepted under either name, so a newer or older
//! server does not break the operator.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// `any`: at least one of the tags; `all`: every tag.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TagMode {
    #[default]
    Any,
    All,
}

impl TagMode {
    pub fn as_str(self) -> &'static str {
        match self {
            TagMode::Any => "any",
            TagMode::All => "all",
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct ApplicationTokenRequest {
    pub client_id: String,
    pub client_secret: String,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ApplicationTokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub token_type: Option<String>,
    /// Seconds; required by the reference, but then the JWT `exp` decides too.
    #[serde(default)]
    pub expires_in: Option<u64>,
    /// Only in the Agent Engine reference.
    #[serde(default)]
    pub organization_id: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct TokenResponse {
    pub token: String,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct ScopedTokenInfo {
    pub organization_id: String,
    pub workspace_id: String,
}

/// A widget token request. The tenant field's name is chosen when the request is sent (it has
/// changed between revisions of the API), so `workspace_name` is not serialized from here.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct WidgetTokenRequest {
    #[serde(skip)]
    pub workspace_name: String,
    pub allowed_origin: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub region_id: Option<String>,
    pub selected_source_template_tags: Vec<String>,
    pub selected_source_template_tags_mode: TagMode,
    pub selected_connection_template_tags: Vec<String>,
    pub selected_connection_template_tags_mode: TagMode,
}

/// The widget token's decoded form: base64 of this JSON.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct WidgetTokenPayload {
    pub token: String,
    #[serde(rename = "widgetUrl")]
    pub widget_url: String,
}

/// How a template offers streams: Airbyte's suggestion, every stream, or a fixed list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamSelectionMode {
    #[default]
    Suggested,
    All,
    Whitelist,
}

/// The part of a template's `customization` the operator manages (stream customizations and
/// mappers it does not manage are left as they are).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct TemplateCustomization {
    #[serde(default)]
    pub stream_selection_mode: StreamSelectionMode,
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        deserialize_with = "null_as_default"
    )]
    pub stream_whitelist: Vec<String>,
}

/// `POST /api/v1/integrations/templates/sources`. No tags and no organization: tags are added
/// afterwards, the organization is the token's.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CreateSourceTemplate {
    pub actor_definition_id: String,
    pub partial_default_config: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customization: Option<TemplateCustomization>,
}

/// `PATCH /api/v1/integrations/templates/sources/{id}`: the embedded reference requires the full
/// `partial_default_config`; `propagate` says whether sources made from the template take the
/// new defaults (the API's default is not to).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PatchSourceTemplate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub partial_default_config: Map<String, Value>,
    pub propagate: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub customization: Option<TemplateCustomization>,
}

/// A source template as the API shows it. List items carry no definition id in the embedded
/// reference and `actor_definition_id` in the Agent Engine one; single templates carry
/// `source_definition_id`. Standard templates have no organization.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct SourceTemplate {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, alias = "actor_definition_id")]
    pub source_definition_id: Option<String>,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default, deserialize_with = "tag_names")]
    pub tags: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub partial_default_config: Map<String, Value>,
    #[serde(default)]
    pub customization: Option<TemplateCustomization>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct TagRequest {
    pub tag: String,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CreateTag {
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct TemplateTag {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// What a delete answers (`{id, deleted_at}`; untagging answers only `deleted_at`).
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Deleted {
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub deleted_at: Option<String>,
}

/// `POST /api/v1/embedded/sources`. The connection template selection can only be set here.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct CreateSource {
    pub name: String,
    pub workspace_id: String,
    pub source_template_id: String,
    pub source_config: Map<String, Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selected_connection_template_tags: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selected_connection_template_tags_mode: Option<TagMode>,
}

/// `PUT /api/v1/embedded/sources/{id}`: name and configuration only.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct UpdateSource {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_config: Option<Map<String, Value>>,
}

/// The template a source was made from, as nested in the source.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct TemplateSummary {
    pub id: String,
    #[serde(default)]
    pub name: String,
}

/// A source as the API shows it (secret fields masked, see [`MASKED_SECRET`]). The reference's
/// sources have no `workspace_id` (the scoped token names the workspace) and name their template
/// in a nested object; list items carry no configuration.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct Source {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, alias = "summarized_source_template")]
    pub source_template: Option<TemplateSummary>,
    /// Older revisions only.
    #[serde(default)]
    pub source_template_id: Option<String>,
    /// Older revisions only.
    #[serde(default)]
    pub workspace_id: Option<String>,
    #[serde(
        default,
        alias = "replication_config",
        deserialize_with = "null_as_default"
    )]
    pub source_config: Map<String, Value>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

impl Source {
    /// The template the source was made from, whichever way the server says it.
    pub fn template_id(&self) -> Option<&str> {
        self.source_template
            .as_ref()
            .map(|t| t.id.as_str())
            .or(self.source_template_id.as_deref())
    }
}

/// What Airbyte shows instead of a secret configuration value.
pub const MASKED_SECRET: &str = "**********";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkspaceStatus {
    Active,
    Inactive,
}

#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct Workspace {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub organization_id: Option<String>,
    pub status: WorkspaceStatus,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct UpdateWorkspace {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<WorkspaceStatus>,
}

impl UpdateWorkspace {
    /// Activates or deactivates a workspace (its status alone).
    pub fn status(status: WorkspaceStatus) -> UpdateWorkspace {
        UpdateWorkspace {
            name: None,
            status: Some(status),
        }
    }
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkspaceQuery {
    pub name_contains: Option<String>,
    pub status: Option<WorkspaceStatus>,
    /// Page size, 1..=100 (server default 20).
    pub limit: Option<u32>,
}

/// A list answer: `{"data": [...], "next": "<url, empty or null>"}`.
#[derive(Clone, Debug, Deserialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub next: Option<String>,
}

/// How a connection template's data is hosted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DataHostingType {
    /// In a destination the organization configures.
    #[default]
    UserHosted,
    /// In Airbyte's own storage.
    AirbyteHosted,
}

/// What a connection makes of schema changes that do not break it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NonBreakingChangesPreference {
    #[default]
    Ignore,
    Disable,
    PropagateColumns,
    PropagateFully,
}

/// `POST /api/v1/integrations/templates/connections`: a user-hosted destination or Airbyte's
/// storage (the reference's `oneOf`). No tags and no organization: tags are added afterwards.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum CreateConnectionTemplate {
    UserHosted {
        destination_name: String,
        destination_definition_id: String,
        destination_config: Map<String, Value>,
        #[serde(skip_serializing_if = "Option::is_none")]
        cron_expression: Option<String>,
        non_breaking_changes_preference: NonBreakingChangesPreference,
        sync_on_create: bool,
    },
    AirbyteHosted {
        data_hosting_type: DataHostingType,
        #[serde(skip_serializing_if = "Option::is_none")]
        cron_expression: Option<String>,
    },
}

/// `PATCH /api/v1/integrations/templates/connections/{id}`: only what is `Some` changes.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PatchConnectionTemplate {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destination_config: Option<Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cron_expression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub non_breaking_changes_preference: Option<NonBreakingChangesPreference>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sync_on_create: Option<bool>,
}

/// A connection template as the API shows it (destination secrets masked). Older documents name
/// the destination field `destination_actor_definition_id`; Airbyte-hosted templates of the
/// Agent Engine reference carry no destination fields.
#[derive(Clone, Debug, Default, PartialEq, Deserialize)]
pub struct ConnectionTemplate {
    pub id: String,
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default)]
    pub destination_name: String,
    #[serde(default, alias = "destination_actor_definition_id")]
    pub destination_definition_id: Option<String>,
    #[serde(default, deserialize_with = "null_as_default")]
    pub destination_config: Map<String, Value>,
    #[serde(default)]
    pub cron_expression: Option<String>,
    #[serde(default)]
    pub non_breaking_changes_preference: Option<NonBreakingChangesPreference>,
    #[serde(default)]
    pub sync_on_create: Option<bool>,
    #[serde(default)]
    pub data_hosting_type: Option<DataHostingType>,
    #[serde(default, deserialize_with = "tag_names")]
    pub tags: Vec<String>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// `cron/describe`'s answer.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct CronDescription {
    #[serde(default)]
    pub description: String,
    pub is_valid: bool,
}

/// `null` read as the type's default (the reference marks many fields nullable).
fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Tags come back as names or as tag objects depending on the endpoint revision; keep the names.
fn tag_names<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum TagEntry {
        Name(String),
        Object { name: String },
    }
    let entries = Option::<Vec<TagEntry>>::deserialize(deserializer)?.unwrap_or_default();
    Ok(entries
        .into_iter()
        .map(|entry| match entry {
            TagEntry::Name(name) | TagEntry::Object { name } => name,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_template_reads_under_either_definition_field_or_none() {
        for (body, expected) in [
            (json!({"id": "t", "source_definition_id": "d"}), Some("d")),
            (json!({"id": "t", "actor_definition_id": "d"}), Some("d")),
            (
                json!({"id": "t", "icon": null, "has_source_definition_catalog": false}),
                None,
            ),
        ] {
            let template: SourceTemplate = serde_json::from_value(body).unwrap();
            assert_eq!(template.source_definition_id.as_deref(), expected);
        }
    }

    #[test]
    fn template_tags_read_as_names_or_objects() {
        let names: SourceTemplate =
            serde_json::from_value(json!({"id": "t", "tags": ["a", "b"]})).unwrap();
        let objects: SourceTemplate = serde_json::from_value(
            json!({"id": "t", "tags": [{"id": "1", "name": "a"}, {"name": "b"}]}),
        )
        .unwrap();
        assert_eq!(names.tags, ["a", "b"]);
        assert_eq!(objects.tags, ["a", "b"]);
    }

    #[test]
    fn a_source_names_its_template_in_a_nested_object_or_a_flat_id() {
        let current: Source = serde_json::from_value(json!({
            "id": "s", "name": "n", "source_template": {"id": "t", "name": "T", "source_definition_id": "d"},
            "source_config": {"a": 1}, "created_at": null
        }))
        .unwrap();
        assert_eq!(current.template_id(), Some("t"));
        assert_eq!(current.workspace_id, None);
        let listed: Source = serde_json::from_value(json!({
            "id": "s", "name": "n", "summarized_source_template": {"id": "t", "name": "T", "icon": null}
        }))
        .unwrap();
        assert_eq!(listed.template_id(), Some("t"));
        assert!(listed.source_config.is_empty());
        let older: Source = serde_json::from_value(json!({
            "id": "s", "workspace_id": "w", "source_template_id": "t", "source_config": null
        }))
        .unwrap();
        assert_eq!(older.template_id(), Some("t"));
    }

    #[test]
    fn connection_templates_read_either_destination_field_and_write_the_current_one() {
        let old: ConnectionTemplate = serde_json::from_value(
            json!({"id": "c", "destination_actor_definition_id": "d", "destination_config": null}),
        )
        .unwrap();
        assert_eq!(old.destination_definition_id.as_deref(), Some("d"));
        let hosted = serde_json::to_value(CreateConnectionTemplate::AirbyteHosted {
            data_hosting_type: DataHostingType::AirbyteHosted,
            cron_expression: None,
        })
        .unwrap();
        assert_eq!(hosted, json!({"data_hosting_type": "airbyte_hosted"}));
    }

    #[test]
    fn requests_carry_only_documented_fields() {
        let patch = serde_json::to_value(PatchSourceTemplate::default()).unwrap();
        assert_eq!(
            patch,
            json!({"partial_default_config": {}, "propagate": false})
        );
        let widget = serde_json::to_value(WidgetTokenRequest {
            workspace_name: "acme".into(),
            allowed_origin: "https://a.example".into(),
            ..Default::default()
        })
        .unwrap();
        assert!(widget.get("workspace_name").is_none(), "{widget}");
        let create = serde_json::to_value(CreateSourceTemplate {
            actor_definition_id: "d".into(),
            partial_default_config: Map::new(),
            name: None,
            customization: None,
        })
        .unwrap();
        assert_eq!(
            create,
            json!({"actor_definition_id": "d", "partial_default_config": {}})
        );
    }
}
