//! Writing to Kubernetes on the operator's behalf, always under one field manager: status by
//! server-side apply (only when it differs), and the metadata the operator owns (its finalizer and
//! its create-intent annotation) by one server-side apply of just those fields.

use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use super::lifecycle::Managed;
use embedded_crds::{CREATE_PENDING, MANAGER};

/// The field manager of every write the operator makes.
pub const FIELD_MANAGER: &str = MANAGER;

fn apply_params() -> PatchParams {
    PatchParams::apply(FIELD_MANAGER).force()
}

/// Applies `status` unless it equals `current` (compared as JSON). Returns the new
/// resourceVersion when it wrote.
pub async fn apply_status<K, S>(
    api: &Api<K>,
    object: &K,
    current: Option<&S>,
    status: &S,
) -> Result<Option<String>, kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
    S: Serialize,
{
    let desired = serde_json::to_value(status).map_err(kube::Error::SerdeError)?;
    if let Some(current) = current {
        let current = serde_json::to_value(current).map_err(kube::Error::SerdeError)?;
        if current == desired {
            return Ok(None);
        }
    }
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "status": desired,
    });
    let written = api
        .patch_status(&object.name_any(), &apply_params(), &Patch::Apply(&patch))
        .await?;
    Ok(Some(written.resource_version().unwrap_or_default()))
}

/// The metadata the operator owns on an object it reconciles.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OwnedMetadata {
    /// The finalizer that guards external deletion.
    pub finalizer: bool,
    /// The create intent (`embedded.airbyte.ai/create-pending`: when the operator set out to
    /// create the external object), kept until the object is deleted.
    pub create_pending: Option<String>,
}

impl OwnedMetadata {
    /// What the object carries now.
    pub fn of<K: Managed>(object: &K) -> OwnedMetadata {
        OwnedMetadata {
            finalizer: object.finalizers().iter().any(|f| f == K::FINALIZER),
            create_pending: object.annotations().get(CREATE_PENDING).cloned(),
        }
    }
}

/// Applies the owned metadata, writing only when it changes something; returns the new
/// resourceVersion when it wrote. Finalizers and annotations of others are untouched: server-side
/// apply owns just our items.
pub async fn apply_metadata<K>(
    api: &Api<K>,
    object: &K,
    desired: &OwnedMetadata,
) -> Result<Option<String>, kube::Error>
where
    K: Managed,
{
    if OwnedMetadata::of(object) == *desired {
        return Ok(None);
    }
    let finalizers: Vec<&str> = if desired.finalizer {
        vec![K::FINALIZER]
    } else {
        Vec::new()
    };
    let mut annotations = serde_json::Map::new();
    if let Some(when) = &desired.create_pending {
        annotations.insert(CREATE_PENDING.into(), when.clone().into());
    }
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": {
            "name": object.name_any(),
            "finalizers": finalizers,
            "annotations": annotations,
        },
    });
    match api
        .patch(&object.name_any(), &apply_params(), &Patch::Apply(&patch))
        .await
    {
        Ok(written) => Ok(Some(written.resource_version().unwrap_or_default())),
        // Already gone: nothing left to release.
        Err(kube::Error::Api(status)) if status.code == 404 && !desired.finalizer => Ok(None),
        Err(error) => Err(error),
    }
}
