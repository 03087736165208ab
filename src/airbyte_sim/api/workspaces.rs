//! `/api/v1/workspaces`: list with cursor pagination, get, put, delete, stats.

use std::collections::HashMap;
use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use base64::Engine;
use serde_json::{Value, json};

use crate::airbyte::models::{UpdateWorkspace, Workspace, WorkspaceStatus};
use crate::airbyte_sim::fastapi::{SimError, parse_body};
use crate::airbyte_sim::state::{SimState, timestamp};

fn parse_status(value: &str) -> Result<WorkspaceStatus, SimError> {
    match value {
        "active" => Ok(WorkspaceStatus::Active),
        "inactive" => Ok(WorkspaceStatus::Inactive),
        _ => Err(SimError::field(
            &["query", "status"],
            "value is not a valid enumeration member; permitted: 'active', 'inactive'",
            "type_error.enum",
        )),
    }
}

fn encode_cursor(sequence: u64) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("after:{sequence}"))
}

fn decode_cursor(cursor: &str) -> Result<u64, SimError> {
    let invalid = || SimError::field(&["query", "cursor"], "invalid cursor", "value_error");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| invalid())?;
    String::from_utf8(bytes)
        .ok()
        .and_then(|text| text.strip_prefix("after:")?.parse().ok())
        .ok_or_else(invalid)
}

pub async fn list(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, SimError> {
    state.require_organization(&headers, false)?;
    let limit = match query.get("limit") {
        None => 20,
        Some(text) => match text.parse::<usize>() {
            Ok(limit) if (1..=100).contains(&limit) => limit,
            _ => {
                return Err(SimError::field(
                    &["query", "limit"],
                    "ensure this value is between 1 and 100",
                    "value_error.number",
                ));
            }
        },
    };
    let status = query.get("status").map(|s| parse_status(s)).transpose()?;
    let after = query
        .get("cursor")
        .map(|c| decode_cursor(c))
        .transpose()?
        .unwrap_or(0);
    let name_contains = query.get("name_contains").cloned().unwrap_or_default();

    let world = state.world();
    let mut page: Vec<Workspace> = Vec::new();
    let mut last = None;
    let mut more = false;
    for (sequence, id) in world.workspace_order.range(after + 1..) {
        let Some(record) = world.workspaces.get(id) else {
            continue;
        };
        let workspace = &record.workspace;
        if !workspace.name.contains(&name_contains) || status.is_some_and(|s| s != workspace.status)
        {
            continue;
        }
        if page.len() == limit {
            more = true;
            break;
        }
        page.push(workspace.clone());
        last = Some(*sequence);
    }
    let next = match (more, last) {
        (true, Some(sequence)) => {
            let host = headers
                .get("host")
                .and_then(|h| h.to_str().ok())
                .unwrap_or("127.0.0.1");
            let mut url = format!(
                "http://{host}/api/v1/workspaces?limit={limit}&cursor={}",
                encode_cursor(sequence)
            );
            if !name_contains.is_empty() {
                url.push_str("&name_contains=");
                url.extend(url::form_urlencoded::byte_serialize(
                    name_contains.as_bytes(),
                ));
            }
            if let Some(status) = query.get("status") {
                url.push_str(&format!("&status={status}"));
            }
            Value::String(url)
        }
        _ => Value::Null,
    };
    Ok(Json(json!({"data": page, "next": next})))
}

pub async fn get(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Workspace>, SimError> {
    state.require_organization(&headers, false)?;
    let world = state.world();
    world
        .workspaces
        .get(&id)
        .map(|record| Json(record.workspace.clone()))
        .ok_or_else(|| SimError::not_found("Workspace"))
}

pub async fn update(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<Workspace>, SimError> {
    state.require_organization(&headers, false)?;
    let update: UpdateWorkspace = parse_body(&body)?;
    let mut world = state.world();
    if let Some(name) = &update.name
        && world
            .workspace_by_name
            .get(name)
            .is_some_and(|other| *other != id)
    {
        return Err(SimError::Status {
            status: axum::http::StatusCode::CONFLICT,
            detail: format!("A workspace named {name} already exists"),
            retry_after: None,
        });
    }
    let record = world
        .workspaces
        .get_mut(&id)
        .ok_or_else(|| SimError::not_found("Workspace"))?;
    let old_name = record.workspace.name.clone();
    if let Some(name) = &update.name {
        record.workspace.name = name.clone();
    }
    if let Some(status) = update.status {
        record.workspace.status = status;
    }
    record.workspace.updated_at = Some(timestamp());
    let workspace = record.workspace.clone();
    if workspace.name != old_name {
        world.workspace_by_name.remove(&old_name);
        world.workspace_by_name.insert(workspace.name.clone(), id);
    }
    Ok(Json(workspace))
}

/// Deletes the workspace with all its sources.
pub async fn delete(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Json<Value>, SimError> {
    state.require_organization(&headers, false)?;
    let mut world = state.world();
    let record = world
        .workspaces
        .remove(&id)
        .ok_or_else(|| SimError::not_found("Workspace"))?;
    world.workspace_by_name.remove(&record.workspace.name);
    world.workspace_order.retain(|_, other| *other != id);
    world
        .sources
        .retain(|_, source| source.source.workspace_id != id);
    Ok(Json(json!({"id": id, "deleted_at": timestamp()})))
}

pub async fn stats(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
) -> Result<Json<Value>, SimError> {
    state.require_organization(&headers, false)?;
    let world = state.world();
    let active = world
        .workspaces
        .values()
        .filter(|w| w.workspace.status == WorkspaceStatus::Active)
        .count();
    Ok(Json(json!({
        "total": world.workspaces.len(),
        "active": active,
        "inactive": world.workspaces.len() - active,
    })))
}

#[cfg(test)]
mod tests {
    #[test]
    fn cursors_round_trip_and_reject_garbage() {
        assert_eq!(super::decode_cursor(&super::encode_cursor(42)).unwrap(), 42);
        assert!(super::decode_cursor("garbage!").is_err());
    }
}
