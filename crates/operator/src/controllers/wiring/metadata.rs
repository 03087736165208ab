//! The metadata watches: Secrets (names, labels, owners, resourceVersion and the operator's own
//! annotations; never data) and Namespaces (labels), each into its cache and its feed.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering::AcqRel};

use futures::future::BoxFuture;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector;
use kube::runtime::{WatchStreamExt, watcher};

use super::feed::{self, Feed};

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

fn version(secret: &PartialObjectMeta<Secret>) -> u64 {
    secret
        .metadata
        .resource_version
        .as_deref()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
}

/// A Secret metadata watch. With `seen`, it also advances the high-water mark of what the cache
/// is known to hold: a live event at once, a relist's objects only once it is done (until then
/// the reflector keeps the old cache).
pub(crate) fn secret_watch(
    api: Api<PartialObjectMeta<Secret>>,
    writer: reflector::store::Writer<PartialObjectMeta<Secret>>,
    feed: Feed<PartialObjectMeta<Secret>>,
    seen: Option<Arc<AtomicU64>>,
    own_annotations: &'static [&'static str],
) -> BoxFuture<'static, ()> {
    let mut listed = 0_u64;
    let observe = seen.map(|seen| -> feed::Observer<PartialObjectMeta<Secret>> {
        Box::new(move |event| match event {
            watcher::Event::Apply(secret) | watcher::Event::Delete(secret) => {
                seen.fetch_max(version(secret), AcqRel);
            }
            watcher::Event::Init => listed = 0,
            watcher::Event::InitApply(secret) => listed = listed.max(version(secret)),
            watcher::Event::InitDone => {
                seen.fetch_max(listed, AcqRel);
            }
        })
    });
    let events = watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(move |secret| slim_secret(secret, own_annotations));
    feed::root(events, writer, feed, None, observe)
}

/// The Namespace metadata watch.
pub(crate) fn namespace_watch(
    api: Api<PartialObjectMeta<Namespace>>,
    writer: reflector::store::Writer<PartialObjectMeta<Namespace>>,
    feed: Feed<PartialObjectMeta<Namespace>>,
) -> BoxFuture<'static, ()> {
    let events = watcher(api, watcher::Config::default())
        .default_backoff()
        .modify(|namespace| namespace.metadata.managed_fields = None);
    feed::root(events, writer, feed, None, None)
}
