//! Source templates, connection templates and template tags (organization token).

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::airbyte::models::{
    CreateSourceTemplate, CreateTag, PatchSourceTemplate, SourceTemplate, StreamSelectionMode,
    TagMode, TagRequest, TemplateCustomization, TemplateTag,
};
use crate::airbyte_sim::fastapi::{SimError, parse_body};
use crate::airbyte_sim::state::{ConnectionTemplate, SimState, check_uuid, timestamp};

/// Blob-storage destinations, the only ones Airbyte Embedded supports (S3, GCS, Azure Blob).
const BLOB_DESTINATIONS: [&str; 3] = [
    "4816b78f-1489-44c1-9060-4b19d5fa9362",
    "ca8f6566-e555-4b40-943a-545bf123117a",
    "b4c5d105-31fd-4817-96b6-cb923bfc04cb",
];

/// `tags=a&tags=b&tags_mode=any|all` (repeated keys, so parsed by hand).
fn tag_filter(query: Option<&str>) -> Result<(Vec<String>, TagMode), SimError> {
    let mut tags = Vec::new();
    let mut mode = TagMode::Any;
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        match key.as_ref() {
            "tags" => tags.push(value.into_owned()),
            "tags_mode" => {
                mode = match value.as_ref() {
                    "any" => TagMode::Any,
                    "all" => TagMode::All,
                    _ => {
                        return Err(SimError::field(
                            &["query", "tags_mode"],
                            "value is not a valid enumeration member; permitted: 'any', 'all'",
                            "type_error.enum",
                        ));
                    }
                }
            }
            _ => {}
        }
    }
    Ok((tags, mode))
}

pub fn tags_match(have: &[String], wanted: &[String], mode: TagMode) -> bool {
    if wanted.is_empty() {
        return true;
    }
    match mode {
        TagMode::Any => wanted.iter().any(|tag| have.contains(tag)),
        TagMode::All => wanted.iter().all(|tag| have.contains(tag)),
    }
}

fn check_customization(customization: &Option<TemplateCustomization>) -> Result<(), SimError> {
    if let Some(c) = customization
        && c.stream_selection_mode == StreamSelectionMode::Whitelist
        && c.stream_whitelist.is_empty()
    {
        return Err(SimError::field(
            &["body", "customization", "stream_whitelist"],
            "must not be empty when stream_selection_mode is whitelist",
            "value_error",
        ));
    }
    Ok(())
}

fn check_tag_name(name: &str, loc: &[&str]) -> Result<(), SimError> {
    if name.is_empty() || name.len() > 255 {
        return Err(SimError::field(
            loc,
            "ensure this value has between 1 and 255 characters",
            "value_error.any_str.length",
        ));
    }
    Ok(())
}

pub async fn list_sources(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, SimError> {
    state.require_organization(&headers, false)?;
    let (tags, mode) = tag_filter(query.as_deref())?;
    let world = state.world();
    let data: Vec<&SourceTemplate> = world
        .source_templates
        .values()
        .filter(|t| {
            t.organization_id
                .as_deref()
                .is_none_or(|org| org == state.config.organization_id)
        })
        .filter(|t| tags_match(&t.tags, &tags, mode))
        .collect();
    Ok(Json(json!({"data": data, "next": null})))
}

pub async fn create_source(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<SourceTemplate>, SimError> {
    state.require_organization(&headers, false)?;
    let request: CreateSourceTemplate = parse_body(&body)?;
    check_uuid(&request.organization_id, &["body", "organization_id"])?;
    if request.organization_id != state.config.organization_id {
        return Err(SimError::Forbidden);
    }
    check_uuid(
        &request.actor_definition_id,
        &["body", "actor_definition_id"],
    )?;
    let connector = state
        .catalog
        .get(&request.actor_definition_id)
        .ok_or_else(|| {
            SimError::field(
                &["body", "actor_definition_id"],
                "unknown connector definition",
                "value_error",
            )
        })?;
    let errors = connector.validate_partial(
        &request.partial_default_config,
        &["body", "partial_default_config"],
    );
    if !errors.is_empty() {
        return Err(SimError::Validation(errors));
    }
    check_customization(&request.customization)?;
    for (i, tag) in request.tags.iter().enumerate() {
        check_tag_name(tag, &["body", "tags", &i.to_string()])?;
    }
    let now = timestamp();
    let template = SourceTemplate {
        id: uuid::Uuid::new_v4().to_string(),
        name: request.name.unwrap_or_else(|| connector.name.clone()),
        actor_definition_id: request.actor_definition_id,
        organization_id: Some(request.organization_id),
        tags: dedup(request.tags),
        partial_default_config: request.partial_default_config,
        customization: request.customization,
        created_at: Some(now.clone()),
        updated_at: Some(now),
    };
    let mut world = state.world();
    world.ensure_tags(&state.config.organization_id, &template.tags);
    world
        .source_templates
        .insert(template.id.clone(), template.clone());
    Ok(Json(template))
}

fn dedup(tags: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags {
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    out
}

/// The organization's own template (standard templates are read-only: 403 on change).
fn own_template<'a>(
    state: &SimState,
    templates: &'a mut std::collections::BTreeMap<String, SourceTemplate>,
    id: &str,
) -> Result<&'a mut SourceTemplate, SimError> {
    let template = templates
        .get_mut(id)
        .ok_or_else(|| SimError::not_found("Source template"))?;
    match template.organization_id.as_deref() {
        Some(org) if org == state.config.organization_id => Ok(template),
        Some(_) => Err(SimError::not_found("Source template")),
        None => Err(SimError::Forbidden),
    }
}

pub async fn get_source(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<SourceTemplate>, SimError> {
    state.require_organization(&headers, false)?;
    let world = state.world();
    world
        .source_templates
        .get(&id)
        .filter(|t| {
            t.organization_id
                .as_deref()
                .is_none_or(|org| org == state.config.organization_id)
        })
        .map(|t| Json(t.clone()))
        .ok_or_else(|| SimError::not_found("Source template"))
}

pub async fn patch_source(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<SourceTemplate>, SimError> {
    state.require_organization(&headers, false)?;
    let patch: PatchSourceTemplate = parse_body(&body)?;
    check_customization(&patch.customization)?;
    let mut world = state.world();
    let template = own_template(&state, &mut world.source_templates, &id)?;
    if let Some(config) = &patch.partial_default_config {
        let connector = state
            .catalog
            .get(&template.actor_definition_id)
            .ok_or_else(|| SimError::not_found("Connector definition"))?;
        let errors = connector.validate_partial(config, &["body", "partial_default_config"]);
        if !errors.is_empty() {
            return Err(SimError::Validation(errors));
        }
        template.partial_default_config = config.clone();
    }
    if let Some(name) = patch.name {
        template.name = name;
    }
    if let Some(customization) = patch.customization {
        template.customization = Some(customization);
    }
    template.updated_at = Some(timestamp());
    Ok(Json(template.clone()))
}

pub async fn delete_source(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, SimError> {
    state.require_organization(&headers, false)?;
    let mut world = state.world();
    own_template(&state, &mut world.source_templates, &id)?;
    world.source_templates.remove(&id);
    Ok(Json(json!({"id": id, "deleted_at": timestamp()})))
}

pub async fn add_source_tag(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<SourceTemplate>, SimError> {
    state.require_organization(&headers, false)?;
    let request: TagRequest = parse_body(&body)?;
    check_tag_name(&request.tag, &["body", "tag"])?;
    let mut world = state.world();
    world.ensure_tags(
        &state.config.organization_id,
        std::slice::from_ref(&request.tag),
    );
    let template = own_template(&state, &mut world.source_templates, &id)?;
    if !template.tags.contains(&request.tag) {
        template.tags.push(request.tag);
        template.updated_at = Some(timestamp());
    }
    Ok(Json(template.clone()))
}

pub async fn remove_source_tag(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path((id, tag)): Path<(String, String)>,
) -> Result<Json<SourceTemplate>, SimError> {
    state.require_organization(&headers, false)?;
    let mut world = state.world();
    let template = own_template(&state, &mut world.source_templates, &id)?;
    let before = template.tags.len();
    template.tags.retain(|t| *t != tag);
    if template.tags.len() == before {
        return Err(SimError::not_found("Tag on this template"));
    }
    template.updated_at = Some(timestamp());
    Ok(Json(template.clone()))
}

// ---- template tags ----

pub async fn create_tag(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<TemplateTag>, SimError> {
    require_organization_or_workspace(&state, &headers)?;
    let request: CreateTag = parse_body(&body)?;
    check_tag_name(&request.name, &["body", "name"])?;
    let mut world = state.world();
    if world.tags.contains_key(&request.name) {
        return Err(SimError::Status {
            status: StatusCode::CONFLICT,
            detail: format!("Tag {} already exists", request.name),
            retry_after: None,
        });
    }
    world.ensure_tags(
        &state.config.organization_id,
        std::slice::from_ref(&request.name),
    );
    Ok(Json(world.tags[&request.name].clone()))
}

pub async fn list_tags(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, SimError> {
    require_organization_or_workspace(&state, &headers)?;
    let world = state.world();
    let data: Vec<&TemplateTag> = world.tags.values().collect();
    Ok(Json(json!({"data": data, "next": null})))
}

pub async fn rename_tag(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
    body: Bytes,
) -> Result<Json<TemplateTag>, SimError> {
    require_organization_or_workspace(&state, &headers)?;
    let request: CreateTag = parse_body(&body)?;
    check_tag_name(&request.name, &["body", "name"])?;
    let mut world = state.world();
    let mut tag = world
        .tags
        .remove(&name)
        .ok_or_else(|| SimError::not_found("Tag"))?;
    tag.name = request.name.clone();
    tag.updated_at = Some(timestamp());
    world.tags.insert(request.name.clone(), tag.clone());
    for template in world.source_templates.values_mut() {
        for t in template.tags.iter_mut().filter(|t| **t == name) {
            *t = request.name.clone();
        }
    }
    for template in world.connection_templates.values_mut() {
        for t in template.tags.iter_mut().filter(|t| **t == name) {
            *t = request.name.clone();
        }
    }
    Ok(Json(tag))
}

pub async fn delete_tag(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path(name): Path<String>,
) -> Result<Json<Value>, SimError> {
    require_organization_or_workspace(&state, &headers)?;
    let mut world = state.world();
    let tag = world
        .tags
        .remove(&name)
        .ok_or_else(|| SimError::not_found("Tag"))?;
    for template in world.source_templates.values_mut() {
        template.tags.retain(|t| *t != name);
    }
    for template in world.connection_templates.values_mut() {
        template.tags.retain(|t| *t != name);
    }
    Ok(Json(json!({"id": tag.id, "deleted_at": timestamp()})))
}

/// Tag endpoints accept the operator token or a scoped token.
fn require_organization_or_workspace(
    state: &SimState,
    headers: &HeaderMap,
) -> Result<(), SimError> {
    match state.require_organization(headers, false) {
        Err(SimError::Unauthorized) => state.require_workspace(headers, false).map(|_| ()),
        other => other,
    }
}

// ---- connection templates ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateConnectionTemplate {
    organization_id: String,
    destination_name: String,
    destination_definition_id: String,
    destination_config: Map<String, Value>,
    #[serde(default)]
    cron_expression: Option<String>,
    #[serde(default)]
    non_breaking_changes_preference: Option<String>,
    #[serde(default)]
    sync_on_create: Option<bool>,
    #[serde(default)]
    tags: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PatchConnectionTemplate {
    #[serde(default)]
    destination_name: Option<String>,
    #[serde(default)]
    destination_config: Option<Map<String, Value>>,
    #[serde(default)]
    cron_expression: Option<String>,
    #[serde(default)]
    non_breaking_changes_preference: Option<String>,
    #[serde(default)]
    sync_on_create: Option<bool>,
}

const PREFERENCES: [&str; 4] = ["ignore", "disable", "propagate_columns", "propagate_fully"];

fn check_connection_fields(
    cron: &Option<String>,
    preference: &Option<String>,
) -> Result<(), SimError> {
    if let Some(cron) = cron
        && !(6..=7).contains(&cron.split_whitespace().count())
    {
        return Err(SimError::field(
            &["body", "cron_expression"],
            "not a Quartz cron expression (6 or 7 fields)",
            "value_error",
        ));
    }
    if let Some(preference) = preference
        && !PREFERENCES.contains(&preference.as_str())
    {
        return Err(SimError::field(
            &["body", "non_breaking_changes_preference"],
            "value is not a valid enumeration member",
            "type_error.enum",
        ));
    }
    Ok(())
}

/// Destination configs hold credentials: answers show them masked.
fn masked(template: &ConnectionTemplate) -> ConnectionTemplate {
    let mut copy = template.clone();
    for value in copy.destination_config.values_mut() {
        if !value.is_object() {
            *value = Value::String(crate::airbyte::models::MASKED_SECRET.into());
        }
    }
    copy
}

pub async fn list_connections(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Result<Json<Value>, SimError> {
    state.require_organization(&headers, false)?;
    let (tags, mode) = tag_filter(query.as_deref())?;
    let world = state.world();
    let data: Vec<ConnectionTemplate> = world
        .connection_templates
        .values()
        .filter(|t| tags_match(&t.tags, &tags, mode))
        .map(masked)
        .collect();
    Ok(Json(json!({"data": data, "next": null})))
}

pub async fn create_connection(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<ConnectionTemplate>, SimError> {
    state.require_organization(&headers, false)?;
    let request: CreateConnectionTemplate = parse_body(&body)?;
    if request.organization_id != state.config.organization_id {
        return Err(SimError::Forbidden);
    }
    if !BLOB_DESTINATIONS.contains(&request.destination_definition_id.as_str()) {
        return Err(SimError::field(
            &["body", "destination_definition_id"],
            "only blob-storage destinations (S3, GCS, Azure Blob Storage) are supported",
            "value_error",
        ));
    }
    check_connection_fields(
        &request.cron_expression,
        &request.non_breaking_changes_preference,
    )?;
    let now = timestamp();
    let template = ConnectionTemplate {
        id: uuid::Uuid::new_v4().to_string(),
        organization_id: request.organization_id,
        destination_name: request.destination_name,
        destination_definition_id: request.destination_definition_id,
        destination_config: request.destination_config,
        cron_expression: request.cron_expression,
        non_breaking_changes_preference: request.non_breaking_changes_preference,
        sync_on_create: request.sync_on_create,
        tags: dedup(request.tags),
        created_at: now.clone(),
        updated_at: now,
    };
    let mut world = state.world();
    world.ensure_tags(&state.config.organization_id, &template.tags);
    world
        .connection_templates
        .insert(template.id.clone(), template.clone());
    Ok(Json(masked(&template)))
}

fn connection_mut<'a>(
    templates: &'a mut std::collections::BTreeMap<String, ConnectionTemplate>,
    id: &str,
) -> Result<&'a mut ConnectionTemplate, SimError> {
    templates
        .get_mut(id)
        .ok_or_else(|| SimError::not_found("Connection template"))
}

pub async fn get_connection(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<ConnectionTemplate>, SimError> {
    state.require_organization(&headers, false)?;
    let mut world = state.world();
    Ok(Json(masked(connection_mut(
        &mut world.connection_templates,
        &id,
    )?)))
}

pub async fn patch_connection(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<ConnectionTemplate>, SimError> {
    state.require_organization(&headers, false)?;
    let patch: PatchConnectionTemplate = parse_body(&body)?;
    check_connection_fields(
        &patch.cron_expression,
        &patch.non_breaking_changes_preference,
    )?;
    let mut world = state.world();
    let template = connection_mut(&mut world.connection_templates, &id)?;
    if let Some(v) = patch.destination_name {
        template.destination_name = v;
    }
    if let Some(v) = patch.destination_config {
        template.destination_config = v;
    }
    if patch.cron_expression.is_some() {
        template.cron_expression = patch.cron_expression;
    }
    if patch.non_breaking_changes_preference.is_some() {
        template.non_breaking_changes_preference = patch.non_breaking_changes_preference;
    }
    if patch.sync_on_create.is_some() {
        template.sync_on_create = patch.sync_on_create;
    }
    template.updated_at = timestamp();
    Ok(Json(masked(template)))
}

pub async fn delete_connection(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, SimError> {
    state.require_organization(&headers, false)?;
    let mut world = state.world();
    world
        .connection_templates
        .remove(&id)
        .ok_or_else(|| SimError::not_found("Connection template"))?;
    Ok(Json(json!({"id": id, "deleted_at": timestamp()})))
}

pub async fn add_connection_tag(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<ConnectionTemplate>, SimError> {
    state.require_organization(&headers, false)?;
    let request: TagRequest = parse_body(&body)?;
    check_tag_name(&request.tag, &["body", "tag"])?;
    let mut world = state.world();
    world.ensure_tags(
        &state.config.organization_id,
        std::slice::from_ref(&request.tag),
    );
    let template = connection_mut(&mut world.connection_templates, &id)?;
    if !template.tags.contains(&request.tag) {
        template.tags.push(request.tag);
    }
    Ok(Json(masked(template)))
}

pub async fn remove_connection_tag(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path((id, tag)): Path<(String, String)>,
) -> Result<Json<ConnectionTemplate>, SimError> {
    state.require_organization(&headers, false)?;
    let mut world = state.world();
    let template = connection_mut(&mut world.connection_templates, &id)?;
    template.tags.retain(|t| *t != tag);
    Ok(Json(masked(template)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_modes() {
        let have = vec!["a".to_string(), "b".to_string()];
        let cases = [
            (vec![], TagMode::Any, true),
            (vec!["a"], TagMode::Any, true),
            (vec!["a", "c"], TagMode::Any, true),
            (vec!["a", "c"], TagMode::All, false),
            (vec!["a", "b"], TagMode::All, true),
            (vec!["c"], TagMode::Any, false),
        ];
        for (wanted, mode, expected) in cases {
            let wanted: Vec<String> = wanted.into_iter().map(String::from).collect();
            assert_eq!(
                tags_match(&have, &wanted, mode),
                expected,
                "{wanted:?} {mode:?}"
            );
        }
    }

    #[test]
    fn tag_queries_repeat_keys() {
        let (tags, mode) = tag_filter(Some("tags=a&tags=b&tags_mode=all")).unwrap();
        assert_eq!(
            (tags, mode),
            (vec!["a".to_string(), "b".to_string()], TagMode::All)
        );
        assert!(tag_filter(Some("tags_mode=some")).is_err());
    }
}
