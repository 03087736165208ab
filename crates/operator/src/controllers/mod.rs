//! The controllers: one folder per kind, each reconcile a pipeline read from its file names
//! (`observe` → `plan` → `act` → `record`), plus what they share. Which kinds exist is decided by
//! the `register` lines in [`run_with`]; `wiring` builds a controller and its watches for any of
//! them.

pub mod claim_index;
pub mod clock;
pub mod compare;
pub mod connection_template;
pub mod context;
pub mod convert;
pub mod embedded_source;
pub mod embedded_workspace;
pub mod error;
pub mod events;
pub mod external;
pub mod intent;
pub mod lifecycle;
pub mod memory;
pub mod organization;
pub mod secret_values;
pub mod source_template;
pub mod status;
pub mod template;
pub mod wiring;

#[cfg(test)]
pub(crate) mod testing;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::FutureExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::core::PartialObjectMeta;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::{self, Store};
use kube::{Api, Client};

use self::context::{Context, Parts};
use self::organization::OrganizationKey;
use self::organization::registry::{Connect, Organization, Organizations, Settings};
use self::wiring::{Kinds, metadata};
use crate::config::OperatorConfig;
use crate::metrics::{ApiCallMetrics, Metrics};
use airbyte_client::{AirbyteApi, AirbyteClient, ClientConfig};
use embedded_crds::{
    AirbyteOrganization, ClusterAirbyteOrganization, ConnectionTemplate, EmbeddedSource,
    EmbeddedWorkspace, SourceTemplate,
};

/// User agent of every request to Kubernetes.
pub const USER_AGENT: &str = concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION"));

/// How long a stop may take: in-flight reconciles get this long after SIGTERM, then the process
/// ends whatever the apiserver and Airbyte are doing (controller-runtime's default).
pub const GRACEFUL_SHUTDOWN: Duration = Duration::from_secs(30);

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

/// Runs the operator until `shutdown` resolves.
pub async fn run(
    config: OperatorConfig,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let client = kube_client(&config.identity).await?;
    run_with(client, config, metrics, ready, shutdown).await
}

/// Runs the controllers with a given Kubernetes client, acting for every organization over
/// HTTP, until `shutdown` resolves.
pub async fn run_with(
    client: Client,
    config: OperatorConfig,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let connect = http_connect(metrics.clone());
    let fallback = flags_organization(&config, &connect)?;
    let organizations = Organizations::new(connect, fallback);
    run_for(client, organizations, config, metrics, ready, shutdown).await
}

/// Builds each organization's HTTP client, its calls counted under the organization's label.
pub fn http_connect(metrics: Arc<Metrics>) -> Connect<AirbyteClient> {
    Arc::new(move |settings: &Settings| {
        let mut config = ClientConfig::new(
            settings.api_url.clone(),
            settings.organization_id.clone(),
            settings.credentials.clone(),
        );
        config.max_requests_per_second = settings.requests_per_second;
        config.burst = settings.burst;
        config.allow_insecure_http = true;
        let observer = ApiCallMetrics {
            metrics: metrics.clone(),
            organization: settings.key.label(),
        };
        AirbyteClient::with_observer(config, Some(Arc::new(observer))).map_err(|e| e.to_string())
    })
}

/// The organization the flags describe (`--organization-id`, the credentials in the
/// environment), standing in for `ClusterAirbyteOrganization/default` when no such object
/// exists.
pub fn flags_organization<A>(
    config: &OperatorConfig,
    connect: &Connect<A>,
) -> Result<Option<Arc<Organization<A>>>, String> {
    let (Some(organization_id), Some(credentials)) = (&config.organization_id, &config.credentials)
    else {
        return Ok(None);
    };
    let settings = Settings {
        key: OrganizationKey::cluster(embedded_crds::DEFAULT_ORGANIZATION),
        organization_id: organization_id.to_lowercase(),
        api_url: config.api_url.clone(),
        credentials: credentials.clone(),
        requests_per_second: config.max_requests_per_second,
        burst: None,
    };
    let airbyte = connect(&settings)?;
    Ok(Some(Arc::new(Organization {
        key: settings.key,
        organization_id: settings.organization_id,
        region: None,
        airbyte,
        fingerprint: 0,
        credentials: settings.credentials,
        credentials_version: String::new(),
    })))
}

/// Runs the controllers with a given Kubernetes client and organizations until `shutdown`
/// resolves; in-flight work then has [`GRACEFUL_SHUTDOWN`] to finish.
pub async fn run_for<A: AirbyteApi>(
    client: Client,
    organizations: Organizations<A>,
    config: OperatorConfig,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), String> {
    let shutdown: wiring::Shutdown = shutdown.boxed().shared();
    let mut kinds = Kinds::new(client.clone(), &config);
    kinds.register::<EmbeddedWorkspace>();
    kinds.register::<SourceTemplate>();
    kinds.register::<EmbeddedSource>();
    kinds.register::<ConnectionTemplate>();
    kinds.register::<ClusterAirbyteOrganization>();
    kinds.register::<AirbyteOrganization>();

    let work = operate(
        client,
        organizations,
        config,
        metrics,
        ready,
        kinds,
        shutdown.clone(),
    );
    let deadline = shutdown.then(|_| tokio::time::sleep(GRACEFUL_SHUTDOWN));
    tokio::select! {
        result = work => result,
        _ = deadline => {
            tracing::warn!(
                seconds = GRACEFUL_SHUTDOWN.as_secs(),
                "graceful shutdown did not finish in time; stopping with reconciles still in flight"
            );
            Ok(())
        }
    }
}

/// Start-up (CRDs, caches) and the controllers, each step abandoned as soon as a stop is asked.
async fn operate<A: AirbyteApi>(
    client: Client,
    organizations: Organizations<A>,
    config: OperatorConfig,
    metrics: Arc<Metrics>,
    ready: Arc<AtomicBool>,
    mut kinds: Kinds<A>,
    shutdown: wiring::Shutdown,
) -> Result<(), String> {
    let stopping = || shutdown.clone();
    tokio::select! {
        checked = kinds.check() => checked?,
        _ = stopping() => return Ok(()),
    }
    let metadata = Metadata::new(&config);
    let mut stores = kinds.stores.clone();
    metadata.fill(&mut stores);
    let ctx = context(
        client,
        organizations,
        config,
        metrics,
        &mut kinds,
        stores.clone(),
    );
    let mut started = kinds.start(ctx.clone(), shutdown.clone());
    let caches = metadata.caches();
    started
        .roots
        .extend(metadata.watches(&ctx, &mut kinds.feeds, &stores));
    let roots = tokio::spawn(futures::future::join_all(started.roots));

    let caches = async {
        wiring::all_ready(started.ready).await?;
        wiring::all_ready(caches).await
    };
    tokio::select! {
        filled = caches => filled?,
        _ = stopping() => {
            roots.abort();
            return Ok(());
        }
    }
    tracing::info!("caches filled; starting controllers");
    ready.store(true, Ordering::SeqCst);
    futures::future::join_all(started.controllers).await;
    roots.abort();
    tracing::info!("controllers stopped");
    Ok(())
}

/// The shared context of a running operator.
fn context<A: AirbyteApi>(
    client: Client,
    organizations: Organizations<A>,
    config: OperatorConfig,
    metrics: Arc<Metrics>,
    kinds: &mut Kinds<A>,
    stores: context::Stores,
) -> Arc<Context<A>> {
    let reporter = Reporter {
        controller: embedded_crds::MANAGER.into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let parts = Parts {
        events: Arc::new(events::KubeEvents(Recorder::new(client.clone(), reporter))),
        metrics,
        stores,
        clock: Arc::new(clock::SystemClock),
        waker: Some(Arc::new(kinds.take_wakers())),
    };
    Arc::new(Context::new(client, organizations, config, parts))
}

/// The Secret and Namespace metadata caches, before their watches run: Secrets of the watched
/// namespaces, and of the operator's namespace when those do not cover it (template and
/// organization credentials live there).
struct Metadata {
    secrets: (
        Store<PartialObjectMeta<Secret>>,
        reflector::store::Writer<PartialObjectMeta<Secret>>,
    ),
    operator_secrets: Option<(
        Store<PartialObjectMeta<Secret>>,
        reflector::store::Writer<PartialObjectMeta<Secret>>,
    )>,
    namespaces: (
        Store<PartialObjectMeta<Namespace>>,
        reflector::store::Writer<PartialObjectMeta<Namespace>>,
    ),
    operator_namespace: String,
}

impl Metadata {
    fn new(config: &OperatorConfig) -> Metadata {
        let covered = config
            .watch_namespace
            .as_deref()
            .is_none_or(|namespace| namespace == config.secret_namespace);
        Metadata {
            secrets: reflector::store(),
            operator_secrets: (!covered).then(reflector::store),
            namespaces: reflector::store(),
            operator_namespace: config.secret_namespace.clone(),
        }
    }

    fn fill(&self, stores: &mut context::Stores) {
        stores.secrets = Some(self.secrets.0.clone());
        stores.operator_secrets = self
            .operator_secrets
            .as_ref()
            .map(|(store, _)| (self.operator_namespace.clone(), store.clone()));
        stores.namespaces = Some(self.namespaces.0.clone());
    }

    fn caches(&self) -> Vec<futures::future::BoxFuture<'static, Result<(), String>>> {
        let mut secrets = vec![self.secrets.0.clone()];
        secrets.extend(
            self.operator_secrets
                .as_ref()
                .map(|(store, _)| store.clone()),
        );
        let namespaces = self.namespaces.0.clone();
        let mut caches: Vec<futures::future::BoxFuture<'static, Result<(), String>>> = secrets
            .into_iter()
            .map(|store| {
                async move { store.wait_until_ready().await.map_err(|e| e.to_string()) }.boxed()
            })
            .collect();
        caches.push(
            async move {
                namespaces
                    .wait_until_ready()
                    .await
                    .map_err(|e| e.to_string())
            }
            .boxed(),
        );
        caches
    }

    fn watches<A: AirbyteApi>(
        self,
        ctx: &Arc<Context<A>>,
        feeds: &mut wiring::feed::Feeds,
        stores: &context::Stores,
    ) -> Vec<futures::future::BoxFuture<'static, ()>> {
        let client = ctx.client.clone();
        let config = &ctx.config;
        let secret_api: Api<PartialObjectMeta<Secret>> = match &config.watch_namespace {
            Some(namespace) => Api::namespaced(client.clone(), namespace),
            None => Api::all(client.clone()),
        };
        let own = &embedded_workspace::token_secret::OWN_ANNOTATIONS;
        let mut watches = vec![
            metadata::secret_watch(
                secret_api,
                self.secrets.1,
                feeds.of(),
                Some(stores.secrets_seen.clone()),
                own,
            ),
            metadata::namespace_watch(Api::all(client.clone()), self.namespaces.1, feeds.of()),
        ];
        if let Some((_, writer)) = self.operator_secrets {
            watches.push(metadata::secret_watch(
                Api::namespaced(client, &config.secret_namespace),
                writer,
                feeds.of(),
                None,
                own,
            ));
        }
        watches
    }
}
