//! What every reconcile shares: the clients, the settings, the watch caches, the memory of each
//! object, the clock and the Event sink.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Client;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};

use super::claim_index::ClaimIndex;
use super::clock::Clock;
use super::events::{EventSink, Note};
use super::memory::Memory;
use super::organization::registry::Organizations;
use crate::config::OperatorConfig;
use crate::metrics::Metrics;
use airbyte_client::AirbyteApi;
use embedded_crds::{EmbeddedSource, EmbeddedWorkspace};

/// The watch caches the controllers read instead of calling the apiserver: one per registered
/// kind, plus Secret and Namespace metadata.
#[derive(Clone, Default)]
pub struct Stores {
    kinds: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
    /// Secret metadata only (no data, no managed fields, only this operator's annotations), of
    /// the watched namespaces.
    pub secrets: Option<Store<PartialObjectMeta<Secret>>>,
    /// Secret metadata of the operator's namespace (named first) when the watched namespaces do
    /// not cover it.
    pub operator_secrets: Option<(String, Store<PartialObjectMeta<Secret>>)>,
    pub namespaces: Option<Store<PartialObjectMeta<Namespace>>>,
    /// The newest resourceVersion the Secret watch has delivered (and cached): a Secret this
    /// operator wrote at a newer version is absent from the cache because the cache lags.
    pub secrets_seen: Arc<AtomicU64>,
    /// The EmbeddedWorkspaces' explicit workspace names (the name check's index).
    pub workspace_names: Arc<ClaimIndex<EmbeddedWorkspace>>,
    /// The EmbeddedSources' display names per workspace (the duplicate-name check's index).
    pub source_names: Arc<ClaimIndex<EmbeddedSource>>,
}

impl Stores {
    pub fn insert<K: kube::Resource + Send + Sync + 'static>(&mut self, store: Store<K>)
    where
        K::DynamicType: std::hash::Hash + Eq + Clone + Send + Sync,
    {
        self.kinds.insert(TypeId::of::<K>(), Arc::new(store));
    }

    /// The cache of a registered kind (a kind that was not registered is a wiring defect).
    pub fn of<K: kube::Resource + 'static>(&self) -> Store<K>
    where
        K::DynamicType: std::hash::Hash + Eq + Clone + Send + Sync,
    {
        self.kinds
            .get(&TypeId::of::<K>())
            .and_then(|store| store.downcast_ref::<Store<K>>())
            .cloned()
            .unwrap_or_else(|| panic!("{} is not registered", std::any::type_name::<K>()))
    }

    /// A cached Secret's metadata.
    pub fn secret(&self, namespace: &str, name: &str) -> Option<Arc<PartialObjectMeta<Secret>>> {
        self.secrets_in(namespace)?
            .get(&ObjectRef::new(name).within(namespace))
    }

    /// The cache that holds `namespace`'s Secrets.
    pub fn secrets_in(&self, namespace: &str) -> Option<&Store<PartialObjectMeta<Secret>>> {
        match &self.operator_secrets {
            Some((operator, store)) if operator == namespace => Some(store),
            _ => self.secrets.as_ref(),
        }
    }

    /// A namespace's labels (`None`: the namespace is not in the cache).
    pub fn namespace_labels(
        &self,
        namespace: &str,
    ) -> Option<std::collections::BTreeMap<String, String>> {
        let cached = self.namespaces.as_ref()?.get(&ObjectRef::new(namespace))?;
        Some(cached.metadata.labels.clone().unwrap_or_default())
    }

    /// A namespace's label.
    pub fn namespace_label(&self, namespace: &str, label: &str) -> Option<String> {
        self.namespaces
            .as_ref()?
            .get(&ObjectRef::new(namespace))?
            .metadata
            .labels
            .as_ref()?
            .get(label)
            .cloned()
    }

    /// Whether the Secret cache has caught up with `version` (an etcd revision).
    pub fn secrets_caught_up(&self, version: u64) -> bool {
        self.secrets_seen.load(Ordering::Acquire) >= version
    }
}

/// Wakes another controller's object (a source that found its workspace's token refused wakes
/// the workspace).
pub trait Waker: Send + Sync {
    fn wake(&self, kind: &'static str, namespace: Option<&str>, name: &str);
}

pub struct Context<A: AirbyteApi> {
    pub client: Client,
    /// The organizations objects act for, each with its Airbyte client.
    pub organizations: Organizations<A>,
    pub config: Arc<OperatorConfig>,
    pub events: Arc<dyn EventSink>,
    pub metrics: Arc<Metrics>,
    pub stores: Stores,
    pub memory: Memory,
    pub clock: Arc<dyn Clock>,
    pub waker: Option<Arc<dyn Waker>>,
    /// Routine work (refreshes, drift checks) takes one of these; first reconciles and changes do
    /// not, so new objects never wait behind routine work.
    pub routine: tokio::sync::Semaphore,
}

impl<A: AirbyteApi> Context<A> {
    pub fn new(
        client: Client,
        organizations: Organizations<A>,
        config: OperatorConfig,
        parts: Parts,
    ) -> Self {
        let routine = usize::from(config.concurrency).div_ceil(2).max(1);
        Context {
            client,
            organizations,
            config: Arc::new(config),
            events: parts.events,
            metrics: parts.metrics,
            stores: parts.stores,
            memory: Memory::default(),
            clock: parts.clock,
            waker: parts.waker,
            routine: tokio::sync::Semaphore::new(routine),
        }
    }

    /// Publishes an Event on `object`.
    pub fn publish<K: kube::Resource<DynamicType = ()>>(&self, object: &K, note: Note) {
        self.events.publish(object.object_ref(&()), note);
    }

    /// The first drift check after a start is at a stable phase of the interval (derived from the
    /// uid), so a restart reads nothing at once and checks stay spread.
    pub fn first_drift_at(&self, uid: &str, now: Instant) -> Instant {
        let interval = self.config.drift_interval;
        now + Duration::from_millis(phase(uid, interval.as_millis() as u64))
    }

    /// Schedules the object's first drift check of this process, unless one is scheduled.
    pub fn ensure_drift_scheduled(&self, uid: &str) {
        let now = self.clock.instant();
        self.memory
            .schedule_first_drift(uid, self.first_drift_at(uid, now));
    }

    /// Whether the object's drift check is due now (unscheduled: not due).
    pub fn drift_due(&self, uid: &str) -> bool {
        self.memory.drift_due(uid, self.clock.instant())
    }

    /// The object was just compared with Airbyte.
    pub fn drift_checked(&self, uid: &str) {
        self.memory
            .drift_checked(uid, self.clock.instant() + self.config.drift_interval);
    }

    /// Time until the object's next drift check (the interval when none is scheduled).
    pub fn until_drift(&self, uid: &str) -> Duration {
        self.memory
            .next_drift(uid)
            .map(|next| next.saturating_duration_since(self.clock.instant()))
            .unwrap_or(self.config.drift_interval)
    }
}

/// The parts of a [`Context`] besides the clients and settings.
pub struct Parts {
    pub events: Arc<dyn EventSink>,
    pub metrics: Arc<Metrics>,
    pub stores: Stores,
    pub clock: Arc<dyn Clock>,
    pub waker: Option<Arc<dyn Waker>>,
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
