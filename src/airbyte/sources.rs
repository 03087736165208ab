//! Sources in a tenant workspace (scoped token).

use std::future::Future;

use reqwest::Method;

use super::client::{Auth, Call};
use super::models::{CreateSource, Page, PatchSource, Source};
use super::templates::segment;
use super::{AirbyteClient, ApiError, BearerToken, Endpoint};

const SOURCES: &str = "/api/v1/embedded/sources";

pub trait SourceApi {
    fn create_source(
        &self,
        token: &BearerToken,
        request: &CreateSource,
    ) -> impl Future<Output = Result<Source, ApiError>> + Send;
    fn get_source(
        &self,
        token: &BearerToken,
        id: &str,
    ) -> impl Future<Output = Result<Source, ApiError>> + Send;
    /// The sources of the token's workspace.
    fn list_sources(
        &self,
        token: &BearerToken,
    ) -> impl Future<Output = Result<Vec<Source>, ApiError>> + Send;
    fn patch_source(
        &self,
        token: &BearerToken,
        id: &str,
        patch: &PatchSource,
    ) -> impl Future<Output = Result<Source, ApiError>> + Send;
    /// Deletes a source; one that is already gone counts as deleted.
    fn delete_source(
        &self,
        token: &BearerToken,
        id: &str,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
}

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

    async fn list_sources(&self, token: &BearerToken) -> Result<Vec<Source>, ApiError> {
        let page: Page<Source> = self
            .call(Call::new(
                Endpoint::SourcesList,
                Method::GET,
                SOURCES,
                Auth::Scoped(token),
            ))
            .await?;
        Ok(page.data)
    }

    async fn patch_source(
        &self,
        token: &BearerToken,
        id: &str,
        patch: &PatchSource,
    ) -> Result<Source, ApiError> {
        let path = format!("{SOURCES}/{}", segment(id));
        let call = Call::new(
            Endpoint::SourcePatch,
            Method::PATCH,
            path,
            Auth::Scoped(token),
        )
        .json(patch)?;
        self.call(call).await
    }

    async fn delete_source(&self, token: &BearerToken, id: &str) -> Result<(), ApiError> {
        let path = format!("{SOURCES}/{}", segment(id));
        let call = Call::new(
            Endpoint::SourceDelete,
            Method::DELETE,
            path,
            Auth::Scoped(token),
        );
        match self.call_discarding(call).await {
            Err(error) if error.is_not_found() => Ok(()),
            other => other,
        }
    }
}
