//! Crash-safe creation: before creating an Airbyte object the controller looks for one it may
//! have created already (same name, made after the Kubernetes object), so an operator killed
//! between the API's answer and the status write never creates a second one. An object of that
//! name made *before* the Kubernetes object is someone else's and is never taken silently.

use std::time::Duration;

/// Airbyte's and the apiserver's clocks differ; a create is recognised within this tolerance.
pub const CLOCK_SKEW: Duration = Duration::from_secs(60);

/// What a lookup by name found.
#[derive(Debug, PartialEq, Eq)]
pub enum Found<'a> {
    /// Nothing of that name: create.
    Nothing,
    /// Ours from an earlier, interrupted attempt: adopt this id.
    Ours(&'a str),
    /// Someone else's object of that name.
    Foreign(&'a str),
}

/// Classifies candidates `(id, created_at)` that carry the wanted name, given the Kubernetes
/// object's creation time (RFC 3339).
pub fn classify<'a>(candidates: &[(&'a str, Option<&str>)], object_created: &str) -> Found<'a> {
    let Ok(created) = object_created.parse::<jiff::Timestamp>() else {
        return candidates
            .first()
            .map_or(Found::Nothing, |(id, _)| Found::Foreign(id));
    };
    let earliest = created - jiff::SignedDuration::try_from(CLOCK_SKEW).unwrap_or_default();
    let mut foreign = None;
    for (id, made) in candidates {
        match made.and_then(|m| m.parse::<jiff::Timestamp>().ok()) {
            Some(made) if made >= earliest => return Found::Ours(id),
            _ => foreign = foreign.or(Some(*id)),
        }
    }
    foreign.map_or(Found::Nothing, Found::Foreign)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_are_classified_by_creation_time() {
        let object = "2026-01-01T12:00:00Z";
        let table: Vec<(&str, Vec<(&str, Option<&str>)>, Found)> = vec![
            ("nothing found", vec![], Found::Nothing),
            (
                "made after the object",
                vec![("a", Some("2026-01-01T12:00:05Z"))],
                Found::Ours("a"),
            ),
            (
                "made just before, within clock skew",
                vec![("a", Some("2026-01-01T11:59:30Z"))],
                Found::Ours("a"),
            ),
            (
                "made long before",
                vec![("a", Some("2026-01-01T10:00:00Z"))],
                Found::Foreign("a"),
            ),
            ("no creation time", vec![("a", None)], Found::Foreign("a")),
            (
                "ours wins over an older namesake",
                vec![
                    ("old", Some("2025-01-01T00:00:00Z")),
                    ("new", Some("2026-01-01T12:00:01Z")),
                ],
                Found::Ours("new"),
            ),
        ];
        for (case, candidates, expected) in table {
            assert_eq!(classify(&candidates, object), expected, "{case}");
        }
    }
}
