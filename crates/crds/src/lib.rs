//! The custom resources (group `embedded.airbyte.ai`, version `v1alpha1`), one module per kind,
//! plus the condition vocabulary and CRD generation. No Airbyte client here: these are the types
//! users write.

pub mod common;
pub mod conditions;
pub mod connection_template;
pub mod embedded_source;
pub mod embedded_workspace;
pub mod schema;
pub mod source_template;

pub use common::*;
pub use connection_template::{
    ConnectionTemplate, ConnectionTemplateSpec, ConnectionTemplateStatus, DataHostingType,
    NonBreakingChangesPreference,
};
pub use embedded_source::{
    EmbeddedSource, EmbeddedSourceSpec, EmbeddedSourceStatus, LocalRef, TemplateRef,
};
pub use embedded_workspace::{
    EmbeddedWorkspace, EmbeddedWorkspaceSpec, EmbeddedWorkspaceStatus, REGION_EU, REGION_US,
    Region, WidgetSpec,
};
pub use source_template::{
    SourceTemplate, SourceTemplateSpec, SourceTemplateStatus, StreamSelection, StreamSelectionMode,
};
