//! The Airbyte Embedded API endpoints, named once.
//!
//! The client labels its metrics, logs and errors with these names. The labels are the operation
//! ids the project's simulator uses too (a naming convention, not shared code), so a test can
//! compare what the operator did with what the API saw.

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
    SourceUpdate,
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
    CronDescribe,
}

impl Endpoint {
    pub const ALL: [Endpoint; 33] = [
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
        Endpoint::SourceUpdate,
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
        Endpoint::CronDescribe,
    ];

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
            Endpoint::SourceUpdate => "source_update",
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
            Endpoint::CronDescribe => "cron_describe",
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
                | Endpoint::CronDescribe
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
    fn reads_are_not_writes() {
        assert!(!Endpoint::SourceGet.is_write());
        assert!(Endpoint::ScopedTokenCreate.is_write());
        assert!(Endpoint::SourceUpdate.is_write());
    }
}
