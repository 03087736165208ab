//! Scoped and widget tokens: the per-tenant credentials the operator stores in Secrets.

use std::future::Future;
use std::time::{Duration, SystemTime};

use reqwest::Method;

use super::client::{Auth, Call};
use super::models::{ScopedTokenInfo, ScopedTokenRequest, TokenResponse, WidgetTokenRequest};
use super::{AirbyteClient, ApiError, BearerToken, Endpoint, ScopedToken};

/// Documented lifetime of scoped and widget tokens, used when the token carries no `exp`.
pub const SCOPED_TOKEN_LIFETIME: Duration = Duration::from_secs(20 * 60);

pub trait TokenApi {
    /// Mints a token for `workspace_name`, creating the workspace if it does not exist yet
    /// (idempotent by name). The workspace id comes from the token's scope claim, or from
    /// `scoped-token/info` when the token does not carry it.
    fn mint_scoped_token(
        &self,
        workspace_name: &str,
        region_id: Option<&str>,
    ) -> impl Future<Output = Result<ScopedToken, ApiError>> + Send;

    fn scoped_token_info(
        &self,
        token: &BearerToken,
    ) -> impl Future<Output = Result<ScopedTokenInfo, ApiError>> + Send;

    /// Mints a widget token (base64 of `{token, widgetUrl}`) for one workspace and origin.
    fn mint_widget_token(
        &self,
        request: &WidgetTokenRequest,
    ) -> impl Future<Output = Result<BearerToken, ApiError>> + Send;
}

impl TokenApi for AirbyteClient {
    async fn mint_scoped_token(
        &self,
        workspace_name: &str,
        region_id: Option<&str>,
    ) -> Result<ScopedToken, ApiError> {
        let request = ScopedTokenRequest {
            workspace_name: workspace_name.to_string(),
            region_id: region_id.map(str::to_string),
        };
        let call = Call::new(
            Endpoint::ScopedTokenCreate,
            Method::POST,
            "/api/v1/embedded/scoped-token",
            Auth::Organization,
        )
        .json(&request)?;
        let minted_at = SystemTime::now();
        let response: TokenResponse = self.call(call).await?;
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
        let call = Call::new(
            Endpoint::ScopedTokenInfo,
            Method::GET,
            "/api/v1/embedded/scoped-token/info",
            Auth::Scoped(token),
        );
        self.call(call).await
    }

    async fn mint_widget_token(
        &self,
        request: &WidgetTokenRequest,
    ) -> Result<BearerToken, ApiError> {
        let call = Call::new(
            Endpoint::WidgetTokenCreate,
            Method::POST,
            "/api/v1/embedded/widget-token",
            Auth::Organization,
        )
        .json(request)?;
        let response: TokenResponse = self.call(call).await?;
        Ok(BearerToken::new(response.token))
    }
}
