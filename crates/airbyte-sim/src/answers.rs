//! The objects the API answers with, built from the simulator's records in the reference's
//! shapes (`reference/api.yaml` `schemas`): secrets masked, nothing the reference does not list.

use serde_json::{Map, Value, json};

use crate::catalog::{Catalog, MASKED_SECRET};
use crate::state::{
    ConnectionTemplateRecord, SourceRecord, TagRecord, TemplateRecord, WorkspaceRecord, World,
};

pub fn workspace(record: &WorkspaceRecord, organization_id: &str) -> Value {
    json!({
        "id": record.id,
        "name": record.name,
        "organization_id": organization_id,
        "status": record.status,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    })
}

fn user_config_spec(catalog: &Catalog, definition_id: &str) -> Value {
    let spec = catalog
        .get(definition_id)
        .map(|c| c.spec.clone())
        .unwrap_or_else(|| json!({"type": "object"}));
    json!({"documentationUrl": null, "connectionSpecification": spec})
}

/// A template as the template endpoints and a source's `source_template` show it.
pub fn template(record: &TemplateRecord, catalog: &Catalog) -> Value {
    json!({
        "id": record.id,
        "name": record.name,
        "icon": null,
        "source_definition_id": record.definition_id,
        "user_config_spec": user_config_spec(catalog, &record.definition_id),
        "partial_default_config": masked(catalog, &record.definition_id, &record.partial_default_config),
        "customization": record.customization,
        "tags": record.tags,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    })
}

/// A template in a list (and a source list's `summarized_source_template`): no definition id,
/// no configuration [E].
pub fn template_item(record: &TemplateRecord) -> Value {
    json!({
        "id": record.id,
        "name": record.name,
        "icon": null,
        "tags": record.tags,
        "customization": record.customization,
        "has_source_definition_catalog": false,
        "catalog_type": null,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    })
}

/// The template a source was made from; a template deleted since is shown from what the source
/// remembers of it.
fn template_of(record: &SourceRecord, world: &World) -> TemplateRecord {
    world
        .source_templates
        .get(&record.template_id)
        .cloned()
        .unwrap_or_else(|| TemplateRecord {
            id: record.template_id.clone(),
            name: String::new(),
            definition_id: record.definition_id.clone(),
            organization_id: None,
            partial_default_config: record.defaults.clone(),
            customization: None,
            tags: Vec::new(),
            created_at: record.created_at.clone(),
            updated_at: record.created_at.clone(),
        })
}

/// The configuration a source runs with: the template defaults it was made (or last propagated)
/// with, and its own values over them.
pub fn effective_config(record: &SourceRecord) -> Map<String, Value> {
    record.config()
}

pub fn source(record: &SourceRecord, world: &World, catalog: &Catalog) -> Value {
    json!({
        "id": record.id,
        "name": record.name,
        "source_template": template(&template_of(record, world), catalog),
        "source_config": masked(catalog, &record.definition_id, &effective_config(record)),
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    })
}

pub fn source_item(record: &SourceRecord, world: &World) -> Value {
    json!({
        "id": record.id,
        "name": record.name,
        "summarized_source_template": template_item(&template_of(record, world)),
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    })
}

pub fn connection_template(
    record: &ConnectionTemplateRecord,
    organization_id: &str,
    catalog: &Catalog,
) -> Value {
    json!({
        "id": record.id,
        "organization_id": organization_id,
        "destination_name": record.destination_name,
        "destination_definition_id": record.destination_definition_id,
        "destination_config": masked(catalog, &record.destination_definition_id, &record.destination_config),
        "icon": null,
        "cron_expression": record.cron_expression,
        "non_breaking_changes_preference": record.non_breaking_changes_preference,
        "sync_on_create": record.sync_on_create,
        "data_hosting_type": record.data_hosting_type,
        "tags": record.tags,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    })
}

pub fn tag(record: &TagRecord, organization_id: &str) -> Value {
    json!({
        "id": record.id,
        "name": record.name,
        "organization_id": organization_id,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
    })
}

/// Secrets masked by the connector's specification; without one, every plain value is masked
/// (nothing is known to be safe to show).
pub fn masked(
    catalog: &Catalog,
    definition_id: &str,
    config: &Map<String, Value>,
) -> Map<String, Value> {
    match catalog.get(definition_id) {
        Some(connector) => connector.mask(config),
        None => config
            .iter()
            .map(|(key, value)| {
                let shown = if value.is_object() {
                    value.clone()
                } else {
                    Value::String(MASKED_SECRET.into())
                };
                (key.clone(), shown)
            })
            .collect(),
    }
}

/// `{"data": [...]}`
pub fn list(items: Vec<Value>) -> Value {
    json!({"data": items})
}

pub fn deleted(id: &str) -> Value {
    json!({"id": id, "deleted_at": crate::state::timestamp()})
}
