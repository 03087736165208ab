//! `ConnectionTemplate`: an organization-wide Airbyte connection template (cluster-scoped, like
//! `SourceTemplate`): where tenants' data lands, on what schedule, and what happens on schema
//! changes. Airbyte makes a new source's connections from the connection templates whose tags the
//! source's `connectionTemplateTags` select.

// kube derive attributes repeat keys (one printcolumn per column), which clippy mistakes for duplicates.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::common::{Conditions, DeletionPolicy, SecretValueRef};
use super::organization::OrganizationRef;

/// The connection template as it should exist in Airbyte.
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "embedded.airbyte.ai",
    doc = "An Airbyte connection template, kept in sync through the API: the destination tenants' data is written to (or Airbyte-hosted storage), the sync schedule and the schema-change policy. Airbyte makes a new source's connections from the connection templates its connectionTemplateTags select. Cluster-scoped, organization-wide.",
    version = "v1alpha1",
    kind = "ConnectionTemplate",
    status = "ConnectionTemplateStatus",
    shortname = "act",
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
        name = "Destination",
        type_ = "string",
        json_path = ".spec.destinationName"
    ),
    printcolumn(
        name = "Schedule",
        type_ = "string",
        json_path = ".status.scheduleDescription"
    ),
    printcolumn(
        name = "Template ID",
        type_ = "string",
        json_path = ".status.templateId",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.dataHostingType) && self.dataHostingType == 'airbyte_hosted') ? !has(self.destinationName) && !has(self.destinationDefinitionId) && !has(self.destinationConfig) && !has(self.destinationConfigSecretRefs) && !has(self.nonBreakingChangesPreference) && !has(self.syncOnCreate) : has(self.destinationName) && has(self.destinationDefinitionId)").message("a user_hosted template (the default) needs destinationName and destinationDefinitionId; an airbyte_hosted one takes only cronExpression, tags, deletionPolicy and organizationRef (the API's Airbyte-hosted template has no other field)"))]
#[x_kube(validation = Rule::new("(has(self.dataHostingType) ? self.dataHostingType : 'user_hosted') == (has(oldSelf.dataHostingType) ? oldSelf.dataHostingType : 'user_hosted')").message("dataHostingType cannot change: create another ConnectionTemplate"))]
#[x_kube(validation = Rule::new("!has(oldSelf.destinationDefinitionId) || (has(self.destinationDefinitionId) && self.destinationDefinitionId == oldSelf.destinationDefinitionId)").message("destinationDefinitionId cannot change (the API does not update it): create another ConnectionTemplate").field_path(".destinationDefinitionId"))]
#[x_kube(validation = Rule::new("!has(self.organizationRef) || self.organizationRef.kind == 'ClusterAirbyteOrganization'").message("a ConnectionTemplate is cluster-scoped: its organizationRef may name only a ClusterAirbyteOrganization").field_path(".organizationRef"))]
pub struct ConnectionTemplateSpec {
    /// `user_hosted` (default): the destination below; `airbyte_hosted`: Airbyte-managed storage
    /// (only cronExpression, tags and deletionPolicy apply). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_hosting_type: Option<DataHostingType>,
    /// Display name of the destination.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub destination_name: Option<String>,
    /// The destination connector definition (UUID from Airbyte's connector registry; Embedded
    /// writes to blob storage such as S3). Immutable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ))]
    pub destination_definition_id: Option<String>,
    /// The destination's configuration (non-secret values).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "super::schema::free_form_object")]
    pub destination_config: Option<Map<String, Value>>,
    /// Configuration values from Secrets in the operator's namespace (access keys and the like),
    /// placed at a dotted path. A change to a referenced Secret re-applies the configuration.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64))]
    pub destination_config_secret_refs: Vec<SecretValueRef>,
    /// When the connections sync, as a Quartz cron expression as Airbyte uses (six or seven
    /// fields: seconds minutes hours day-of-month month day-of-week [year], one of the two day
    /// fields `?`), e.g. `0 0 2 * * ?` for 02:00 every day. Checked with Airbyte's
    /// `cron/describe`; its description shows in `status.scheduleDescription`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^\S+(\s+\S+){5,6}$"), length(max = 255))]
    pub cron_expression: Option<String>,
    /// What a connection does when the source's schema changes in a way that does not break it:
    /// `ignore` (Airbyte's default), `disable`, `propagate_columns`, `propagate_fully`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub non_breaking_changes_preference: Option<NonBreakingChangesPreference>,
    /// Whether a connection syncs as soon as it is made (Airbyte's default: true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_on_create: Option<bool>,
    /// Tags that select this template for sources: a source whose `connectionTemplateTags` has
    /// mode `any` (default) gets a connection from every template with at least one of its tags;
    /// mode `all`, from every template with all of them; a source without tags, from every
    /// template. Added and removed by difference.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 255)))]
    pub tags: Vec<String>,
    /// `Delete` (default): deleting this object deletes the Airbyte template. `Orphan`: leaves it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// The `ClusterAirbyteOrganization` to act for (default: the one named `default`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<OrganizationRef>,
}

/// Where a connection template's data is hosted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum DataHostingType {
    UserHosted,
    AirbyteHosted,
}

/// What a connection does with schema changes that do not break it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum NonBreakingChangesPreference {
    Ignore,
    Disable,
    PropagateColumns,
    PropagateFully,
}

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionTemplateStatus {
    /// The organization object this one acts for (`Kind/name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// The Airbyte organization the external object was made in; the object never moves to
    /// another one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// The Airbyte connection template id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template_id: Option<String>,
    /// The schedule in words, as Airbyte's `cron/describe` put it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule_description: Option<String>,
    /// Hash over the applied configuration and the versions of the Secrets it reads (never over
    /// Secret values), to notice a changed Secret.
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
