//! Builds the three controllers and their watch relations, and runs them.
//!
//! One watch per kind fills a cache (reflector) that every controller reads: workspaces,
//! templates and sources in full, Secrets and Namespaces as metadata only. Each watch's events are
//! turned into triggers here, in one place, and sent to the controllers over channels:
//! - EmbeddedWorkspace: its own spec/annotation/finalizer changes, and its token Secret (owned:
//!   changed or deleted), and its namespace's labels.
//! - SourceTemplate: its own changes, and Secrets of the operator's namespace it references.
//! - EmbeddedSource: its own changes, its workspace or template becoming Ready, changing id or
//!   going away, and Secrets it references (changed or deleted).
//!
//! Status-only changes trigger nothing, so writing status never causes another reconcile.

pub mod adoption;
pub mod config_hash;
pub mod context;
pub mod convert;
pub mod embedded_source;
pub mod embedded_workspace;
pub mod error;
pub mod lifecycle;
pub mod secret_values;
pub mod source_template;
pub mod status;

use std::collections::HashMap;
use std::future::Future;
use std::hash::{Hash, Hasher};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering, Ordering::AcqRel};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};

use self::context::{Context, Stores};
use crate::config::OperatorConfig;
use crate::metrics::{ApiCallMetrics, Metrics};
use airbyte_client::{AirbyteApi, AirbyteClient, ClientConfig};
use embedded_crds::{
    EXTERNAL_ID, EmbeddedSource, EmbeddedWorkspace, RECONCILE_REQUESTED_AT, SourceTemplate,
};

/// User agent of every request to Kubernetes.
pub const USER_AGENT: &str = concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION"));

/// Remembers a key per object and says whether it changed (the first sighting counts).
#[derive(Default)]
struct Seen(HashMap<String, u64>);

impl Seen {
    fn changed(&mut self, uid: &str, key: u64) -> bool {
        self.0.insert(uid.to_string(), key) != Some(key)
    }

    fn forget(&mut self, uid: &str) {
        self.0.remove(uid);
    }
}

pub(crate) fn hash_of(parts: impl Hash) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut hasher);
    hasher.finish()
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

/// Drops everything from cached Secret metadata except what the operator reads: names, labels,
/// owners, resourceVersion and its own annotations (an annotation such as kubectl's
/// last-applied-configuration can hold the Secret's data).
fn slim_secret(secret: &mut PartialObjectMeta<Secret>) {
    let meta = &mut secret.metadata;
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.retain(|key, _| {
            embedded_workspace::token_secret::OWN_ANNOTATIONS.contains(&key.as_str())
        });
    }
}

fn references_secret(refs: &[embedded_crds::SecretValueRef], name: &str) -> bool {
    refs.iter().any(|r| r.secret_key_ref.name == name)
}

/// Drops what the operator never reads from a cached object: managed fields, and annotations
/// other than its own (kubectl's last-applied-configuration repeats the whole spec).
fn slim<K: kube::Resource>(object: &mut K) {
    let meta = object.meta_mut();
    meta.managed_fields = None;
    if let Some(annotations) = meta.annotations.as_mut() {
        annotations.retain(|key, _| key.starts_with("embedded.airbyte.ai/"));
    }
}

/// Builds the Kubernetes client the operator uses: current kubeconfig or in-cluster config, with
/// the operator's user agent (name/version, then this replica's identity).
pub async fn kube_client(identity: &str) -> Result<Client, String> {
    let mut config = kube::Config::infer()
        .await
        .map_err(|e| format!("no Kubernetes configuration (kubeconfig or in-cluster): {e}"))?;
    let agent = format!("{USER_AGENT} ({identity})");
    config.headers.push((
        http::header::USER_AGENT,
        http::HeaderValue::from_str(&agent).unwrap_or(http::HeaderValue::from_static(USER_AGENT)),
    ));
    Client::try_from(config).map_err(|e| format!("cannot build the Kubernetes client: {e}"))
}

/// Refuses to start when the CRDs are missing (the operator never installs them itself).
async fn check_crds(client: &Client) -> Result<(), String> {
    let params = kube::api::ListParams::default().limit(1);
    let missing = |e: kube::Error| {
        match e {
        kube::Error::Api(status) if status.code == 404 => {
            "the embedded.airbyte.ai CRDs are not installed: kubectl apply -f crds/ (or install the Helm chart)".to_string()
        }
        other => format!("cannot list embedded.airbyte.ai resources: {other}"),
    }
    };
    Api::<SourceTemplate>::all(client.clone())
        .list_metadata(&params)
        .await
        .map_err(missing)?;
    Api::<EmbeddedWorkspace>::all(client.clone())
        .list_metadata(&params)
        .await
        .map_err(missing)?;
    Api::<EmbeddedSource>::all(client.clone())
        .list_metadata(&params)
        .await
        .map_err(missing)?;
    Ok(())
}

/// Runs the operator until `shutdown` resolves.
pub async fn run(
    config: OperatorConfig,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let client = kube_client(&config.identity).await?;
    check_crds(&client).await?;
    let mut client_config = ClientConfig::new(
        config.api_url.clone(),
        config.organization_id.clone(),
        config.credentials.clone(),
    );
    client_config.max_requests_per_second = config.max_requests_per_second;
    client_config.allow_insecure_http = config.allow_insecure_http;
    let airbyte = AirbyteClient::with_observer(
        client_config,
        Some(Arc::new(ApiCallMetrics(metrics.clone()))),
    )
    .map_err(|e| e.to_string())?;
    run_with(client, airbyte, config, metrics, ready, shutdown).await
}

/// Runs the controllers with a given Kubernetes client and Airbyte API.
pub async fn run_with<A: AirbyteApi>(
    client: Client,
    airbyte: A,
    config: OperatorConfig,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    use futures::channel::mpsc::{UnboundedSender, unbounded};

    let namespaced = |client: Client| -> (
        Api<EmbeddedWorkspace>,
        Api<EmbeddedSource>,
        Api<PartialObjectMeta<Secret>>,
    ) {
        match &config.watch_namespace {
            Some(ns) => (
                Api::namespaced(client.clone(), ns),
                Api::namespaced(client.clone(), ns),
                Api::namespaced(client, ns),
            ),
            None => (
                Api::all(client.clone()),
                Api::all(client.clone()),
                Api::all(client),
            ),
        }
    };
    let (workspace_api, source_api, secret_api) = namespaced(client.clone());
    let mut selected = watcher::Config::default();
    if let Some(selector) = &config.selector {
        selected = selected.labels(selector);
    }

    let (workspaces, workspace_writer) = reflector::store::<EmbeddedWorkspace>();
    let (templates, template_writer) = reflector::store::<SourceTemplate>();
    let (sources, source_writer) = reflector::store::<EmbeddedSource>();
    let (secrets, secret_writer) = reflector::store::<PartialObjectMeta<Secret>>();
    let (namespaces, namespace_writer) = reflector::store::<PartialObjectMeta<Namespace>>();

    // Trigger channels: each controller's own objects, and wake-ups from related objects.
    let (workspace_main, workspace_main_rx) = unbounded::<Arc<EmbeddedWorkspace>>();
    let (template_main, template_main_rx) = unbounded::<Arc<SourceTemplate>>();
    let (source_main, source_main_rx) = unbounded::<Arc<EmbeddedSource>>();
    let (workspace_wake, workspace_wakes) = unbounded::<ObjectRef<EmbeddedWorkspace>>();
    let (template_wake, template_wakes) = unbounded::<ObjectRef<SourceTemplate>>();
    let (source_wake, source_wakes) = unbounded::<ObjectRef<EmbeddedSource>>();

    let secrets_seen = Arc::new(AtomicU64::new(0));
    let stores = Stores {
        workspaces: workspaces.clone(),
        templates: templates.clone(),
        sources: sources.clone(),
        secrets: secrets.clone(),
        namespaces: namespaces.clone(),
        secrets_seen: secrets_seen.clone(),
    };
    let reporter = Reporter {
        controller: embedded_crds::MANAGER.into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let concurrency = config.concurrency;
    let secret_namespace = config.secret_namespace.clone();
    let watch_namespace = config.watch_namespace.clone();
    let ctx = Arc::new(Context::new(
        client.clone(),
        airbyte,
        config,
        recorder,
        metrics.clone(),
        stores,
    ));
    let _ = ctx.wake_workspace.set(workspace_wake.clone());

    // Sources matching a predicate, woken.
    let wake_sources = {
        let sources = sources.clone();
        let source_wake = source_wake.clone();
        move |matches: &dyn Fn(&EmbeddedSource) -> bool| {
            for source in sources.state_filter(|s| matches(s)) {
                let _ = source_wake.unbounded_send(ObjectRef::from_obj(source.as_ref()));
            }
        }
    };
    let wake_sources = Arc::new(wake_sources);
    /// Sends `object` to its controller when its trigger key changed.
    fn own<K: kube::Resource + Clone>(seen: &mut Seen, main: &UnboundedSender<Arc<K>>, object: &K) {
        if seen.changed(&object.uid().unwrap_or_default(), trigger_key(object)) {
            let _ = main.unbounded_send(Arc::new(object.clone()));
        }
    }

    // Root watches: they fill the caches and turn events into triggers.
    let workspace_root = {
        let (ctx, wake) = (ctx.clone(), wake_sources.clone());
        let (mut own_seen, mut readiness) = (Seen::default(), Seen::default());
        watcher(workspace_api, selected.clone())
            .default_backoff()
            .modify(slim)
            .reflect(workspace_writer)
            .for_each(move |event| {
                match &event {
                    Ok(watcher::Event::Apply(workspace))
                    | Ok(watcher::Event::InitApply(workspace)) => {
                        own(&mut own_seen, &workspace_main, workspace);
                        let status = workspace.status.clone().unwrap_or_default();
                        let key = hash_of((
                            embedded_crds::conditions::is_ready(&status.conditions),
                            status.workspace_id.as_ref(),
                        ));
                        if readiness.changed(&workspace.uid().unwrap_or_default(), key)
                            && matches!(event, Ok(watcher::Event::Apply(_)))
                        {
                            let (namespace, name) = (workspace.namespace(), workspace.name_any());
                            wake(&|s| {
                                s.namespace() == namespace && s.spec.workspace_ref.name == name
                            });
                        }
                    }
                    Ok(watcher::Event::Delete(workspace)) => {
                        let uid = workspace.uid().unwrap_or_default();
                        own_seen.forget(&uid);
                        readiness.forget(&uid);
                        embedded_workspace::forget(&ctx, workspace);
                        let (namespace, name) = (workspace.namespace(), workspace.name_any());
                        wake(&|s| s.namespace() == namespace && s.spec.workspace_ref.name == name);
                    }
                    _ => {}
                }
                futures::future::ready(())
            })
    };
    let template_root = {
        let wake = wake_sources.clone();
        let (mut own_seen, mut readiness) = (Seen::default(), Seen::default());
        watcher(Api::<SourceTemplate>::all(client.clone()), selected.clone())
            .default_backoff()
            .modify(slim)
            .reflect(template_writer)
            .for_each(move |event| {
                match &event {
                    Ok(watcher::Event::Apply(template))
                    | Ok(watcher::Event::InitApply(template)) => {
                        own(&mut own_seen, &template_main, template);
                        let status = template.status.clone().unwrap_or_default();
                        let key = hash_of((
                            embedded_crds::conditions::is_ready(&status.conditions),
                            status.template_id.as_ref(),
                        ));
                        if readiness.changed(&template.uid().unwrap_or_default(), key)
                            && matches!(event, Ok(watcher::Event::Apply(_)))
                        {
                            let name = template.name_any();
                            wake(&|s| {
                                s.spec
                                    .source_template_ref
                                    .as_ref()
                                    .is_some_and(|r| r.name == name)
                            });
                        }
                    }
                    Ok(watcher::Event::Delete(template)) => {
                        let uid = template.uid().unwrap_or_default();
                        own_seen.forget(&uid);
                        readiness.forget(&uid);
                        let name = template.name_any();
                        wake(&|s| {
                            s.spec
                                .source_template_ref
                                .as_ref()
                                .is_some_and(|r| r.name == name)
                        });
                    }
                    _ => {}
                }
                futures::future::ready(())
            })
    };
    let source_root = {
        let mut own_seen = Seen::default();
        watcher(source_api, selected.clone())
            .default_backoff()
            .modify(slim)
            .reflect(source_writer)
            .for_each(move |event| {
                match &event {
                    Ok(watcher::Event::Apply(source)) | Ok(watcher::Event::InitApply(source)) => {
                        own(&mut own_seen, &source_main, source)
                    }
                    Ok(watcher::Event::Delete(source)) => {
                        own_seen.forget(&source.uid().unwrap_or_default())
                    }
                    _ => {}
                }
                futures::future::ready(())
            })
    };
    // A Secret changed or deleted wakes its owner workspace, the sources referencing it, and (in
    // the operator's namespace) the templates referencing it. The first listing wakes nothing:
    // every object is reconciled at start anyway.
    let wake_for_secret = {
        let (wake, templates) = (wake_sources.clone(), templates.clone());
        let secret_namespace = secret_namespace.clone();
        move |secret: &PartialObjectMeta<Secret>, as_token_owner: bool, as_reference: bool| {
            let (namespace, name) = (secret.namespace(), secret.name_any());
            if as_token_owner {
                for owner in secret.metadata.owner_references.iter().flatten() {
                    if owner.kind == "EmbeddedWorkspace"
                        && owner.api_version == EmbeddedWorkspace::api_version(&())
                    {
                        let mut reference = ObjectRef::new(&owner.name);
                        if let Some(namespace) = &namespace {
                            reference = reference.within(namespace);
                        }
                        let _ = workspace_wake.unbounded_send(reference);
                    }
                }
            }
            if as_reference {
                wake(&|s| {
                    s.namespace() == namespace
                        && references_secret(&s.spec.source_config_secret_refs, &name)
                });
                if namespace.as_deref() == Some(secret_namespace.as_str()) {
                    for template in templates.state().iter().filter(|t| {
                        references_secret(&t.spec.partial_default_config_secret_refs, &name)
                    }) {
                        let _ =
                            template_wake.unbounded_send(ObjectRef::from_obj(template.as_ref()));
                    }
                }
            }
        }
    };
    let wake_for_secret = Arc::new(wake_for_secret);
    let secret_root = {
        let wake = wake_for_secret.clone();
        let seen = secrets_seen.clone();
        let mut listed = 0_u64;
        let mut versions = Seen::default();
        watcher(secret_api, watcher::Config::default())
            .default_backoff()
            .modify(slim_secret)
            .reflect(secret_writer)
            .for_each(move |event| {
                // How far the cache is known to be complete: a live event at once; a relist's
                // objects only once it is done (until then the reflector keeps the old cache).
                let version = |secret: &PartialObjectMeta<Secret>| {
                    secret
                        .metadata
                        .resource_version
                        .as_deref()?
                        .parse::<u64>()
                        .ok()
                };
                match &event {
                    Ok(watcher::Event::Apply(secret) | watcher::Event::Delete(secret)) => {
                        seen.fetch_max(version(secret).unwrap_or(0), AcqRel);
                    }
                    Ok(watcher::Event::Init) => listed = 0,
                    Ok(watcher::Event::InitApply(secret)) => {
                        listed = listed.max(version(secret).unwrap_or(0));
                    }
                    Ok(watcher::Event::InitDone) => {
                        seen.fetch_max(listed, AcqRel);
                    }
                    Err(_) => {}
                }
                match &event {
                    Ok(watcher::Event::Apply(secret)) => {
                        // Only a new resourceVersion is a change (a relist replays every Secret).
                        let key = hash_of(secret.metadata.resource_version.as_ref());
                        if versions.changed(&secret.uid().unwrap_or_default(), key) {
                            wake(secret, true, true);
                        }
                    }
                    Ok(watcher::Event::InitApply(secret)) => {
                        versions.changed(
                            &secret.uid().unwrap_or_default(),
                            hash_of(secret.metadata.resource_version.as_ref()),
                        );
                    }
                    Ok(watcher::Event::Delete(secret)) => {
                        versions.forget(&secret.uid().unwrap_or_default());
                        wake(secret, true, true);
                    }
                    _ => {}
                }
                futures::future::ready(())
            })
    };
    // The operator's namespace, when the Secret watch above does not cover it.
    let template_secret_root = {
        let wake = wake_for_secret.clone();
        let covered = watch_namespace
            .as_deref()
            .is_none_or(|ns| ns == secret_namespace);
        let api: Api<PartialObjectMeta<Secret>> =
            Api::namespaced(client.clone(), &secret_namespace);
        async move {
            if covered {
                return;
            }
            watcher(api, watcher::Config::default())
                .default_backoff()
                .touched_objects()
                .for_each(|secret| {
                    if let Ok(secret) = secret {
                        wake(&secret, false, true);
                    }
                    futures::future::ready(())
                })
                .await;
        }
    };
    let namespace_root = {
        let workspaces = workspaces.clone();
        let wake = ctx.wake_workspace.get().cloned();
        let mut labels = Seen::default();
        watcher(
            Api::<PartialObjectMeta<Namespace>>::all(client.clone()),
            watcher::Config::default(),
        )
        .default_backoff()
        .modify(|ns| ns.metadata.managed_fields = None)
        .reflect(namespace_writer)
        .for_each(move |event| {
            // A namespace's name-policy label changed: its workspaces decide again.
            if let Ok(watcher::Event::Apply(namespace)) = &event {
                let key = hash_of(
                    namespace
                        .labels()
                        .get(embedded_workspace::naming::NAMESPACE_POLICY_LABEL),
                );
                if labels.changed(&namespace.name_any(), key) {
                    let name = namespace.name_any();
                    for workspace in workspaces
                        .state()
                        .iter()
                        .filter(|w| w.namespace().as_deref() == Some(name.as_str()))
                    {
                        if let Some(wake) = &wake {
                            let _ = wake.unbounded_send(ObjectRef::from_obj(workspace.as_ref()));
                        }
                    }
                }
            } else if let Ok(watcher::Event::InitApply(namespace)) = &event {
                labels.changed(
                    &namespace.name_any(),
                    hash_of(
                        namespace
                            .labels()
                            .get(embedded_workspace::naming::NAMESPACE_POLICY_LABEL),
                    ),
                );
            }
            futures::future::ready(())
        })
    };
    let roots = tokio::spawn(async move {
        tokio::join!(
            workspace_root,
            template_root,
            source_root,
            secret_root,
            template_secret_root,
            namespace_root
        );
    });

    let wait_ready = async {
        workspaces
            .wait_until_ready()
            .await
            .map_err(|e| e.to_string())?;
        templates
            .wait_until_ready()
            .await
            .map_err(|e| e.to_string())?;
        sources
            .wait_until_ready()
            .await
            .map_err(|e| e.to_string())?;
        secrets
            .wait_until_ready()
            .await
            .map_err(|e| e.to_string())?;
        namespaces
            .wait_until_ready()
            .await
            .map_err(|e| e.to_string())?;
        Ok::<(), String>(())
    };
    wait_ready.await?;
    tracing::info!(
        workspaces = workspaces.state().len(),
        templates = templates.state().len(),
        sources = sources.state().len(),
        "caches filled; starting controllers"
    );
    ready.store(true, Ordering::SeqCst);

    let controller_config = ControllerConfig::default().concurrency(concurrency);
    let shutdown = futures::future::FutureExt::shared(Box::pin(shutdown));
    let workspace_controller = Controller::for_shared_stream(workspace_main_rx, workspaces.clone())
        .reconcile_on(workspace_wakes)
        .with_config(controller_config.clone())
        .graceful_shutdown_on(shutdown.clone())
        .run(
            embedded_workspace::reconcile,
            lifecycle::error_policy,
            ctx.clone(),
        )
        .for_each(|_| futures::future::ready(()));
    let template_controller = Controller::for_shared_stream(template_main_rx, templates.clone())
        .reconcile_on(template_wakes)
        .with_config(controller_config.clone())
        .graceful_shutdown_on(shutdown.clone())
        .run(
            source_template::reconcile,
            lifecycle::error_policy,
            ctx.clone(),
        )
        .for_each(|_| futures::future::ready(()));
    let source_controller = Controller::for_shared_stream(source_main_rx, sources.clone())
        .reconcile_on(source_wakes)
        .with_config(controller_config)
        .graceful_shutdown_on(shutdown.clone())
        .run(
            embedded_source::reconcile,
            lifecycle::error_policy,
            ctx.clone(),
        )
        .for_each(|_| futures::future::ready(()));

    tokio::join!(workspace_controller, template_controller, source_controller);
    roots.abort();
    tracing::info!("controllers stopped");
    Ok(())
}
