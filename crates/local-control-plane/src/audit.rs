//! The apiserver's audit log (JSON lines, Metadata level) read as typed records: who did what to
//! which object and what the answer was. RBAC proofs and write counting read it.

use std::path::{Path, PathBuf};

use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEvent {
    #[serde(default)]
    pub stage: String,
    #[serde(default)]
    pub verb: String,
    #[serde(default)]
    pub request_uri: String,
    pub user: AuditUser,
    #[serde(default)]
    pub object_ref: Option<ObjectRef>,
    #[serde(default)]
    pub response_status: Option<ResponseStatus>,
    #[serde(default)]
    pub user_agent: Option<String>,
    #[serde(default)]
    pub request_received_timestamp: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct AuditUser {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

#[derive(Clone, Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    #[serde(default)]
    pub resource: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub api_group: Option<String>,
    #[serde(default)]
    pub subresource: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub struct ResponseStatus {
    #[serde(default)]
    pub code: u16,
}

impl AuditEvent {
    pub fn code(&self) -> u16 {
        self.response_status.as_ref().map(|s| s.code).unwrap_or(0)
    }

    pub fn resource(&self) -> &str {
        self.object_ref
            .as_ref()
            .map(|o| o.resource.as_str())
            .unwrap_or("")
    }

    pub fn subresource(&self) -> Option<&str> {
        self.object_ref
            .as_ref()
            .and_then(|o| o.subresource.as_deref())
    }

    pub fn namespace(&self) -> Option<&str> {
        self.object_ref
            .as_ref()
            .and_then(|o| o.namespace.as_deref())
    }

    pub fn name(&self) -> Option<&str> {
        self.object_ref.as_ref().and_then(|o| o.name.as_deref())
    }

    pub fn api_group(&self) -> &str {
        self.object_ref
            .as_ref()
            .and_then(|o| o.api_group.as_deref())
            .unwrap_or("")
    }

    /// Verbs that change state.
    pub fn is_write(&self) -> bool {
        matches!(
            self.verb.as_str(),
            "create" | "update" | "patch" | "delete" | "deletecollection"
        )
    }

    /// The event for a finished request (not the long-running watch's start).
    pub fn is_complete(&self) -> bool {
        self.stage == "ResponseComplete" || self.stage == "Panic"
    }
}

/// A handle on the audit log file.
#[derive(Clone, Debug)]
pub struct AuditLog {
    path: PathBuf,
}

impl AuditLog {
    pub fn new(path: impl AsRef<Path>) -> AuditLog {
        AuditLog {
            path: path.as_ref().to_path_buf(),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Current size in bytes: remember it, then read only what came after with [`Self::since`].
    pub fn mark(&self) -> u64 {
        std::fs::metadata(&self.path).map(|m| m.len()).unwrap_or(0)
    }

    /// Completed events after byte offset `mark` (incomplete last line ignored).
    pub fn since(&self, mark: u64) -> Vec<AuditEvent> {
        self.events_since(mark)
            .into_iter()
            .filter(AuditEvent::is_complete)
            .collect()
    }

    /// Every event after `mark`, any stage: a watch that is still open has only its
    /// `ResponseStarted` event, which is what proves the watch was allowed.
    pub fn events_since(&self, mark: u64) -> Vec<AuditEvent> {
        let Ok(bytes) = std::fs::read(&self.path) else {
            return Vec::new();
        };
        let start = (mark as usize).min(bytes.len());
        bytes[start..]
            .split(|b| *b == b'\n')
            .filter_map(|line| serde_json::from_slice::<AuditEvent>(line).ok())
            .collect()
    }

    pub fn all(&self) -> Vec<AuditEvent> {
        self.since(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_completed_events_after_a_mark() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.log");
        let first = r#"{"stage":"ResponseComplete","verb":"create","requestURI":"/api/v1/namespaces/a/secrets","user":{"username":"admin","groups":["system:masters"]},"objectRef":{"resource":"secrets","namespace":"a","name":"s","apiVersion":"v1"},"responseStatus":{"code":201}}"#;
        let started = r#"{"stage":"ResponseStarted","verb":"watch","requestURI":"/api/v1/secrets?watch=1","user":{"username":"op"}}"#;
        let second = r#"{"stage":"ResponseComplete","verb":"patch","requestURI":"/apis/x/v1/things/t/status","user":{"username":"op"},"objectRef":{"resource":"things","name":"t","apiGroup":"x","subresource":"status"},"responseStatus":{"code":403}}"#;
        std::fs::write(&path, format!("{first}\n{started}\n")).unwrap();
        let log = AuditLog::new(&path);
        let mark = log.mark();
        std::fs::write(&path, format!("{first}\n{started}\n{second}\n{{\"trunc")).unwrap();
        let all = log.all();
        assert_eq!(all.len(), 2);
        assert!(all[0].is_write() && all[0].code() == 201 && all[0].namespace() == Some("a"));
        let after = log.since(mark);
        assert_eq!(after.len(), 1);
        assert_eq!(after[0].subresource(), Some("status"));
        assert_eq!(after[0].api_group(), "x");
        assert_eq!(after[0].user.username, "op");
    }
}
