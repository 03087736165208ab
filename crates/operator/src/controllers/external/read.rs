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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::clock::parse_rfc3339;
    use airbyte_client::Endpoint;

    #[derive(Debug, PartialEq)]
    struct Object {
        id: &'static str,
        name: &'static str,
        created: &'static str,
        ours: bool,
    }

    impl AirbyteObject for Object {
        fn id(&self) -> &str {
            self.id
        }
        fn created_at(&self) -> Option<&str> {
            Some(self.created)
        }
    }

    /// What Airbyte holds: `a` (adoptable), `x` (another's), `forbidden` (a 403), two namesakes
    /// `feed`, one made at noon and one the day before.
    struct World;

    fn object(id: &'static str) -> Option<Object> {
        let (name, created, ours) = match id {
            "a" => ("other", "2026-06-01T00:00:00Z", true),
            "x" => ("other", "2026-06-01T00:00:00Z", false),
            "noon" => ("feed", "2026-06-01T12:00:05Z", true),
            "old" => ("feed", "2026-05-31T12:00:00Z", true),
            _ => return None,
        };
        Some(Object {
            id,
            name,
            created,
            ours,
        })
    }

    impl Reader for World {
        type Object = Object;

        async fn get(&self, id: &str) -> Result<Object, ApiError> {
            let endpoint = Endpoint::SourceGet;
            let detail = String::new();
            match id {
                "forbidden" => Err(ApiError::Forbidden { endpoint, detail }),
                _ => ["a", "x", "noon", "old"]
                    .into_iter()
                    .find(|known| *known == id)
                    .and_then(object)
                    .ok_or(ApiError::NotFound { endpoint, detail }),
            }
        }

        async fn list(&self) -> Result<Vec<Object>, ApiError> {
            Ok(["a", "x", "old", "noon"]
                .into_iter()
                .filter_map(object)
                .collect())
        }

        fn fits(&self, object: &Object) -> bool {
            object.name == "feed"
        }

        fn adoptable(&self, object: &Object) -> bool {
            object.ours
        }
    }

    /// (case, known id, annotation, create intent, what must be found)
    type Case = (
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        Option<&'static str>,
        fn(&Lookup<Object>) -> bool,
    );

    #[tokio::test]
    async fn finds_the_object_from_status_annotation_or_intent() {
        let table: Vec<Case> = vec![
            (
                "the known object",
                Some("a"),
                None,
                None,
                |l| matches!(l, Lookup::Found(o) if o.id == "a"),
            ),
            (
                "the known object, deleted out of band",
                Some("gone"),
                None,
                None,
                |l| matches!(l, Lookup::Gone { id } if id == "gone"),
            ),
            (
                "the annotation's object",
                None,
                Some("a"),
                None,
                |l| matches!(l, Lookup::Adoptable(o) if o.id == "a"),
            ),
            (
                "an annotation naming nothing",
                None,
                Some("none"),
                None,
                |l| matches!(l, Lookup::AdoptionMissing { foreign: false, .. }),
            ),
            (
                "an annotation naming another's",
                None,
                Some("x"),
                None,
                |l| matches!(l, Lookup::AdoptionMissing { foreign: true, .. }),
            ),
            (
                "an annotation Airbyte refuses",
                None,
                Some("forbidden"),
                None,
                |l| matches!(l, Lookup::AdoptionMissing { foreign: true, .. }),
            ),
            (
                "a namesake with no intent recorded",
                None,
                None,
                None,
                |l| matches!(l, Lookup::Taken { id } if id == "old"),
            ),
            (
                "the namesake made inside the recorded window",
                None,
                None,
                Some("2026-06-01T12:00:00Z"),
                |l| matches!(l, Lookup::Recovered(o) if o.id == "noon"),
            ),
            (
                "namesakes made outside the window",
                None,
                None,
                Some("2026-06-03T12:00:00Z"),
                |l| matches!(l, Lookup::Taken { .. }),
            ),
        ];
        for (case, known, adopt, intent, check) in table {
            let intent = intent.and_then(parse_rfc3339);
            let found = look_up(
                &World,
                known.map(String::from),
                adopt.map(String::from),
                intent,
            )
            .await
            .unwrap();
            assert!(check(&found), "{case}: {found:?}");
        }
    }

    #[tokio::test]
    async fn a_deletion_removes_only_what_it_made() {
        let noon = parse_rfc3339("2026-06-01T12:00:00Z");
        let made = |known: Option<&str>, intent| made_by(&World, known.map(String::from), intent);
        assert_eq!(made(Some("a"), None).await.unwrap().as_deref(), Some("a"));
        assert_eq!(made(None, noon).await.unwrap().as_deref(), Some("noon"));
        assert_eq!(
            made(None, None).await.unwrap(),
            None,
            "no record, nothing taken"
        );
        let later = parse_rfc3339("2026-06-03T12:00:00Z");
        assert_eq!(
            made(None, later).await.unwrap(),
            None,
            "a namesake is left alone"
        );
    }
}
