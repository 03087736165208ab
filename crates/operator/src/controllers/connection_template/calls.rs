//! A ConnectionTemplate's Airbyte calls, in the shape the template pipeline uses.

use super::desired::Desired;
use crate::controllers::template::Calls;
use airbyte_client::models::{ConnectionTemplate as ApiTemplate, PatchConnectionTemplate, TagMode};
use airbyte_client::{AirbyteApi, ApiError};
use embedded_crds::ConnectionTemplate;

impl Calls for ConnectionTemplate {
    type Object = ApiTemplate;
    type Desired = Desired;
    type Patch = PatchConnectionTemplate;

    async fn get<A: AirbyteApi>(airbyte: &A, id: &str) -> Result<ApiTemplate, ApiError> {
        airbyte.get_connection_template(id).await
    }

    async fn list<A: AirbyteApi>(airbyte: &A) -> Result<Vec<ApiTemplate>, ApiError> {
        airbyte.list_connection_templates(&[], TagMode::Any).await
    }

    async fn create<A: AirbyteApi>(airbyte: &A, desired: &Desired) -> Result<String, ApiError> {
        let created = airbyte
            .create_connection_template(&desired.create_request())
            .await?;
        Ok(created.id)
    }

    async fn update<A: AirbyteApi>(
        airbyte: &A,
        id: &str,
        patch: &PatchConnectionTemplate,
    ) -> Result<(), ApiError> {
        airbyte.patch_connection_template(id, patch).await.map(drop)
    }

    async fn tag<A: AirbyteApi>(airbyte: &A, id: &str, tag: &str) -> Result<(), ApiError> {
        airbyte.add_connection_template_tag(id, tag).await
    }

    async fn untag<A: AirbyteApi>(airbyte: &A, id: &str, tag: &str) -> Result<(), ApiError> {
        airbyte.remove_connection_template_tag(id, tag).await
    }

    async fn delete<A: AirbyteApi>(airbyte: &A, id: &str) -> Result<(), ApiError> {
        airbyte.delete_connection_template(id).await
    }
}
