//! Builds the three controllers and their watch relations, and runs them.
//!
//! One watch per kind feeds a shared cache (reflector) that every controller reads: workspaces,
//! templates and sources in full, Secrets and Namespaces as metadata only. Triggers:
//! - EmbeddedWorkspace: its own spec/annotation/finalizer changes, and its token Secret (owned).
//! - SourceTemplate: its own changes, and Secrets of the operator's namespace it references.
//! - EmbeddedSource: its own changes, its workspace or template becoming Ready (or changing id),
//!   and Secrets it references.
//!
//! Status-only changes trigger nothing, so writing status never causes another reconcile.

pub mod adoption;
pub mod config_hash;
pub mod context;
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
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Config as ControllerConfig, Controller};
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource, ResourceExt};

use self::context::{Context, Stores};
use crate::airbyte::{AirbyteApi, AirbyteClient, ClientConfig};
use crate::config::OperatorConfig;
use crate::metrics::{ApiCallMetrics, Metrics};
use crate::resources::{
    EXTERNAL_ID, EmbeddedSource, EmbeddedWorkspace, RECONCILE_REQUESTED_AT, SourceTemplate,
};

/// Buffer of each shared watch stream (objects in flight to slow subscribers).
const SHARED_BUFFER: usize = 1024;

/// User agent of every request to Kubernetes.
pub const USER_AGENT: &str = concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION"));

/// Passes an object on only when `key` of it changed since it was last passed (per uid).
fn changed_only<K, S>(
    stream: S,
    key: impl Fn(&K) -> u64 + Send + 'static,
) -> impl Stream<Item = Arc<K>> + Send
where
    K: Resource + Send + Sync + 'static,
    S: Stream<Item = Arc<K>> + Send,
{
    let seen: Mutex<HashMap<String, u64>> = Mutex::new(HashMap::new());
    stream.filter(move |object| {
        let uid = object.uid().unwrap_or_default();
        let value = key(object);
        let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
        let pass = seen.insert(uid, value) != Some(value);
        futures::future::ready(pass)
    })
}

fn hash_of(parts: impl Hash) -> u64 {
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

fn references_secret(refs: &[crate::resources::SecretValueRef], name: &str) -> bool {
    refs.iter().any(|r| r.secret_key_ref.name == name)
}

fn subscribe<K>(what: &str, handle: Option<K>) -> Result<K, String> {
    handle.ok_or_else(|| format!("the {what} cache is not shared"))
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
    let scoped = |client: Client| -> (
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
    let (workspace_api, source_api, secret_api) = scoped(client.clone());
    let mut selected = watcher::Config::default();
    if let Some(selector) = &config.selector {
        selected = selected.labels(selector);
    }

    let (workspaces, workspace_writer) =
        reflector::store_shared::<EmbeddedWorkspace>(SHARED_BUFFER);
    let (templates, template_writer) = reflector::store_shared::<SourceTemplate>(SHARED_BUFFER);
    let (sources, source_writer) = reflector::store_shared::<EmbeddedSource>(SHARED_BUFFER);
    let (secrets, secret_writer) =
        reflector::store_shared::<PartialObjectMeta<Secret>>(SHARED_BUFFER);
    let (namespaces, namespace_writer) = reflector::store::<PartialObjectMeta<Namespace>>();
    let workspace_events = subscribe("workspace", workspace_writer.subscribe())?;
    let workspace_events_for_sources = subscribe("workspace", workspace_writer.subscribe())?;
    let template_events = subscribe("template", template_writer.subscribe())?;
    let template_events_for_sources = subscribe("template", template_writer.subscribe())?;
    let source_events = subscribe("source", source_writer.subscribe())?;
    let secret_events = subscribe("secret", secret_writer.subscribe())?;
    let secret_events_for_sources = subscribe("secret", secret_writer.subscribe())?;

    let stores = Stores {
        workspaces: workspaces.clone(),
        templates: templates.clone(),
        sources: sources.clone(),
        secrets: secrets.clone(),
        namespaces: namespaces.clone(),
    };
    let reporter = Reporter {
        controller: crate::resources::MANAGER.into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let recorder = Recorder::new(client.clone(), reporter);
    let concurrency = config.concurrency;
    let secret_namespace = config.secret_namespace.clone();
    let ctx = Arc::new(Context::new(
        client.clone(),
        airbyte,
        config,
        recorder,
        metrics.clone(),
        stores,
    ));

    // Shared streams carry only objects that exist, so deletions are turned into triggers here:
    // a deleted token Secret wakes its workspace, a deleted Secret, workspace or template wakes
    // the sources that reference it.
    let (workspace_wake, workspace_wakes) =
        futures::channel::mpsc::unbounded::<ObjectRef<EmbeddedWorkspace>>();
    let (source_wake, source_wakes) =
        futures::channel::mpsc::unbounded::<ObjectRef<EmbeddedSource>>();
    let wake_sources = {
        let sources = sources.clone();
        move |matches: &dyn Fn(&EmbeddedSource) -> bool| {
            for source in sources.state().iter().filter(|s| matches(s)) {
                let _ = source_wake.unbounded_send(ObjectRef::from_obj(source.as_ref()));
            }
        }
    };
    let wake_sources = Arc::new(wake_sources);

    // Root watches: they fill the caches and feed the subscribers.
    let ctx_for_deletes = ctx.clone();
    let wake = wake_sources.clone();
    let workspace_root = watcher(workspace_api, selected.clone())
        .default_backoff()
        .reflect_shared(workspace_writer)
        .for_each(move |event| {
            if let Ok(watcher::Event::Delete(workspace)) = &event {
                embedded_workspace::forget(&ctx_for_deletes, workspace);
                let (namespace, name) = (workspace.namespace(), workspace.name_any());
                wake(&|s| s.namespace() == namespace && s.spec.workspace_ref.name == name);
            }
            futures::future::ready(())
        });
    let wake = wake_sources.clone();
    let template_root = watcher(Api::<SourceTemplate>::all(client.clone()), selected.clone())
        .default_backoff()
        .reflect_shared(template_writer)
        .for_each(move |event| {
            if let Ok(watcher::Event::Delete(template)) = &event {
                let name = template.name_any();
                wake(&|s| {
                    s.spec
                        .source_template_ref
                        .as_ref()
                        .is_some_and(|r| r.name == name)
                });
            }
            futures::future::ready(())
        });
    let source_root = watcher(source_api, selected.clone())
        .default_backoff()
        .reflect_shared(source_writer)
        .for_each(|_| futures::future::ready(()));
    let wake = wake_sources.clone();
    let secret_root = watcher(secret_api, watcher::Config::default())
        .default_backoff()
        .modify(slim_secret)
        .reflect_shared(secret_writer)
        .for_each(move |event| {
            if let Ok(watcher::Event::Delete(secret)) = &event {
                for owner in secret.metadata.owner_references.iter().flatten() {
                    if owner.kind == "EmbeddedWorkspace"
                        && owner.api_version == EmbeddedWorkspace::api_version(&())
                    {
                        let mut reference = ObjectRef::new(&owner.name);
                        if let Some(namespace) = secret.namespace() {
                            reference = reference.within(&namespace);
                        }
                        let _ = workspace_wake.unbounded_send(reference);
                    }
                }
                let (namespace, name) = (secret.namespace(), secret.name_any());
                wake(&|s| {
                    s.namespace() == namespace
                        && references_secret(&s.spec.source_config_secret_refs, &name)
                });
            }
            futures::future::ready(())
        });
    let namespace_root = watcher(
        Api::<PartialObjectMeta<Namespace>>::all(client.clone()),
        watcher::Config::default(),
    )
    .default_backoff()
    .modify(|ns| ns.metadata.managed_fields = None)
    .reflect(namespace_writer)
    .for_each(|_| futures::future::ready(()));
    let roots = tokio::spawn(async move {
        tokio::join!(
            workspace_root,
            template_root,
            source_root,
            secret_root,
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

    let workspace_controller = Controller::for_shared_stream(
        changed_only(workspace_events, trigger_key),
        workspaces.clone(),
    )
    .owns_shared_stream(secret_events)
    .reconcile_on(workspace_wakes)
    .with_config(controller_config.clone())
    .graceful_shutdown_on(shutdown.clone())
    .run(
        embedded_workspace::reconcile,
        lifecycle::error_policy,
        ctx.clone(),
    )
    .for_each(|_| futures::future::ready(()));

    let template_store = templates.clone();
    let template_secret_api: Api<PartialObjectMeta<Secret>> =
        Api::namespaced(client.clone(), &secret_namespace);
    let template_controller = Controller::for_shared_stream(
        changed_only(template_events, trigger_key),
        templates.clone(),
    )
    .watches_stream(
        watcher(template_secret_api, watcher::Config::default())
            .default_backoff()
            .touched_objects(),
        move |secret: PartialObjectMeta<Secret>| {
            let name = secret.name_any();
            template_store
                .state()
                .into_iter()
                .filter(|t| references_secret(&t.spec.partial_default_config_secret_refs, &name))
                .map(|t| ObjectRef::from_obj(t.as_ref()))
                .collect::<Vec<_>>()
        },
    )
    .with_config(controller_config.clone())
    .graceful_shutdown_on(shutdown.clone())
    .run(
        source_template::reconcile,
        lifecycle::error_policy,
        ctx.clone(),
    )
    .for_each(|_| futures::future::ready(()));

    let by_workspace = sources.clone();
    let by_template = sources.clone();
    let by_secret = sources.clone();
    let readiness = |ready: bool, id: Option<&String>| hash_of((ready, id));
    let source_controller =
        Controller::for_shared_stream(changed_only(source_events, trigger_key), sources.clone())
            .watches_shared_stream(
                changed_only(
                    workspace_events_for_sources,
                    move |w: &EmbeddedWorkspace| {
                        let status = w.status.clone().unwrap_or_default();
                        readiness(
                            crate::resources::conditions::is_ready(&status.conditions),
                            status.workspace_id.as_ref(),
                        )
                    },
                ),
                move |workspace: Arc<EmbeddedWorkspace>| {
                    let namespace = workspace.namespace();
                    let name = workspace.name_any();
                    by_workspace
                        .state()
                        .into_iter()
                        .filter(|s| s.namespace() == namespace && s.spec.workspace_ref.name == name)
                        .map(|s| ObjectRef::from_obj(s.as_ref()))
                        .collect::<Vec<_>>()
                },
            )
            .watches_shared_stream(
                changed_only(template_events_for_sources, move |t: &SourceTemplate| {
                    let status = t.status.clone().unwrap_or_default();
                    readiness(
                        crate::resources::conditions::is_ready(&status.conditions),
                        status.template_id.as_ref(),
                    )
                }),
                move |template: Arc<SourceTemplate>| {
                    let name = template.name_any();
                    by_template
                        .state()
                        .into_iter()
                        .filter(|s| {
                            s.spec
                                .source_template_ref
                                .as_ref()
                                .is_some_and(|r| r.name == name)
                        })
                        .map(|s| ObjectRef::from_obj(s.as_ref()))
                        .collect::<Vec<_>>()
                },
            )
            .watches_shared_stream(
                secret_events_for_sources,
                move |secret: Arc<PartialObjectMeta<Secret>>| {
                    let namespace = secret.namespace();
                    let name = secret.name_any();
                    by_secret
                        .state()
                        .into_iter()
                        .filter(|s| {
                            s.namespace() == namespace
                                && references_secret(&s.spec.source_config_secret_refs, &name)
                        })
                        .map(|s| ObjectRef::from_obj(s.as_ref()))
                        .collect::<Vec<_>>()
                },
            )
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
