//! The middle test tier: reconcile drivers run against [`FakeAirbyte`] and a Kubernetes client
//! whose answers are scripted ([`Script`]: each expected request, in order, with its answer; an
//! unexpected request fails the test), with an injected clock and Events kept in memory.

pub mod fake_airbyte;

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use http::{Request, Response};
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Client;
use kube::client::Body;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::Action;
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher;
use serde_json::Value;

use super::clock::ManualClock;
use super::context::{Context, Parts, Stores};
use super::events::{CollectedEvents, EventReason, Note};
use super::organization::OrganizationKey;
use super::organization::registry::{Connect, Organization, Organizations, Settings};
use super::wiring::Kind;
use crate::config::{OperatorConfig, WorkspaceNamePolicy};
use crate::metrics::Metrics;
use airbyte_client::OrganizationCredentials;
use embedded_crds::{
    AirbyteOrganization, ClusterAirbyteOrganization, ConnectionTemplate, EmbeddedSource,
    EmbeddedWorkspace, SourceTemplate,
};

pub use fake_airbyte::FakeAirbyte;

/// The organizations of a driver test: the flags' one is `airbyte` itself; an organization
/// object's client is a client of the same fake world, built with its client secret.
pub fn organizations_of(airbyte: &FakeAirbyte) -> Organizations<FakeAirbyte> {
    let fallback = Organization {
        key: OrganizationKey::cluster(embedded_crds::DEFAULT_ORGANIZATION),
        organization_id: fake_airbyte::ORGANIZATION.into(),
        region: None,
        airbyte: airbyte.clone(),
        fingerprint: 0,
        credentials: OrganizationCredentials::AccessToken(airbyte_client::BearerToken::new("t")),
        credentials_version: String::new(),
    };
    let world = airbyte.clone();
    let connect: Connect<FakeAirbyte> = Arc::new(move |settings: &Settings| {
        Ok(match &settings.credentials {
            OrganizationCredentials::ClientCredentials { client_secret, .. } => {
                world.with_secret(secrecy::ExposeSecret::expose_secret(client_secret))
            }
            OrganizationCredentials::AccessToken(_) => world.clone(),
        })
    });
    Organizations::new(connect, Some(Arc::new(fallback)))
}

type Answer = Box<dyn FnOnce(&Value) -> (u16, Value) + Send>;

/// One expected request.
struct Expected {
    method: &'static str,
    path: String,
    answer: Answer,
}

/// A request the driver made.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub body: Value,
}

/// The scripted apiserver: expected requests in order, and what was actually asked.
#[derive(Clone, Default)]
pub struct Script {
    expected: Arc<Mutex<VecDeque<Expected>>>,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Script {
    /// Expects `method` on a path containing `path` next; answers with `answer(request body)`.
    pub fn expect(
        &self,
        method: &'static str,
        path: &str,
        answer: impl FnOnce(&Value) -> (u16, Value) + Send + 'static,
    ) {
        self.expected.lock().unwrap().push_back(Expected {
            method,
            path: path.to_string(),
            answer: Box::new(answer),
        });
    }

    /// Every expected request was made.
    pub fn done(&self) {
        let left: Vec<String> = self
            .expected
            .lock()
            .unwrap()
            .iter()
            .map(|e| format!("{} {}", e.method, e.path))
            .collect();
        assert!(
            left.is_empty(),
            "expected requests not made: {left:?}; made: {:?}",
            self.requests()
        );
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    fn answer(&self, method: &str, path: &str, body: Value) -> (u16, Value) {
        self.seen.lock().unwrap().push(Seen {
            method: method.to_string(),
            path: path.to_string(),
            body: body.clone(),
        });
        let next = self.expected.lock().unwrap().pop_front();
        match next {
            Some(expected) if expected.method == method && path.contains(&expected.path) => {
                (expected.answer)(&body)
            }
            Some(expected) => panic!(
                "expected {} {}, got {method} {path} with {body}",
                expected.method, expected.path
            ),
            None => panic!("unexpected request {method} {path} with {body}"),
        }
    }

    /// A client whose every request this script answers.
    pub fn client(&self) -> Client {
        let script = self.clone();
        let service = tower::service_fn(move |request: Request<Body>| {
            let script = script.clone();
            async move {
                let method = request.method().to_string();
                let path = request.uri().to_string();
                let bytes = request.into_body().collect_bytes().await?;
                let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
                let (status, answer) = script.answer(&method, &path, body);
                Ok::<_, kube::Error>(
                    Response::builder()
                        .status(status)
                        .header("content-type", "application/json")
                        .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                        .unwrap(),
                )
            }
        });
        Client::new(service, "default")
    }
}

/// Answers a server-side apply with the object the patch describes on top of `object`, at
/// resourceVersion `version`.
pub fn applied(object: Value, version: u64) -> impl FnOnce(&Value) -> (u16, Value) + Send {
    move |patch| {
        let mut merged = object;
        merge(&mut merged, patch);
        merged["metadata"]["resourceVersion"] = Value::String(version.to_string());
        (200, merged)
    }
}

fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(target), Value::Object(patch)) => {
            for (key, value) in patch {
                merge(target.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}

/// Everything a driver test needs.
pub struct Harness {
    pub airbyte: FakeAirbyte,
    pub kube: Script,
    pub clock: Arc<ManualClock>,
    pub events: Arc<CollectedEvents>,
    pub ctx: Arc<Context<FakeAirbyte>>,
    workspaces: Writer<EmbeddedWorkspace>,
    templates: Writer<SourceTemplate>,
    sources: Writer<EmbeddedSource>,
    secrets: Writer<PartialObjectMeta<Secret>>,
    namespaces: Writer<PartialObjectMeta<Namespace>>,
    connections: Writer<ConnectionTemplate>,
    cluster_organizations: Writer<ClusterAirbyteOrganization>,
    organizations: Writer<AirbyteOrganization>,
}

pub fn config() -> OperatorConfig {
    OperatorConfig {
        api_url: "http://127.0.0.1:1".parse().unwrap(),
        organization_id: Some(fake_airbyte::ORGANIZATION.into()),
        credentials: Some(OrganizationCredentials::AccessToken(
            airbyte_client::BearerToken::new("t"),
        )),
        watch_namespace: None,
        selector: None,
        secret_namespace: "operator".into(),
        workspace_name_policy: WorkspaceNamePolicy::Namespaced,
        concurrency: 4,
        max_requests_per_second: None,
        drift_interval: Duration::from_secs(600),
        metrics_addr: "127.0.0.1:0".parse().unwrap(),
        leader_election: None,
        allow_insecure_http: false,
        allowed_api_urls: Vec::new(),
        identity: "test".into(),
    }
}

impl Harness {
    pub fn new(now: SystemTime) -> Harness {
        let airbyte = FakeAirbyte::default();
        airbyte.world().now = Some(now);
        let kube = Script::default();
        let clock = Arc::new(ManualClock::at(now));
        let events = Arc::new(CollectedEvents::default());
        let (workspace_store, workspaces) = reflector::store::<EmbeddedWorkspace>();
        let (template_store, templates) = reflector::store::<SourceTemplate>();
        let (source_store, sources) = reflector::store::<EmbeddedSource>();
        let (secret_store, secrets) = reflector::store::<PartialObjectMeta<Secret>>();
        let (namespace_store, namespaces) = reflector::store::<PartialObjectMeta<Namespace>>();
        let (connection_store, connections) = reflector::store::<ConnectionTemplate>();
        let (cluster_store, cluster_organizations) =
            reflector::store::<ClusterAirbyteOrganization>();
        let (organization_store, organizations) = reflector::store::<AirbyteOrganization>();
        let mut stores = Stores::default();
        stores.insert(cluster_store);
        stores.insert(organization_store);
        stores.insert(workspace_store);
        stores.insert(template_store);
        stores.insert(source_store);
        stores.insert(connection_store);
        stores.secrets = Some(secret_store);
        stores.namespaces = Some(namespace_store);
        let parts = Parts {
            events: events.clone(),
            metrics: Arc::new(Metrics::new()),
            stores,
            clock: clock.clone(),
            waker: None,
        };
        let ctx = Arc::new(Context::new(
            kube.client(),
            organizations_of(&airbyte),
            config(),
            parts,
        ));
        Harness {
            airbyte,
            kube,
            clock,
            events,
            ctx,
            workspaces,
            templates,
            sources,
            secrets,
            namespaces,
            connections,
            cluster_organizations,
            organizations,
        }
    }

    pub fn put_cluster_organization(&mut self, organization: &ClusterAirbyteOrganization) {
        self.cluster_organizations
            .apply_watcher_event(&watcher::Event::Apply(organization.clone()));
    }

    pub fn put_organization(&mut self, organization: &AirbyteOrganization) {
        self.organizations
            .apply_watcher_event(&watcher::Event::Apply(organization.clone()));
    }

    pub fn put_namespace(&mut self, namespace: &PartialObjectMeta<Namespace>) {
        self.namespaces
            .apply_watcher_event(&watcher::Event::Apply(namespace.clone()));
    }

    pub fn put_workspace(&mut self, workspace: &EmbeddedWorkspace) {
        let event = watcher::Event::Apply(workspace.clone());
        self.workspaces.apply_watcher_event(&event);
        self.ctx.stores.workspace_names.apply(&event);
    }

    pub fn put_template(&mut self, template: &SourceTemplate) {
        self.templates
            .apply_watcher_event(&watcher::Event::Apply(template.clone()));
    }

    pub fn put_source(&mut self, source: &EmbeddedSource) {
        let event = watcher::Event::Apply(source.clone());
        self.sources.apply_watcher_event(&event);
        self.ctx.stores.source_names.apply(&event);
    }

    pub fn put_connection_template(&mut self, template: &ConnectionTemplate) {
        self.connections
            .apply_watcher_event(&watcher::Event::Apply(template.clone()));
    }

    pub fn put_secret(&mut self, secret: &PartialObjectMeta<Secret>) {
        self.secrets
            .apply_watcher_event(&watcher::Event::Apply(secret.clone()));
    }

    /// The watch saw `secret` deleted.
    pub fn remove_secret(&mut self, secret: &PartialObjectMeta<Secret>) {
        self.secrets
            .apply_watcher_event(&watcher::Event::Delete(secret.clone()));
    }

    /// The Events published so far.
    pub fn notes(&self) -> Vec<Note> {
        self.events
            .0
            .lock()
            .unwrap()
            .iter()
            .map(|(_, note)| note.clone())
            .collect()
    }
}

impl Harness {
    /// Expects a server-side apply of `object`'s metadata (`path` ends in `?`) or status (in
    /// `/status`), answered as applied at resourceVersion `version`.
    pub fn expect_write(&self, path: &str, object: &impl serde::Serialize, version: u64) {
        let object = serde_json::to_value(object).unwrap();
        self.kube.expect("PATCH", path, applied(object, version));
    }

    /// One reconcile of `object`; every request the script expects must have been made. (A failed
    /// reconcile is not an `Err`: it is recorded in status, which the test reads.)
    pub async fn reconcile<K: Kind>(&self, object: &K) -> Action {
        let action = K::reconcile(Arc::new(object.clone()), self.ctx.clone())
            .await
            .unwrap();
        self.kube.done();
        action
    }

    /// The status of the last status write (`null` when none was written).
    pub fn status_written(&self) -> Value {
        self.kube
            .requests()
            .into_iter()
            .rev()
            .find(|r| r.path.contains("/status"))
            .map(|r| r.body["status"].clone())
            .unwrap_or(Value::Null)
    }

    /// Whether an Event of `reason` was published.
    pub fn noted(&self, reason: EventReason) -> bool {
        self.notes().iter().any(|n| n.reason == reason)
    }
}

/// `object` with these annotations (and no others).
pub fn annotated<K: kube::Resource, V: AsRef<str>>(mut object: K, annotations: &[(&str, V)]) -> K {
    object.meta_mut().annotations = Some(
        annotations
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_ref().to_string()))
            .collect(),
    );
    object
}

/// `object` marked for deletion at `at`, as the apiserver holds it at `version`.
pub fn deleting<K: kube::Resource>(mut object: K, at: SystemTime, version: u64) -> K {
    let meta = object.meta_mut();
    meta.resource_version = Some(version.to_string());
    meta.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        jiff::Timestamp::try_from(at).unwrap(),
    ));
    object
}

/// A configuration object from JSON.
pub fn object(value: Value) -> serde_json::Map<String, Value> {
    value.as_object().cloned().unwrap()
}

/// A configuration with its Secret values, from JSON.
pub fn resolved(value: Value) -> super::secret_values::ResolvedConfig {
    super::secret_values::ResolvedConfig(object(value))
}

/// An object as the apiserver would hold it: uid, namespace, generation, creation time.
pub fn stored<K: kube::Resource<DynamicType = ()> + serde::Serialize>(
    mut object: K,
    namespace: Option<&str>,
    created: SystemTime,
) -> K {
    let meta = object.meta_mut();
    meta.uid = Some(format!("uid-{}", meta.name.clone().unwrap_or_default()));
    meta.namespace = namespace.map(str::to_string);
    meta.generation = Some(1);
    meta.resource_version = Some("1".into());
    meta.creation_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
        jiff::Timestamp::try_from(created).unwrap(),
    ));
    object
}
