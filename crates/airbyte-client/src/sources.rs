//! Sources in a tenant workspace (scoped token): create, list by workspace, get, update (`PUT`, or
//! `PATCH` on a server of the October 2025 revision, learnt once from a 405), delete.

use reqwest::Method;

use super::api::SourceApi;
use super::client::{Auth, Call};
use super::collection::segment;
use super::models::{CreateSource, Page, Source, UpdateSource};
use super::{AirbyteClient, ApiError, BearerToken, Endpoint};

const SOURCES: &str = "/api/v1/embedded/sources";

impl SourceApi for AirbyteClient {
    async fn create_source(
        &self,
        token: &BearerToken,
        request: &CreateSource,
    ) -> Result<Source, ApiError> {
        let call = Call::new(
            Endpoint::SourcesCreate,
            Method::POST,
            SOURCES,
            Auth::Scoped(token),
        )
        .json(request)?;
        self.call(call).await
    }

    async fn get_source(&self, token: &BearerToken, id: &str) -> Result<Source, ApiError> {
        let path = format!("{SOURCES}/{}", segment(id));
        self.call(Call::new(
            Endpoint::SourceGet,
            Method::GET,
            path,
            Auth::Scoped(token),
        ))
        .await
    }

    async fn list_sources(
        &self,
        token: &BearerToken,
        workspace_id: &str,
    ) -> Result<Vec<Source>, ApiError> {
        let call = Call::new(
            Endpoint::SourcesList,
            Method::GET,
            SOURCES,
            Auth::Scoped(token),
        )
        .query("workspace_id", workspace_id);
        let page: Page<Source> = self.call(call).await?;
        Ok(page.data)
    }

    async fn update_source(
        &self,
        token: &BearerToken,
        id: &str,
        update: &UpdateSource,
    ) -> Result<Source, ApiError> {
        let path = format!("{SOURCES}/{}", segment(id));
        let send = |method: Method| {
            let call = Call::new(
                Endpoint::SourceUpdate,
                method,
                path.clone(),
                Auth::Scoped(token),
            )
            .json(update);
            async move { self.call::<Source>(call?).await }
        };
        if self.compat().source_update.get() == 1 {
            return send(Method::PATCH).await;
        }
        match send(Method::PUT).await {
            Err(ApiError::Rejected { status: 405, .. }) => {
                let patched = send(Method::PATCH).await;
                if patched.is_ok() && self.compat().source_update.set(1) {
                    self.fell_back("source_update", "PATCH");
                }
                patched
            }
            other => other,
        }
    }

    async fn delete_source(&self, token: &BearerToken, id: &str) -> Result<(), ApiError> {
        let path = format!("{SOURCES}/{}", segment(id));
        let call = Call::new(
            Endpoint::SourceDelete,
            Method::DELETE,
            path,
            Auth::Scoped(token),
        );
        self.call_deleting(call).await
    }
}
