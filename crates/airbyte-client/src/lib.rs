//! The Airbyte Embedded API behind a trait.
//!
//! [`AirbyteApi`] is what the controllers depend on; [`AirbyteClient`] implements it over HTTP with
//! the organization-token cache, retries and rate budget of [`client`]. One file per API area
//! (`tokens`, `templates`, `sources`, `workspaces`) holds that area's trait and implementation.
//! `compat` remembers which revision of the API the server speaks (paths, field names, methods),
//! learnt by trying the current reference first.

pub mod api;
pub mod client;
mod collection;
mod compat;
pub mod connection_templates;
pub mod endpoint;
pub mod error;
pub mod models;
mod organization_token;
pub mod sources;
pub mod templates;
pub mod token;
pub mod tokens;
pub mod workspaces;

pub use api::{
    ConnectionTemplateApi, OrganizationApi, SourceApi, SourceTemplateApi, TemplateTagApi, TokenApi,
    WorkspaceApi,
};
pub use client::{
    AirbyteClient, CallObserver, ClientConfig, DEFAULT_API_URL, OrganizationCredentials,
    RetryPolicy,
};
pub use compat::TENANT_FIELDS;
pub use endpoint::Endpoint;
pub use error::{ApiError, FieldError};
pub use organization_token::{ApplicationToken, REFUSAL_HOLD};
pub use token::{BearerToken, ScopedToken};
pub use tokens::SCOPED_TOKEN_LIFETIME;

/// Everything the controllers need from Airbyte. Implemented by [`AirbyteClient`]; a controller is
/// generic over it so its decisions can be exercised without HTTP.
pub trait AirbyteApi:
    OrganizationApi
    + TokenApi
    + SourceTemplateApi
    + TemplateTagApi
    + ConnectionTemplateApi
    + SourceApi
    + WorkspaceApi
    + Send
    + Sync
    + 'static
{
    fn organization_id(&self) -> &str;
}

impl OrganizationApi for AirbyteClient {
    async fn authenticate(&self, fresh: bool) -> Result<ApplicationToken, ApiError> {
        AirbyteClient::authenticate(self, fresh).await
    }
}

impl AirbyteApi for AirbyteClient {
    fn organization_id(&self) -> &str {
        AirbyteClient::organization_id(self)
    }
}
