//! Builds a controller and its watches for any kind, and routes changes between kinds.
//!
//! Each registered kind gets one watch that fills its cache (a reflector) and turns events into
//! triggers: its own objects when what makes them worth reconciling changed (generation, our
//! annotations, finalizers, deletion; never status), and a [`Change`] on the bus when an object's
//! published state (readiness, external id) changed or it went away. Secrets and Namespaces are
//! watched as metadata and put their changes on the same bus. Every kind looks at every change
//! and wakes those of its objects that it [`concerns`](Kind::concerns). Adding a kind is its
//! module plus one `register` line in `controllers/mod.rs`.

use std::collections::HashMap;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering::AcqRel};
use std::sync::{Arc, OnceLock};

use futures::StreamExt;
use futures::channel::mpsc::{UnboundedSender, unbounded};
use futures::future::{BoxFuture, FutureExt};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};

use super::context::{Context, Stores, Waker};
use super::error::Error;
use super::lifecycle::{self, Managed};
use crate::config::OperatorConfig;
use airbyte_client::AirbyteApi;
use embedded_crds::{EXTERNAL_ID, RECONCILE_REQUESTED_AT};

/// Something changed that other objects may depend on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// `EmbeddedWorkspace`, `SourceTemplate`, ..., `Secret`, `Namespace`.
    pub kind: &'static str,
    pub namespace: Option<String>,
    pub name: String,
    /// For a Secret: the kinds and names of its owners.
    pub owners: Vec<(String, String)>,
}

impl Change {
    pub fn of<K: Managed>(object: &K) -> Change {
        Change {
            kind: K::KIND,
            namespace: object.namespace(),
            name: object.name_any(),
            owners: Vec::new(),
        }
    }

    /// Whether this is `kind` `namespace/name`.
    pub fn is(&self, kind: &str, namespace: Option<&str>, name: &str) -> bool {
        self.kind == kind && self.namespace.as_deref() == namespace && self.name == name
    }
}

/// A kind the operator reconciles.
pub trait Kind: Managed {
    /// One reconcile of `object`.
    fn reconcile<A: AirbyteApi>(
        object: Arc<Self>,
        ctx: Arc<Context<A>>,
    ) -> impl Future<Output = Result<Action, Error>> + Send;

    /// Whether `change` concerns this object (it is woken then).
    fn concerns(&self, change: &Change, config: &OperatorConfig) -> bool {
        let _ = (change, config);
        false
    }

    /// What objects of other kinds depend on (readiness and external id): a new value is put on
    /// the bus.
    fn published(&self) -> Option<u64> {
        None
    }

    /// Drops what the process keeps about an object that is gone.
    fn forget<A: AirbyteApi>(&self, ctx: &Context<A>) {
        ctx.memory.forget(&self.uid().unwrap_or_default());
    }
}

pub(crate) fn hash_of(parts: impl Hash) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut hasher);
    hasher.finish()
}

/// Remembers a key per object and says whether it changed (the first sighting counts).
#[derive(Default)]
pub(crate) struct Seen(HashMap<String, u64>);

impl Seen {
    pub fn changed(&mut self, uid: &str, key: u64) -> bool {
        self.0.insert(uid.to_string(), key) != Some(key)
    }

    pub fn forget(&mut self, uid: &str) {
        self.0.remove(uid);
    }
}

/// What makes an object worth reconciling: spec (generation), our annotations, finalizers,
/// deletion. Not status.
fn trigger_key<K: Resource>(object: &K) -> u64 {
    let annotations = object.annotations();
    hash_of((
        object.meta().generation,
        annotations.get(RECONCILE_REQUESTED_AT),
        annotations.get(EXTERNAL_ID),
        object.finalizers(),
        object.meta().deletion_timestamp.is_some(),
    ))
}

/// Drops what the operator never reads from a cached object: managed fields, and annotations
/// other than its own (kubectl's last-applied-configuration repeats the whole spec).
fn slim<K: Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.retain(|key, _| key.starts_with("embedded.airbyte.ai/"));
    }
}

type Publish = Arc<dyn Fn(&Change) + Send + Sync>;

/// Every kind's interest in changes, filled once all kinds are registered.
#[derive(Default)]
pub(crate) struct Bus {
    listeners: OnceLock<Vec<Publish>>,
}

impl Bus {
    pub fn publish(&self, change: &Change) {
        for listener in self.listeners.get().into_iter().flatten() {
            listener(change);
        }
    }
}

/// Wakes one object of a registered kind by name.
#[derive(Default)]
pub(crate) struct DirectWakers(
    HashMap<&'static str, Arc<dyn Fn(Option<&str>, &str) + Send + Sync>>,
);

impl Waker for DirectWakers {
    fn wake(&self, kind: &'static str, namespace: Option<&str>, name: &str) {
        if let Some(wake) = self.0.get(kind) {
            wake(namespace, name);
        }
    }
}

type Starter<A> = Box<
    dyn FnOnce(
            Arc<Context<A>>,
            Arc<Bus>,
            Shutdown,
        ) -> (BoxFuture<'static, ()>, BoxFuture<'static, ()>)
        + Send,
>;
type Listener = Box<dyn FnOnce(Arc<OperatorConfig>) -> Publish + Send>;
pub(crate) type Shutdown = futures::future::Shared<BoxFuture<'static, ()>>;

struct Registration<A: AirbyteApi> {
    kind: &'static str,
    check: BoxFuture<'static, Result<(), String>>,
    ready: BoxFuture<'static, Result<(), String>>,
    listener: Listener,
    start: Starter<A>,
}

/// The registered kinds, before they run.
pub struct Kinds<A: AirbyteApi> {
    client: Client,
    config: OperatorConfig,
    pub(crate) stores: Stores,
    wakers: DirectWakers,
    registrations: Vec<Registration<A>>,
}

impl<A: AirbyteApi> Kinds<A> {
    pub fn new(client: Client, config: &OperatorConfig) -> Self {
        Kinds {
            client,
            config: config.clone(),
            stores: Stores::default(),
            wakers: DirectWakers::default(),
            registrations: Vec::new(),
        }
    }

    fn api<K: Kind>(&self) -> Api<K> {
        K::watch_api(self.client.clone(), self.config.watch_namespace.as_deref())
    }

    /// Registers a kind: its cache, its controller, its watch.
    pub fn register<K: Kind>(&mut self) {
        let (store, writer) = reflector::store::<K>();
        self.stores.insert(store.clone());
        let (main, main_rx) = unbounded::<Arc<K>>();
        let (wake, wake_rx) = unbounded::<ObjectRef<K>>();
        self.wakers.0.insert(K::KIND, direct_waker(wake.clone()));
        let api = self.api::<K>();
        let mut selected = watcher::Config::default();
        if let Some(selector) = &self.config.selector {
            selected = selected.labels(selector);
        }
        let concurrency = self.config.concurrency;
        let controller_store = store.clone();
        let start: Starter<A> = Box::new(move |ctx, bus, shutdown| {
            let root = root_watch::<K, A>(api, selected, writer, main, ctx.clone(), bus);
            let controller = Controller::for_shared_stream(main_rx, controller_store)
                .reconcile_on(wake_rx)
                .with_config(ControllerConfig::default().concurrency(concurrency))
                .graceful_shutdown_on(shutdown)
                .run(
                    |object, ctx| K::reconcile(object, ctx),
                    lifecycle::error_policy,
                    ctx,
                )
                .for_each(|_| futures::future::ready(()))
                .boxed();
            (root, controller)
        });
        let ready_store = store.clone();
        self.registrations.push(Registration {
            kind: K::KIND,
            check: crd_check(self.api::<K>()),
            ready: async move {
                ready_store
                    .wait_until_ready()
                    .await
                    .map_err(|e| e.to_string())
            }
            .boxed(),
            listener: listener(store, wake),
            start,
        });
    }

    pub(crate) fn take_wakers(&mut self) -> DirectWakers {
        std::mem::take(&mut self.wakers)
    }

    /// The kinds' names, in registration order.
    pub fn names(&self) -> Vec<&'static str> {
        self.registrations.iter().map(|r| r.kind).collect()
    }

    /// Checks that every kind's CRD is served (the operator never installs CRDs itself).
    pub(crate) async fn check(&mut self) -> Result<(), String> {
        for registration in &mut self.registrations {
            (&mut registration.check).await?;
        }
        Ok(())
    }

    /// Starts every kind's watch on the bus; returns the caches' readiness and the controllers.
    pub(crate) fn start(self, ctx: Arc<Context<A>>, bus: Arc<Bus>, shutdown: Shutdown) -> Started {
        let config = ctx.config.clone();
        let mut listeners = Vec::new();
        let mut roots = Vec::new();
        let mut controllers = Vec::new();
        let mut ready = Vec::new();
        for registration in self.registrations {
            listeners.push((registration.listener)(config.clone()));
            let (root, controller) =
                (registration.start)(ctx.clone(), bus.clone(), shutdown.clone());
            roots.push(root);
            controllers.push(controller);
            ready.push(registration.ready);
        }
        let _ = bus.listeners.set(listeners);
        Started {
            roots,
            ready,
            controllers,
        }
    }
}

/// Wakes one object of a kind by name.
fn direct_waker<K: Kind>(
    wake: UnboundedSender<ObjectRef<K>>,
) -> Arc<dyn Fn(Option<&str>, &str) + Send + Sync> {
    Arc::new(move |namespace, name| {
        let mut reference = ObjectRef::new(name);
        if let Some(namespace) = namespace {
            reference = reference.within(namespace);
        }
        let _ = wake.unbounded_send(reference);
    })
}

/// A kind's interest in changes: every object the change concerns is woken.
fn listener<K: Kind>(store: Store<K>, wake: UnboundedSender<ObjectRef<K>>) -> Listener {
    Box::new(move |config| {
        Arc::new(move |change: &Change| {
            for object in store.state_filter(|o| o.concerns(change, &config)) {
                let _ = wake.unbounded_send(ObjectRef::from_obj(object.as_ref()));
            }
        })
    })
}

/// Whether the kind's CRD is served.
fn crd_check<K: Kind>(api: Api<K>) -> BoxFuture<'static, Result<(), String>> {
    async move {
        api.list_metadata(&kube::api::ListParams::default().limit(1))
            .await
            .map(|_| ())
            .map_err(|e| match e {
                kube::Error::Api(status) if status.code == 404 => format!(
                    "the {} CRD is not installed: kubectl apply -f crds/ (or install the Helm chart)",
                    K::KIND
                ),
                other => format!("cannot list {}: {other}", K::KIND),
            })
    }
    .boxed()
}

/// What [`Kinds::start`] returns.
pub(crate) struct Started {
    pub roots: Vec<BoxFuture<'static, ()>>,
    pub ready: Vec<BoxFuture<'static, Result<(), String>>>,
    pub controllers: Vec<BoxFuture<'static, ()>>,
}

/// A kind's watch: fills its cache and turns events into triggers.
fn root_watch<K: Kind, A: AirbyteApi>(
    api: Api<K>,
    selected: watcher::Config,
    writer: reflector::store::Writer<K>,
    main: UnboundedSender<Arc<K>>,
    ctx: Arc<Context<A>>,
    bus: Arc<Bus>,
) -> BoxFuture<'static, ()> {
    let (mut own, mut published) = (Seen::default(), Seen::default());
    watcher(api, selected)
        .default_backoff()
        .modify(slim)
        .reflect(writer)
        .for_each(move |event| {
            match &event {
                Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object)) => {
                    let uid = object.uid().unwrap_or_default();
                    if own.changed(&uid, trigger_key(object)) {
                        let _ = main.unbounded_send(Arc::new(object.clone()));
                    }
                    let state = object.published().unwrap_or_default();
                    // The first listing wakes nothing: every object is reconciled at start.
                    if published.changed(&uid, state)
                        && matches!(event, Ok(watcher::Event::Apply(_)))
                    {
                        bus.publish(&Change::of(object));
                    }
                }
                Ok(watcher::Event::Delete(object)) => {
                    let uid = object.uid().unwrap_or_default();
                    own.forget(&uid);
                    published.forget(&uid);
                    object.forget(&ctx);
                    bus.publish(&Change::of(object));
                }
                _ => {}
            }
            futures::future::ready(())
        })
        .boxed()
}

/// Drops everything from cached Secret metadata except what the operator reads: names, labels,
/// owners, resourceVersion and its own annotations (an annotation such as kubectl's
/// last-applied-configuration can hold the Secret's data).
fn slim_secret(secret: &mut PartialObjectMeta<Secret>, own: &'static [&'static str]) {
    let meta = &mut secret.metadata;
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.retain(|key, _| own.contains(&key.as_str()));
    }
}

fn secret_change(secret: &PartialObjectMeta<Secret>) -> Change {
    Change {
        kind: "Secret",
        namespace: secret.namespace(),
        name: secret.name_any(),
        owners: secret
            .metadata
            .owner_references
            .iter()
            .flatten()
            .map(|o| (o.kind.clone(), o.name.clone()))
            .collect(),
    }
}

/// The Secret metadata watch (all watched namespaces): fills the cache, advances the high-water
/// mark of what the cache holds, and puts changed and deleted Secrets on the bus.
pub(crate) fn secret_watch(
    api: Api<PartialObjectMeta<Secret>>,
    writer: reflector::store::Writer<PartialObjectMeta<Secret>>,
    seen: Arc<AtomicU64>,
    own_annotations: &'static [&'static str],
    bus: Arc<Bus>,
) -> BoxFuture<'static, ()> {
    let mut listed = 0_u64;
    let mut versions = Seen::default();
    let version = |secret: &PartialObjectMeta<Secret>| {
        secret
            .metadata
            .resource_version
            .as_deref()?
            .parse::<u64>()
            .ok()
    };
    watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(move |secret| slim_secret(secret, own_annotations))
        .reflect(writer)
        .for_each(move |event| {
            // How far the cache is known to be complete: a live event at once; a relist's objects
            // only once it is done (until then the reflector keeps the old cache).
            match &event {
                Ok(watcher::Event::Apply(secret) | watcher::Event::Delete(secret)) => {
                    seen.fetch_max(version(secret).unwrap_or(0), AcqRel);
                }
                Ok(watcher::Event::Init) => listed = 0,
                Ok(watcher::Event::InitApply(secret)) => {
                    listed = listed.max(version(secret).unwrap_or(0));
                    versions.changed(
                        &secret.uid().unwrap_or_default(),
                        hash_of(secret.metadata.resource_version.as_ref()),
                    );
                }
                Ok(watcher::Event::InitDone) => {
                    seen.fetch_max(listed, AcqRel);
                }
                Err(_) => {}
            }
            match &event {
                // Only a new resourceVersion is a change (a relist replays every Secret).
                Ok(watcher::Event::Apply(secret)) => {
                    let key = hash_of(secret.metadata.resource_version.as_ref());
                    if versions.changed(&secret.uid().unwrap_or_default(), key) {
                        bus.publish(&secret_change(secret));
                    }
                }
                Ok(watcher::Event::Delete(secret)) => {
                    versions.forget(&secret.uid().unwrap_or_default());
                    bus.publish(&secret_change(secret));
                }
                _ => {}
            }
            futures::future::ready(())
        })
        .boxed()
}

/// Secrets of one more namespace (the operator's, for templates) when the main Secret watch does
/// not cover it: changes only, no cache.
pub(crate) fn extra_secret_watch(
    api: Api<PartialObjectMeta<Secret>>,
    bus: Arc<Bus>,
) -> BoxFuture<'static, ()> {
    watcher(api, watcher::Config::default())
        .default_backoff()
        .touched_objects()
        .for_each(move |secret| {
            if let Ok(secret) = secret {
                bus.publish(&secret_change(&secret));
            }
            futures::future::ready(())
        })
        .boxed()
}

/// Namespace metadata: fills the cache and puts a change of `label` on the bus.
pub(crate) fn namespace_watch(
    api: Api<PartialObjectMeta<Namespace>>,
    writer: reflector::store::Writer<PartialObjectMeta<Namespace>>,
    label: &'static str,
    bus: Arc<Bus>,
) -> BoxFuture<'static, ()> {
    let mut labels = Seen::default();
    watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(|ns| ns.metadata.managed_fields = None)
        .reflect(writer)
        .for_each(move |event| {
            match &event {
                Ok(watcher::Event::Apply(namespace))
                    if labels.changed(
                        &namespace.name_any(),
                        hash_of(namespace.labels().get(label)),
                    ) =>
                {
                    bus.publish(&Change {
                        kind: "Namespace",
                        namespace: None,
                        name: namespace.name_any(),
                        owners: Vec::new(),
                    });
                }
                Ok(watcher::Event::InitApply(namespace)) => {
                    labels.changed(
                        &namespace.name_any(),
                        hash_of(namespace.labels().get(label)),
                    );
                }
                _ => {}
            }
            futures::future::ready(())
        })
        .boxed()
}

/// Waits until every cache in `ready` is filled.
pub(crate) async fn all_ready(
    ready: Vec<BoxFuture<'static, Result<(), String>>>,
) -> Result<(), String> {
    for cache in ready {
        cache.await?;
    }
    Ok(())
}

/// A store of a kind, for code outside the controllers (the sandbox's table).
pub fn store<K: Kind>(stores: &Stores) -> Store<K> {
    stores.of::<K>()
}
