//! Writing to Kubernetes on the operator's behalf, always under one field manager: status by
//! server-side apply (only when it differs), the finalizer by server-side apply of that one list
//! item, and Events.

use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType};
use kube::{Api, Resource, ResourceExt};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::json;

use embedded_crds::{FINALIZER, MANAGER};

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

/// Adds (`present`) or removes this operator's finalizer, writing only when that changes
/// something; returns the new resourceVersion when it wrote. Other finalizers are untouched:
/// server-side apply owns just our item.
pub async fn set_finalizer<K>(
    api: &Api<K>,
    object: &K,
    present: bool,
) -> Result<Option<String>, kube::Error>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug,
{
    let has = object.finalizers().iter().any(|f| f == FINALIZER);
    if has == present {
        return Ok(None);
    }
    let finalizers: Vec<&str> = if present { vec![FINALIZER] } else { Vec::new() };
    let patch = json!({
        "apiVersion": K::api_version(&()),
        "kind": K::kind(&()),
        "metadata": {"name": object.name_any(), "finalizers": finalizers},
    });
    match api
        .patch(&object.name_any(), &apply_params(), &Patch::Apply(&patch))
        .await
    {
        Ok(written) => Ok(Some(written.resource_version().unwrap_or_default())),
        // Already gone: nothing left to release.
        Err(kube::Error::Api(status)) if status.code == 404 && !present => Ok(None),
        Err(error) => Err(error),
    }
}

/// Publishes an Event on `object` in the background: Events are best-effort, so a reconcile
/// neither waits for the round trip (it would hold a concurrency slot) nor fails with it; a
/// failure to publish is logged.
pub fn event<K>(
    recorder: &kube::runtime::events::Recorder,
    object: &K,
    warning: bool,
    reason: &str,
    action: &str,
    note: String,
) where
    K: Resource<DynamicType = ()>,
{
    let event = Event {
        type_: if warning {
            EventType::Warning
        } else {
            EventType::Normal
        },
        reason: reason.to_string(),
        note: Some(note),
        action: action.to_string(),
        secondary: None,
    };
    let (recorder, reference) = (recorder.clone(), object.object_ref(&()));
    tokio::spawn(async move {
        if let Err(error) = recorder.publish(&event, &reference).await {
            tracing::debug!(%error, reason = %event.reason, "could not publish event");
        }
    });
}
