//! An in-memory [`AirbyteApi`] for driver tests: it keeps workspaces, templates and sources,
//! records every call by endpoint, and fails a call when a test scripted a failure for it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use airbyte_client::models::{
    ConnectionTemplate, CreateConnectionTemplate, CreateSource, CreateSourceTemplate,
    CronDescription, Deleted, PatchConnectionTemplate, PatchSourceTemplate, ScopedTokenInfo,
    Source, SourceTemplate, TagMode, TemplateSummary, TemplateTag, UpdateSource, UpdateWorkspace,
    WidgetTokenRequest, Workspace, WorkspaceQuery, WorkspaceStatus,
};
use airbyte_client::{
    AirbyteApi, ApiError, ApplicationToken, BearerToken, ConnectionTemplateApi, Endpoint,
    OrganizationApi, ScopedToken, SourceApi, SourceTemplateApi, TemplateTagApi, TokenApi,
    WorkspaceApi,
};

use crate::controllers::clock::rfc3339;

pub const ORGANIZATION: &str = "00000000-0000-4000-8000-00000000000a";

#[derive(Default)]
pub struct World {
    pub now: Option<SystemTime>,
    pub workspaces: BTreeMap<String, Workspace>,
    pub templates: BTreeMap<String, SourceTemplate>,
    /// Sources with their workspace.
    pub sources: BTreeMap<String, (String, Source)>,
    pub connection_templates: BTreeMap<String, ConnectionTemplate>,
    pub calls: Vec<Endpoint>,
    pub failures: VecDeque<(Endpoint, ApiError)>,
    pub minted: u64,
    /// The client secret Airbyte accepts (`None`: any).
    pub accepted_secret: Option<String>,
    /// The organization application tokens are issued for.
    pub token_organization: Option<String>,
}

/// Cheap to clone; clones share the world.
#[derive(Clone, Default)]
pub struct FakeAirbyte {
    world: Arc<Mutex<World>>,
    /// The client secret this client was built with (`None`: any is accepted).
    secret: Option<String>,
}

impl FakeAirbyte {
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A client of the same world built with `secret` (an organization object's).
    pub fn with_secret(&self, secret: &str) -> FakeAirbyte {
        FakeAirbyte {
            world: self.world.clone(),
            secret: Some(secret.to_string()),
        }
    }

    /// The endpoints called, in order.
    pub fn calls(&self) -> Vec<Endpoint> {
        self.world().calls.clone()
    }

    /// The next call to `endpoint` fails with `error`.
    pub fn fail(&self, endpoint: Endpoint, error: ApiError) {
        self.world().failures.push_back((endpoint, error));
    }

    /// A template of the organization, made at `created`.
    pub fn add_template(&self, name: &str, created: SystemTime) -> String {
        let id = format!("template-{}", self.world().templates.len() + 1);
        self.world().templates.insert(
            id.clone(),
            SourceTemplate {
                id: id.clone(),
                name: name.to_string(),
                created_at: Some(rfc3339(created)),
                ..Default::default()
            },
        );
        id
    }

    /// A source in `workspace_id`, made at `created`.
    pub fn add_source(&self, workspace_id: &str, name: &str, created: SystemTime) -> String {
        let id = format!("source-{}", self.world().sources.len() + 1);
        self.world().sources.insert(
            id.clone(),
            (
                workspace_id.to_string(),
                Source {
                    id: id.clone(),
                    name: name.to_string(),
                    created_at: Some(rfc3339(created)),
                    ..Default::default()
                },
            ),
        );
        id
    }

    /// A workspace (possibly a second one of a name).
    pub fn add_workspace(&self, name: &str) -> String {
        let id = format!("workspace-{}", self.world().workspaces.len() + 1);
        self.world().workspaces.insert(
            id.clone(),
            Workspace {
                id: id.clone(),
                name: name.to_string(),
                organization_id: Some(ORGANIZATION.into()),
                status: WorkspaceStatus::Active,
                created_at: None,
                updated_at: None,
            },
        );
        id
    }

    /// Counts the call and fails it if scripted.
    fn call(&self, endpoint: Endpoint) -> Result<(), ApiError> {
        let mut world = self.world();
        world.calls.push(endpoint);
        if let Some(index) = world.failures.iter().position(|(e, _)| *e == endpoint) {
            let (_, error) = world.failures.remove(index).expect("index is in range");
            return Err(error);
        }
        Ok(())
    }

    fn now(&self) -> SystemTime {
        self.world().now.unwrap_or_else(SystemTime::now)
    }
}

fn not_found(endpoint: Endpoint) -> ApiError {
    ApiError::NotFound {
        endpoint,
        detail: "not found".into(),
    }
}

impl TokenApi for FakeAirbyte {
    async fn mint_scoped_token(
        &self,
        workspace_name: &str,
        _region_id: Option<&str>,
    ) -> Result<ScopedToken, ApiError> {
        self.call(Endpoint::ScopedTokenCreate)?;
        let existing = self
            .world()
            .workspaces
            .values()
            .find(|w| w.name == workspace_name)
            .map(|w| w.id.clone());
        let workspace_id = existing.unwrap_or_else(|| self.add_workspace(workspace_name));
        let minted = {
            let mut world = self.world();
            world.minted += 1;
            world.minted
        };
        Ok(ScopedToken {
            token: BearerToken::new(format!("token-{workspace_id}-{minted}")),
            workspace_id,
            organization_id: ORGANIZATION.into(),
            expires_at: self.now() + Duration::from_secs(1200),
        })
    }

    async fn scoped_token_info(&self, token: &BearerToken) -> Result<ScopedTokenInfo, ApiError> {
        self.call(Endpoint::ScopedTokenInfo)?;
        let text = token.expose();
        let workspace_id = self
            .world()
            .workspaces
            .keys()
            .find(|id| text.starts_with(&format!("token-{id}-")))
            .cloned()
            .ok_or_else(|| not_found(Endpoint::ScopedTokenInfo))?;
        Ok(ScopedTokenInfo {
            organization_id: ORGANIZATION.into(),
            workspace_id,
        })
    }

    async fn mint_widget_token(&self, _: &WidgetTokenRequest) -> Result<BearerToken, ApiError> {
        self.call(Endpoint::WidgetTokenCreate)?;
        Ok(BearerToken::new("widget"))
    }
}

impl SourceTemplateApi for FakeAirbyte {
    async fn create_source_template(
        &self,
        request: &CreateSourceTemplate,
    ) -> Result<SourceTemplate, ApiError> {
        self.call(Endpoint::SourceTemplateCreate)?;
        let id = self.add_template(&request.name.clone().unwrap_or_default(), self.now());
        let mut world = self.world();
        let template = world.templates.get_mut(&id).expect("just added");
        template.partial_default_config = request.partial_default_config.clone();
        template.customization = request.customization.clone();
        Ok(template.clone())
    }

    async fn get_source_template(&self, id: &str) -> Result<SourceTemplate, ApiError> {
        self.call(Endpoint::SourceTemplateGet)?;
        self.world()
            .templates
            .get(id)
            .cloned()
            .ok_or_else(|| not_found(Endpoint::SourceTemplateGet))
    }

    async fn list_source_templates(
        &self,
        _tags: &[String],
        _mode: TagMode,
    ) -> Result<Vec<SourceTemplate>, ApiError> {
        self.call(Endpoint::SourceTemplatesList)?;
        Ok(self.world().templates.values().cloned().collect())
    }

    async fn patch_source_template(
        &self,
        id: &str,
        patch: &PatchSourceTemplate,
    ) -> Result<SourceTemplate, ApiError> {
        self.call(Endpoint::SourceTemplatePatch)?;
        let mut world = self.world();
        let template = world
            .templates
            .get_mut(id)
            .ok_or_else(|| not_found(Endpoint::SourceTemplatePatch))?;
        template.partial_default_config = patch.partial_default_config.clone();
        if let Some(name) = &patch.name {
            template.name = name.clone();
        }
        Ok(template.clone())
    }

    async fn delete_source_template(&self, id: &str) -> Result<(), ApiError> {
        self.call(Endpoint::SourceTemplateDelete)?;
        self.world().templates.remove(id);
        Ok(())
    }

    async fn add_source_template_tag(
        &self,
        id: &str,
        tag: &str,
    ) -> Result<SourceTemplate, ApiError> {
        self.call(Endpoint::SourceTemplateTagAdd)?;
        let mut world = self.world();
        let template = world
            .templates
            .get_mut(id)
            .ok_or_else(|| not_found(Endpoint::SourceTemplateTagAdd))?;
        if !template.tags.iter().any(|t| t == tag) {
            template.tags.push(tag.to_string());
        }
        Ok(template.clone())
    }

    async fn remove_source_template_tag(&self, id: &str, tag: &str) -> Result<(), ApiError> {
        self.call(Endpoint::SourceTemplateTagRemove)?;
        if let Some(template) = self.world().templates.get_mut(id) {
            template.tags.retain(|t| t != tag);
        }
        Ok(())
    }
}

impl TemplateTagApi for FakeAirbyte {
    async fn create_template_tag(&self, name: &str) -> Result<TemplateTag, ApiError> {
        self.call(Endpoint::TemplateTagsCreate)?;
        Ok(TemplateTag {
            id: name.into(),
            name: name.into(),
            organization_id: None,
            created_at: None,
            updated_at: None,
        })
    }

    async fn list_template_tags(&self) -> Result<Vec<TemplateTag>, ApiError> {
        self.call(Endpoint::TemplateTagsList)?;
        Ok(Vec::new())
    }

    async fn delete_template_tag(&self, _name: &str) -> Result<Deleted, ApiError> {
        self.call(Endpoint::TemplateTagDelete)?;
        Ok(Deleted::default())
    }
}

impl ConnectionTemplateApi for FakeAirbyte {
    async fn create_connection_template(
        &self,
        request: &CreateConnectionTemplate,
    ) -> Result<ConnectionTemplate, ApiError> {
        self.call(Endpoint::ConnectionTemplateCreate)?;
        let now = self.now();
        let mut world = self.world();
        let id = format!(
            "connection-template-{}",
            world.connection_templates.len() + 1
        );
        let mut template = ConnectionTemplate {
            id: id.clone(),
            created_at: Some(rfc3339(now)),
            ..Default::default()
        };
        if let CreateConnectionTemplate::UserHosted {
            destination_name,
            destination_definition_id,
            destination_config,
            cron_expression,
            ..
        } = request
        {
            template.destination_name = destination_name.clone();
            template.destination_definition_id = Some(destination_definition_id.clone());
            template.destination_config = destination_config.clone();
            template.cron_expression = cron_expression.clone();
        }
        world.connection_templates.insert(id, template.clone());
        Ok(template)
    }

    async fn get_connection_template(&self, id: &str) -> Result<ConnectionTemplate, ApiError> {
        self.call(Endpoint::ConnectionTemplateGet)?;
        self.world()
            .connection_templates
            .get(id)
            .cloned()
            .ok_or_else(|| not_found(Endpoint::ConnectionTemplateGet))
    }

    async fn list_connection_templates(
        &self,
        _: &[String],
        _: TagMode,
    ) -> Result<Vec<ConnectionTemplate>, ApiError> {
        self.call(Endpoint::ConnectionTemplatesList)?;
        Ok(self
            .world()
            .connection_templates
            .values()
            .cloned()
            .collect())
    }

    async fn patch_connection_template(
        &self,
        id: &str,
        patch: &PatchConnectionTemplate,
    ) -> Result<ConnectionTemplate, ApiError> {
        self.call(Endpoint::ConnectionTemplatePatch)?;
        let mut world = self.world();
        let template = world
            .connection_templates
            .get_mut(id)
            .ok_or_else(|| not_found(Endpoint::ConnectionTemplatePatch))?;
        if let Some(config) = &patch.destination_config {
            template.destination_config = config.clone();
        }
        if let Some(cron) = &patch.cron_expression {
            template.cron_expression = Some(cron.clone());
        }
        Ok(template.clone())
    }

    async fn delete_connection_template(&self, id: &str) -> Result<(), ApiError> {
        self.call(Endpoint::ConnectionTemplateDelete)?;
        self.world().connection_templates.remove(id);
        Ok(())
    }

    async fn add_connection_template_tag(&self, id: &str, tag: &str) -> Result<(), ApiError> {
        self.call(Endpoint::ConnectionTemplateTagAdd)?;
        if let Some(template) = self.world().connection_templates.get_mut(id)
            && !template.tags.iter().any(|t| t == tag)
        {
            template.tags.push(tag.to_string());
        }
        Ok(())
    }

    async fn remove_connection_template_tag(&self, id: &str, tag: &str) -> Result<(), ApiError> {
        self.call(Endpoint::ConnectionTemplateTagRemove)?;
        if let Some(template) = self.world().connection_templates.get_mut(id) {
            template.tags.retain(|t| t != tag);
        }
        Ok(())
    }

    async fn describe_cron(&self, expression: &str) -> Result<CronDescription, ApiError> {
        self.call(Endpoint::CronDescribe)?;
        let fields = expression.split_whitespace().count();
        Ok(CronDescription {
            description: if (6..=7).contains(&fields) {
                format!("runs at {expression}")
            } else {
                format!("{fields} fields; a Quartz expression has 6 or 7")
            },
            is_valid: (6..=7).contains(&fields),
        })
    }
}

impl SourceApi for FakeAirbyte {
    async fn create_source(
        &self,
        _: &BearerToken,
        request: &CreateSource,
    ) -> Result<Source, ApiError> {
        self.call(Endpoint::SourcesCreate)?;
        let id = self.add_source(&request.workspace_id, &request.name, self.now());
        let mut world = self.world();
        let (_, source) = world.sources.get_mut(&id).expect("just added");
        source.source_config = request.source_config.clone();
        source.source_template = Some(TemplateSummary {
            id: request.source_template_id.clone(),
            name: String::new(),
        });
        Ok(source.clone())
    }

    async fn get_source(&self, _: &BearerToken, id: &str) -> Result<Source, ApiError> {
        self.call(Endpoint::SourceGet)?;
        self.world()
            .sources
            .get(id)
            .map(|(_, s)| s.clone())
            .ok_or_else(|| not_found(Endpoint::SourceGet))
    }

    async fn list_sources(
        &self,
        _: &BearerToken,
        workspace_id: &str,
    ) -> Result<Vec<Source>, ApiError> {
        self.call(Endpoint::SourcesList)?;
        Ok(self
            .world()
            .sources
            .values()
            .filter(|(w, _)| w == workspace_id)
            .map(|(_, s)| Source {
                source_config: Default::default(),
                ..s.clone()
            })
            .collect())
    }

    async fn update_source(
        &self,
        _: &BearerToken,
        id: &str,
        update: &UpdateSource,
    ) -> Result<Source, ApiError> {
        self.call(Endpoint::SourceUpdate)?;
        let mut world = self.world();
        let (_, source) = world
            .sources
            .get_mut(id)
            .ok_or_else(|| not_found(Endpoint::SourceUpdate))?;
        if let Some(name) = &update.name {
            source.name = name.clone();
        }
        if let Some(config) = &update.source_config {
            source.source_config = config.clone();
        }
        Ok(source.clone())
    }

    async fn delete_source(&self, _: &BearerToken, id: &str) -> Result<(), ApiError> {
        self.call(Endpoint::SourceDelete)?;
        self.world().sources.remove(id);
        Ok(())
    }
}

impl WorkspaceApi for FakeAirbyte {
    async fn list_workspaces_page(
        &self,
        query: &WorkspaceQuery,
        _cursor: Option<&str>,
    ) -> Result<(Vec<Workspace>, Option<String>), ApiError> {
        self.call(Endpoint::WorkspacesList)?;
        let needle = query.name_contains.clone().unwrap_or_default();
        Ok((
            self.world()
                .workspaces
                .values()
                .filter(|w| w.name.contains(&needle))
                .cloned()
                .collect(),
            None,
        ))
    }

    async fn list_workspaces(&self, query: &WorkspaceQuery) -> Result<Vec<Workspace>, ApiError> {
        Ok(self.list_workspaces_page(query, None).await?.0)
    }

    async fn find_workspaces_named(&self, name: &str) -> Result<Vec<Workspace>, ApiError> {
        let query = WorkspaceQuery {
            name_contains: Some(name.to_string()),
            ..Default::default()
        };
        let mut found = self.list_workspaces(&query).await?;
        found.retain(|w| w.name == name);
        Ok(found)
    }

    async fn get_workspace(&self, id: &str) -> Result<Workspace, ApiError> {
        self.call(Endpoint::WorkspaceGet)?;
        self.world()
            .workspaces
            .get(id)
            .cloned()
            .ok_or_else(|| not_found(Endpoint::WorkspaceGet))
    }

    async fn update_workspace(
        &self,
        id: &str,
        update: &UpdateWorkspace,
    ) -> Result<Workspace, ApiError> {
        self.call(Endpoint::WorkspaceUpdate)?;
        let mut world = self.world();
        let workspace = world
            .workspaces
            .get_mut(id)
            .ok_or_else(|| not_found(Endpoint::WorkspaceUpdate))?;
        if let Some(status) = update.status {
            workspace.status = status;
        }
        Ok(workspace.clone())
    }

    async fn delete_workspace(&self, id: &str) -> Result<(), ApiError> {
        self.call(Endpoint::WorkspaceDelete)?;
        self.world().workspaces.remove(id);
        Ok(())
    }
}

impl OrganizationApi for FakeAirbyte {
    async fn authenticate(&self, _fresh: bool) -> Result<ApplicationToken, ApiError> {
        self.call(Endpoint::ApplicationToken)?;
        let world = self.world();
        if let Some(accepted) = &world.accepted_secret
            && self
                .secret
                .as_ref()
                .is_some_and(|secret| secret != accepted)
        {
            return Err(ApiError::from_response(
                Endpoint::ApplicationToken,
                401,
                br#"{"message":"invalid client credentials"}"#,
                None,
            ));
        }
        Ok(ApplicationToken {
            expires_at: world.now.unwrap_or_else(SystemTime::now) + Duration::from_secs(900),
            organization_id: world
                .token_organization
                .clone()
                .or(Some(ORGANIZATION.into())),
        })
    }
}

impl AirbyteApi for FakeAirbyte {
    fn organization_id(&self) -> &str {
        ORGANIZATION
    }
}
