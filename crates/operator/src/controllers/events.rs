//! Kubernetes Events the operator publishes: their reasons and actions as enums (no string
//! literals at call sites), and the sink they go to. Events are best-effort and published in the
//! background, so a reconcile never waits for them nor fails with them.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder};

use embedded_crds::conditions::Reason;

/// Why an Event is published.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventReason {
    Created,
    Adopted,
    Updated,
    Deleted,
    DriftDetected,
    TokenIssued,
    TokenRefreshed,
    /// The token Secret went: the workspace keeps no token now.
    TokenSecretRemoved,
    WorkspaceRecreated,
    Suspended,
    Resumed,
    /// The `Ready` condition changed to this reason.
    Condition(Reason),
}

impl EventReason {
    pub fn as_str(self) -> &'static str {
        match self {
            EventReason::Created => "Created",
            EventReason::Adopted => "Adopted",
            EventReason::Updated => "Updated",
            EventReason::Deleted => "Deleted",
            EventReason::DriftDetected => "DriftDetected",
            EventReason::TokenIssued => "TokenIssued",
            EventReason::TokenRefreshed => "TokenRefreshed",
            EventReason::TokenSecretRemoved => "TokenSecretRemoved",
            EventReason::WorkspaceRecreated => "WorkspaceRecreated",
            EventReason::Suspended => "Suspended",
            EventReason::Resumed => "Resumed",
            EventReason::Condition(reason) => reason.as_str(),
        }
    }
}

/// What the operator did when it published the Event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventAction {
    Reconcile,
    MintToken,
    DeleteTokenSecret,
    SetWorkspaceStatus,
    DeleteWorkspace,
    CreateTemplate,
    UpdateTemplate,
    GetTemplate,
    DeleteTemplate,
    CreateSource,
    UpdateSource,
    GetSource,
    DeleteSource,
    CreateConnectionTemplate,
    UpdateConnectionTemplate,
    GetConnectionTemplate,
    DeleteConnectionTemplate,
}

impl EventAction {
    pub fn as_str(self) -> &'static str {
        match self {
            EventAction::Reconcile => "Reconcile",
            EventAction::MintToken => "MintToken",
            EventAction::DeleteTokenSecret => "DeleteTokenSecret",
            EventAction::SetWorkspaceStatus => "SetWorkspaceStatus",
            EventAction::DeleteWorkspace => "DeleteWorkspace",
            EventAction::CreateTemplate => "CreateTemplate",
            EventAction::UpdateTemplate => "UpdateTemplate",
            EventAction::GetTemplate => "GetTemplate",
            EventAction::DeleteTemplate => "DeleteTemplate",
            EventAction::CreateSource => "CreateSource",
            EventAction::UpdateSource => "UpdateSource",
            EventAction::GetSource => "GetSource",
            EventAction::DeleteSource => "DeleteSource",
            EventAction::CreateConnectionTemplate => "CreateConnectionTemplate",
            EventAction::UpdateConnectionTemplate => "UpdateConnectionTemplate",
            EventAction::GetConnectionTemplate => "GetConnectionTemplate",
            EventAction::DeleteConnectionTemplate => "DeleteConnectionTemplate",
        }
    }
}

/// One Event to publish on an object.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    pub warning: bool,
    pub reason: EventReason,
    pub action: EventAction,
    pub message: String,
}

impl Note {
    pub fn normal(reason: EventReason, action: EventAction, message: impl Into<String>) -> Note {
        Note {
            warning: false,
            reason,
            action,
            message: message.into(),
        }
    }

    pub fn warning(reason: EventReason, action: EventAction, message: impl Into<String>) -> Note {
        Note {
            warning: true,
            reason,
            action,
            message: message.into(),
        }
    }
}

/// Where Events go.
pub trait EventSink: Send + Sync {
    fn publish(&self, object: ObjectReference, note: Note);
}

/// Kubernetes `events.k8s.io/v1` through kube's recorder, each in its own background task.
pub struct KubeEvents(pub Recorder);

impl EventSink for KubeEvents {
    fn publish(&self, object: ObjectReference, note: Note) {
        let event = Event {
            type_: if note.warning {
                EventType::Warning
            } else {
                EventType::Normal
            },
            reason: note.reason.as_str().to_string(),
            note: Some(note.message),
            action: note.action.as_str().to_string(),
            secondary: None,
        };
        let recorder = self.0.clone();
        tokio::spawn(async move {
            if let Err(error) = recorder.publish(&event, &object).await {
                tracing::debug!(%error, reason = %event.reason, "could not publish event");
            }
        });
    }
}

/// Keeps Events in memory (tests).
#[derive(Default)]
pub struct CollectedEvents(pub std::sync::Mutex<Vec<(ObjectReference, Note)>>);

impl EventSink for CollectedEvents {
    fn publish(&self, object: ObjectReference, note: Note) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((object, note));
    }
}
