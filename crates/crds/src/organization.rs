//! `ClusterAirbyteOrganization` and `AirbyteOrganization`: an Airbyte organization and the
//! credentials the operator acts for it with, as ClusterIssuer and Issuer are for cert-manager.
//! Every other kind names one in `spec.organizationRef` (none: the ClusterAirbyteOrganization
//! named `default`).

// kube derive attributes repeat keys (one printcolumn per column), which clippy mistakes for duplicates.
#![allow(clippy::duplicated_attributes)]

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use serde::{Deserialize, Serialize};

use super::common::Conditions;
use super::embedded_workspace::Region;

/// The organization objects without an `organizationRef` use: a ClusterAirbyteOrganization of
/// this name (or, when none exists, the one the operator's flags describe).
pub const DEFAULT_ORGANIZATION: &str = "default";
/// Finalizer an organization carries while objects use it.
pub const IN_USE_FINALIZER: &str = "embedded.airbyte.ai/in-use";
/// The Airbyte Embedded API, when an organization names none.
pub const DEFAULT_API_URL: &str = "https://api.airbyte.ai";

/// Which kind of organization object a reference names.
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    schemars::JsonSchema,
)]
pub enum OrganizationKind {
    /// An `AirbyteOrganization` of the referring object's own namespace.
    AirbyteOrganization,
    /// A `ClusterAirbyteOrganization` whose namespace rules admit the referring object.
    ClusterAirbyteOrganization,
}

impl OrganizationKind {
    pub fn as_str(self) -> &'static str {
        match self {
            OrganizationKind::AirbyteOrganization => "AirbyteOrganization",
            OrganizationKind::ClusterAirbyteOrganization => "ClusterAirbyteOrganization",
        }
    }
}

/// The organization an object acts for. Without it: the ClusterAirbyteOrganization `default`.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.__namespace__)").message("organizationRef takes no namespace: it names an AirbyteOrganization of the object's own namespace, or a ClusterAirbyteOrganization"))]
pub struct OrganizationRef {
    /// `AirbyteOrganization` (same namespace) or `ClusterAirbyteOrganization`.
    pub kind: OrganizationKind,
    /// The organization object's name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Not allowed: present only so that a cross-namespace reference is refused with a clear
    /// message instead of being silently dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// The Secret holding the organization's application credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.__namespace__)").message("credentialsSecretRef takes no namespace: an AirbyteOrganization reads a Secret of its own namespace, a ClusterAirbyteOrganization one of the operator's namespace"))]
pub struct CredentialsSecretRef {
    /// Name of the Secret: in the organization's namespace (AirbyteOrganization) or in the
    /// operator's namespace (ClusterAirbyteOrganization, as a ClusterIssuer's).
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key of the client id (default `clientId`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub client_id_key: Option<String>,
    /// Key of the client secret (default `clientSecret`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub client_secret_key: Option<String>,
    /// Not allowed (see `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

impl CredentialsSecretRef {
    pub fn client_id_key(&self) -> &str {
        self.client_id_key.as_deref().unwrap_or("clientId")
    }

    pub fn client_secret_key(&self) -> &str {
        self.client_secret_key.as_deref().unwrap_or("clientSecret")
    }
}

/// How many requests per second the operator sends to Airbyte for this organization (a token
/// bucket of its own, apart from every other organization's).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct RequestBudget {
    /// Sustained requests per second.
    #[schemars(range(min = 1, max = 10000))]
    pub requests_per_second: u32,
    /// Requests that may go at once after a quiet spell (default: `requestsPerSecond`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 10000))]
    pub burst: Option<u32>,
}

/// What both organization kinds declare.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!(has(self.region) && has(self.regionId))").message("set region or regionId, not both"))]
pub struct OrganizationSettings {
    /// The Airbyte organization id (UUID).
    #[schemars(regex(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ))]
    pub organization_id: String,
    /// Base URL of the Airbyte Embedded API (default `https://api.airbyte.ai`). Plain `http` only
    /// to loopback, unless the operator runs with `--allow-insecure-http`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        regex(pattern = r"^https?://[^\s/?#]+(/[^\s?#]*)?$"),
        length(max = 2048)
    )]
    pub api_url: Option<String>,
    /// The Secret with the organization's application credentials (client id and secret).
    pub credentials_secret_ref: CredentialsSecretRef,
    /// Region of the workspaces its EmbeddedWorkspaces create, unless they name one: `us` or
    /// `eu` (none: Airbyte's default, US).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<Region>,
    /// Any other region, by UUID. Not together with `region`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
    ))]
    pub region_id: Option<String>,
    /// This organization's own request budget toward Airbyte (default: the operator's
    /// `--max-requests-per-second`, for each organization separately).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_budget: Option<RequestBudget>,
}

/// Which namespaces may use a ClusterAirbyteOrganization: those listed by name and those whose
/// labels match the selector (either admits).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("(has(self.names) && size(self.names) > 0) || has(self.selector)").message("namespaces admits nothing: list names, set a selector, or remove namespaces to admit every namespace"))]
pub struct NamespaceRule {
    /// Namespaces admitted by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 1024), inner(length(min = 1, max = 63)))]
    pub names: Vec<String>,
    /// Namespaces admitted by their labels (`matchLabels`, `matchExpressions`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
}

/// An Airbyte organization for the whole cluster.
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "embedded.airbyte.ai",
    doc = "An Airbyte organization for the whole cluster: its id, API and application credentials (a Secret of the operator's namespace), and which namespaces may use it. Objects without an organizationRef use the one named default.",
    version = "v1alpha1",
    kind = "ClusterAirbyteOrganization",
    status = "OrganizationStatus",
    shortname = "caorg",
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
        name = "Organization ID",
        type_ = "string",
        json_path = ".spec.organizationId"
    ),
    printcolumn(name = "Users", type_ = "integer", json_path = ".status.users"),
    printcolumn(
        name = "Token Expires",
        type_ = "string",
        description = "When the application token last obtained expires (RFC 3339, UTC)",
        json_path = ".status.tokenExpiresAt",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterAirbyteOrganizationSpec {
    #[serde(flatten)]
    pub settings: OrganizationSettings,
    /// Which namespaces may use it (none: every namespace). Cluster-scoped templates always may.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespaces: Option<NamespaceRule>,
}

/// An Airbyte organization for the objects of one namespace.
#[derive(CustomResource, KubeSchema, Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[kube(
    group = "embedded.airbyte.ai",
    doc = "An Airbyte organization for the EmbeddedWorkspaces and EmbeddedSources of its own namespace: its id, API and application credentials (a Secret of the same namespace).",
    version = "v1alpha1",
    kind = "AirbyteOrganization",
    namespaced,
    status = "OrganizationStatus",
    shortname = "aorg",
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
        name = "Organization ID",
        type_ = "string",
        json_path = ".spec.organizationId"
    ),
    printcolumn(name = "Users", type_ = "integer", json_path = ".status.users"),
    printcolumn(
        name = "Token Expires",
        type_ = "string",
        description = "When the application token last obtained expires (RFC 3339, UTC)",
        json_path = ".status.tokenExpiresAt",
        priority = 1
    ),
    printcolumn(
        name = "Age",
        type_ = "date",
        json_path = ".metadata.creationTimestamp"
    )
)]
#[serde(rename_all = "camelCase")]
pub struct AirbyteOrganizationSpec {
    #[serde(flatten)]
    pub settings: OrganizationSettings,
}

/// What the operator found out about an organization.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct OrganizationStatus {
    /// The organization Airbyte issued the application token for (when it says).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// When the application token last obtained with these credentials expires (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_expires_at: Option<String>,
    /// How many objects use this organization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<u32>,
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
