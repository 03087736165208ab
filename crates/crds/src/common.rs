//! Spec and status pieces shared by the three kinds.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::KubeSchema;
use serde::{Deserialize, Serialize};

/// Group of every resource of this operator.
pub const GROUP: &str = "embedded.airbyte.ai";
/// Version of every resource of this operator.
pub const VERSION: &str = "v1alpha1";
/// Finalizer guarding external deletion.
pub const FINALIZER: &str = "embedded.airbyte.ai/cleanup";
/// Annotation whose change forces a full reconcile (echoed in `status.lastHandledReconcileAt`).
pub const RECONCILE_REQUESTED_AT: &str = "embedded.airbyte.ai/reconcile-requested-at";
/// Annotation naming an existing Airbyte object to adopt instead of creating one.
pub const EXTERNAL_ID: &str = "embedded.airbyte.ai/external-id";
/// Annotation the operator writes before it creates an external object: when it set out to create
/// it (RFC 3339). After a crash, only an external object of the same name created around that
/// moment is taken as the operator's own (Crossplane's create-pending record).
pub const CREATE_PENDING: &str = "embedded.airbyte.ai/create-pending";
/// `app.kubernetes.io/managed-by` value on objects the operator owns.
pub const MANAGER: &str = "airbyte-embedded-operator";
/// A UUID as Airbyte writes them.
pub const UUID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/// What happens to the Airbyte object when the Kubernetes object is deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum DeletionPolicy {
    /// Delete the Airbyte object before the Kubernetes object goes.
    Delete,
    /// Leave the Airbyte object alone.
    Orphan,
}

/// Which tags select templates: `any` (at least one, the default) or `all`.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum TagMode {
    #[default]
    Any,
    All,
}

/// A tag filter over templates.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct TagFilter {
    /// Tag names (1 to 255 characters each).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 64), inner(length(min = 1, max = 255)))]
    pub tags: Vec<String>,
    /// `any` (default): a template with at least one of the tags; `all`: with every tag.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<TagMode>,
}

impl TagFilter {
    pub fn mode(&self) -> TagMode {
        self.mode.unwrap_or_default()
    }
}

/// A key of a Secret in the referring object's namespace. Cross-namespace references are refused.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
#[x_kube(validation = Rule::new("!has(self.__namespace__)").message("cross-namespace Secret references are not allowed: the Secret must be in the same namespace"))]
pub struct SecretKeyRef {
    /// Name of the Secret.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Key in the Secret's data.
    #[schemars(length(min = 1, max = 253))]
    pub key: String,
    /// Not allowed: present only so that a cross-namespace reference is refused with a clear
    /// message instead of being silently dropped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// A Secret value placed into a configuration at a path.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, KubeSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretValueRef {
    /// Dotted path in the configuration, e.g. `credentials.api_key` (letters, digits, `_` and `-`
    /// in each segment).
    #[schemars(
        regex(pattern = r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$"),
        length(max = 512)
    )]
    pub path: String,
    /// Where the value comes from.
    pub secret_key_ref: SecretKeyRef,
}

/// Conditions as a list-map keyed on `type` (server-side apply merges them by type).
pub type Conditions = Vec<Condition>;
