//! The Airbyte Embedded API endpoints, named once.
//!
//! The client labels its metrics and retry decisions with these names and the simulator counts calls
//! under the same names, so a test can compare what the operator did with what the API saw.

use std::fmt;

/// One operation of the Airbyte Embedded API. `label()` is a bounded metric label (never an id).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    ApplicationToken,
    ScopedTokenCreate,
    ScopedTokenInfo,
    WidgetTokenCreate,
    SourceTemplatesList,
    SourceTemplateCreate,
    SourceTemplateGet,
    SourceTemplatePatch,
    SourceTemplateDelete,
    SourceTemplateTagAdd,
    SourceTemplateTagRemove,
    TemplateTagsCreate,
    TemplateTagsList,
    TemplateTagDelete,
    SourcesCreate,
    SourcesList,
    SourceGet,
    SourcePatch,
    SourceDelete,
    WorkspacesList,
    WorkspaceGet,
    WorkspaceUpdate,
    WorkspaceDelete,
    TemplateTagRename,
    ConnectionTemplatesList,
    ConnectionTemplateCreate,
    ConnectionTemplateGet,
    ConnectionTemplatePatch,
    ConnectionTemplateDelete,
    ConnectionTemplateTagAdd,
    ConnectionTemplateTagRemove,
    WorkspaceStats,
}

impl Endpoint {
    pub const ALL: [Endpoint; 32] = [
        Endpoint::ApplicationToken,
        Endpoint::ScopedTokenCreate,
        Endpoint::ScopedTokenInfo,
        Endpoint::WidgetTokenCreate,
        Endpoint::SourceTemplatesList,
        Endpoint::SourceTemplateCreate,
        Endpoint::SourceTemplateGet,
        Endpoint::SourceTemplatePatch,
        Endpoint::SourceTemplateDelete,
        Endpoint::SourceTemplateTagAdd,
        Endpoint::SourceTemplateTagRemove,
        Endpoint::TemplateTagsCreate,
        Endpoint::TemplateTagsList,
        Endpoint::TemplateTagDelete,
        Endpoint::SourcesCreate,
        Endpoint::SourcesList,
        Endpoint::SourceGet,
        Endpoint::SourcePatch,
        Endpoint::SourceDelete,
        Endpoint::WorkspacesList,
        Endpoint::WorkspaceGet,
        Endpoint::WorkspaceUpdate,
        Endpoint::WorkspaceDelete,
        Endpoint::TemplateTagRename,
        Endpoint::ConnectionTemplatesList,
        Endpoint::ConnectionTemplateCreate,
        Endpoint::ConnectionTemplateGet,
        Endpoint::ConnectionTemplatePatch,
        Endpoint::ConnectionTemplateDelete,
        Endpoint::ConnectionTemplateTagAdd,
        Endpoint::ConnectionTemplateTagRemove,
        Endpoint::WorkspaceStats,
    ];

    /// The operation a request is, from its method and path (`None`: not part of the API).
    pub fn classify(method: &str, path: &str) -> Option<Endpoint> {
        let rest = path.strip_prefix("/api/v1/")?.trim_end_matches('/');
        let parts: Vec<&str> = rest.split('/').collect();
        use Endpoint::*;
        Some(match (method, parts.as_slice()) {
            ("POST", ["account", "applications", "token"]) => ApplicationToken,
            ("POST", ["embedded", "scoped-token"]) => ScopedTokenCreate,
            ("GET", ["embedded", "scoped-token", "info"]) => ScopedTokenInfo,
            ("POST", ["embedded", "widget-token"]) => WidgetTokenCreate,
            ("GET", ["integrations", "templates", "sources"]) => SourceTemplatesList,
            ("POST", ["integrations", "templates", "sources"]) => SourceTemplateCreate,
            ("GET", ["integrations", "templates", "sources", _]) => SourceTemplateGet,
            ("PATCH", ["integrations", "templates", "sources", _]) => SourceTemplatePatch,
            ("DELETE", ["integrations", "templates", "sources", _]) => SourceTemplateDelete,
            ("POST", ["integrations", "templates", "sources", _, "tags"]) => SourceTemplateTagAdd,
            ("DELETE", ["integrations", "templates", "sources", _, "tags", _]) => {
                SourceTemplateTagRemove
            }
            ("GET", ["integrations", "templates", "connections"]) => ConnectionTemplatesList,
            ("POST", ["integrations", "templates", "connections"]) => ConnectionTemplateCreate,
            ("GET", ["integrations", "templates", "connections", _]) => ConnectionTemplateGet,
            ("PATCH", ["integrations", "templates", "connections", _]) => ConnectionTemplatePatch,
            ("DELETE", ["integrations", "templates", "connections", _]) => ConnectionTemplateDelete,
            ("POST", ["integrations", "templates", "connections", _, "tags"]) => {
                ConnectionTemplateTagAdd
            }
            ("DELETE", ["integrations", "templates", "connections", _, "tags", _]) => {
                ConnectionTemplateTagRemove
            }
            ("POST", ["integrations", "templates", "tags"]) => TemplateTagsCreate,
            ("GET", ["integrations", "templates", "tags"]) => TemplateTagsList,
            ("PUT", ["integrations", "templates", "tags", _]) => TemplateTagRename,
            ("DELETE", ["integrations", "templates", "tags", _]) => TemplateTagDelete,
            ("POST", ["embedded", "sources"]) => SourcesCreate,
            ("GET", ["embedded", "sources"]) => SourcesList,
            ("GET", ["embedded", "sources", _]) => SourceGet,
            ("PATCH", ["embedded", "sources", _]) => SourcePatch,
            ("DELETE", ["embedded", "sources", _]) => SourceDelete,
            ("GET", ["workspaces"]) => WorkspacesList,
            ("GET", ["workspaces", "stats"]) => WorkspaceStats,
            ("GET", ["workspaces", _]) => WorkspaceGet,
            ("PUT", ["workspaces", _]) => WorkspaceUpdate,
            ("DELETE", ["workspaces", _]) => WorkspaceDelete,
            _ => return None,
        })
    }

    /// Stable snake_case name used in metrics, simulator counters and fault rules.
    pub fn label(self) -> &'static str {
        match self {
            Endpoint::ApplicationToken => "application_token",
            Endpoint::ScopedTokenCreate => "scoped_token_create",
            Endpoint::ScopedTokenInfo => "scoped_token_info",
            Endpoint::WidgetTokenCreate => "widget_token_create",
            Endpoint::SourceTemplatesList => "source_templates_list",
            Endpoint::SourceTemplateCreate => "source_template_create",
            Endpoint::SourceTemplateGet => "source_template_get",
            Endpoint::SourceTemplatePatch => "source_template_patch",
            Endpoint::SourceTemplateDelete => "source_template_delete",
            Endpoint::SourceTemplateTagAdd => "source_template_tag_add",
            Endpoint::SourceTemplateTagRemove => "source_template_tag_remove",
            Endpoint::TemplateTagsCreate => "template_tags_create",
            Endpoint::TemplateTagsList => "template_tags_list",
            Endpoint::TemplateTagDelete => "template_tag_delete",
            Endpoint::SourcesCreate => "sources_create",
            Endpoint::SourcesList => "sources_list",
            Endpoint::SourceGet => "source_get",
            Endpoint::SourcePatch => "source_patch",
            Endpoint::SourceDelete => "source_delete",
            Endpoint::WorkspacesList => "workspaces_list",
            Endpoint::WorkspaceGet => "workspace_get",
            Endpoint::WorkspaceUpdate => "workspace_update",
            Endpoint::WorkspaceDelete => "workspace_delete",
            Endpoint::TemplateTagRename => "template_tag_rename",
            Endpoint::ConnectionTemplatesList => "connection_templates_list",
            Endpoint::ConnectionTemplateCreate => "connection_template_create",
            Endpoint::ConnectionTemplateGet => "connection_template_get",
            Endpoint::ConnectionTemplatePatch => "connection_template_patch",
            Endpoint::ConnectionTemplateDelete => "connection_template_delete",
            Endpoint::ConnectionTemplateTagAdd => "connection_template_tag_add",
            Endpoint::ConnectionTemplateTagRemove => "connection_template_tag_remove",
            Endpoint::WorkspaceStats => "workspace_stats",
        }
    }

    pub fn from_label(label: &str) -> Option<Endpoint> {
        Endpoint::ALL.into_iter().find(|e| e.label() == label)
    }

    /// Whether the call changes state on Airbyte's side. Minting a scoped or widget token counts as a
    /// write (it can create a workspace); exchanging credentials for the organization token does not.
    pub fn is_write(self) -> bool {
        !matches!(
            self,
            Endpoint::ApplicationToken
                | Endpoint::ScopedTokenInfo
                | Endpoint::SourceTemplatesList
                | Endpoint::SourceTemplateGet
                | Endpoint::TemplateTagsList
                | Endpoint::SourcesList
                | Endpoint::SourceGet
                | Endpoint::WorkspacesList
                | Endpoint::WorkspaceGet
                | Endpoint::ConnectionTemplatesList
                | Endpoint::ConnectionTemplateGet
                | Endpoint::WorkspaceStats
        )
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_unique_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for endpoint in Endpoint::ALL {
            assert!(seen.insert(endpoint.label()), "duplicate label {endpoint}");
            assert_eq!(Endpoint::from_label(endpoint.label()), Some(endpoint));
        }
    }

    #[test]
    fn requests_are_classified_by_method_and_path() {
        let cases = [
            (
                "POST",
                "/api/v1/embedded/scoped-token",
                Some(Endpoint::ScopedTokenCreate),
            ),
            (
                "GET",
                "/api/v1/workspaces/stats",
                Some(Endpoint::WorkspaceStats),
            ),
            (
                "GET",
                "/api/v1/workspaces/abc",
                Some(Endpoint::WorkspaceGet),
            ),
            (
                "DELETE",
                "/api/v1/integrations/templates/sources/t1/tags/pii",
                Some(Endpoint::SourceTemplateTagRemove),
            ),
            ("GET", "/_sim/counters", None),
            ("PATCH", "/api/v1/workspaces", None),
        ];
        for (method, path, expected) in cases {
            assert_eq!(
                Endpoint::classify(method, path),
                expected,
                "{method} {path}"
            );
        }
    }

    #[test]
    fn reads_are_not_writes() {
        assert!(!Endpoint::SourceGet.is_write());
        assert!(Endpoint::ScopedTokenCreate.is_write());
        assert!(Endpoint::SourcePatch.is_write());
    }
}
