//! What the operator needs from each area of the Airbyte Embedded API, as traits (implemented
//! over HTTP by [`AirbyteClient`](crate::AirbyteClient) in the area's module, and by fakes in
//! tests). Declarations only.

use std::future::Future;

use crate::models::{
    ConnectionTemplate, CreateConnectionTemplate, CreateSource, CreateSourceTemplate,
    CronDescription, Deleted, PatchConnectionTemplate, PatchSourceTemplate, ScopedTokenInfo,
    Source, SourceTemplate, TagMode, TemplateTag, UpdateSource, UpdateWorkspace,
    WidgetTokenRequest, Workspace, WorkspaceQuery,
};
use crate::{ApiError, ApplicationToken, BearerToken, ScopedToken};

pub trait OrganizationApi {
    /// Obtains an application (organization) token with the credentials; `fresh`: a new one,
    /// even when one is cached or a refusal of the credentials is held.
    fn authenticate(
        &self,
        fresh: bool,
    ) -> impl Future<Output = Result<ApplicationToken, ApiError>> + Send;
}

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
    /// The sources of a workspace (list items: no configuration).
    fn list_sources(
        &self,
        token: &BearerToken,
        workspace_id: &str,
    ) -> impl Future<Output = Result<Vec<Source>, ApiError>> + Send;
    /// Replaces a source's name and configuration. The connection template selection cannot be
    /// changed after creation.
    fn update_source(
        &self,
        token: &BearerToken,
        id: &str,
        update: &UpdateSource,
    ) -> impl Future<Output = Result<Source, ApiError>> + Send;
    /// Deletes a source; one that is already gone counts as deleted.
    fn delete_source(
        &self,
        token: &BearerToken,
        id: &str,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
}

pub trait SourceTemplateApi {
    fn create_source_template(
        &self,
        request: &CreateSourceTemplate,
    ) -> impl Future<Output = Result<SourceTemplate, ApiError>> + Send;
    fn get_source_template(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<SourceTemplate, ApiError>> + Send;
    /// The organization's templates, filtered by tags (list items: no configuration, and in the
    /// embedded reference no definition id).
    fn list_source_templates(
        &self,
        tags: &[String],
        mode: TagMode,
    ) -> impl Future<Output = Result<Vec<SourceTemplate>, ApiError>> + Send;
    fn patch_source_template(
        &self,
        id: &str,
        patch: &PatchSourceTemplate,
    ) -> impl Future<Output = Result<SourceTemplate, ApiError>> + Send;
    /// Deletes a template; a template that is already gone counts as deleted.
    fn delete_source_template(&self, id: &str)
    -> impl Future<Output = Result<(), ApiError>> + Send;
    fn add_source_template_tag(
        &self,
        id: &str,
        tag: &str,
    ) -> impl Future<Output = Result<SourceTemplate, ApiError>> + Send;
    fn remove_source_template_tag(
        &self,
        id: &str,
        tag: &str,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
}

pub trait TemplateTagApi {
    fn create_template_tag(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<TemplateTag, ApiError>> + Send;
    fn list_template_tags(&self)
    -> impl Future<Output = Result<Vec<TemplateTag>, ApiError>> + Send;
    fn delete_template_tag(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Deleted, ApiError>> + Send;
}

pub trait WorkspaceApi {
    /// One page of workspaces; pass the previous page's cursor to continue.
    fn list_workspaces_page(
        &self,
        query: &WorkspaceQuery,
        cursor: Option<&str>,
    ) -> impl Future<Output = Result<(Vec<Workspace>, Option<String>), ApiError>> + Send;
    /// Every matching workspace, following the cursor across pages.
    fn list_workspaces(
        &self,
        query: &WorkspaceQuery,
    ) -> impl Future<Output = Result<Vec<Workspace>, ApiError>> + Send;
    /// The workspaces named exactly `name` (the API matches `name_contains` without regard to
    /// case and pages its answer: every page is read, then names are compared exactly). More
    /// than one means a name minting cannot tell apart.
    fn find_workspaces_named(
        &self,
        name: &str,
    ) -> impl Future<Output = Result<Vec<Workspace>, ApiError>> + Send;
    fn get_workspace(&self, id: &str) -> impl Future<Output = Result<Workspace, ApiError>> + Send;
    fn update_workspace(
        &self,
        id: &str,
        update: &UpdateWorkspace,
    ) -> impl Future<Output = Result<Workspace, ApiError>> + Send;
    /// Deletes a workspace with all its sources and connections; one already gone counts as deleted.
    fn delete_workspace(&self, id: &str) -> impl Future<Output = Result<(), ApiError>> + Send;
}

pub trait ConnectionTemplateApi {
    fn create_connection_template(
        &self,
        request: &CreateConnectionTemplate,
    ) -> impl Future<Output = Result<ConnectionTemplate, ApiError>> + Send;
    fn get_connection_template(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<ConnectionTemplate, ApiError>> + Send;
    fn list_connection_templates(
        &self,
        tags: &[String],
        mode: TagMode,
    ) -> impl Future<Output = Result<Vec<ConnectionTemplate>, ApiError>> + Send;
    fn patch_connection_template(
        &self,
        id: &str,
        patch: &PatchConnectionTemplate,
    ) -> impl Future<Output = Result<ConnectionTemplate, ApiError>> + Send;
    /// Deletes a template; one that is already gone counts as deleted.
    fn delete_connection_template(
        &self,
        id: &str,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
    fn add_connection_template_tag(
        &self,
        id: &str,
        tag: &str,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
    fn remove_connection_template_tag(
        &self,
        id: &str,
        tag: &str,
    ) -> impl Future<Output = Result<(), ApiError>> + Send;
    /// Whether a Quartz cron expression is valid, and what it means in words.
    fn describe_cron(
        &self,
        expression: &str,
    ) -> impl Future<Output = Result<CronDescription, ApiError>> + Send;
}
