//! Source templates and their tags (organization token). Templates are created without tags (the
//! create schema has none) and tagged afterwards; untagging answers only `{deleted_at}`.

use reqwest::Method;

use super::api::{SourceTemplateApi, TemplateTagApi};
use super::client::{Auth, Call};
use super::collection::{Collection, segment};
use super::models::{
    CreateSourceTemplate, CreateTag, Deleted, Page, PatchSourceTemplate, SourceTemplate, TagMode,
    TemplateTag,
};
use super::{AirbyteClient, ApiError, Endpoint};

pub(crate) const TEMPLATES: Collection = Collection {
    base: "/api/v1/integrations/templates/sources",
    create: Endpoint::SourceTemplateCreate,
    get: Endpoint::SourceTemplateGet,
    list: Endpoint::SourceTemplatesList,
    patch: Endpoint::SourceTemplatePatch,
    delete: Endpoint::SourceTemplateDelete,
    tag_add: Endpoint::SourceTemplateTagAdd,
    tag_remove: Endpoint::SourceTemplateTagRemove,
};
const TAGS: &str = "/api/v1/integrations/templates/tags";

impl SourceTemplateApi for AirbyteClient {
    async fn create_source_template(
        &self,
        request: &CreateSourceTemplate,
    ) -> Result<SourceTemplate, ApiError> {
        self.call(TEMPLATES.create(request)?).await
    }

    async fn get_source_template(&self, id: &str) -> Result<SourceTemplate, ApiError> {
        self.call(TEMPLATES.get(id)).await
    }

    async fn list_source_templates(
        &self,
        tags: &[String],
        mode: TagMode,
    ) -> Result<Vec<SourceTemplate>, ApiError> {
        let page: Page<SourceTemplate> = self.call(TEMPLATES.list(tags, mode)).await?;
        Ok(page.data)
    }

    async fn patch_source_template(
        &self,
        id: &str,
        patch: &PatchSourceTemplate,
    ) -> Result<SourceTemplate, ApiError> {
        self.call(TEMPLATES.patch(id, patch)?).await
    }

    async fn delete_source_template(&self, id: &str) -> Result<(), ApiError> {
        self.call_deleting(TEMPLATES.delete(id)).await
    }

    async fn add_source_template_tag(
        &self,
        id: &str,
        tag: &str,
    ) -> Result<SourceTemplate, ApiError> {
        self.call(TEMPLATES.add_tag(id, tag)?).await
    }

    async fn remove_source_template_tag(&self, id: &str, tag: &str) -> Result<(), ApiError> {
        self.call_deleting(TEMPLATES.remove_tag(id, tag)).await
    }
}

impl TemplateTagApi for AirbyteClient {
    async fn create_template_tag(&self, name: &str) -> Result<TemplateTag, ApiError> {
        let call = Call::new(
            Endpoint::TemplateTagsCreate,
            Method::POST,
            TAGS,
            Auth::Organization,
        )
        .json(&CreateTag {
            name: name.to_string(),
        })?;
        self.call(call).await
    }

    async fn list_template_tags(&self) -> Result<Vec<TemplateTag>, ApiError> {
        let page: Page<TemplateTag> = self
            .call(Call::new(
                Endpoint::TemplateTagsList,
                Method::GET,
                TAGS,
                Auth::Organization,
            ))
            .await?;
        Ok(page.data)
    }

    async fn delete_template_tag(&self, name: &str) -> Result<Deleted, ApiError> {
        let path = format!("{TAGS}/{}", segment(name));
        self.call(Call::new(
            Endpoint::TemplateTagDelete,
            Method::DELETE,
            path,
            Auth::Organization,
        ))
        .await
    }
}
