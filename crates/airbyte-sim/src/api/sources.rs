//! `/api/v1/embedded/sources` (scoped token): create from a template, list by workspace, get,
//! replace (`PUT`), delete. Configurations are validated against the connector's specification
//! with the template's defaults merged in, and answers mask secret fields.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, State};
use serde_json::{Map, Value};

use crate::answers;
use crate::catalog::{ConnectorKind, deep_merge};
use crate::errors::SimError;
use crate::state::{Caller, Input, Organization, SimState, SourceRecord, World, dedup, timestamp};

use super::connections_for_new_source;

fn caller_workspace(caller: &Caller) -> Result<&str, SimError> {
    match caller {
        Caller::Workspace(_, id) => Ok(id),
        _ => Err(SimError::Unauthenticated),
    }
}

/// A template a source may be made from: the organization's own, or one of Airbyte's.
fn usable_template(
    organization: &Organization,
    world: &World,
    id: &str,
) -> Result<(String, Map<String, Value>), SimError> {
    let template = world
        .source_templates
        .get(&id.to_lowercase())
        .filter(|t| {
            t.organization_id
                .as_deref()
                .is_none_or(|org| org == organization.id)
        })
        .ok_or_else(|| {
            SimError::field(
                &["body", "source_template_id"],
                "Source template not found",
                "not_found",
            )
        })?;
    Ok((
        template.definition_id.clone(),
        template.partial_default_config.clone(),
    ))
}

pub async fn create(
    State(state): State<Arc<SimState>>,
    Extension(organization): Extension<Arc<Organization>>,
    Extension(caller): Extension<Caller>,
    Extension(input): Extension<Input>,
) -> Result<Json<Value>, SimError> {
    let workspace_id = caller_workspace(&caller)?;
    if input.str("workspace_id").map(str::to_lowercase).as_deref() != Some(workspace_id) {
        return Err(SimError::forbidden(
            "the scoped token does not grant access to this workspace",
        ));
    }
    let mut world = organization.world();
    let template_id = input
        .str("source_template_id")
        .unwrap_or_default()
        .to_lowercase();
    let (definition_id, defaults) = usable_template(&organization, &world, &template_id)?;
    let connector = state
        .catalog
        .find(
            &definition_id,
            ConnectorKind::Source,
            &["body", "source_template_id"],
        )
        .map_err(|p| SimError::Validation(vec![p]))?;
    let own = input.object("source_config").cloned().unwrap_or_default();
    let problems = connector.validate(&deep_merge(&defaults, &own), &["body", "source_config"]);
    if !problems.is_empty() {
        return Err(SimError::Validation(problems));
    }
    let name = input
        .str("name")
        .map(str::to_string)
        .unwrap_or_else(|| connector.name.clone());
    let now = timestamp();
    let record = SourceRecord {
        id: uuid::Uuid::new_v4().to_string(),
        name,
        workspace_id: workspace_id.to_string(),
        template_id,
        definition_id,
        own_config: own,
        defaults,
        connection_template_tags: dedup(input.strings("selected_connection_template_tags")),
        connection_template_tags_mode: input
            .str("selected_connection_template_tags_mode")
            .unwrap_or("any")
            .to_string(),
        created_at: now.clone(),
        updated_at: now,
    };
    connections_for_new_source(&mut world, &record);
    let answer = answers::source(&record, &world, &state.catalog);
    world.sources.insert(record.id.clone(), record);
    Ok(Json(answer))
}

pub async fn list(
    Extension(organization): Extension<Arc<Organization>>,
    Extension(caller): Extension<Caller>,
    Extension(input): Extension<Input>,
) -> Result<Json<Value>, SimError> {
    let workspace_id = caller_workspace(&caller)?;
    if input
        .query_one("workspace_id")
        .map(str::to_lowercase)
        .as_deref()
        != Some(workspace_id)
    {
        return Err(SimError::forbidden(
            "the scoped token does not grant access to this workspace",
        ));
    }
    let world = organization.world();
    let items = world
        .sources
        .values()
        .filter(|r| r.workspace_id == workspace_id)
        .map(|r| answers::source_item(r, &world))
        .collect();
    Ok(Json(answers::list(items)))
}

/// The source, if it exists; 403 when it belongs to another workspace.
fn owned<'a>(
    world: &'a mut World,
    id: &str,
    workspace_id: &str,
) -> Result<&'a mut SourceRecord, SimError> {
    let record = world
        .sources
        .get_mut(&id.to_lowercase())
        .ok_or_else(|| SimError::not_found("Source"))?;
    if record.workspace_id != workspace_id {
        return Err(SimError::forbidden(
            "the source belongs to another workspace",
        ));
    }
    Ok(record)
}

pub async fn get(
    State(state): State<Arc<SimState>>,
    Extension(organization): Extension<Arc<Organization>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, SimError> {
    let workspace_id = caller_workspace(&caller)?;
    let mut world = organization.world();
    let record = owned(&mut world, &id, workspace_id)?.clone();
    Ok(Json(answers::source(&record, &world, &state.catalog)))
}

/// `PUT`: replaces the name and the source's own configuration (masked secrets sent back keep
/// their stored value). The connection template selection cannot change after creation.
pub async fn update(
    State(state): State<Arc<SimState>>,
    Extension(organization): Extension<Arc<Organization>>,
    Extension(caller): Extension<Caller>,
    Extension(input): Extension<Input>,
    Path(id): Path<String>,
) -> Result<Json<Value>, SimError> {
    let workspace_id = caller_workspace(&caller)?;
    let mut world = organization.world();
    let mut record = owned(&mut world, &id, workspace_id)?.clone();
    if let Some(update) = input.object("source_config") {
        let connector = state
            .catalog
            .find(
                &record.definition_id,
                ConnectorKind::Source,
                &["body", "source_config"],
            )
            .map_err(|p| SimError::Validation(vec![p]))?;
        let stored = answers::effective_config(&record);
        let own = connector.keep_masked_secrets(&stored, update);
        let problems = connector.validate(
            &deep_merge(&record.defaults, &own),
            &["body", "source_config"],
        );
        if !problems.is_empty() {
            return Err(SimError::Validation(problems));
        }
        record.own_config = own;
    }
    if let Some(name) = input.str("name") {
        record.name = name.to_string();
    }
    record.updated_at = timestamp();
    let answer = answers::source(&record, &world, &state.catalog);
    world.sources.insert(record.id.clone(), record);
    Ok(Json(answer))
}

pub async fn delete(
    Extension(organization): Extension<Arc<Organization>>,
    Extension(caller): Extension<Caller>,
    Path(id): Path<String>,
) -> Result<Json<Value>, SimError> {
    let workspace_id = caller_workspace(&caller)?;
    let mut world = organization.world();
    let id = owned(&mut world, &id, workspace_id)?.id.clone();
    world.sources.remove(&id);
    world.connections.retain(|_, c| c.source_id != id);
    Ok(Json(answers::deleted(&id)))
}
