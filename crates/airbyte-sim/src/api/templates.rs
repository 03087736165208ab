//! Source templates (application token): create, list by tags, get, update, delete, tag, untag.
//! Airbyte's standard templates can be read and used but not changed.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, State};
use serde_json::{Value, json};

use crate::answers;
use crate::catalog::ConnectorKind;
use crate::errors::SimError;
use crate::state::{
    Input, Organization, SimState, TemplateRecord, World, dedup, tags_match, timestamp,
};

/// `tags` and `tags_mode` of a list request (`all` unless said otherwise [E][A]).
pub fn tag_filter(input: &Input) -> (Vec<String>, String) {
    (
        input.query_all("tags").to_vec(),
        input.query_one("tags_mode").unwrap_or("all").to_string(),
    )
}

fn check_customization(customization: Option<&Value>) -> Result<(), SimError> {
    let Some(customization) = customization.filter(|c| !c.is_null()) else {
        return Ok(());
    };
    let mode = customization
        .get("stream_selection_mode")
        .and_then(Value::as_str)
        .unwrap_or("suggested");
    let streams = customization
        .get("stream_whitelist")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    if mode == "whitelist" && streams == 0 {
        return Err(SimError::field(
            &["body", "customization", "stream_whitelist"],
            "Value error, stream_whitelist must not be empty when stream_selection_mode is whitelist",
            "value_error",
        ));
    }
    Ok(())
}

pub async fn list(
    Extension(organization): Extension<Arc<Organization>>,
    Extension(input): Extension<Input>,
) -> Result<Json<Value>, SimError> {
    let (tags, mode) = tag_filter(&input);
    let world = organization.world();
    let items = world
        .source_templates
        .values()
        .filter(|t| t.organization_id.as_deref() == Some(organization.id.as_str()))
        .filter(|t| tags_match(&t.tags, &tags, &mode))
        .map(answers::template_item)
        .collect();
    Ok(Json(answers::list(items)))
}

pub async fn create(
    State(state): State<Arc<SimState>>,
    Extension(organization): Extension<Arc<Organization>>,
    Extension(input): Extension<Input>,
) -> Result<Json<Value>, SimError> {
    let definition_id = input
        .str("actor_definition_id")
        .unwrap_or_default()
        .to_lowercase();
    let connector = state
        .catalog
        .find(
            &definition_id,
            ConnectorKind::Source,
            &["body", "actor_definition_id"],
        )
        .map_err(|p| SimError::Validation(vec![p]))?;
    let defaults = input
        .object("partial_default_config")
        .cloned()
        .unwrap_or_default();
    let problems = connector.validate_partial(&defaults, &["body", "partial_default_config"]);
    if !problems.is_empty() {
        return Err(SimError::Validation(problems));
    }
    let customization = input
        .body
        .get("customization")
        .filter(|c| !c.is_null())
        .cloned();
    check_customization(customization.as_ref())?;
    let now = timestamp();
    let record = TemplateRecord {
        id: uuid::Uuid::new_v4().to_string(),
        name: input
            .str("name")
            .map(str::to_string)
            .unwrap_or_else(|| connector.name.clone()),
        definition_id,
        organization_id: Some(organization.id.clone()),
        partial_default_config: defaults,
        customization,
        tags: Vec::new(),
        created_at: now.clone(),
        updated_at: now,
    };
    let answer = answers::template(&record, &state.catalog);
    organization
        .world()
        .source_templates
        .insert(record.id.clone(), record);
    Ok(Json(answer))
}

/// The organization's own template (standard templates are read-only: 403 on change).
fn own<'a>(
    organization: &Organization,
    world: &'a mut World,
    id: &str,
) -> Result<&'a mut TemplateRecord, SimError> {
    let template = world
        .source_templates
        .get_mut(&id.to_lowercase())
        .ok_or_else(|| SimError::not_found("Source template"))?;
    match template.organization_id.as_deref() {
        Some(org) if org == organization.id => Ok(template),
        Some(_) => Err(SimError::not_found("Source template")),
        None => Err(SimError::forbidden(
            "Airbyte's standard templates cannot be changed; clone one instead",
        )),
    }
}

pub async fn get(
    State(state): State<Arc<SimState>>,
    Extension(organization): Extension<Arc<Organization>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, SimError> {
    let world = organization.world();
    world
        .source_templates
        .get(&id.to_lowercase())
        .filter(|t| {
            t.organization_id
                .as_deref()
                .is_none_or(|org| org == organization.id)
        })
        .map(|t| Json(answers::template(t, &state.catalog)))
        .ok_or_else(|| SimError::not_found("Source template"))
}

/// `PATCH`: `partial_default_config` is required [E]. With `propagate: true` the sources made
/// from the template take the new defaults; without, they keep the defaults they were made with.
pub async fn patch(
    State(state): State<Arc<SimState>>,
    Extension(organization): Extension<Arc<Organization>>,
    Extension(input): Extension<Input>,
    Path(id): Path<String>,
) -> Result<Json<Value>, SimError> {
    let customization = input
        .body
        .get("customization")
        .filter(|c| !c.is_null())
        .cloned();
    check_customization(customization.as_ref())?;
    let mut world = organization.world();
    let template = own(&organization, &mut world, &id)?;
    let defaults = input
        .object("partial_default_config")
        .cloned()
        .unwrap_or_default();
    let connector = state
        .catalog
        .find(
            &template.definition_id,
            ConnectorKind::Source,
            &["body", "partial_default_config"],
        )
        .map_err(|p| SimError::Validation(vec![p]))?;
    let problems = connector.validate_partial(&defaults, &["body", "partial_default_config"]);
    if !problems.is_empty() {
        return Err(SimError::Validation(problems));
    }
    template.partial_default_config = defaults.clone();
    if let Some(name) = input.str("name") {
        template.name = name.to_string();
    }
    if customization.is_some() {
        template.customization = customization;
    }
    template.updated_at = timestamp();
    let template = template.clone();
    if input.body.get("propagate").and_then(Value::as_bool) == Some(true) {
        for source in world
            .sources
            .values_mut()
            .filter(|s| s.template_id == template.id)
        {
            source.defaults = defaults.clone();
            source.updated_at = timestamp();
        }
    }
    Ok(Json(answers::template(&template, &state.catalog)))
}

pub async fn delete(
    Extension(organization): Extension<Arc<Organization>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, SimError> {
    let mut world = organization.world();
    let id = own(&organization, &mut world, &id)?.id.clone();
    world.source_templates.remove(&id);
    Ok(Json(answers::deleted(&id)))
}

pub async fn tag(
    State(state): State<Arc<SimState>>,
    Extension(organization): Extension<Arc<Organization>>,
    Extension(input): Extension<Input>,
    Path(id): Path<String>,
) -> Result<Json<Value>, SimError> {
    let tag = input.str("tag").unwrap_or_default().to_string();
    let mut world = organization.world();
    own(&organization, &mut world, &id)?;
    world.ensure_tags(std::slice::from_ref(&tag));
    let template = own(&organization, &mut world, &id)?;
    if !template.tags.contains(&tag) {
        template.tags = dedup(template.tags.iter().cloned().chain([tag]));
        template.updated_at = timestamp();
    }
    Ok(Json(answers::template(template, &state.catalog)))
}

/// Untagging answers only `{deleted_at}` [E].
pub async fn untag(
    Extension(organization): Extension<Arc<Organization>>,
    Path((id, tag)): Path<(String, String)>,
) -> Result<Json<Value>, SimError> {
    let mut world = organization.world();
    let template = own(&organization, &mut world, &id)?;
    let before = template.tags.len();
    template.tags.retain(|t| *t != tag);
    if template.tags.len() == before {
        return Err(SimError::not_found("Tag on this template"));
    }
    template.updated_at = timestamp();
    Ok(Json(json!({"deleted_at": timestamp()})))
}
