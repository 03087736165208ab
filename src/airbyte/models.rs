//! Request and response bodies of the Airbyte Embedded API (`../shared/airbyte-api.md`).
//!
//! Responses are read leniently (unknown fields ignored, optional fields defaulted) so a newer
//! server does not break the operator; requests are written exactly, since the server is strict.
//! The simulator uses the same types, so both sides agree on the wire shape by construction, and
//! the simulator's own strictness (unknown fields → 422) is tested on raw JSON.

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// Airbyte's US region, the default when no region is given.
pub const REGION_US: &str = "645a183f-b12b-4c6e-8ad3-99e165603450";
/// Airbyte's EU region.
pub const REGION_EU: &str = "b9e48d61-f082-4a14-a8d0-799a907938cb";

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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApplicationTokenRequest {
    pub client_id: String,
    pub client_secret: String,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct ApplicationTokenResponse {
    pub access_token: String,
    #[serde(default)]
    pub token_type: Option<String>,
    /// Seconds; absent on some servers (then the JWT `exp` decides).
    #[serde(default)]
    pub expires_in: Option<u64>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScopedTokenRequest {
    pub workspace_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_id: Option<String>,
}

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct TokenResponse {
    pub token: String,
}

#[derive(Clone, Debug, PartialEq, Deserialize, Serialize)]
pub struct ScopedTokenInfo {
    pub organization_id: String,
    pub workspace_id: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WidgetTokenRequest {
    pub workspace_name: String,
    pub allowed_origin: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_id: Option<String>,
    #[serde(default)]
    pub selected_source_template_tags: Vec<String>,
    #[serde(default)]
    pub selected_source_template_tags_mode: TagMode,
    #[serde(default)]
    pub selected_connection_template_tags: Vec<String>,
    #[serde(default)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StreamSelectionMode {
    Suggested,
    All,
    Whitelist,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateCustomization {
    pub stream_selection_mode: StreamSelectionMode,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stream_whitelist: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSourceTemplate {
    pub organization_id: String,
    pub actor_definition_id: String,
    pub partial_default_config: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customization: Option<TemplateCustomization>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_config_spec: Option<Value>,
}

/// Partial update: only the fields that are `Some` change.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchSourceTemplate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partial_default_config: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub customization: Option<TemplateCustomization>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SourceTemplate {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub actor_definition_id: String,
    /// Absent for Airbyte's standard templates.
    #[serde(default)]
    pub organization_id: Option<String>,
    #[serde(default, deserialize_with = "tag_names")]
    pub tags: Vec<String>,
    #[serde(default)]
    pub partial_default_config: Map<String, Value>,
    #[serde(default)]
    pub customization: Option<TemplateCustomization>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TagRequest {
    pub tag: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateTag {
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeletedTag {
    pub id: String,
    #[serde(default)]
    pub deleted_at: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSource {
    pub name: String,
    pub workspace_id: String,
    pub source_template_id: String,
    pub source_config: Map<String, Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_connection_template_tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_connection_template_tags_mode: Option<TagMode>,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_config: Option<Map<String, Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_connection_template_tags: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selected_connection_template_tags_mode: Option<TagMode>,
}

/// A source as the API returns it. Secret fields of the connector spec come back masked (see
/// [`MASKED_SECRET`]), as Airbyte does, so they cannot be compared for drift.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub id: String,
    #[serde(default)]
    pub name: String,
    pub workspace_id: String,
    #[serde(default)]
    pub source_template_id: Option<String>,
    #[serde(default)]
    pub source_config: Map<String, Value>,
    #[serde(default)]
    pub selected_connection_template_tags: Vec<String>,
    #[serde(default)]
    pub selected_connection_template_tags_mode: Option<TagMode>,
    #[serde(default)]
    pub created_at: Option<String>,
    #[serde(default)]
    pub updated_at: Option<String>,
}

/// What Airbyte shows instead of a secret configuration value.
pub const MASKED_SECRET: &str = "**********";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WorkspaceStatus {
    Active,
    Inactive,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
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

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateWorkspace {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<WorkspaceStatus>,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct WorkspaceQuery {
    pub name_contains: Option<String>,
    pub status: Option<WorkspaceStatus>,
    /// Page size, 1..=100 (server default 20).
    pub limit: Option<u32>,
}

/// A list answer: `{"data": [...], "next": "<url or null>"}`.
#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct Page<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub next: Option<String>,
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

    #[test]
    fn template_tags_read_as_names_or_objects() {
        let names: SourceTemplate = serde_json::from_value(serde_json::json!({
            "id": "t", "actor_definition_id": "d", "tags": ["a", "b"]
        }))
        .unwrap();
        let objects: SourceTemplate = serde_json::from_value(serde_json::json!({
            "id": "t", "actor_definition_id": "d", "tags": [{"id": "1", "name": "a"}, {"name": "b"}]
        }))
        .unwrap();
        assert_eq!(names.tags, ["a", "b"]);
        assert_eq!(objects.tags, ["a", "b"]);
    }

    #[test]
    fn optional_request_fields_are_left_out() {
        let body = serde_json::to_value(ScopedTokenRequest {
            workspace_name: "acme".into(),
            region_id: None,
        })
        .unwrap();
        assert_eq!(body, serde_json::json!({"workspace_name": "acme"}));
    }
}
