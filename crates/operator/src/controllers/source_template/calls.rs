//! A SourceTemplate's Airbyte calls, in the shape the template pipeline uses.

use super::desired::Desired;
use crate::controllers::template::Calls;
use airbyte_client::models::{PatchSourceTemplate, SourceTemplate as ApiTemplate, TagMode};
use airbyte_client::{AirbyteApi, ApiError};
use embedded_crds::SourceTemplate;

impl Calls for SourceTemplate {
    type Object = ApiTemplate;
    type Desired = Desired;
    type Patch = PatchSourceTemplate;

    async fn get<A: AirbyteApi>(airbyte: &A, id: &str) -> Result<ApiTemplate, ApiError> {
        airbyte.get_source_template(id).await
    }

    async fn list<A: AirbyteApi>(airbyte: &A) -> Result<Vec<ApiTemplate>, ApiError> {
        airbyte.list_source_templates(&[], TagMode::Any).await
    }

    async fn create<A: AirbyteApi>(airbyte: &A, desired: &Desired) -> Result<String, ApiError> {
        let created = airbyte
            .create_source_template(&desired.create_request())
            .await?;
        Ok(created.id)
    }

    async fn update<A: AirbyteApi>(
        airbyte: &A,
        id: &str,
        patch: &PatchSourceTemplate,
    ) -> Result<(), ApiError> {
        airbyte.patch_source_template(id, patch).await.map(drop)
    }

    async fn tag<A: AirbyteApi>(airbyte: &A, id: &str, tag: &str) -> Result<(), ApiError> {
        airbyte.add_source_template_tag(id, tag).await.map(drop)
    }

    async fn untag<A: AirbyteApi>(airbyte: &A, id: &str, tag: &str) -> Result<(), ApiError> {
        airbyte.remove_source_template_tag(id, tag).await
    }

    async fn delete<A: AirbyteApi>(airbyte: &A, id: &str) -> Result<(), ApiError> {
        airbyte.delete_source_template(id).await
    }
}
