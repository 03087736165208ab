//! Connection templates (application token): where tenants' data lands and on what schedule.
//! User-hosted templates name a destination connector whose configuration is validated against
//! its specification (and shown masked); Airbyte-hosted ones write to Airbyte's storage. When a
//! source is created, the connections Airbyte would make from the matching templates are
//! recorded (visible in `/_sim/state`), so tests can see which templates applied.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, State};
use serde_json::{Map, Value, json};

use super::templates::tag_filter;
use crate::answers;
use crate::catalog::ConnectorKind;
use crate::cron;
use crate::errors::SimError;
use crate::state::{
    ConnectionRecord, ConnectionTemplateRecord, Input, Organization, SimState, SourceRecord, World,
    dedup, tags_match, timestamp,
};

/// Where Airbyte-hosted templates write: its own S3 (the destination shown for them).
const AIRBYTE_HOSTED_DESTINATION: &str = crate::catalog::S3_DESTINATION_DEFINITION_ID;

fn check_cron(expression: Option<&str>) -> Result<(), SimError> {
    match expression {
        None => Ok(()),
        Some(expression) => cron::check(expression).map_err(|why| {
            SimError::field(
                &["body", "cron_expression"],
                format!("Value error, invalid cron expression: {why}"),
                "value_error",
            )
        }),
    }
}

pub async fn list(
    State(state): State<Arc<SimState>>,
    Extension(organization): Extension<Arc<Organization>>,
    Extension(input): Extension<Input>,
) -> Result<Json<Value>, SimError> {
    let (tags, mode) = tag_filter(&input);
    let world = organization.world();
    let items = world
        .connection_templates
        .values()
        .filter(|t| tags_match(&t.tags, &tags, &mode))
        .map(|t| answers::connection_template(t, &organization.id, &state.catalog))
        .collect();
    Ok(Json(answers::list(items)))
}

pub async fn create(
    State(state): State<Arc<SimState>>,
    Extension(organization): Extension<Arc<Organization>>,
    Extension(input): Extension<Input>,
) -> Result<Json<Value>, SimError> {
    check_cron(input.str("cron_expression"))?;
    let airbyte_hosted = input.str("data_hosting_type") == Some("airbyte_hosted");
    let (name, definition_id, config) = if airbyte_hosted {
        (
            "Airbyte-hosted storage".to_string(),
            AIRBYTE_HOSTED_DESTINATION.to_string(),
            Default::default(),
        )
    } else {
        user_hosted_destination(&state, &input)?
    };
    let now = timestamp();
    let record = ConnectionTemplateRecord {
        id: uuid::Uuid::new_v4().to_string(),
        destination_name: name,
        destination_definition_id: definition_id,
        destination_config: config,
        cron_expression: input.str("cron_expression").map(str::to_string),
        non_breaking_changes_preference: input
            .str("non_breaking_changes_preference")
            .unwrap_or("ignore")
            .to_string(),
        sync_on_create: input
            .body
            .get("sync_on_create")
            .and_then(Value::as_bool)
            .unwrap_or(true),
        data_hosting_type: if airbyte_hosted {
            "airbyte_hosted"
        } else {
            "user_hosted"
        }
        .into(),
        tags: Vec::new(),
        created_at: now.clone(),
        updated_at: now,
    };
    let answer = answers::connection_template(&record, &organization.id, &state.catalog);
    organization
        .world()
        .connection_templates
        .insert(record.id.clone(), record);
    Ok(Json(answer))
}

/// The destination of a `user_hosted` template, its config checked against the connector's spec.
fn user_hosted_destination(
    state: &SimState,
    input: &Input,
) -> Result<(String, String, Map<String, Value>), SimError> {
    let definition_id = input
        .str("destination_definition_id")
        .unwrap_or_default()
        .to_lowercase();
    let connector = state
        .catalog
        .find(
            &definition_id,
            ConnectorKind::Destination,
            &["body", "destination_definition_id"],
        )
        .map_err(|p| SimError::Validation(vec![p]))?;
    let config = input
        .object("destination_config")
        .cloned()
        .unwrap_or_default();
    let problems = connector.validate(&config, &["body", "destination_config"]);
    if !problems.is_empty() {
        return Err(SimError::Validation(problems));
    }
    let name = input
        .str("destination_name")
        .unwrap_or_default()
        .to_string();
    Ok((name, definition_id, config))
}

fn find<'a>(world: &'a mut World, id: &str) -> Result<&'a mut ConnectionTemplateRecord, SimError> {
    world
        .connection_templates
        .get_mut(&id.to_lowercase())
        .ok_or_else(|| SimError::not_found("Connection template"))
}

pub async fn get(
    State(state): State<Arc<SimState>>,
    Extension(organization): Extension<Arc<Organization>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, SimError> {
    let mut world = organization.world();
    let record = find(&mut world, &id)?;
    Ok(Json(answers::connection_template(
        record,
        &organization.id,
        &state.catalog,
    )))
}

pub async fn patch(
    State(state): State<Arc<SimState>>,
    Extension(organization): Extension<Arc<Organization>>,
    Extension(input): Extension<Input>,
    Path(id): Path<String>,
) -> Result<Json<Value>, SimError> {
    check_cron(input.str("cron_expression"))?;
    let mut world = organization.world();
    let record = find(&mut world, &id)?;
    if let Some(update) = input.object("destination_config") {
        let connector = state
            .catalog
            .find(
                &record.destination_definition_id,
                ConnectorKind::Destination,
                &["body", "destination_config"],
            )
            .map_err(|p| SimError::Validation(vec![p]))?;
        let config = connector.keep_masked_secrets(&record.destination_config, update);
        let problems = connector.validate(&config, &["body", "destination_config"]);
        if !problems.is_empty() {
            return Err(SimError::Validation(problems));
        }
        record.destination_config = config;
    }
    if let Some(name) = input.str("destination_name") {
        record.destination_name = name.to_string();
    }
    if let Some(cron) = input.str("cron_expression") {
        record.cron_expression = Some(cron.to_string());
    }
    if let Some(preference) = input.str("non_breaking_changes_preference") {
        record.non_breaking_changes_preference = preference.to_string();
    }
    if let Some(sync) = input.body.get("sync_on_create").and_then(Value::as_bool) {
        record.sync_on_create = sync;
    }
    record.updated_at = timestamp();
    Ok(Json(answers::connection_template(
        record,
        &organization.id,
        &state.catalog,
    )))
}

pub async fn delete(
    Extension(organization): Extension<Arc<Organization>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, SimError> {
    let mut world = organization.world();
    let id = find(&mut world, &id)?.id.clone();
    world.connection_templates.remove(&id);
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
    find(&mut world, &id)?;
    world.ensure_tags(std::slice::from_ref(&tag));
    let record = find(&mut world, &id)?;
    if !record.tags.contains(&tag) {
        record.tags = dedup(record.tags.iter().cloned().chain([tag]));
        record.updated_at = timestamp();
    }
    Ok(Json(answers::connection_template(
        record,
        &organization.id,
        &state.catalog,
    )))
}

pub async fn untag(
    Extension(organization): Extension<Arc<Organization>>,
    Path((id, tag)): Path<(String, String)>,
) -> Result<Json<Value>, SimError> {
    let mut world = organization.world();
    let record = find(&mut world, &id)?;
    let before = record.tags.len();
    record.tags.retain(|t| *t != tag);
    if record.tags.len() == before {
        return Err(SimError::not_found("Tag on this connection template"));
    }
    record.updated_at = timestamp();
    Ok(Json(json!({"deleted_at": timestamp()})))
}

/// `cron/describe`: 200 for any expression, `is_valid` saying whether it is one.
pub async fn describe_cron(Extension(input): Extension<Input>) -> Result<Json<Value>, SimError> {
    let expression = input.str("cron_expression").unwrap_or_default();
    Ok(Json(match cron::check(expression) {
        Ok(()) => json!({"description": cron::describe(expression), "is_valid": true}),
        Err(why) => {
            json!({"description": format!("Invalid cron expression: {why}"), "is_valid": false})
        }
    }))
}

/// Records the connections Airbyte makes for a new source: one per connection template its tag
/// selection matches (no selection: every template).
pub fn connections_for_new_source(world: &mut World, source: &SourceRecord) {
    let matching: Vec<String> = world
        .connection_templates
        .values()
        .filter(|t| {
            tags_match(
                &t.tags,
                &source.connection_template_tags,
                &source.connection_template_tags_mode,
            )
        })
        .map(|t| t.id.clone())
        .collect();
    for template_id in matching {
        let id = uuid::Uuid::new_v4().to_string();
        world.connections.insert(
            id.clone(),
            ConnectionRecord {
                id,
                source_id: source.id.clone(),
                workspace_id: source.workspace_id.clone(),
                connection_template_id: template_id,
                created_at: timestamp(),
            },
        );
    }
}
