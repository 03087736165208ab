//! The condition vocabulary: every reason a condition can carry, and how an outcome becomes the
//! `Ready` / `Reconciling` / `Stalled` set (kstatus: `Reconciling` and `Stalled` are present and
//! True only while they apply). `lastTransitionTime` moves only when a condition's status flips.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};

pub const READY: &str = "Ready";
pub const RECONCILING: &str = "Reconciling";
pub const STALLED: &str = "Stalled";

/// Every reason the operator writes. CamelCase, stable: dashboards and alerts key on them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Reason {
    // Ready
    TokenIssued,
    Synced,
    Authenticated,
    // In progress (Reconciling)
    Reconciling,
    WorkspaceNotReady,
    TemplateNotReady,
    ApiUnavailable,
    RateLimited,
    KubernetesError,
    DeletionFailed,
    Deleting,
    InUse,
    // Stalled: the spec or the user must change something
    ApiRejected,
    ApiEndpointMissing,
    Forbidden,
    Unauthorized,
    NotFound,
    SecretNotFound,
    SecretKeyNotFound,
    SecretConflict,
    InvalidConfig,
    WorkspaceNameConflict,
    WorkspaceNameNotAllowed,
    WorkspaceNameImmutable,
    DuplicateSourceName,
    SourceNameTaken,
    TemplateNameTaken,
    WorkspaceNameAmbiguous,
    AdoptionFailed,
    TemplateNotFound,
    InvalidCronExpression,
    OrganizationNotFound,
    OrganizationNotAllowed,
    OrganizationNotReady,
    OrganizationMismatch,
    OrganizationChanged,
    CredentialsRefused,
    OrganizationIdMismatch,
}

impl Reason {
    pub const ALL: [Reason; 38] = [
        Reason::TokenIssued,
        Reason::Synced,
        Reason::Reconciling,
        Reason::WorkspaceNotReady,
        Reason::TemplateNotReady,
        Reason::ApiUnavailable,
        Reason::RateLimited,
        Reason::KubernetesError,
        Reason::DeletionFailed,
        Reason::Deleting,
        Reason::ApiRejected,
        Reason::ApiEndpointMissing,
        Reason::Forbidden,
        Reason::Unauthorized,
        Reason::NotFound,
        Reason::SecretNotFound,
        Reason::SecretKeyNotFound,
        Reason::SecretConflict,
        Reason::InvalidConfig,
        Reason::WorkspaceNameConflict,
        Reason::WorkspaceNameNotAllowed,
        Reason::WorkspaceNameImmutable,
        Reason::DuplicateSourceName,
        Reason::SourceNameTaken,
        Reason::TemplateNameTaken,
        Reason::WorkspaceNameAmbiguous,
        Reason::AdoptionFailed,
        Reason::TemplateNotFound,
        Reason::InvalidCronExpression,
        Reason::Authenticated,
        Reason::InUse,
        Reason::OrganizationNotFound,
        Reason::OrganizationNotAllowed,
        Reason::OrganizationNotReady,
        Reason::OrganizationMismatch,
        Reason::OrganizationChanged,
        Reason::CredentialsRefused,
        Reason::OrganizationIdMismatch,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Reason::TokenIssued => "TokenIssued",
            Reason::Synced => "Synced",
            Reason::Reconciling => "Reconciling",
            Reason::WorkspaceNotReady => "WorkspaceNotReady",
            Reason::TemplateNotReady => "TemplateNotReady",
            Reason::ApiUnavailable => "ApiUnavailable",
            Reason::RateLimited => "RateLimited",
            Reason::KubernetesError => "KubernetesError",
            Reason::DeletionFailed => "DeletionFailed",
            Reason::Deleting => "Deleting",
            Reason::ApiRejected => "ApiRejected",
            Reason::ApiEndpointMissing => "ApiEndpointMissing",
            Reason::Forbidden => "Forbidden",
            Reason::Unauthorized => "Unauthorized",
            Reason::NotFound => "NotFound",
            Reason::SecretNotFound => "SecretNotFound",
            Reason::SecretKeyNotFound => "SecretKeyNotFound",
            Reason::SecretConflict => "SecretConflict",
            Reason::InvalidConfig => "InvalidConfig",
            Reason::WorkspaceNameConflict => "WorkspaceNameConflict",
            Reason::WorkspaceNameNotAllowed => "WorkspaceNameNotAllowed",
            Reason::WorkspaceNameImmutable => "WorkspaceNameImmutable",
            Reason::DuplicateSourceName => "DuplicateSourceName",
            Reason::SourceNameTaken => "SourceNameTaken",
            Reason::TemplateNameTaken => "TemplateNameTaken",
            Reason::WorkspaceNameAmbiguous => "WorkspaceNameAmbiguous",
            Reason::AdoptionFailed => "AdoptionFailed",
            Reason::TemplateNotFound => "TemplateNotFound",
            Reason::InvalidCronExpression => "InvalidCronExpression",
            Reason::Authenticated => "Authenticated",
            Reason::InUse => "InUse",
            Reason::OrganizationNotFound => "OrganizationNotFound",
            Reason::OrganizationNotAllowed => "OrganizationNotAllowed",
            Reason::OrganizationNotReady => "OrganizationNotReady",
            Reason::OrganizationMismatch => "OrganizationMismatch",
            Reason::OrganizationChanged => "OrganizationChanged",
            Reason::CredentialsRefused => "CredentialsRefused",
            Reason::OrganizationIdMismatch => "OrganizationIdMismatch",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one reconcile left the object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Everything declared is in place.
    Ready { reason: Reason, message: String },
    /// Working on it, or waiting for something that may still happen.
    InProgress { reason: Reason, message: String },
    /// Cannot progress until the spec or the user changes something.
    Stalled { reason: Reason, message: String },
}

impl Outcome {
    pub fn ready(reason: Reason, message: impl Into<String>) -> Outcome {
        Outcome::Ready {
            reason,
            message: message.into(),
        }
    }

    pub fn in_progress(reason: Reason, message: impl Into<String>) -> Outcome {
        Outcome::InProgress {
            reason,
            message: message.into(),
        }
    }

    pub fn stalled(reason: Reason, message: impl Into<String>) -> Outcome {
        Outcome::Stalled {
            reason,
            message: message.into(),
        }
    }

    pub fn reason(&self) -> Reason {
        match self {
            Outcome::Ready { reason, .. }
            | Outcome::InProgress { reason, .. }
            | Outcome::Stalled { reason, .. } => *reason,
        }
    }

    pub fn message(&self) -> &str {
        match self {
            Outcome::Ready { message, .. }
            | Outcome::InProgress { message, .. }
            | Outcome::Stalled { message, .. } => message,
        }
    }

    pub fn is_ready(&self) -> bool {
        matches!(self, Outcome::Ready { .. })
    }

    pub fn is_stalled(&self) -> bool {
        matches!(self, Outcome::Stalled { .. })
    }
}

/// The full condition set for `outcome`, reusing `lastTransitionTime` from `previous` where a
/// condition's status did not change.
pub fn conditions(
    outcome: &Outcome,
    generation: Option<i64>,
    previous: &[Condition],
    now: &Time,
) -> Vec<Condition> {
    let make = |type_: &str, status: &str, reason: Reason, message: &str| {
        let last_transition_time = previous
            .iter()
            .find(|c| c.type_ == type_ && c.status == status)
            .map(|c| c.last_transition_time.clone())
            .unwrap_or_else(|| now.clone());
        Condition {
            type_: type_.to_string(),
            status: status.to_string(),
            reason: reason.as_str().to_string(),
            message: message.to_string(),
            observed_generation: generation,
            last_transition_time,
        }
    };
    let message = outcome.message();
    let reason = outcome.reason();
    match outcome {
        Outcome::Ready { .. } => vec![make(READY, "True", reason, message)],
        Outcome::InProgress { .. } => vec![
            make(READY, "False", reason, message),
            make(RECONCILING, "True", reason, message),
        ],
        Outcome::Stalled { .. } => vec![
            make(READY, "False", reason, message),
            make(STALLED, "True", reason, message),
        ],
    }
}

/// Whether the `Ready` condition in `conditions` is True.
pub fn is_ready(conditions: &[Condition]) -> bool {
    conditions
        .iter()
        .any(|c| c.type_ == READY && c.status == "True")
}

/// The `Ready` condition, if any.
pub fn ready(conditions: &[Condition]) -> Option<&Condition> {
    conditions.iter().find(|c| c.type_ == READY)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(seconds: i64) -> Time {
        Time(jiff::Timestamp::from_second(seconds).unwrap())
    }

    #[test]
    fn reasons_are_camel_case_and_unique() {
        let mut seen = std::collections::HashSet::new();
        for reason in Reason::ALL {
            let text = reason.as_str();
            assert!(text.chars().next().unwrap().is_ascii_uppercase(), "{text}");
            assert!(text.chars().all(|c| c.is_ascii_alphanumeric()), "{text}");
            assert!(seen.insert(text), "{text} twice");
            assert_eq!(format!("{reason:?}"), text);
        }
    }

    #[test]
    fn kstatus_shapes_per_outcome() {
        let cases = [
            (
                Outcome::ready(Reason::Synced, "ok"),
                vec![("Ready", "True")],
            ),
            (
                Outcome::in_progress(Reason::WorkspaceNotReady, "waiting"),
                vec![("Ready", "False"), ("Reconciling", "True")],
            ),
            (
                Outcome::stalled(Reason::ApiRejected, "bad"),
                vec![("Ready", "False"), ("Stalled", "True")],
            ),
        ];
        for (outcome, expected) in cases {
            let got: Vec<(String, String)> = conditions(&outcome, Some(3), &[], &time(10))
                .into_iter()
                .map(|c| {
                    assert_eq!(c.observed_generation, Some(3));
                    assert_eq!(c.reason, outcome.reason().as_str());
                    (c.type_, c.status)
                })
                .collect();
            let expected: Vec<(String, String)> = expected
                .into_iter()
                .map(|(t, s)| (t.to_string(), s.to_string()))
                .collect();
            assert_eq!(got, expected, "{outcome:?}");
        }
    }

    #[test]
    fn transition_time_moves_only_when_the_status_flips() {
        let first = conditions(
            &Outcome::in_progress(Reason::Reconciling, "a"),
            Some(1),
            &[],
            &time(10),
        );
        let same_status = conditions(
            &Outcome::in_progress(Reason::ApiUnavailable, "b"),
            Some(1),
            &first,
            &time(20),
        );
        assert_eq!(
            same_status[0].last_transition_time,
            time(10),
            "Ready stayed False"
        );
        let flipped = conditions(
            &Outcome::ready(Reason::Synced, "c"),
            Some(1),
            &same_status,
            &time(30),
        );
        assert_eq!(
            flipped[0].last_transition_time,
            time(30),
            "Ready became True"
        );
        assert!(is_ready(&flipped));
        assert!(!is_ready(&first));
    }
}
