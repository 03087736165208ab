//! What the operator remembers about each object between reconciles: one record per object (by
//! uid) in one map behind [`Memory`], changed only through its named methods. Nothing here is
//! needed for correctness after a restart (status, annotations and Secrets hold the truth); it
//! only saves calls and paces retries. Predicates (`drift_due`, `held_off`, `is_stale`, ...) never
//! change anything.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

use airbyte_client::BearerToken;

/// A scoped token a workspace minted or read back from its Secret, for its sources.
#[derive(Clone, Debug)]
pub struct CachedToken {
    pub token: BearerToken,
    pub workspace_id: String,
    pub expires_at: SystemTime,
}

/// What a token Secret holds at a resourceVersion (written or read back by the operator), as its
/// metadata records it.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredToken {
    pub minted_at: SystemTime,
    pub expires_at: SystemTime,
    /// Hash of the settings the token was minted for.
    pub settings_hash: String,
    /// The data matches the hash recorded at write time.
    pub intact: bool,
}

/// A token Secret's content as last written or checked by the operator.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedSecret {
    pub name: String,
    pub version: u64,
    pub token: StoredToken,
}

/// Who used an organization at the last count.
#[derive(Clone, Debug)]
pub struct Users {
    pub at: Instant,
    pub count: usize,
    /// A few of them in words.
    pub some: String,
}

#[derive(Clone, Debug, Default)]
struct Record {
    organization_id: Option<String>,
    users: Option<Users>,
    failures: u32,
    not_before: Option<Instant>,
    next_drift: Option<Instant>,
    synced_inputs: Option<u64>,
    written_version: u64,
    token: Option<CachedToken>,
    secret: Option<RecordedSecret>,
    token_suspect: bool,
    refused_token: Option<u64>,
    /// Held while a token is minted on demand, so that a workspace's sources mint one, not one
    /// each.
    mint_lock: Option<std::sync::Arc<tokio::sync::Mutex<()>>>,
}

#[derive(Default)]
pub struct Memory {
    records: Mutex<HashMap<String, Record>>,
}

impl Memory {
    fn read<T>(&self, uid: &str, f: impl FnOnce(&Record) -> T) -> Option<T> {
        let records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        records.get(uid).map(f)
    }

    fn write<T>(&self, uid: &str, f: impl FnOnce(&mut Record) -> T) -> T {
        let mut records = self.records.lock().unwrap_or_else(|p| p.into_inner());
        f(records.entry(uid.to_string()).or_default())
    }

    /// Counts a failed reconcile; returns how many came before it in a row.
    pub fn failed(&self, uid: &str) -> u32 {
        self.write(uid, |r| {
            r.failures += 1;
            r.failures - 1
        })
    }

    /// A reconcile succeeded: the failure count and any hold-off end.
    pub fn succeeded(&self, uid: &str) {
        self.write(uid, |r| {
            r.failures = 0;
            r.not_before = None;
        });
    }

    /// Airbyte asked for a pause (`Retry-After`): no call for this object before `until`.
    pub fn hold_off(&self, uid: &str, until: Instant) {
        self.write(uid, |r| r.not_before = Some(until));
    }

    /// How long calls for this object must still wait, if at all.
    pub fn held_off(&self, uid: &str, now: Instant) -> Option<Duration> {
        let until = self.read(uid, |r| r.not_before).flatten()?;
        let left = until.saturating_duration_since(now);
        (!left.is_zero()).then_some(left)
    }

    /// When the object's next drift check is due, if one is scheduled.
    pub fn next_drift(&self, uid: &str) -> Option<Instant> {
        self.read(uid, |r| r.next_drift).flatten()
    }

    /// Whether the drift check is due (unscheduled: not due).
    pub fn drift_due(&self, uid: &str, now: Instant) -> bool {
        self.next_drift(uid).is_some_and(|next| now >= next)
    }

    /// Schedules the first drift check of a process at `at`, unless one is scheduled already.
    pub fn schedule_first_drift(&self, uid: &str, at: Instant) {
        self.write(uid, |r| {
            r.next_drift.get_or_insert(at);
        });
    }

    /// The object was just compared with Airbyte: the next check is at `next`.
    pub fn drift_checked(&self, uid: &str, next: Instant) {
        self.write(uid, |r| r.next_drift = Some(next));
    }

    /// Whether this process last synced the object from exactly these inputs.
    pub fn synced_from(&self, uid: &str, inputs: u64) -> bool {
        self.read(uid, |r| r.synced_inputs == Some(inputs)) == Some(true)
    }

    /// Remembers the inputs a successful sync was decided from (`None`: unknown).
    pub fn note_synced(&self, uid: &str, inputs: Option<u64>) {
        self.write(uid, |r| r.synced_inputs = inputs);
    }

    /// Remembers the resourceVersion our own write produced.
    pub fn note_write(&self, uid: &str, resource_version: Option<&str>) {
        if let Some(version) = parse_version(resource_version) {
            self.write(uid, |r| r.written_version = r.written_version.max(version));
        }
    }

    /// Whether a cached copy predates our last write to the object (resourceVersions of one etcd
    /// grow; an unparsable one is never called stale).
    pub fn is_stale(&self, uid: &str, resource_version: Option<&str>) -> bool {
        let Some(version) = parse_version(resource_version) else {
            return false;
        };
        self.read(uid, |r| version < r.written_version) == Some(true)
    }

    /// A workspace's scoped token.
    pub fn token(&self, workspace_uid: &str) -> Option<CachedToken> {
        self.read(workspace_uid, |r| r.token.clone()).flatten()
    }

    pub fn remember_token(&self, workspace_uid: &str, token: CachedToken) {
        self.write(workspace_uid, |r| r.token = Some(token));
    }

    /// The lock a workspace's on-demand mint holds (one mint for all its sources).
    pub fn mint_lock(&self, workspace_uid: &str) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        self.write(workspace_uid, |r| {
            r.mint_lock.get_or_insert_with(Default::default).clone()
        })
    }

    /// A source saw the workspace's token refused: forget it, and have the workspace check it.
    pub fn mark_token_suspect(&self, workspace_uid: &str) {
        self.write(workspace_uid, |r| {
            r.token = None;
            r.token_suspect = true;
        });
    }

    /// Whether a source reported the token refused since the last look; clears the report.
    pub fn take_token_suspect(&self, workspace_uid: &str) -> bool {
        self.write(workspace_uid, |r| std::mem::take(&mut r.token_suspect))
    }

    /// A source's call was refused with the token whose fingerprint is `token`. Returns true when
    /// a different (fresher) token had been refused before: the refusal is not the token's age.
    pub fn token_refused(&self, source_uid: &str, token: u64) -> bool {
        self.write(source_uid, |r| {
            let again = r.refused_token.is_some_and(|previous| previous != token);
            r.refused_token = Some(token);
            again
        })
    }

    /// A source's call went through: earlier refusals no longer count.
    pub fn token_accepted(&self, source_uid: &str) {
        self.write(source_uid, |r| r.refused_token = None);
    }

    /// What the workspace's token Secret held when the operator last wrote or read it.
    pub fn recorded_secret(&self, workspace_uid: &str) -> Option<RecordedSecret> {
        self.read(workspace_uid, |r| r.secret.clone()).flatten()
    }

    pub fn record_secret(&self, workspace_uid: &str, secret: Option<RecordedSecret>) {
        self.write(workspace_uid, |r| r.secret = secret);
    }

    /// The Airbyte organization the object acted for in its last reconcile.
    pub fn organization_id(&self, uid: &str) -> Option<String> {
        self.read(uid, |r| r.organization_id.clone()).flatten()
    }

    pub fn note_organization_id(&self, uid: &str, organization_id: &str) {
        self.write(uid, |r| {
            if r.organization_id.as_deref() != Some(organization_id) {
                r.organization_id = Some(organization_id.to_string());
            }
        });
    }

    /// An organization's users at its last count.
    pub fn users(&self, uid: &str) -> Option<Users> {
        self.read(uid, |r| r.users.clone()).flatten()
    }

    pub fn note_users(&self, uid: &str, users: Users) {
        self.write(uid, |r| r.users = Some(users));
    }

    /// Drops everything about an object that is gone.
    pub fn forget(&self, uid: &str) {
        self.records
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(uid);
    }
}

pub fn parse_version(resource_version: Option<&str>) -> Option<u64> {
    resource_version.and_then(|rv| rv.parse::<u64>().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates_do_not_schedule() {
        let memory = Memory::default();
        let now = Instant::now();
        assert!(!memory.drift_due("a", now));
        assert_eq!(memory.next_drift("a"), None, "asking scheduled nothing");
        memory.schedule_first_drift("a", now + Duration::from_secs(5));
        memory.schedule_first_drift("a", now + Duration::from_secs(50));
        assert_eq!(memory.next_drift("a"), Some(now + Duration::from_secs(5)));
        assert!(memory.drift_due("a", now + Duration::from_secs(5)));
    }

    #[test]
    fn failures_count_up_and_reset_with_the_hold_off() {
        let memory = Memory::default();
        let now = Instant::now();
        assert_eq!(memory.failed("a"), 0);
        assert_eq!(memory.failed("a"), 1);
        memory.hold_off("a", now + Duration::from_secs(3));
        assert_eq!(memory.held_off("a", now), Some(Duration::from_secs(3)));
        memory.succeeded("a");
        assert_eq!(memory.failed("a"), 0);
        assert_eq!(memory.held_off("a", now), None);
    }

    #[test]
    fn a_cache_older_than_our_write_is_stale() {
        let memory = Memory::default();
        memory.note_write("a", Some("10"));
        assert!(memory.is_stale("a", Some("9")));
        assert!(!memory.is_stale("a", Some("10")));
        assert!(!memory.is_stale("a", Some("x")));
        assert!(!memory.is_stale("b", Some("1")));
    }

    #[test]
    fn a_second_refusal_counts_only_with_a_fresher_token() {
        let memory = Memory::default();
        assert!(!memory.token_refused("s", 1));
        assert!(!memory.token_refused("s", 1), "the same stale token again");
        assert!(memory.token_refused("s", 2), "a fresh token refused too");
        memory.token_accepted("s");
        assert!(!memory.token_refused("s", 3));
    }

    #[test]
    fn a_suspect_token_is_forgotten_and_reported_once() {
        let memory = Memory::default();
        memory.remember_token(
            "w",
            CachedToken {
                token: BearerToken::new("t"),
                workspace_id: "id".into(),
                expires_at: SystemTime::UNIX_EPOCH,
            },
        );
        memory.mark_token_suspect("w");
        assert!(memory.token("w").is_none());
        assert!(memory.take_token_suspect("w"));
        assert!(!memory.take_token_suspect("w"));
    }
}
