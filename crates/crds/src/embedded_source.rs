//! `EmbeddedSource`: an Airbyte source in a tenant's workspace, made from a template and a
//! configuration whose sensitive values come from Secrets.

// kube derive attributes repeat keys (one printcolumn per column), which clippy mistakes for duplicates.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::{Conditions, DeletionPolicy, SecretValueRef, TagFilter};
use super::organization::OrganizationRef;

/// The source as it should exist in Airbyte.
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "embedded.airbyte.ai",
    doc = "A source in the Airbyte workspace of an EmbeddedWorkspace of the same namespace, made from a template and a configuration whose sensitive values come from Secrets.",
    version = "v1alpha1",
    kind = "EmbeddedSource",
    namespaced,
    status = "EmbeddedSourceStatus",
    shortname = "aes",
    category = "airbyte",
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].status"#
    ),
    printcolumn(
        name = "Reason",
        type_ = "string",
        json_path = r#".status.conditions[?(@.type=="Ready")].reason"#
    ),
    printcolumn(
        name = "Workspace",
        type_ = "string",
        json_path = ".spec.workspaceRef.name"
    ),
    printcolumn(name = "Source ID", type_ = "string", json_path = ".status.sourceId"),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("has(self.sourceTemplateRef) != has(self.sourceTemplateId)").message("set exactly one of sourceTemplateRef or sourceTemplateId"))]
#[x_kube(validation = Rule::new("has(self.connectionTemplateTags) == has(oldSelf.connectionTemplateTags) && (!has(self.connectionTemplateTags) || self.connectionTemplateTags == oldSelf.connectionTemplateTags)").message("connectionTemplateTags cannot change: Airbyte applies the connection template selection only when it creates the source; delete the EmbeddedSource and create it again to change it").field_path(".connectionTemplateTags"))]
pub struct EmbeddedSourceSpec {
    /// Display name of the source in Airbyte (default: `metadata.name`). Unique per workspace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub name: Option<String>,
    /// The `EmbeddedWorkspace` (same namespace) the source lives in.
    pub workspace_ref: LocalRef,
    /// A `SourceTemplate` of this cluster. Exactly one of this and `sourceTemplateId`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_template_ref: Option<TemplateRef>,
    /// An Airbyte template by id (for example one of Airbyte's standard templates).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ))]
    pub source_template_id: Option<String>,
    /// Non-secret configuration values of the connector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::schema::free_form_object")]
    pub source_config: Option<Map<String, Value>>,
    /// Configuration values taken from Secrets in this namespace, placed at a dotted path
    /// (overriding `sourceConfig` there). A change to a referenced Secret re-applies the config.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub source_config_secret_refs: Vec<SecretValueRef>,
    /// Which connection templates Airbyte makes this source's connections from: those with at
    /// least one of `tags` (`mode: any`, the default) or with all of them (`mode: all`); no tags:
    /// every connection template. Applied when the source is created and immutable afterwards
    /// (the API cannot change it): to change it, delete the EmbeddedSource and create it again.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_template_tags: Option<TagFilter>,
    /// `Delete` (default): deleting this object deletes the Airbyte source. `Orphan`: leaves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// The Airbyte organization to act for: an `AirbyteOrganization` of this namespace or a
    /// `ClusterAirbyteOrganization` that admits it. Default: the ClusterAirbyteOrganization
    /// `default`.
    /// An EmbeddedSource always acts for its workspace's organization: set, this must name it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<OrganizationRef>,
}

/// An object in the same namespace. Cross-namespace references are refused.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.__namespace__)").message("cross-namespace references are not allowed: the workspace must be in the same namespace"))]
pub struct LocalRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Not allowed: present only so that a cross-namespace reference is refused with a clear
    /// message instead of being silently dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A cluster-scoped `SourceTemplate` by name.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TemplateRef {
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmbeddedSourceStatus {
    /// The organization object this one acts for (`Kind/name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// The Airbyte organization the external object was made in; the object never moves to
    /// another one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// The Airbyte source id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_id: Option<String>,
    /// The workspace the source lives in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    /// The template the source was made from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_template_id: Option<String>,
    /// Hash over the applied configuration and the versions of the Secrets it reads (never over
    /// Secret values); a change re-applies it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
    /// The ConnectionTemplates of this cluster whose tags `connectionTemplateTags` selects, by
    /// name (Airbyte makes the source's connections from the matching templates when it creates
    /// the source).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub connection_templates: Vec<String>,
    /// The last `embedded.airbyte.ai/reconcile-requested-at` value handled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_handled_reconcile_at: Option<String>,
    /// The generation the conditions describe (-1 until the first reconcile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`, `Reconciling`, `Stalled`.
    #[serde(default)]
    #[x_kube(merge_strategy = ListMerge::Map(vec!["type".into()]))]
    pub conditions: Conditions,
}
