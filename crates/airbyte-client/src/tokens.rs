//! Scoped and widget tokens: the per-tenant credentials the operator stores in Secrets.
//!
//! Paths: `/api/v1/account/applications/{scoped-token,widget-token,scoped-token/info}` (current);
//! on a 404 or 405 the deprecated `/api/v1/embedded/*` ones, once, then for the rest of the
//! process. The tenant field: `workspace_name` (the current guide); a 422 that names
//! `customer_name` or `external_user_id` switches to that one, once.

use std::time::{Duration, SystemTime};

use reqwest::Method;
use serde::Serialize;
use serde_json::Value;

use super::api::TokenApi;
use super::client::{Auth, Call};
use super::compat::{TENANT_FIELDS, tenant_field_asked_for};
use super::models::{ScopedTokenInfo, TokenResponse, WidgetTokenRequest};
use super::{AirbyteClient, ApiError, BearerToken, Endpoint, ScopedToken};

/// Documented lifetime of scoped and widget tokens, used when the token carries no `exp`.
pub const SCOPED_TOKEN_LIFETIME: Duration = Duration::from_secs(20 * 60);

const CURRENT: &str = "/api/v1/account/applications";
const DEPRECATED: &str = "/api/v1/embedded";

/// Scoped-token info paths after the current one, newest first (the last is deprecated [R3]).
const DEPRECATED_INFO: [&str; 2] = [
    "/api/v1/embedded/scoped-token/info",
    "/api/v1/embedded/scoped-token-info",
];

#[derive(Serialize)]
struct ScopedTokenBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    region_id: Option<&'a str>,
}

impl AirbyteClient {
    /// A token request (`scoped-token` or `widget-token`) with the tenant field named as the
    /// server wants it, on the path family the server serves.
    async fn token_request(
        &self,
        endpoint: Endpoint,
        operation: &str,
        workspace_name: &str,
        body: &impl Serialize,
    ) -> Result<TokenResponse, ApiError> {
        let body = serde_json::to_value(body).map_err(|error| ApiError::Decode {
            endpoint,
            message: format!("cannot encode request: {error}"),
        })?;
        let deprecated = self.compat().deprecated_token_paths();
        let result = self
            .send_token_request(endpoint, operation, workspace_name, &body, deprecated)
            .await;
        match result {
            Err(error) if !deprecated && error.is_missing_endpoint() => {
                let retried = self
                    .send_token_request(endpoint, operation, workspace_name, &body, true)
                    .await;
                if retried.is_ok() && self.compat().token_paths.set(1) {
                    self.fell_back("token_paths", "/api/v1/embedded/*");
                }
                retried
            }
            other => other,
        }
    }

    async fn send_token_request(
        &self,
        endpoint: Endpoint,
        operation: &str,
        workspace_name: &str,
        body: &Value,
        deprecated: bool,
    ) -> Result<TokenResponse, ApiError> {
        // The deprecated paths only ever took `workspace_name`.
        let field = if deprecated {
            TENANT_FIELDS[0]
        } else {
            self.compat().tenant_field()
        };
        let prefix = if deprecated { DEPRECATED } else { CURRENT };
        let send = |field: &str| {
            let mut body = body.clone();
            if let Value::Object(map) = &mut body {
                map.insert(field.to_string(), Value::String(workspace_name.to_string()));
            }
            let call = Call::new(
                endpoint,
                Method::POST,
                format!("{prefix}/{operation}"),
                Auth::Organization,
            )
            .json(&body);
            async move { self.call::<TokenResponse>(call?).await }
        };
        match send(field).await {
            Err(error) if !deprecated && matches!(error, ApiError::Validation { .. }) => {
                let Some(index) = tenant_field_asked_for(field, &error) else {
                    return Err(error);
                };
                let retried = send(TENANT_FIELDS[usize::from(index)]).await;
                if retried.is_ok() && self.compat().tenant_field.set(index) {
                    self.fell_back("tenant_field", TENANT_FIELDS[usize::from(index)]);
                }
                retried
            }
            other => other,
        }
    }

    async fn info_at(&self, path: &str, token: &BearerToken) -> Result<ScopedTokenInfo, ApiError> {
        self.call(Call::new(
            Endpoint::ScopedTokenInfo,
            Method::GET,
            path,
            Auth::Scoped(token),
        ))
        .await
    }
}

impl TokenApi for AirbyteClient {
    async fn mint_scoped_token(
        &self,
        workspace_name: &str,
        region_id: Option<&str>,
    ) -> Result<ScopedToken, ApiError> {
        let minted_at = SystemTime::now();
        let response = self
            .token_request(
                Endpoint::ScopedTokenCreate,
                "scoped-token",
                workspace_name,
                &ScopedTokenBody { region_id },
            )
            .await?;
        let token = BearerToken::new(response.token);
        let claimed = token
            .claims()
            .and_then(|claims| claims.workspace_scope)
            .map(|scope| scope.workspace_id);
        let (workspace_id, organization_id) = match claimed {
            Some(workspace_id) => (workspace_id, self.organization_id().to_string()),
            None => {
                let info = self.scoped_token_info(&token).await?;
                (info.workspace_id, info.organization_id)
            }
        };
        let expires_at = token
            .expires_at()
            .unwrap_or(minted_at + SCOPED_TOKEN_LIFETIME);
        Ok(ScopedToken {
            token,
            workspace_id,
            organization_id,
            expires_at,
        })
    }

    async fn scoped_token_info(&self, token: &BearerToken) -> Result<ScopedTokenInfo, ApiError> {
        if !self.compat().deprecated_token_paths() {
            match self
                .info_at(&format!("{CURRENT}/scoped-token/info"), token)
                .await
            {
                Err(error) if error.is_missing_endpoint() => {}
                other => return other,
            }
        }
        let mut last = None;
        for path in DEPRECATED_INFO {
            match self.info_at(path, token).await {
                Err(error) if error.is_missing_endpoint() => last = Some(error),
                other => return other,
            }
        }
        Err(last.unwrap_or(ApiError::Config(
            "no scoped-token info path answered".into(),
        )))
    }

    async fn mint_widget_token(
        &self,
        request: &WidgetTokenRequest,
    ) -> Result<BearerToken, ApiError> {
        let response = self
            .token_request(
                Endpoint::WidgetTokenCreate,
                "widget-token",
                &request.workspace_name,
                request,
            )
            .await?;
        Ok(BearerToken::new(response.token))
    }
}
