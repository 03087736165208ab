//! What every reconcile shares: clients, settings, the watch caches, and small in-memory
//! bookkeeping (minted tokens, failure counts, drift schedule, our own last writes). None of the
//! bookkeeping is needed for correctness after a restart: it only saves calls.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Client;
use kube::core::PartialObjectMeta;
use kube::runtime::events::Recorder;
use kube::runtime::reflector::Store;

use super::embedded_workspace::token_refresh::StoredToken;
use crate::config::OperatorConfig;
use crate::metrics::Metrics;
use airbyte_client::{AirbyteApi, BearerToken};
use embedded_crds::{EmbeddedSource, EmbeddedWorkspace, SourceTemplate};

/// The watch caches the controllers read instead of calling the apiserver.
#[derive(Clone)]
pub struct Stores {
    pub workspaces: Store<EmbeddedWorkspace>,
    pub templates: Store<SourceTemplate>,
    pub sources: Store<EmbeddedSource>,
    /// Secret metadata only (no data, no managed fields, only this operator's annotations).
    pub secrets: Store<PartialObjectMeta<Secret>>,
    pub namespaces: Store<PartialObjectMeta<Namespace>>,
    /// The newest resourceVersion the Secret watch has delivered (and cached): a Secret this
    /// operator wrote at a newer version is absent from the cache because the cache lags.
    pub secrets_seen: Arc<std::sync::atomic::AtomicU64>,
}

impl Stores {
    /// Whether the Secret cache has caught up with `version` (an etcd revision).
    pub fn secrets_caught_up(&self, version: u64) -> bool {
        self.secrets_seen.load(std::sync::atomic::Ordering::Acquire) >= version
    }
}

/// A scoped token the operator minted or read back, for the sources of its workspace.
#[derive(Clone, Debug)]
pub struct CachedToken {
    pub token: BearerToken,
    pub workspace_id: String,
    pub expires_at: SystemTime,
}

pub struct Context<A: AirbyteApi> {
    pub client: Client,
    pub airbyte: A,
    pub config: Arc<OperatorConfig>,
    pub recorder: Recorder,
    pub metrics: Arc<Metrics>,
    pub stores: Stores,
    /// Tokens by (namespace, EmbeddedWorkspace name).
    tokens: Mutex<HashMap<(String, String), CachedToken>>,
    /// Consecutive failures by object uid (for backoff).
    failures: Mutex<HashMap<String, u32>>,
    /// When Airbyte answered an object's call with `Retry-After`, no call for it before then, by
    /// uid (any trigger, not just the scheduled retry, respects it).
    not_before: Mutex<HashMap<String, Instant>>,
    /// Next drift check by object uid.
    drift: Mutex<HashMap<String, Instant>>,
    /// Per object, a digest of the inputs its last successful sync was decided from (the
    /// versions of the Secrets it reads, and the like): unchanged inputs need no re-read.
    synced_inputs: Mutex<HashMap<String, u64>>,
    /// The token Secrets whose data we wrote or checked, by (namespace, name): the
    /// resourceVersion and what it holds. A cache entry at or before that version needs no read.
    recorded_tokens: Mutex<HashMap<(String, String), (u64, StoredToken)>>,
    /// The resourceVersion of our last write to each object (by uid): a watch cache older than
    /// that has not seen our own write yet, and deciding from it would repeat work.
    written: Mutex<HashMap<String, u64>>,
    /// Workspaces whose token a source saw refused, by (namespace, name).
    suspect_tokens: Mutex<std::collections::HashSet<(String, String)>>,
    /// Wakes the workspace controller for an object (set once the controllers are built).
    pub wake_workspace: std::sync::OnceLock<
        futures::channel::mpsc::UnboundedSender<
            kube::runtime::reflector::ObjectRef<EmbeddedWorkspace>,
        >,
    >,
    /// Routine work (refreshes, drift checks) takes one of these; first reconciles and changes do
    /// not, so new objects never wait behind routine work.
    pub routine: tokio::sync::Semaphore,
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A number in `0..modulo` from a string, stable across restarts and versions (SHA-256), so a
/// restarted operator keeps its schedule; used to spread objects over an interval.
pub fn phase(key: &str, modulo: u64) -> u64 {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first) % modulo.max(1)
}

fn parse_rv(resource_version: Option<&str>) -> Option<u64> {
    resource_version.and_then(|rv| rv.parse::<u64>().ok())
}

impl<A: AirbyteApi> Context<A> {
    pub fn new(
        client: Client,
        airbyte: A,
        config: OperatorConfig,
        recorder: Recorder,
        metrics: Arc<Metrics>,
        stores: Stores,
    ) -> Self {
        let routine = (config.concurrency as usize).div_ceil(2).max(1);
        Context {
            client,
            airbyte,
            config: Arc::new(config),
            recorder,
            metrics,
            stores,
            tokens: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
            not_before: Mutex::new(HashMap::new()),
            drift: Mutex::new(HashMap::new()),
            synced_inputs: Mutex::new(HashMap::new()),
            recorded_tokens: Mutex::new(HashMap::new()),
            written: Mutex::new(HashMap::new()),
            suspect_tokens: Mutex::new(Default::default()),
            wake_workspace: std::sync::OnceLock::new(),
            routine: tokio::sync::Semaphore::new(routine),
        }
    }

    /// Records a failure and returns how many came before it in a row.
    pub fn failed(&self, uid: &str) -> u32 {
        let mut failures = lock(&self.failures);
        let count = failures.entry(uid.to_string()).or_default();
        *count += 1;
        *count - 1
    }

    pub fn succeeded(&self, uid: &str) {
        lock(&self.failures).remove(uid);
        lock(&self.not_before).remove(uid);
    }

    /// Remembers that Airbyte asked to wait `retry_after` before the next call for this object.
    pub fn hold_off(&self, uid: &str, retry_after: Duration) {
        lock(&self.not_before).insert(uid.to_string(), Instant::now() + retry_after);
    }

    /// How long calls for this object must still wait, if at all.
    pub fn held_off(&self, uid: &str) -> Option<Duration> {
        let until = *lock(&self.not_before).get(uid)?;
        let left = until.saturating_duration_since(Instant::now());
        (!left.is_zero()).then_some(left)
    }

    /// Whether the object's drift check is due. The first question after a start schedules the
    /// check at a stable phase of the interval instead of checking at once: a restart reads
    /// nothing.
    pub fn drift_due(&self, uid: &str) -> bool {
        let now = Instant::now();
        let interval = self.config.drift_interval;
        let mut drift = lock(&self.drift);
        let next = *drift.entry(uid.to_string()).or_insert_with(|| {
            now + Duration::from_millis(phase(uid, interval.as_millis() as u64))
        });
        now >= next
    }

    /// Marks the drift check done (or not needed: the object was just read or written).
    pub fn drift_checked(&self, uid: &str) {
        lock(&self.drift).insert(uid.to_string(), Instant::now() + self.config.drift_interval);
    }

    /// Time until the next drift check.
    pub fn until_drift(&self, uid: &str) -> Duration {
        let now = Instant::now();
        lock(&self.drift)
            .get(uid)
            .map(|next| next.saturating_duration_since(now))
            .unwrap_or(self.config.drift_interval)
    }

    /// Drops what is kept about an object that is gone.
    pub fn forget(&self, uid: &str) {
        lock(&self.failures).remove(uid);
        lock(&self.not_before).remove(uid);
        lock(&self.drift).remove(uid);
        lock(&self.written).remove(uid);
        lock(&self.synced_inputs).remove(uid);
    }

    /// Remembers the inputs a successful sync of `uid` was decided from.
    pub fn note_synced_inputs(&self, uid: &str, inputs: Option<u64>) {
        let mut synced = lock(&self.synced_inputs);
        match inputs {
            Some(inputs) => synced.insert(uid.to_string(), inputs),
            None => synced.remove(uid),
        };
    }

    /// Whether `uid` was synced by this process from exactly these inputs.
    pub fn synced_from(&self, uid: &str, inputs: u64) -> bool {
        lock(&self.synced_inputs).get(uid) == Some(&inputs)
    }

    /// Remembers the resourceVersion an own write produced.
    pub fn note_write(&self, uid: &str, resource_version: Option<&str>) {
        if let Some(rv) = parse_rv(resource_version) {
            let mut written = lock(&self.written);
            let entry = written.entry(uid.to_string()).or_default();
            *entry = (*entry).max(rv);
        }
    }

    /// Whether the cached object predates our last write to it (resourceVersions of one etcd are
    /// increasing revision numbers; an unparsable one is never called stale).
    pub fn is_stale(&self, uid: &str, resource_version: Option<&str>) -> bool {
        let Some(rv) = parse_rv(resource_version) else {
            return false;
        };
        lock(&self.written)
            .get(uid)
            .is_some_and(|written| rv < *written)
    }

    pub fn cache_token(&self, namespace: &str, workspace: &str, token: CachedToken) {
        lock(&self.tokens).insert((namespace.to_string(), workspace.to_string()), token);
    }

    pub fn cached_token(&self, namespace: &str, workspace: &str) -> Option<CachedToken> {
        lock(&self.tokens)
            .get(&(namespace.to_string(), workspace.to_string()))
            .cloned()
    }

    /// A source saw this workspace's token refused: drop it, and have the workspace check it.
    pub fn suspect_token(&self, namespace: &str, workspace: &str) {
        self.forget_token(namespace, workspace);
        lock(&self.suspect_tokens).insert((namespace.to_string(), workspace.to_string()));
        if let Some(wake) = self.wake_workspace.get() {
            let _ = wake.unbounded_send(
                kube::runtime::reflector::ObjectRef::new(workspace).within(namespace),
            );
        }
    }

    pub fn take_suspect_token(&self, namespace: &str, workspace: &str) -> bool {
        lock(&self.suspect_tokens).remove(&(namespace.to_string(), workspace.to_string()))
    }

    pub fn forget_token(&self, namespace: &str, workspace: &str) {
        lock(&self.tokens).remove(&(namespace.to_string(), workspace.to_string()));
    }

    /// Remembers what a token Secret holds at `resource_version` (written or read back by us).
    pub fn record_token(
        &self,
        namespace: &str,
        name: &str,
        resource_version: Option<&str>,
        stored: StoredToken,
    ) {
        let key = (namespace.to_string(), name.to_string());
        let mut recorded = lock(&self.recorded_tokens);
        match parse_rv(resource_version) {
            Some(rv) => recorded.insert(key, (rv, stored)),
            None => recorded.remove(&key),
        };
    }

    pub fn recorded_token(&self, namespace: &str, name: &str) -> Option<(u64, StoredToken)> {
        lock(&self.recorded_tokens)
            .get(&(namespace.to_string(), name.to_string()))
            .cloned()
    }

    pub fn forget_recorded_token(&self, namespace: &str, name: &str) {
        lock(&self.recorded_tokens).remove(&(namespace.to_string(), name.to_string()));
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn phases_are_stable_and_in_range() {
        for key in ["a", "b", "uid-1234"] {
            let p = super::phase(key, 600_000);
            assert!(p < 600_000);
            assert_eq!(p, super::phase(key, 600_000));
        }
        assert_eq!(super::phase("x", 0), 0);
    }
}
