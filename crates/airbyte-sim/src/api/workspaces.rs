//! `/api/v1/workspaces` (application token): list by cursor, stats, get, update, delete.
//! Workspaces are created by minting a token for a new name, not here.

use std::sync::Arc;

use axum::Json;
use axum::extract::{Extension, Path, State};
use axum::http::HeaderMap;
use base64::Engine;
use serde_json::{Value, json};

use crate::answers;
use crate::errors::SimError;
use crate::state::{Input, Organization, SimState, WorkspaceRecord, timestamp};

fn encode_cursor(sequence: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("after:{sequence}"))
}

fn decode_cursor(cursor: &str) -> Result<u64, SimError> {
    let invalid = || {
        SimError::field(
            &["query", "cursor"],
            "Value error, invalid cursor",
            "value_error",
        )
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| invalid())?;
    String::from_utf8(bytes)
        .ok()
        .and_then(|text| text.strip_prefix("after:")?.parse().ok())
        .ok_or_else(invalid)
}

/// One page, in creation order. `next` is the URL of the following page (as the reference
/// says), `null` on the last one. `name_contains` matches without regard to case.
pub async fn list(
    State(state): State<Arc<SimState>>,
    Extension(organization): Extension<Arc<Organization>>,
    Extension(input): Extension<Input>,
    headers: HeaderMap,
) -> Result<Json<Value>, SimError> {
    let asked: usize = input
        .query_one("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(20);
    let limit = state
        .modes()
        .workspace_page_size
        .map_or(asked, |cap| asked.min(cap.max(1)));
    let after = input
        .query_one("cursor")
        .map(decode_cursor)
        .transpose()?
        .unwrap_or(0);
    let name_contains = input
        .query_one("name_contains")
        .unwrap_or_default()
        .to_lowercase();
    let status = input.query_one("status");
    let world = organization.world();
    let mut matching: Vec<&WorkspaceRecord> = world
        .workspaces
        .values()
        .filter(|w| w.sequence > after)
        .filter(|w| w.name.to_lowercase().contains(&name_contains))
        .filter(|w| status.is_none_or(|s| s == w.status))
        .collect();
    matching.sort_by_key(|w| w.sequence);
    let more = matching.len() > limit;
    matching.truncate(limit);
    let next = match (more, matching.last()) {
        (true, Some(last)) => Value::String(next_page_url(&headers, &input, asked, last.sequence)),
        _ => Value::Null,
    };
    let data: Vec<Value> = matching
        .into_iter()
        .map(|w| answers::workspace(w, &organization.id))
        .collect();
    Ok(Json(json!({"data": data, "next": next})))
}

/// The URL of the page after `sequence`, keeping the caller's filters.
fn next_page_url(headers: &HeaderMap, input: &Input, limit: usize, sequence: u64) -> String {
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("limit", &limit.to_string());
    query.append_pair("cursor", &encode_cursor(sequence));
    for filter in ["name_contains", "status"] {
        if let Some(value) = input.query_one(filter) {
            query.append_pair(filter, value);
        }
    }
    format!("http://{host}/api/v1/workspaces?{}", query.finish())
}

pub async fn stats(
    Extension(organization): Extension<Arc<Organization>>,
) -> Result<Json<Value>, SimError> {
    let world = organization.world();
    let active = world
        .workspaces
        .values()
        .filter(|w| w.status == "active")
        .count();
    Ok(Json(json!({
        "active_count": active,
        "inactive_count": world.workspaces.len() - active,
        "total_count": world.workspaces.len(),
    })))
}

pub async fn get(
    Extension(organization): Extension<Arc<Organization>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, SimError> {
    let world = organization.world();
    world
        .workspaces
        .get(&id.to_lowercase())
        .map(|w| Json(answers::workspace(w, &organization.id)))
        .ok_or_else(|| SimError::not_found("Workspace"))
}

/// `PUT`: name and status (`inactive` stops the workspace's connections).
pub async fn update(
    Extension(organization): Extension<Arc<Organization>>,
    Extension(input): Extension<Input>,
    Path(id): Path<String>,
) -> Result<Json<Value>, SimError> {
    let id = id.to_lowercase();
    let mut world = organization.world();
    if let Some(name) = input.str("name")
        && world
            .workspaces
            .values()
            .any(|w| w.name == name && w.id != id)
    {
        return Err(SimError::conflict(format!(
            "A workspace named {name} already exists"
        )));
    }
    let record = world
        .workspaces
        .get_mut(&id)
        .ok_or_else(|| SimError::not_found("Workspace"))?;
    if let Some(name) = input.str("name") {
        record.name = name.to_string();
    }
    if let Some(status) = input.str("status") {
        record.status = status.to_string();
    }
    record.updated_at = timestamp();
    Ok(Json(answers::workspace(record, &organization.id)))
}

/// Deletes the workspace with all its sources and their connections.
pub async fn delete(
    Extension(organization): Extension<Arc<Organization>>,
    Path(id): Path<String>,
) -> Result<Json<Value>, SimError> {
    let id = id.to_lowercase();
    let mut world = organization.world();
    world
        .workspaces
        .remove(&id)
        .ok_or_else(|| SimError::not_found("Workspace"))?;
    world.sources.retain(|_, source| source.workspace_id != id);
    world.connections.retain(|_, c| c.workspace_id != id);
    Ok(Json(answers::deleted(&id)))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(super::decode_cursor(&super::encode_cursor(42)).unwrap(), 42);
        assert!(super::decode_cursor("garbage!").is_err());
    }
}
