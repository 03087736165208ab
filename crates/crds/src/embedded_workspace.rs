//! `EmbeddedWorkspace`: one tenant's Airbyte workspace and its scoped-token Secret.

// kube derive attributes repeat keys (one printcolumn per column), which clippy mistakes for duplicates.
#![allow(clippy::duplicated_attributes)]

use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::{Conditions, DeletionPolicy, TagFilter};
use super::organization::OrganizationRef;

/// The tenant's workspace, token Secret and lifecycle.
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "embedded.airbyte.ai",
    doc = "One tenant: an Airbyte Embedded workspace whose scoped token the operator mints, stores in a Secret it owns, and refreshes before it expires.",
    version = "v1alpha1",
    kind = "EmbeddedWorkspace",
    namespaced,
    status = "EmbeddedWorkspaceStatus",
    shortname = "aew",
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
        json_path = ".status.workspaceName"
    ),
    printcolumn(
        name = "Workspace ID",
        type_ = "string",
        json_path = ".status.workspaceId",
        priority = 1
    ),
    printcolumn(
        name = "Token Expires",
        type_ = "string",
        description = "When the token in the Secret expires (RFC 3339, UTC)",
        json_path = ".status.tokenExpiresAt"
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.region) && has(self.regionId))").message("set region or regionId, not both"))]
#[x_kube(validation = Rule::new("!has(self.tokenPolicy) || self.tokenPolicy == 'Keep' || (!has(self.widget) && !has(self.tokenSecretName) && !has(self.refreshBefore))").message("with tokenPolicy OnDemand no token Secret is kept: widget, tokenSecretName and refreshBefore do not apply").field_path(".tokenPolicy"))]
#[x_kube(validation = Rule::new("!has(oldSelf.workspaceName) || (has(self.workspaceName) && self.workspaceName == oldSelf.workspaceName)").message("workspaceName is immutable once set: it identifies the tenant's Airbyte workspace").field_path(".workspaceName"))]
pub struct EmbeddedWorkspaceSpec {
    /// The tenant's workspace name, unique in the Airbyte organization. Defaults to
    /// `<namespace>.<name>`. Immutable once bound (recorded in `status.workspaceName`). Under the
    /// default name policy it must start with `<namespace>.`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 255))]
    pub workspace_name: Option<String>,
    /// Airbyte region: `us` (default) or `eu`. Used when the workspace is created.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
    /// Any other Airbyte region, by UUID. Not together with `region`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ))]
    pub region_id: Option<String>,
    /// The Secret the token is written to, in this namespace. Default: `<name>-airbyte-token`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"),
        length(max = 253)
    )]
    pub token_secret_name: Option<String>,
    /// `Keep` (default): the operator keeps a fresh scoped token in the Secret. `OnDemand`: no
    /// token Secret; the operator mints a token only when it must act on the workspace's sources
    /// (create, update, delete, a drift check) and keeps it in memory until it expires. Your own
    /// backend then mints the tenant's tokens; the workspace itself is checked with the
    /// organization's token. Switching to `OnDemand` deletes the Secret the operator owned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_policy: Option<TokenPolicy>,
    /// How long before expiry the token is re-minted, as a duration (`5m`, `90s`). Default: a
    /// third of the token's lifetime (scoped tokens live 20 minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_before: Option<kube::core::Duration>,
    /// Also mint an Embedded widget token for this origin, stored under `widgetToken`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub widget: Option<WidgetSpec>,
    /// Set the Airbyte workspace inactive (its connections stop) while true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub suspend: Option<bool>,
    /// `Orphan` (default): deleting this object leaves the Airbyte workspace and its pipelines.
    /// `Delete`: deletes the Airbyte workspace with all its sources and connections.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_policy: Option<DeletionPolicy>,
    /// The Airbyte organization to act for: an `AirbyteOrganization` of this namespace or a
    /// `ClusterAirbyteOrganization` that admits it. Default: the ClusterAirbyteOrganization
    /// `default`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_ref: Option<OrganizationRef>,
}

/// Whether the operator keeps the workspace's scoped token in a Secret.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
pub enum TokenPolicy {
    /// A token Secret, refreshed before the token expires.
    #[default]
    Keep,
    /// No token Secret: tokens are minted when the operator needs one, and kept in memory only.
    OnDemand,
}

impl EmbeddedWorkspaceSpec {
    /// Whether a token Secret is kept (the default).
    pub fn keeps_token(&self) -> bool {
        self.token_policy.unwrap_or_default() == TokenPolicy::Keep
    }
}

/// Airbyte's US region, the default when no region is given.
pub const REGION_US: &str = "645a183f-b12b-4c6e-8ad3-99e165603450";
/// Airbyte's EU region.
pub const REGION_EU: &str = "b9e48d61-f082-4a14-a8d0-799a907938cb";

/// A named Airbyte region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Region {
    Us,
    Eu,
}

impl Region {
    pub fn id(self) -> &'static str {
        match self {
            Region::Us => REGION_US,
            Region::Eu => REGION_EU,
        }
    }
}

/// The Embedded widget this tenant's application shows.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct WidgetSpec {
    /// The origin that embeds the widget: `scheme://host[:port]`, no path, no trailing slash, no
    /// wildcard (e.g. `https://app.example.com`).
    #[schemars(
        regex(
            pattern = r"^https?://(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)(:[0-9]{1,5})?$"
        ),
        length(max = 2048)
    )]
    pub allowed_origin: String,
    /// Which source templates the widget offers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_template_tags: Option<TagFilter>,
    /// Which connection templates the widget offers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection_template_tags: Option<TagFilter>,
}

/// What the operator observed and did.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmbeddedWorkspaceStatus {
    /// The organization object this one acts for (`Kind/name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization: Option<String>,
    /// The Airbyte organization the external object was made in; the object never moves to
    /// another one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// The Airbyte workspace id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_id: Option<String>,
    /// The workspace name this object is bound to (it never changes afterwards).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workspace_name: Option<String>,
    /// The region the workspace was created in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region_id: Option<String>,
    /// When the token in the Secret expires (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<String>,
    /// The Secret holding the token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_secret_name: Option<String>,
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
