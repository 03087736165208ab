//! Crash-safe creation by design (Crossplane's create-pending record): the operator writes on the
//! Kubernetes object when it sets out to create the external object (`embedded.airbyte.ai/
//! create-pending`), then creates it, then records its id. An operator that died in between finds,
//! by name, only what fits that record: an object of that name created inside the recorded window
//! is its own and is adopted; any other is someone else's and is never taken (nor deleted).

use std::time::{Duration, SystemTime};

/// Airbyte's and the apiserver's clocks differ by up to this much.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);
/// How long after the recorded moment a create can still have happened (inline retries of a slow
/// or throttled create included).
pub const CREATE_WINDOW: Duration = Duration::from_secs(600);

/// When the operator last set out to create `object`'s external object, as recorded on it.
pub fn recorded<K: kube::Resource>(object: &K) -> Option<SystemTime> {
    kube::ResourceExt::annotations(object)
        .get(embedded_crds::CREATE_PENDING)
        .and_then(|at| super::clock::parse_rfc3339(at))
}

/// What a lookup by name found.
#[derive(Debug, PartialEq, Eq)]
pub enum Found<'a> {
    /// Nothing of that name.
    Nothing,
    /// Created inside the recorded window: ours, from an interrupted attempt.
    Ours(&'a str),
    /// Someone else's (no record, made outside the window, or no creation time to tell).
    Taken(&'a str),
}

/// Classifies same-named candidates `(id, created_at)` against the recorded intent.
pub fn classify<'a>(
    candidates: &[(&'a str, Option<&str>)],
    intent: Option<SystemTime>,
) -> Found<'a> {
    let Some(first) = candidates.first() else {
        return Found::Nothing;
    };
    let Some(at) = intent else {
        return Found::Taken(first.0);
    };
    let earliest = at - CLOCK_SKEW;
    let latest = at + CREATE_WINDOW + CLOCK_SKEW;
    candidates
        .iter()
        .find(|(_, created)| {
            created
                .and_then(super::clock::parse_rfc3339)
                .is_some_and(|made| made >= earliest && made <= latest)
        })
        .map_or(Found::Taken(first.0), |(id, _)| Found::Ours(id))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> SystemTime {
        super::super::clock::parse_rfc3339(text).unwrap()
    }

    #[test]
    fn candidates_are_classified_against_the_recorded_intent() {
        let intent = Some(at("2026-01-01T12:00:00Z"));
        let table: Vec<(&str, Vec<(&str, Option<&str>)>, Option<SystemTime>, Found)> = vec![
            ("nothing found", vec![], intent, Found::Nothing),
            (
                "made just after the recorded intent",
                vec![("a", Some("2026-01-01T12:00:02Z"))],
                intent,
                Found::Ours("a"),
            ),
            (
                "made just before it, within clock skew",
                vec![("a", Some("2026-01-01T11:59:30Z"))],
                intent,
                Found::Ours("a"),
            ),
            (
                "made long before the intent",
                vec![("a", Some("2026-01-01T10:00:00Z"))],
                intent,
                Found::Taken("a"),
            ),
            (
                "made long after the intent",
                vec![("a", Some("2026-01-01T14:00:00Z"))],
                intent,
                Found::Taken("a"),
            ),
            (
                "a namesake when no creation was ever attempted",
                vec![("a", Some("2026-01-01T12:00:02Z"))],
                None,
                Found::Taken("a"),
            ),
            (
                "no creation time to tell",
                vec![("a", None)],
                intent,
                Found::Taken("a"),
            ),
            (
                "ours among an older namesake",
                vec![
                    ("old", Some("2025-01-01T00:00:00Z")),
                    ("new", Some("2026-01-01T12:00:01Z")),
                ],
                intent,
                Found::Ours("new"),
            ),
        ];
        for (case, candidates, intent, expected) in table {
            assert_eq!(classify(&candidates, intent), expected, "{case}");
        }
    }
}
