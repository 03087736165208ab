//! Connection templates (organization token): where tenants' data lands and how it syncs.
//! Created without tags (the create schema has none) and tagged afterwards.

use reqwest::Method;

use super::api::ConnectionTemplateApi;
use super::client::{Auth, Call};
use super::models::{
    ConnectionTemplate, CreateConnectionTemplate, CronDescription, Page, PatchConnectionTemplate,
    TagMode, TagRequest,
};
use super::templates::segment;
use super::{AirbyteClient, ApiError, Endpoint};

const CONNECTIONS: &str = "/api/v1/integrations/templates/connections";

impl ConnectionTemplateApi for AirbyteClient {
    async fn create_connection_template(
        &self,
        request: &CreateConnectionTemplate,
    ) -> Result<ConnectionTemplate, ApiError> {
        let call = Call::new(
            Endpoint::ConnectionTemplateCreate,
            Method::POST,
            CONNECTIONS,
            Auth::Organization,
        )
        .json(request)?;
        self.call(call).await
    }

    async fn get_connection_template(&self, id: &str) -> Result<ConnectionTemplate, ApiError> {
        let path = format!("{CONNECTIONS}/{}", segment(id));
        self.call(Call::new(
            Endpoint::ConnectionTemplateGet,
            Method::GET,
            path,
            Auth::Organization,
        ))
        .await
    }

    async fn list_connection_templates(
        &self,
        tags: &[String],
        mode: TagMode,
    ) -> Result<Vec<ConnectionTemplate>, ApiError> {
        let mut call = Call::new(
            Endpoint::ConnectionTemplatesList,
            Method::GET,
            CONNECTIONS,
            Auth::Organization,
        );
        for tag in tags {
            call = call.query("tags", tag.clone());
        }
        if !tags.is_empty() {
            call = call.query("tags_mode", mode.as_str());
        }
        let page: Page<ConnectionTemplate> = self.call(call).await?;
        Ok(page.data)
    }

    async fn patch_connection_template(
        &self,
        id: &str,
        patch: &PatchConnectionTemplate,
    ) -> Result<ConnectionTemplate, ApiError> {
        let path = format!("{CONNECTIONS}/{}", segment(id));
        let call = Call::new(
            Endpoint::ConnectionTemplatePatch,
            Method::PATCH,
            path,
            Auth::Organization,
        )
        .json(patch)?;
        self.call(call).await
    }

    async fn delete_connection_template(&self, id: &str) -> Result<(), ApiError> {
        let path = format!("{CONNECTIONS}/{}", segment(id));
        let call = Call::new(
            Endpoint::ConnectionTemplateDelete,
            Method::DELETE,
            path,
            Auth::Organization,
        );
        match self.call_discarding(call).await {
            Err(error) if error.is_not_found() => Ok(()),
            other => other,
        }
    }

    async fn add_connection_template_tag(&self, id: &str, tag: &str) -> Result<(), ApiError> {
        let path = format!("{CONNECTIONS}/{}/tags", segment(id));
        let call = Call::new(
            Endpoint::ConnectionTemplateTagAdd,
            Method::POST,
            path,
            Auth::Organization,
        )
        .json(&TagRequest {
            tag: tag.to_string(),
        })?;
        self.call_discarding(call).await
    }

    async fn remove_connection_template_tag(&self, id: &str, tag: &str) -> Result<(), ApiError> {
        let path = format!("{CONNECTIONS}/{}/tags/{}", segment(id), segment(tag));
        let call = Call::new(
            Endpoint::ConnectionTemplateTagRemove,
            Method::DELETE,
            path,
            Auth::Organization,
        );
        match self.call_discarding(call).await {
            Err(error) if error.is_not_found() => Ok(()),
            other => other,
        }
    }

    async fn describe_cron(&self, expression: &str) -> Result<CronDescription, ApiError> {
        let call = Call::new(
            Endpoint::CronDescribe,
            Method::POST,
            format!("{CONNECTIONS}/cron/describe"),
            Auth::Organization,
        )
        .json(&serde_json::json!({"cron_expression": expression}))?;
        self.call(call).await
    }
}
