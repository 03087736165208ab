//! Workspaces of the organization (organization token).

use reqwest::Method;

use super::api::WorkspaceApi;
use super::client::{Auth, Call};
use super::collection::segment;
use super::models::{Page, UpdateWorkspace, Workspace, WorkspaceQuery, WorkspaceStatus};
use super::{AirbyteClient, ApiError, Endpoint};

const WORKSPACES: &str = "/api/v1/workspaces";

impl WorkspaceApi for AirbyteClient {
    async fn list_workspaces_page(
        &self,
        query: &WorkspaceQuery,
        cursor: Option<&str>,
    ) -> Result<(Vec<Workspace>, Option<String>), ApiError> {
        let mut call = Call::new(
            Endpoint::WorkspacesList,
            Method::GET,
            WORKSPACES,
            Auth::Organization,
        );
        if let Some(name) = &query.name_contains {
            call = call.query("name_contains", name.clone());
        }
        if let Some(status) = query.status {
            call = call.query(
                "status",
                match status {
                    WorkspaceStatus::Active => "active",
                    WorkspaceStatus::Inactive => "inactive",
                },
            );
        }
        if let Some(limit) = query.limit {
            call = call.query("limit", limit.to_string());
        }
        if let Some(cursor) = cursor {
            call = call.query("cursor", cursor.to_string());
        }
        let page: Page<Workspace> = self.call(call).await?;
        let next = match page.next.as_deref() {
            Some(next) if !next.is_empty() => {
                Some(self.cursor_from_next(Endpoint::WorkspacesList, next)?)
            }
            _ => None,
        };
        Ok((page.data, next))
    }

    async fn list_workspaces(&self, query: &WorkspaceQuery) -> Result<Vec<Workspace>, ApiError> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let (page, next) = self.list_workspaces_page(query, cursor.as_deref()).await?;
            all.extend(page);
            match next {
                Some(next) if Some(&next) != cursor.as_ref() => cursor = Some(next),
                _ => return Ok(all),
            }
        }
    }

    async fn find_workspaces_named(&self, name: &str) -> Result<Vec<Workspace>, ApiError> {
        let query = WorkspaceQuery {
            name_contains: Some(name.to_string()),
            status: None,
            limit: Some(100),
        };
        let mut found = self.list_workspaces(&query).await?;
        found.retain(|workspace| workspace.name == name);
        Ok(found)
    }

    async fn get_workspace(&self, id: &str) -> Result<Workspace, ApiError> {
        let path = format!("{WORKSPACES}/{}", segment(id));
        self.call(Call::new(
            Endpoint::WorkspaceGet,
            Method::GET,
            path,
            Auth::Organization,
        ))
        .await
    }

    async fn update_workspace(
        &self,
        id: &str,
        update: &UpdateWorkspace,
    ) -> Result<Workspace, ApiError> {
        let path = format!("{WORKSPACES}/{}", segment(id));
        let call = Call::new(
            Endpoint::WorkspaceUpdate,
            Method::PUT,
            path,
            Auth::Organization,
        )
        .json(update)?;
        self.call(call).await
    }

    async fn delete_workspace(&self, id: &str) -> Result<(), ApiError> {
        let path = format!("{WORKSPACES}/{}", segment(id));
        let call = Call::new(
            Endpoint::WorkspaceDelete,
            Method::DELETE,
            path,
            Auth::Organization,
        );
        self.call_deleting(call).await
    }
}
