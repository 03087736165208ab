//! One watch per watched type: it fills the type's cache (a kube-runtime reflector) and hands
//! each event on, to the kind's own controller when what makes an object worth reconciling
//! changed, and to every relation that depends on the type when an object's published state
//! changed or it went away. Relations receive the cached object itself (`Arc`), never a copy.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use futures::channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures::future::{BoxFuture, FutureExt};
use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::core::PartialObjectMeta;
use kube::runtime::reflector;
use kube::runtime::watcher;
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use super::{Kind, Seen, hash_of};

/// A type whose changes other kinds act on.
pub trait Watched:
    Resource<DynamicType = ()> + Clone + Debug + DeserializeOwned + Send + Sync + 'static
{
    /// What dependents act on: a new value (or a deletion) is handed to them.
    fn published_key(&self) -> u64;
}

impl<K: Kind> Watched for K {
    fn published_key(&self) -> u64 {
        self.published().unwrap_or_default()
    }
}

/// A Secret matters to its dependents at each new resourceVersion (a relist replays them all).
impl Watched for PartialObjectMeta<Secret> {
    fn published_key(&self) -> u64 {
        hash_of(self.metadata.resource_version.as_ref())
    }
}

/// A Namespace matters when its labels change (name policies and organization selectors).
impl Watched for PartialObjectMeta<Namespace> {
    fn published_key(&self) -> u64 {
        hash_of(self.metadata.labels.as_ref())
    }
}

/// Where a watched type's changes go: one channel per relation that depends on it.
pub(crate) struct Feed<O> {
    outlets: Arc<Mutex<Vec<UnboundedSender<Arc<O>>>>>,
}

impl<O> Clone for Feed<O> {
    fn clone(&self) -> Self {
        Feed {
            outlets: self.outlets.clone(),
        }
    }
}

impl<O> Default for Feed<O> {
    fn default() -> Self {
        Feed {
            outlets: Arc::default(),
        }
    }
}

impl<O> Feed<O> {
    /// A new stream of the objects whose published state changed, or that went away.
    pub fn subscribe(&self) -> UnboundedReceiver<Arc<O>> {
        let (sender, receiver) = unbounded();
        self.outlets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(sender);
        receiver
    }

    fn send(&self, object: &Arc<O>) {
        let outlets = self.outlets.lock().unwrap_or_else(|p| p.into_inner());
        for outlet in outlets.iter() {
            let _ = outlet.unbounded_send(object.clone());
        }
    }
}

/// The feeds of every watched type, by type.
#[derive(Default)]
pub(crate) struct Feeds(HashMap<TypeId, Box<dyn Any + Send + Sync>>);

impl Feeds {
    /// The feed of `O`, made on first use.
    pub fn of<O: Watched>(&mut self) -> Feed<O> {
        self.0
            .entry(TypeId::of::<O>())
            .or_insert_with(|| Box::new(Feed::<O>::default()))
            .downcast_ref::<Feed<O>>()
            .cloned()
            .expect("a feed is stored under its own type")
    }
}

/// What a watch does with an event besides caching and handing it on.
pub(crate) type Observer<O> = Box<dyn FnMut(&watcher::Event<O>) + Send>;

/// The kind's own controller, fed the objects whose trigger key changed (the first sighting
/// counts: every object is reconciled at start).
pub(crate) struct Own<O> {
    pub sender: UnboundedSender<Arc<O>>,
    pub key: fn(&O) -> u64,
}

/// Runs a watch stream into `writer`'s cache, feeding the kind's own controller and `feed`.
pub(crate) fn root<O: Watched>(
    events: impl Stream<Item = watcher::Result<watcher::Event<O>>> + Send + 'static,
    writer: reflector::store::Writer<O>,
    feed: Feed<O>,
    own: Option<Own<O>>,
    mut observe: Option<Observer<O>>,
) -> BoxFuture<'static, ()> {
    let mut handoff = Handoff {
        cache: writer.as_reader(),
        feed,
        own,
        triggered: Seen::default(),
        published: Seen::default(),
        listed: Vec::new(),
    };
    reflector::reflector(writer, events)
        .for_each(move |event| {
            if let Ok(event) = event {
                if let Some(observe) = observe.as_mut() {
                    observe(&event);
                }
                handoff.hand_on(&event);
            }
            futures::future::ready(())
        })
        .boxed()
}

/// What a watch hands on. The cache's own objects are handed on, never copies: a live event's
/// object is in the cache when the event arrives; a listing's objects are only once it is done,
/// so their triggers wait for its end (a relist of thousands would otherwise hold a second copy
/// of each).
struct Handoff<O: Watched> {
    cache: reflector::Store<O>,
    feed: Feed<O>,
    own: Option<Own<O>>,
    triggered: Seen,
    published: Seen,
    listed: Vec<reflector::ObjectRef<O>>,
}

impl<O: Watched> Handoff<O> {
    fn hand_on(&mut self, event: &watcher::Event<O>) {
        match event {
            watcher::Event::InitApply(object) => {
                let uid = object.uid().unwrap_or_default();
                // The first listing hands nothing on: every object is reconciled at start.
                self.published.changed(&uid, object.published_key());
                if self.triggers(&uid, object) {
                    self.listed.push(reflector::ObjectRef::from_obj(object));
                }
            }
            watcher::Event::InitDone => {
                for reference in std::mem::take(&mut self.listed) {
                    if let (Some(own), Some(object)) = (&self.own, self.cache.get(&reference)) {
                        let _ = own.sender.unbounded_send(object);
                    }
                }
            }
            watcher::Event::Apply(object) => {
                let uid = object.uid().unwrap_or_default();
                let shared = self
                    .cache
                    .get(&reflector::ObjectRef::from_obj(object))
                    .unwrap_or_else(|| Arc::new(object.clone()));
                if self.triggers(&uid, object)
                    && let Some(own) = &self.own
                {
                    let _ = own.sender.unbounded_send(shared.clone());
                }
                // A live event of a new object is handed on (a Secret a source waits for).
                if self.published.changed(&uid, object.published_key()) {
                    self.feed.send(&shared);
                }
            }
            watcher::Event::Delete(object) => {
                let uid = object.uid().unwrap_or_default();
                self.triggered.forget(&uid);
                self.published.forget(&uid);
                self.feed.send(&Arc::new(object.clone()));
            }
            watcher::Event::Init => {}
        }
    }

    /// Whether the kind's own controller must see `object` (its trigger key changed).
    fn triggers(&mut self, uid: &str, object: &O) -> bool {
        self.own
            .as_ref()
            .is_some_and(|own| self.triggered.changed(uid, (own.key)(object)))
    }
}
