//! `SourceTemplate`: an organization-wide Airbyte source template (cluster-scoped, like a
//! ClusterIssuer).

// kube derive attributes repeat keys (one printcolumn per column), which clippy mistakes for duplicates.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::{Conditions, DeletionPolicy, SecretValueRef};
use super::organization::OrganizationRef;

/// The template as it should exist in Airbyte.
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "embedded.airbyte.ai",
    doc = "An Airbyte source template, kept in sync through the API: which connector the Embedded widget offers, with which defaults and tags. Cluster-scoped, organization-wide.",
    version = "v1alpha1",
    kind = "SourceTemplate",
    status = "SourceTemplateStatus",
    shortname = "ast",
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
        name = "Template ID",
        type_ = "string",
        json_path = ".status.templateId"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.organizationRef) || self.organizationRef.kind == 'ClusterAirbyteOrganization'").message("a SourceTemplate is cluster-scoped: its organizationRef may name only a ClusterAirbyteOrganization").field_path(".organizationRef"))]
pub struct SourceTemplateSpec {
    /// Display name of the template.
    #[schemars(length(min = 1, max = 255))]
    pub name: String,
    /// The connector definition (UUID from Airbyte's connector registry).
    #[schemars(regex(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ))]
    pub actor_definition_id: String,
    /// Defaults that users of the template need not fill (non-secret values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::schema::free_form_object")]
    pub partial_default_config: Option<Map<String, Value>>,
    /// Default values taken from Secrets in the operator's namespace, placed at a dotted path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub partial_default_config_secret_refs: Vec<SecretValueRef>,
    /// Tags for filtering templates (widget, listings).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 255)))]
    pub tags: Vec<String>,
    /// Which streams the template offers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stream_selection: Option<StreamSelection>,
    /// Whether a change of the defaults also reaches the sources already made from the template
    /// (Airbyte's `propagate`). Default `false`: existing sources keep the defaults they were
    /// made with, and only new sources get the new ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub propagate_changes: Option<bool>,
    /// `Delete` (default): deleting this object deletes the Airbyte template. `Orphan`: leaves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// The `ClusterAirbyteOrganization` to act for (default: the one named `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<OrganizationRef>,
}

/// Stream selection of a template.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("self.mode != 'whitelist' || size(self.streams) > 0").message("mode whitelist needs at least one stream in streams"))]
pub struct StreamSelection {
    /// `suggested`: Airbyte's suggestion; `all`: every stream; `whitelist`: only `streams`.
    pub mode: StreamSelectionMode,
    /// The streams offered with `whitelist`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1000), inner(length(min = 1, max = 255)))]
    pub streams: Vec<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum StreamSelectionMode {
    Suggested,
    All,
    Whitelist,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceTemplateStatus {
    /// The organization object this one acts for (`Kind/name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// The Airbyte organization the external object was made in; the object never moves to
    /// another one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// The Airbyte template id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
    /// Hash over the applied defaults and the versions of the Secrets they read (never over Secret
    /// values), to notice a changed Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config_hash: Option<String>,
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
