//! The custom resources (group `embedded.airbyte.ai`, version `v1alpha1`), one module per kind,
//! plus the condition vocabulary and CRD generation. No Airbyte client here: these are the types
//! users write.

pub mod common;
pub mod conditions;
pub mod connection_template;
pub mod embedded_source;
pub mod embedded_workspace;
pub mod organization;
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
    Region, TokenPolicy, WidgetSpec,
};
pub use organization::{
    AirbyteOrganization, AirbyteOrganizationSpec, ClusterAirbyteOrganization,
    ClusterAirbyteOrganizationSpec, CredentialsSecretRef, DEFAULT_API_URL, DEFAULT_ORGANIZATION,
    IN_USE_FINALIZER, NamespaceRule, OrganizationKind, OrganizationRef, OrganizationSettings,
    OrganizationStatus, RequestBudget,
};
pub use source_template::{
    SourceTemplate, SourceTemplateSpec, SourceTemplateStatus, StreamSelection, StreamSelectionMode,
};

#[cfg(test)]
mod tests {
    use kube::CustomResourceExt;

    use super::*;

    /// kubectl shows a `date` column as an age, and a moment still to come as `<invalid>`: only the
    /// creation time may be one.
    #[test]
    fn only_the_creation_time_is_shown_as_an_age() {
        let crds = [
            EmbeddedWorkspace::crd(),
            EmbeddedSource::crd(),
            SourceTemplate::crd(),
            ConnectionTemplate::crd(),
            ClusterAirbyteOrganization::crd(),
            AirbyteOrganization::crd(),
        ];
        for crd in crds {
            for version in &crd.spec.versions {
                for column in version.additional_printer_columns.iter().flatten() {
                    if column.type_ == "date" {
                        assert_eq!(
                            column.json_path, ".metadata.creationTimestamp",
                            "{} column {}",
                            crd.spec.names.kind, column.name
                        );
                    }
                }
            }
        }
        let workspace = EmbeddedWorkspace::crd();
        let expires = workspace.spec.versions[0]
            .additional_printer_columns
            .iter()
            .flatten()
            .find(|c| c.json_path == ".status.tokenExpiresAt")
            .expect("a TOKEN EXPIRES column");
        assert_eq!(expires.type_, "string");
    }
}
