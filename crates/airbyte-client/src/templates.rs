//! Source templates and their tags (organization token). Templates are created without tags (the
//! create schema has none) and tagged afterwards; untagging answers only `{deleted_at}`.

use reqwest::Method;

use super::api::{SourceTemplateApi, TemplateTagApi};
use super::client::{Auth, Call};
use super::models::{
    CreateSourceTemplate, CreateTag, Deleted, Page, PatchSourceTemplate, SourceTemplate, TagMode,
    TagRequest, TemplateTag,
};
use super::{AirbyteClient, ApiError, Endpoint};

const TEMPLATES: &str = "/api/v1/integrations/templates/sources";
const TAGS: &str = "/api/v1/integrations/templates/tags";

/// Path segment escaping for ids and tag names (a tag name may hold `/` or spaces).
pub(crate) fn segment(text: &str) -> String {
    url::form_urlencoded::byte_serialize(text.as_bytes())
        .collect::<String>()
        .replace('+', "%20")
}

impl SourceTemplateApi for AirbyteClient {
    async fn create_source_template(
        &self,
        request: &CreateSourceTemplate,
    ) -> Result<SourceTemplate, ApiError> {
        let call = Call::new(
            Endpoint::SourceTemplateCreate,
            Method::POST,
            TEMPLATES,
            Auth::Organization,
        )
        .json(request)?;
        self.call(call).await
    }

    async fn get_source_template(&self, id: &str) -> Result<SourceTemplate, ApiError> {
        let path = format!("{TEMPLATES}/{}", segment(id));
        self.call(Call::new(
            Endpoint::SourceTemplateGet,
            Method::GET,
            path,
            Auth::Organization,
        ))
        .await
    }

    async fn list_source_templates(
        &self,
        tags: &[String],
        mode: TagMode,
    ) -> Result<Vec<SourceTemplate>, ApiError> {
        let mut call = Call::new(
            Endpoint::SourceTemplatesList,
            Method::GET,
            TEMPLATES,
            Auth::Organization,
        );
        if !tags.is_empty() {
            for tag in tags {
                call = call.query("tags", tag.clone());
            }
            call = call.query("tags_mode", mode.as_str());
        }
        let page: Page<SourceTemplate> = self.call(call).await?;
        Ok(page.data)
    }

    async fn patch_source_template(
        &self,
        id: &str,
        patch: &PatchSourceTemplate,
    ) -> Result<SourceTemplate, ApiError> {
        let path = format!("{TEMPLATES}/{}", segment(id));
        let call = Call::new(
            Endpoint::SourceTemplatePatch,
            Method::PATCH,
            path,
            Auth::Organization,
        )
        .json(patch)?;
        self.call(call).await
    }

    async fn delete_source_template(&self, id: &str) -> Result<(), ApiError> {
        let path = format!("{TEMPLATES}/{}", segment(id));
        let call = Call::new(
            Endpoint::SourceTemplateDelete,
            Method::DELETE,
            path,
            Auth::Organization,
        );
        match self.call_discarding(call).await {
            Err(error) if error.is_not_found() => Ok(()),
            other => other,
        }
    }

    async fn add_source_template_tag(
        &self,
        id: &str,
        tag: &str,
    ) -> Result<SourceTemplate, ApiError> {
        let path = format!("{TEMPLATES}/{}/tags", segment(id));
        let call = Call::new(
            Endpoint::SourceTemplateTagAdd,
            Method::POST,
            path,
            Auth::Organization,
        )
        .json(&TagRequest {
            tag: tag.to_string(),
        })?;
        self.call(call).await
    }

    async fn remove_source_template_tag(&self, id: &str, tag: &str) -> Result<(), ApiError> {
        let path = format!("{TEMPLATES}/{}/tags/{}", segment(id), segment(tag));
        let call = Call::new(
            Endpoint::SourceTemplateTagRemove,
            Method::DELETE,
            path,
            Auth::Organization,
        );
        match self.call_discarding(call).await {
            Err(error) if error.is_not_found() => Ok(()),
            other => other,
        }
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

#[cfg(test)]
mod tests {
    #[test]
    fn path_segments_are_escaped() {
        assert_eq!(super::segment("a b/c"), "a%20b%2Fc");
        assert_eq!(super::segment("plain-tag_1"), "plain-tag_1");
    }
}
