//! Finding the Airbyte object: the known one (status), the one the `external-id` annotation
//! names, or, with neither, the ones this object would have made, classified against the create
//! intent so that only what an interrupted create of ours left is ever taken.

use std::future::Future;
use std::time::SystemTime;

use super::{AirbyteObject, Lookup};
use crate::controllers::error::Error;
use crate::controllers::intent::{self, Found};
use airbyte_client::ApiError;

/// How a kind reads its Airbyte objects, with what it needs to (token, workspace, names) held.
pub trait Reader: Sync {
    type Object: AirbyteObject + Send;
    fn get(&self, id: &str) -> impl Future<Output = Result<Self::Object, ApiError>> + Send;
    fn list(&self) -> impl Future<Output = Result<Vec<Self::Object>, ApiError>> + Send;
    /// Whether `object` is one this Kubernetes object would have made (its name, its connector).
    fn fits(&self, object: &Self::Object) -> bool;
    /// Whether `object` may be adopted at all (it is this organization's, not a standard one).
    fn adoptable(&self, object: &Self::Object) -> bool {
        let _ = object;
        true
    }
}

/// Reads the object: `known` from status, else `adopt` from the annotation, else by name.
pub async fn look_up<R: Reader>(
    reader: &R,
    known: Option<String>,
    adopt: Option<String>,
    intent: Option<SystemTime>,
) -> Result<Lookup<R::Object>, Error> {
    Ok(match (known, adopt) {
        (Some(id), _) => match reader.get(&id).await {
            Ok(found) => Lookup::Found(found),
            Err(ApiError::NotFound { .. }) => Lookup::Gone { id },
            Err(error) => return Err(error.into()),
        },
        (None, Some(id)) => match reader.get(&id).await {
            Ok(found) if reader.adoptable(&found) => Lookup::Adoptable(found),
            Ok(_) | Err(ApiError::Forbidden { .. }) => {
                Lookup::AdoptionMissing { id, foreign: true }
            }
            Err(ApiError::NotFound { .. }) => Lookup::AdoptionMissing { id, foreign: false },
            Err(error) => return Err(error.into()),
        },
        (None, None) => by_name(reader, intent).await?,
    })
}

/// The objects this one would have made, classified against the create intent.
async fn by_name<R: Reader>(
    reader: &R,
    intent: Option<SystemTime>,
) -> Result<Lookup<R::Object>, Error> {
    let existing = reader.list().await?;
    Ok(match classify(reader, &existing, intent) {
        Found::Nothing => Lookup::Absent,
        Found::Taken(id) => Lookup::Taken { id: id.to_string() },
        // The list may leave fields out (configuration): read the one to adopt in full.
        Found::Ours(id) => match reader.get(id).await {
            Ok(found) => Lookup::Recovered(found),
            Err(ApiError::NotFound { .. }) => Lookup::Absent,
            Err(error) => return Err(error.into()),
        },
    })
}

/// What a deletion removes: the `known` object, else the one an interrupted create of ours left
/// (never a namesake someone else made).
pub async fn made_by<R: Reader>(
    reader: &R,
    known: Option<String>,
    intent: Option<SystemTime>,
) -> Result<Option<String>, Error> {
    if known.is_some() {
        return Ok(known);
    }
    if intent.is_none() {
        return Ok(None);
    }
    let existing = reader.list().await?;
    Ok(match classify(reader, &existing, intent) {
        Found::Ours(id) => Some(id.to_string()),
        Found::Nothing | Found::Taken(_) => None,
    })
}

fn classify<'a, R: Reader>(
    reader: &R,
    existing: &'a [R::Object],
    intent: Option<SystemTime>,
) -> Found<'a> {
    let candidates: Vec<(&str, Option<&str>)> = existing
        .iter()
        .filter(|object| reader.fits(object))
        .map(|object| (object.id(), object.created_at()))
        .collect();
    intent::classify(&candidates, intent)
}
