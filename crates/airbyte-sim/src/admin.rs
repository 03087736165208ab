//! The simulator's admin surface under `/_sim/` (not part of the Airbyte API): faults, token
//! revocation and lifetimes, call counters, the request log and the full state, for tests.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::faults::{CallCount, FaultRule, RequestRecord};
use super::state::{Organization, OrganizationConfig, SimState};

/// Reads an admin body strictly (unknown fields refused): a typo in a test's fault rule must not
/// silently do nothing.
fn parse_body<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Box<Response>> {
    serde_json::from_slice(body).map_err(|error| {
        Box::new(
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({"message": format!("invalid admin request: {error}"), "errors": []})),
            )
                .into_response(),
        )
    })
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Faults {
    pub rules: Vec<FaultRule>,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TokenTtl {
    #[serde(default)]
    pub scoped_seconds: Option<u64>,
    #[serde(default)]
    pub organization_seconds: Option<u64>,
}

#[derive(Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Clock {
    /// Seconds the simulator's clock runs ahead of the machine's (negative: behind).
    pub offset_seconds: i64,
}

#[derive(Serialize, Deserialize)]
pub struct Counters {
    pub calls: Vec<CallCount>,
}

#[derive(Serialize, Deserialize)]
pub struct Requests {
    pub requests: Vec<RequestRecord>,
}

pub fn router() -> Router<Arc<SimState>> {
    Router::new()
        .route(
            "/_sim/faults",
            get(get_faults).put(put_faults).delete(clear_faults),
        )
        .route("/_sim/revoke-tokens", post(revoke_tokens))
        .route("/_sim/token-ttl", put(put_token_ttl))
        .route("/_sim/clock", put(put_clock))
        .route("/_sim/counters", get(counters).delete(reset_counters))
        .route("/_sim/requests", get(requests))
        .route("/_sim/state", get(world))
        .route("/_sim/config", get(config))
        .route("/_sim/workspaces", post(add_workspace))
        .route("/_sim/quota", put(put_quota))
        .route(
            "/_sim/organizations",
            get(list_organizations).post(add_organization),
        )
        .route(
            "/_sim/organizations/{id}/client-secret",
            put(put_client_secret),
        )
        .route(
            "/_sim/organizations/{id}/revoke-tokens",
            post(revoke_organization_tokens),
        )
}

/// Which organization an admin request is about: `?organization=ID`, else the first.
fn organization(
    state: &SimState,
    query: &HashMap<String, String>,
) -> Result<Arc<Organization>, Box<Response>> {
    match query.get("organization") {
        None => Ok(state.primary().clone()),
        Some(id) => state
            .organization(id)
            .ok_or_else(|| unknown_organization(id)),
    }
}

fn unknown_organization(id: &str) -> Box<Response> {
    Box::new(
        (
            StatusCode::NOT_FOUND,
            Json(json!({"message": format!("no organization {id}"), "errors": []})),
        )
            .into_response(),
    )
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewOrganization {
    /// Default: a new UUID.
    #[serde(default)]
    pub organization_id: Option<String>,
    pub client_id: String,
    pub client_secret: String,
}

async fn list_organizations(State(state): State<Arc<SimState>>) -> Json<Value> {
    let organizations: Vec<Value> = state
        .organizations()
        .iter()
        .map(|o| json!({"organization_id": o.id, "client_id": o.client_id}))
        .collect();
    Json(json!({"organizations": organizations}))
}

async fn add_organization(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    let request = match parse_body::<NewOrganization>(&body) {
        Ok(request) => request,
        Err(error) => return *error,
    };
    let config = OrganizationConfig {
        organization_id: request
            .organization_id
            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
        client_id: request.client_id,
        client_secret: request.client_secret,
    };
    match state.add_organization(&config) {
        Ok(organization) => (
            StatusCode::CREATED,
            Json(json!({"organization_id": organization.id})),
        )
            .into_response(),
        Err(message) => (
            StatusCode::CONFLICT,
            Json(json!({"message": message, "errors": []})),
        )
            .into_response(),
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClientSecret {
    pub client_secret: String,
}

/// Rotates an organization's client secret: the old one is refused from now on.
async fn put_client_secret(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let Some(organization) = state.organization(&id) else {
        return *unknown_organization(&id);
    };
    match parse_body::<ClientSecret>(&body) {
        Ok(secret) => {
            organization.set_client_secret(&secret.client_secret);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(error) => *error,
    }
}

async fn revoke_organization_tokens(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
) -> Response {
    match state.organization(&id) {
        Some(organization) => {
            organization.revoke_tokens();
            StatusCode::NO_CONTENT.into_response()
        }
        None => *unknown_organization(&id),
    }
}

async fn get_faults(State(state): State<Arc<SimState>>) -> Json<Faults> {
    Json(Faults {
        rules: state
            .faults
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone(),
    })
}

async fn put_faults(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    match parse_body::<Faults>(&body) {
        Ok(faults) => {
            if let Some(bad) = faults
                .rules
                .iter()
                .find(|r| !(0.0..=1.0).contains(&r.error_rate))
            {
                return (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    Json(
                        json!({"detail": format!("error_rate {} is outside 0..1", bad.error_rate)}),
                    ),
                )
                    .into_response();
            }
            *state.faults.lock().unwrap_or_else(|p| p.into_inner()) = faults.rules;
            StatusCode::NO_CONTENT.into_response()
        }
        Err(error) => *error,
    }
}

async fn clear_faults(State(state): State<Arc<SimState>>) -> StatusCode {
    state
        .faults
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clear();
    StatusCode::NO_CONTENT
}

async fn revoke_tokens(State(state): State<Arc<SimState>>) -> StatusCode {
    state.revoke_all_tokens();
    StatusCode::NO_CONTENT
}

async fn put_token_ttl(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    match parse_body::<TokenTtl>(&body) {
        Ok(ttl) => {
            state.set_token_ttls(
                ttl.scoped_seconds.map(Duration::from_secs),
                ttl.organization_seconds.map(Duration::from_secs),
            );
            StatusCode::NO_CONTENT.into_response()
        }
        Err(error) => *error,
    }
}

async fn put_clock(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    match parse_body::<Clock>(&body) {
        Ok(clock) => {
            state.set_clock_offset(clock.offset_seconds);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(error) => *error,
    }
}

async fn counters(State(state): State<Arc<SimState>>) -> Json<Counters> {
    Json(Counters {
        calls: state.recorder.counts(),
    })
}

async fn reset_counters(State(state): State<Arc<SimState>>) -> StatusCode {
    state.recorder.reset();
    StatusCode::NO_CONTENT
}

async fn requests(
    State(state): State<Arc<SimState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Json<Requests> {
    let since = query.get("since").and_then(|s| s.parse().ok()).unwrap_or(0);
    Json(Requests {
        requests: state.recorder.log_since(since),
    })
}

/// Everything one organization holds (`?organization=ID`, else the first), secrets unmasked:
/// this is a test surface on loopback.
async fn world(
    State(state): State<Arc<SimState>>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    match organization(&state, &query) {
        Ok(organization) => {
            let world = organization.world();
            Json(serde_json::to_value(&*world).unwrap_or(Value::Null)).into_response()
        }
        Err(error) => *error,
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewWorkspace {
    /// A name, possibly one that already exists: Airbyte can hold two workspaces of one name
    /// (made out of band), which minting by that name must not silently pick from.
    pub name: String,
}

async fn add_workspace(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    match parse_body::<NewWorkspace>(&body) {
        Ok(request) => match super::api::add_duplicate_workspace(&state, &request.name) {
            Ok(id) => (StatusCode::CREATED, Json(json!({"id": id}))).into_response(),
            Err(error) => crate::errors::render(&error, Default::default(), Default::default()),
        },
        Err(error) => *error,
    }
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QuotaRequest {
    /// Requests per hour for the organization; `null` removes the quota.
    pub requests_per_hour: Option<u64>,
}

async fn put_quota(State(state): State<Arc<SimState>>, body: Bytes) -> Response {
    match parse_body::<QuotaRequest>(&body) {
        Ok(quota) => {
            state.quota.set_limit(quota.requests_per_hour);
            StatusCode::NO_CONTENT.into_response()
        }
        Err(error) => *error,
    }
}

async fn config(State(state): State<Arc<SimState>>) -> Json<Value> {
    let (scoped, organization) = state.token_ttls();
    let organizations: Vec<Value> = state
        .organizations()
        .iter()
        .map(|o| json!({"organization_id": o.id, "client_id": o.client_id}))
        .collect();
    Json(json!({
        "organization_id": state.config.organization_id,
        "client_id": state.config.client_id,
        "organizations": organizations,
        "scoped_token_ttl_seconds": scoped.as_secs(),
        "organization_token_ttl_seconds": organization.as_secs(),
    }))
}
