//! `/api/v1/embedded/sources` (scoped token): create from a template, list, get, patch, delete.
//! Configurations are validated against the connector's specification after merging the
//! template's defaults, and answers mask secret fields.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use serde_json::{Value, json};

use crate::airbyte::models::{CreateSource, PatchSource, Source};
use crate::airbyte_sim::catalog::deep_merge;
use crate::airbyte_sim::fastapi::{SimError, parse_body};
use crate::airbyte_sim::state::{SimState, SourceRecord, timestamp};

/// What the API shows of a stored source: secrets masked.
fn shown(state: &SimState, record: &SourceRecord) -> Source {
    let mut source = record.source.clone();
    if let Some(connector) = state.catalog.get(&record.definition_id) {
        source.source_config = connector.mask(&source.source_config);
    }
    source
}

fn check_name(name: &str) -> Result<(), SimError> {
    if name.trim().is_empty() {
        return Err(SimError::field(
            &["body", "name"],
            "ensure this value has at least 1 characters",
            "value_error.any_str.min_length",
        ));
    }
    Ok(())
}

pub async fn create(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Source>, SimError> {
    let workspace_id = state.require_workspace(&headers, true)?;
    let request: CreateSource = parse_body(&body)?;
    check_name(&request.name)?;
    if request.workspace_id != workspace_id {
        return Err(SimError::Forbidden);
    }
    let mut world = state.world();
    let template = world
        .source_templates
        .get(&request.source_template_id)
        .filter(|t| {
            t.organization_id
                .as_deref()
                .is_none_or(|org| org == state.config.organization_id)
        })
        .cloned()
        .ok_or_else(|| SimError::not_found("Source template"))?;
    let connector = state
        .catalog
        .get(&template.actor_definition_id)
        .ok_or_else(|| SimError::not_found("Connector definition"))?;
    let config = deep_merge(&template.partial_default_config, &request.source_config);
    let errors = connector.validate(&config, &["body", "source_config"]);
    if !errors.is_empty() {
        return Err(SimError::Validation(errors));
    }
    let now = timestamp();
    let record = SourceRecord {
        source: Source {
            id: uuid::Uuid::new_v4().to_string(),
            name: request.name,
            workspace_id,
            source_template_id: Some(template.id.clone()),
            source_config: config,
            selected_connection_template_tags: request
                .selected_connection_template_tags
                .unwrap_or_default(),
            selected_connection_template_tags_mode: request.selected_connection_template_tags_mode,
            created_at: Some(now.clone()),
            updated_at: Some(now),
        },
        definition_id: template.actor_definition_id,
    };
    let answer = shown(&state, &record);
    world.sources.insert(record.source.id.clone(), record);
    Ok(Json(answer))
}

pub async fn list(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, SimError> {
    let workspace_id = state.require_workspace(&headers, false)?;
    let world = state.world();
    let data: Vec<Source> = world
        .sources
        .values()
        .filter(|r| r.source.workspace_id == workspace_id)
        .map(|r| shown(&state, r))
        .collect();
    Ok(Json(json!({"data": data, "next": null})))
}

/// The source, if it exists; 403 when it belongs to another workspace.
fn owned<'a>(
    sources: &'a mut std::collections::BTreeMap<String, SourceRecord>,
    id: &str,
    workspace_id: &str,
) -> Result<&'a mut SourceRecord, SimError> {
    let record = sources
        .get_mut(id)
        .ok_or_else(|| SimError::not_found("Source"))?;
    if record.source.workspace_id != workspace_id {
        return Err(SimError::Forbidden);
    }
    Ok(record)
}

pub async fn get(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Source>, SimError> {
    let workspace_id = state.require_workspace(&headers, false)?;
    let mut world = state.world();
    let record = owned(&mut world.sources, &id, &workspace_id)?;
    Ok(Json(shown(&state, record)))
}

pub async fn patch(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Source>, SimError> {
    let workspace_id = state.require_workspace(&headers, false)?;
    let patch: PatchSource = parse_body(&body)?;
    if let Some(name) = &patch.name {
        check_name(name)?;
    }
    let mut world = state.world();
    let templates = world.source_templates.clone();
    let record = owned(&mut world.sources, &id, &workspace_id)?;
    if let Some(update) = &patch.source_config {
        let connector = state
            .catalog
            .get(&record.definition_id)
            .ok_or_else(|| SimError::not_found("Connector definition"))?;
        let defaults = record
            .source
            .source_template_id
            .as_ref()
            .and_then(|t| templates.get(t))
            .map(|t| t.partial_default_config.clone())
            .unwrap_or_default();
        let update = connector.keep_masked_secrets(&record.source.source_config, update);
        let config = deep_merge(&defaults, &update);
        let errors = connector.validate(&config, &["body", "source_config"]);
        if !errors.is_empty() {
            return Err(SimError::Validation(errors));
        }
        record.source.source_config = config;
    }
    if let Some(name) = patch.name {
        record.source.name = name;
    }
    if let Some(tags) = patch.selected_connection_template_tags {
        record.source.selected_connection_template_tags = tags;
    }
    if patch.selected_connection_template_tags_mode.is_some() {
        record.source.selected_connection_template_tags_mode =
            patch.selected_connection_template_tags_mode;
    }
    record.source.updated_at = Some(timestamp());
    let record = record.clone();
    Ok(Json(shown(&state, &record)))
}

pub async fn delete(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, SimError> {
    let workspace_id = state.require_workspace(&headers, false)?;
    let mut world = state.world();
    owned(&mut world.sources, &id, &workspace_id)?;
    world.sources.remove(&id);
    Ok(Json(json!({"id": id, "deleted_at": timestamp()})))
}
