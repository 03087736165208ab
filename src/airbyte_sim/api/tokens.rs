//! `POST /account/applications/token`, `POST /embedded/scoped-token`, `GET .../scoped-token/info`,
//! `POST /embedded/widget-token`.

use std::sync::Arc;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use base64::Engine;
use serde_json::{Value, json};

use crate::airbyte::models::{
    ApplicationTokenRequest, REGION_US, ScopedTokenInfo, ScopedTokenRequest, WidgetTokenPayload,
    WidgetTokenRequest, Workspace, WorkspaceStatus,
};
use crate::airbyte_sim::fastapi::{SimError, parse_body};
use crate::airbyte_sim::state::{SimState, WorkspaceRecord, check_uuid, timestamp};

pub async fn application_token(
    State(state): State<Arc<SimState>>,
    body: Bytes,
) -> Result<Json<Value>, SimError> {
    let request: ApplicationTokenRequest = parse_body(&body)?;
    let id_ok = request.client_id == state.config.client_id;
    let secret_ok = constant_time_eq(
        request.client_secret.as_bytes(),
        state.config.client_secret.as_bytes(),
    );
    if !(id_ok && secret_ok) {
        return Err(SimError::Unauthorized);
    }
    let ttl = state.token_ttls().1;
    Ok(Json(json!({
        "access_token": state.issue_organization_token(),
        "token_type": "Bearer",
        "expires_in": ttl.as_secs(),
    })))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Finds the workspace by name or creates it (idempotent by name; the region only counts at
/// creation).
fn workspace_for(state: &SimState, name: &str, region_id: Option<&str>) -> String {
    let mut world = state.world();
    if let Some(id) = world.workspace_by_name.get(name) {
        return id.clone();
    }
    let id = uuid::Uuid::new_v4().to_string();
    let sequence = world.next_sequence();
    let now = timestamp();
    world.workspace_order.insert(sequence, id.clone());
    world.workspace_by_name.insert(name.to_string(), id.clone());
    world.workspaces.insert(
        id.clone(),
        WorkspaceRecord {
            workspace: Workspace {
                id: id.clone(),
                name: name.to_string(),
                organization_id: Some(state.config.organization_id.clone()),
                status: WorkspaceStatus::Active,
                created_at: Some(now.clone()),
                updated_at: Some(now),
            },
            region_id: region_id.unwrap_or(REGION_US).to_string(),
        },
    );
    id
}

fn check_workspace_name(name: &str) -> Result<(), SimError> {
    if name.trim().is_empty() {
        return Err(SimError::field(
            &["body", "workspace_name"],
            "ensure this value has at least 1 characters",
            "value_error.any_str.min_length",
        ));
    }
    Ok(())
}

pub async fn scoped_token(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, SimError> {
    state.require_organization(&headers, true)?;
    let request: ScopedTokenRequest = parse_body(&body)?;
    check_workspace_name(&request.workspace_name)?;
    if let Some(region) = &request.region_id {
        check_uuid(region, &["body", "region_id"])?;
    }
    let workspace_id = workspace_for(
        &state,
        &request.workspace_name,
        request.region_id.as_deref(),
    );
    Ok(Json(
        json!({"token": state.issue_scoped_token(&workspace_id)}),
    ))
}

pub async fn scoped_token_info(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
) -> Result<Json<ScopedTokenInfo>, SimError> {
    let workspace_id = state.require_workspace(&headers, false)?;
    Ok(Json(ScopedTokenInfo {
        organization_id: state.config.organization_id.clone(),
        workspace_id,
    }))
}

/// `scheme://host[:port]`: no path, no trailing slash, no wildcard, no credentials.
pub fn valid_origin(origin: &str) -> bool {
    let Ok(url) = url::Url::parse(origin) else {
        return false;
    };
    matches!(url.scheme(), "http" | "https")
        && url.host_str().is_some_and(|h| !h.contains('*'))
        && url.username().is_empty()
        && url.password().is_none()
        && url.query().is_none()
        && url.fragment().is_none()
        && url.origin().ascii_serialization() == origin
}

pub async fn widget_token(
    State(state): State<Arc<SimState>>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Json<Value>, SimError> {
    state.require_organization(&headers, true)?;
    let request: WidgetTokenRequest = parse_body(&body)?;
    check_workspace_name(&request.workspace_name)?;
    if !valid_origin(&request.allowed_origin) {
        return Err(SimError::field(
            &["body", "allowed_origin"],
            "must be an origin: scheme://host[:port] with no path, trailing slash or wildcard",
            "value_error",
        ));
    }
    if let Some(region) = &request.region_id {
        check_uuid(region, &["body", "region_id"])?;
    }
    let workspace_id = workspace_for(
        &state,
        &request.workspace_name,
        request.region_id.as_deref(),
    );
    let payload = WidgetTokenPayload {
        token: state.issue_scoped_token(&workspace_id),
        widget_url: format!(
            "https://app.airbyte.ai/embedded-widget?workspaceId={workspace_id}&allowedOrigin={}",
            url::form_urlencoded::byte_serialize(request.allowed_origin.as_bytes())
                .collect::<String>()
        ),
    };
    let encoded = base64::engine::general_purpose::STANDARD
        .encode(serde_json::to_vec(&payload).unwrap_or_default());
    Ok(Json(json!({"token": state.remember(&encoded)})))
}

#[cfg(test)]
mod tests {
    #[test]
    fn origins_are_checked_strictly() {
        for ok in [
            "https://app.example.com",
            "http://localhost:3000",
            "https://a.b.c:8443",
        ] {
            assert!(super::valid_origin(ok), "{ok}");
        }
        for bad in [
            "https://app.example.com/",
            "https://app.example.com/path",
            "https://*.example.com",
            "app.example.com",
            "ftp://example.com",
            "https://user@example.com",
        ] {
            assert!(!super::valid_origin(bad), "{bad}");
        }
    }
}
