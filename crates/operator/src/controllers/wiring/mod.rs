//! Builds a kube-runtime controller and its watches for any kind.
//!
//! Each registered kind gets one watch ([`feed::root`]) that fills its cache (a reflector) and
//! triggers its own controller when what makes an object worth reconciling changed (generation,
//! our annotations, finalizers, deletion; never status). What a kind's objects depend on is
//! declared by the kind itself as typed [`Relations`]: each becomes a `watches_shared_stream`
//! trigger of its controller, fed by the other type's watch whenever an object's published
//! state (readiness, external id, a Secret's version, a Namespace's labels) changed or it went
//! away. Secrets and Namespaces are watched as metadata. Adding a kind is its module plus one
//! `register` line in `controllers/mod.rs`.

pub mod feed;
pub(crate) mod metadata;
pub mod relations;

use std::collections::HashMap;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use futures::StreamExt;
use futures::channel::mpsc::{UnboundedSender, unbounded};
use futures::future::{BoxFuture, FutureExt};
use kube::runtime::controller::{Action, Config as ControllerConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};

pub use self::feed::Watched;
use self::feed::{Feeds, Own};
pub use self::relations::{Relations, Scope, those};
use super::context::{Context, Stores, Waker};
use super::error::Error;
use super::lifecycle::{self, Managed};
use super::organization::rules::Request;
use crate::config::OperatorConfig;
use airbyte_client::AirbyteApi;
use embedded_crds::{EXTERNAL_ID, RECONCILE_REQUESTED_AT};

/// A kind the operator reconciles.
pub trait Kind: Managed {
    /// One reconcile of `object`.
    fn reconcile<A: AirbyteApi>(
        object: Arc<Self>,
        ctx: Arc<Context<A>>,
    ) -> impl Future<Output = Result<Action, Error>> + Send;

    /// What this kind's objects depend on (each relation wakes the objects it names).
    fn relations(relations: &mut Relations<Self>) {
        let _ = relations;
    }

    /// The organization this object acts for (`None`: it acts for none, being one).
    fn organization(&self, stores: &Stores) -> Option<Request> {
        let _ = stores;
        None
    }

    /// What objects of other kinds depend on (readiness and external id): a new value is handed
    /// to the relations that watch this kind.
    fn published(&self) -> Option<u64> {
        None
    }

    /// Drops what the process keeps about an object that is gone.
    fn forget<A: AirbyteApi>(&self, ctx: &Context<A>) {
        ctx.memory.forget(&self.uid().unwrap_or_default());
    }

    /// Follows the kind's watch beside its cache (indexes of the kind); forgets deleted objects.
    fn observe_event<A: AirbyteApi>(event: &watcher::Event<Self>, ctx: &Context<A>) {
        if let watcher::Event::Delete(object) = event {
            object.forget(ctx);
        }
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
            &mut Feeds,
            Shutdown,
        ) -> (BoxFuture<'static, ()>, BoxFuture<'static, ()>)
        + Send,
>;
pub(crate) type Shutdown = futures::future::Shared<BoxFuture<'static, ()>>;

struct Registration<A: AirbyteApi> {
    kind: &'static str,
    check: BoxFuture<'static, Result<(), String>>,
    ready: BoxFuture<'static, Result<(), String>>,
    start: Starter<A>,
}

/// The registered kinds, before they run.
pub struct Kinds<A: AirbyteApi> {
    client: Client,
    config: OperatorConfig,
    pub(crate) stores: Stores,
    pub(crate) feeds: Feeds,
    wakers: DirectWakers,
    registrations: Vec<Registration<A>>,
}

impl<A: AirbyteApi> Kinds<A> {
    pub fn new(client: Client, config: &OperatorConfig) -> Self {
        Kinds {
            client,
            config: config.clone(),
            stores: Stores::default(),
            feeds: Feeds::default(),
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
        let (wake, wake_rx) = unbounded::<ObjectRef<K>>();
        self.wakers.0.insert(K::KIND, direct_waker(wake));
        let api = self.api::<K>();
        let mut selected = watcher::Config::default();
        if let Some(selector) = &self.config.selector {
            selected = selected.labels(selector);
        }
        let concurrency = self.config.concurrency;
        let controller_store = store.clone();
        let start: Starter<A> = Box::new(move |ctx, feeds, shutdown| {
            let (own, own_rx) = unbounded::<Arc<K>>();
            let forgetting = ctx.clone();
            let root = feed::root(
                watcher(api, selected).default_backoff().modify(slim),
                writer,
                feeds.of::<K>(),
                Some(Own {
                    sender: own,
                    key: trigger_key::<K>,
                }),
                Some(Box::new(move |event| K::observe_event(event, &forgetting))),
            );
            let controller = Controller::for_shared_stream(own_rx, controller_store.clone());
            let controller = wired(controller, &controller_store, feeds, &ctx)
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
        let ready_store = store;
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

    /// Wires every kind's relations and starts their watches; returns the caches' readiness
    /// and the controllers. The feeds stay for the metadata watches started after this.
    pub(crate) fn start(&mut self, ctx: Arc<Context<A>>, shutdown: Shutdown) -> Started {
        let mut roots = Vec::new();
        let mut controllers = Vec::new();
        let mut ready = Vec::new();
        for registration in std::mem::take(&mut self.registrations) {
            let (root, controller) =
                (registration.start)(ctx.clone(), &mut self.feeds, shutdown.clone());
            roots.push(root);
            controllers.push(controller);
            ready.push(registration.ready);
        }
        Started {
            roots,
            ready,
            controllers,
        }
    }
}

/// `controller` with the triggers of the kind's relations.
fn wired<K: Kind, A: AirbyteApi>(
    controller: Controller<K>,
    store: &Store<K>,
    feeds: &mut Feeds,
    ctx: &Context<A>,
) -> Controller<K> {
    let mut relations = Relations::<K>::default();
    K::relations(&mut relations);
    let scope = Scope {
        config: ctx.config.clone(),
        stores: ctx.stores.clone(),
    };
    relations.wire(feeds, store, &scope, controller)
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
