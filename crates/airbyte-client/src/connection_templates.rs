//! Connection templates (organization token): where tenants' data lands and how it syncs.
//! Created without tags (the create schema has none) and tagged afterwards.

use reqwest::Method;

use super::api::ConnectionTemplateApi;
use super::client::{Auth, Call};
use super::collection::Collection;
use super::models::{
    ConnectionTemplate, CreateConnectionTemplate, CronDescription, Page, PatchConnectionTemplate,
    TagMode,
};
use super::{AirbyteClient, ApiError, Endpoint};

const CONNECTIONS: Collection = Collection {
    base: "/api/v1/integrations/templates/connections",
    create: Endpoint::ConnectionTemplateCreate,
    get: Endpoint::ConnectionTemplateGet,
    list: Endpoint::ConnectionTemplatesList,
    patch: Endpoint::ConnectionTemplatePatch,
    delete: Endpoint::ConnectionTemplateDelete,
    tag_add: Endpoint::ConnectionTemplateTagAdd,
    tag_remove: Endpoint::ConnectionTemplateTagRemove,
};

impl ConnectionTemplateApi for AirbyteClient {
    async fn create_connection_template(
        &self,
        request: &CreateConnectionTemplate,
    ) -> Result<ConnectionTemplate, ApiError> {
        self.call(CONNECTIONS.create(request)?).await
    }

    async fn get_connection_template(&self, id: &str) -> Result<ConnectionTemplate, ApiError> {
        self.call(CONNECTIONS.get(id)).await
    }

    async fn list_connection_templates(
        &self,
        tags: &[String],
        mode: TagMode,
    ) -> Result<Vec<ConnectionTemplate>, ApiError> {
        let page: Page<ConnectionTemplate> = self.call(CONNECTIONS.list(tags, mode)).await?;
        Ok(page.data)
    }

    async fn patch_connection_template(
        &self,
        id: &str,
        patch: &PatchConnectionTemplate,
    ) -> Result<ConnectionTemplate, ApiError> {
        self.call(CONNECTIONS.patch(id, patch)?).await
    }

    async fn delete_connection_template(&self, id: &str) -> Result<(), ApiError> {
        self.call_deleting(CONNECTIONS.delete(id)).await
    }

    async fn add_connection_template_tag(&self, id: &str, tag: &str) -> Result<(), ApiError> {
        self.call_discarding(CONNECTIONS.add_tag(id, tag)?).await
    }

    async fn remove_connection_template_tag(&self, id: &str, tag: &str) -> Result<(), ApiError> {
        self.call_deleting(CONNECTIONS.remove_tag(id, tag)).await
    }

    async fn describe_cron(&self, expression: &str) -> Result<CronDescription, ApiError> {
        let call = Call::new(
            Endpoint::CronDescribe,
            Method::POST,
            format!("{}/cron/describe", CONNECTIONS.base),
            Auth::Organization,
        )
        .json(&serde_json::json!({"cron_expression": expression}))?;
        self.call(call).await
    }
}
