//! Template tags of the organization, addressed by name: create, list, rename, delete. Renaming
//! or deleting a tag changes every template that carries it.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path};
use serde_json::Value;

use crate::answers;
use crate::errors::SimError;
use crate::state::{Input, Organization, timestamp};

pub async fn create(
    Extension(organization): Extension<Arc<Organization>>,
    Extension(input): Extension<Input>,
) -> Result<Json<Value>, SimError> {
    let name = input.str("name").unwrap_or_default().to_string();
    let mut world = organization.world();
    if world.tags.contains_key(&name) {
        return Err(SimError::conflict(format!("Tag {name} already exists")));
    }
    world.ensure_tags(std::slice::from_ref(&name));
    Ok(Json(answers::tag(&world.tags[&name], &organization.id)))
}

pub async fn list(
    Extension(organization): Extension<Arc<Organization>>,
) -> Result<Json<Value>, SimError> {
    let world = organization.world();
    let items = world
        .tags
        .values()
        .map(|t| answers::tag(t, &organization.id))
        .collect();
    Ok(Json(answers::list(items)))
}

pub async fn rename(
    Extension(organization): Extension<Arc<Organization>>,
    Extension(input): Extension<Input>,
    Path(name): Path<String>,
) -> Result<Json<Value>, SimError> {
    let new_name = input.str("name").unwrap_or_default().to_string();
    let mut world = organization.world();
    if new_name != name && world.tags.contains_key(&new_name) {
        return Err(SimError::conflict(format!("Tag {new_name} already exists")));
    }
    let mut tag = world
        .tags
        .remove(&name)
        .ok_or_else(|| SimError::not_found("Tag"))?;
    tag.name = new_name.clone();
    tag.updated_at = timestamp();
    world.tags.insert(new_name.clone(), tag.clone());
    let world = &mut *world;
    for tags in world
        .source_templates
        .values_mut()
        .map(|t| &mut t.tags)
        .chain(world.connection_templates.values_mut().map(|t| &mut t.tags))
    {
        for t in tags.iter_mut().filter(|t| **t == name) {
            *t = new_name.clone();
        }
    }
    Ok(Json(answers::tag(&tag, &organization.id)))
}

pub async fn delete(
    Extension(organization): Extension<Arc<Organization>>,
    Path(name): Path<String>,
) -> Result<Json<Value>, SimError> {
    let mut world = organization.world();
    let tag = world
        .tags
        .remove(&name)
        .ok_or_else(|| SimError::not_found("Tag"))?;
    let world = &mut *world;
    for tags in world
        .source_templates
        .values_mut()
        .map(|t| &mut t.tags)
        .chain(world.connection_templates.values_mut().map(|t| &mut t.tags))
    {
        tags.retain(|t| *t != name);
    }
    Ok(Json(answers::deleted(&tag.id)))
}
