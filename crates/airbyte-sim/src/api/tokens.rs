//! Tokens: the application token from client credentials, and scoped and widget tokens for a
//! workspace by name (the workspace is created on first use of its name).

use std::sync::Arc;

use axum::extract::{Extension, State};
use axum::{Json, http::StatusCode};
use base64::Engine;
use serde_json::{Value, json};

use crate::errors::SimError;
use crate::state::{Caller, Input, Organization, REGION_US, SimState};

/// The application (organization) token.
pub async fn application_token(
    State(state): State<Arc<SimState>>,
    Extension(input): Extension<Input>,
) -> Result<Json<Value>, SimError> {
    let organization = input
        .str("client_id")
        .and_then(|client| state.organization_by_client(client))
        .ok_or(SimError::Unauthenticated)?;
    let secret_ok = constant_time_eq(
        input.str("client_secret").unwrap_or_default().as_bytes(),
        organization.client_secret().as_bytes(),
    );
    if !secret_ok {
        return Err(SimError::Unauthenticated);
    }
    let ttl = state.token_ttls().1;
    Ok(Json(json!({
        "access_token": state.issue_organization_token(&organization),
        "token_type": "Bearer",
        "expires_in": ttl.as_secs(),
        "organization_id": organization.id,
    })))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The tenant's workspace name from the field this path uses.
fn tenant(state: &SimState, input: &Input) -> String {
    let field = if input.deprecated_path {
        "workspace_name"
    } else {
        state.modes().tenant_field.as_str()
    };
    input.str(field).unwrap_or_default().to_string()
}

/// The workspace of that name (the oldest, if an out-of-band duplicate exists), created on first
/// use; the region counts only at creation.
fn workspace_for(
    state: &SimState,
    organization: &Organization,
    name: &str,
    region_id: Option<&str>,
) -> Result<String, SimError> {
    if name.trim().is_empty() {
        return Err(SimError::field(
            &["body", state.modes().tenant_field.as_str()],
            "String should have at least 1 character",
            "string_too_short",
        ));
    }
    let mut world = organization.world();
    if let Some(existing) = world.workspaces_named(name).first() {
        return Ok(existing.id.clone());
    }
    Ok(world.add_workspace(name, region_id.unwrap_or(REGION_US)))
}

pub async fn scoped_token(
    State(state): State<Arc<SimState>>,
    Extension(organization): Extension<Arc<Organization>>,
    Extension(input): Extension<Input>,
) -> Result<Json<Value>, SimError> {
    let name = tenant(&state, &input);
    let workspace_id = workspace_for(&state, &organization, &name, input.str("region_id"))?;
    Ok(Json(
        json!({"token": state.issue_scoped_token(&organization, &workspace_id)}),
    ))
}

pub async fn scoped_token_info(
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, SimError> {
    let Caller::Workspace(organization, workspace_id) = caller else {
        return Err(SimError::Unauthenticated);
    };
    let name = organization
        .world()
        .workspaces
        .get(&workspace_id)
        .map(|w| w.name.clone())
        .unwrap_or_default();
    Ok(Json(json!({
        "organization_id": organization.id,
        "workspace_id": workspace_id,
        "customer_name": name,
    })))
}

/// `scheme://host[:port]`: http or https, no path (not even a trailing slash), query, fragment,
/// credentials or wildcard; an explicit port is fine, default or not.
pub fn valid_origin(origin: &str) -> bool {
    let Some((scheme, rest)) = origin.split_once("://") else {
        return false;
    };
    if !matches!(scheme, "http" | "https")
        || rest.is_empty()
        || rest.contains(['/', '?', '#', '@', '*'])
    {
        return false;
    }
    url::Url::parse(origin).is_ok_and(|url| url.host_str().is_some())
}

pub async fn widget_token(
    State(state): State<Arc<SimState>>,
    Extension(organization): Extension<Arc<Organization>>,
    Extension(input): Extension<Input>,
) -> Result<Json<Value>, SimError> {
    let origin = input.str("allowed_origin").unwrap_or_default();
    if !valid_origin(origin) {
        return Err(SimError::field(
            &["body", "allowed_origin"],
            "Value error, must be an origin: scheme://host[:port] with no path, trailing slash or wildcard",
            "value_error",
        ));
    }
    let name = tenant(&state, &input);
    let workspace_id = workspace_for(&state, &organization, &name, input.str("region_id"))?;
    let payload = json!({
        "token": state.issue_scoped_token(&organization, &workspace_id),
        "widgetUrl": format!(
            "https://app.airbyte.ai/quick-start/widget?workspaceId={workspace_id}&allowedOrigin={}",
            url::form_urlencoded::byte_serialize(origin.as_bytes()).collect::<String>()
        ),
    });
    let encoded = base64::engine::general_purpose::STANDARD.encode(payload.to_string());
    Ok(Json(json!({"token": state.remember(&encoded)})))
}

/// Used by the admin surface: a second workspace of a name that exists (out of band).
pub fn add_duplicate_workspace(state: &SimState, name: &str) -> Result<String, SimError> {
    if name.trim().is_empty() {
        return Err(SimError::Status {
            status: StatusCode::BAD_REQUEST,
            message: "name is empty".into(),
            retry_after: None,
        });
    }
    Ok(state.world().add_workspace(name, REGION_US))
}

#[cfg(test)]
mod tests {
    #[test]
    fn origins_are_checked_strictly_and_ports_are_allowed() {
        for ok in [
            "https://app.example.com",
            "http://localhost:3000",
            "https://a.b.c:8443",
            "https://app.example.com:443",
            "http://127.0.0.1:8080",
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
            "https://example.com?x=1",
        ] {
            assert!(!super::valid_origin(bad), "{bad}");
        }
    }
}
