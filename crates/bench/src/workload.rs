//! The benchmark workload: N tenants spread over tenant namespaces, each with an
//! EmbeddedWorkspace, a Secret and an EmbeddedSource from one shared SourceTemplate.

use std::path::Path;
use std::time::{Duration, Instant};

use airbyte_sim::catalog::STRIPE_DEFINITION_ID;
use embedded_crds::{EmbeddedSource, EmbeddedWorkspace, SourceTemplate, conditions, schema};
use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use local_control_plane::{ControlPlane, ControlPlaneOptions, kubeconfig};
use serde_json::json;

pub const TEMPLATE: &str = "bench-stripe";
pub const LABEL: &str = "bench.airbyte.ai/run";

/// Tenants per namespace (namespaces are not free: each gets its ServiceAccount and CA bundle).
const PER_NAMESPACE: usize = 100;

#[derive(Clone, Debug)]
pub struct Tenant {
    pub namespace: String,
    pub index: usize,
}

impl Tenant {
    pub fn workspace(&self) -> String {
        format!("w{}", self.index)
    }
    pub fn source(&self) -> String {
        format!("s{}", self.index)
    }
    pub fn secret(&self) -> String {
        format!("c{}", self.index)
    }
}

pub fn tenants(n: usize) -> Vec<Tenant> {
    (0..n)
        .map(|index| Tenant {
            namespace: format!("bench-{:03}", index / PER_NAMESPACE),
            index,
        })
        .collect()
}

pub async fn start_plane(dir: &Path) -> Result<(ControlPlane, Client), String> {
    let plane = ControlPlane::start(ControlPlaneOptions::new(dir))
        .await
        .map_err(|e| e.to_string())?;
    let client = kubeconfig::client(plane.kubeconfig_path())
        .await
        .map_err(|e| e.to_string())?;
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    for crd in schema::crds() {
        let name = crd.name_any();
        crds.patch(
            &name,
            &PatchParams::apply("bench").force(),
            &Patch::Apply(&crd),
        )
        .await
        .map_err(|e| e.to_string())?;
        kube::runtime::wait::await_condition(
            crds.clone(),
            &name,
            kube::runtime::wait::conditions::is_crd_established(),
        )
        .await
        .map_err(|e| e.to_string())?;
    }
    Ok((plane, client))
}

/// Namespaces and the shared template (before the clock starts).
pub async fn prepare(client: &Client, tenants: &[Tenant], run: &str) -> Result<(), String> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let mut names: Vec<&str> = tenants.iter().map(|t| t.namespace.as_str()).collect();
    names.dedup();
    for name in names {
        let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}}))
            .map_err(|e| e.to_string())?;
        namespaces
            .create(&PostParams::default(), &ns)
            .await
            .map_err(|e| e.to_string())?;
    }
    let template: SourceTemplate = serde_json::from_value(json!({
        "apiVersion": "embedded.airbyte.ai/v1alpha1", "kind": "SourceTemplate",
        "metadata": {"name": TEMPLATE, "labels": {LABEL: run}},
        "spec": {"name": "Stripe (bench)", "actorDefinitionId": STRIPE_DEFINITION_ID},
    }))
    .map_err(|e| e.to_string())?;
    Api::<SourceTemplate>::all(client.clone())
        .create(&PostParams::default(), &template)
        .await
        .map_err(|e| e.to_string())?;
    Ok(())
}

/// Creates one tenant's Secret, EmbeddedWorkspace and EmbeddedSource.
pub async fn create_tenant(client: &Client, tenant: &Tenant, run: &str) -> Result<(), kube::Error> {
    let ns = &tenant.namespace;
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": tenant.secret(), "labels": {LABEL: run}},
        "stringData": {"client_secret": format!("sk_bench_{}", tenant.index)},
    }))
    .expect("static secret");
    let workspace: EmbeddedWorkspace = serde_json::from_value(json!({
        "apiVersion": "embedded.airbyte.ai/v1alpha1", "kind": "EmbeddedWorkspace",
        "metadata": {"name": tenant.workspace(), "labels": {LABEL: run}},
        "spec": {},
    }))
    .expect("static workspace");
    let source: EmbeddedSource = serde_json::from_value(json!({
        "apiVersion": "embedded.airbyte.ai/v1alpha1", "kind": "EmbeddedSource",
        "metadata": {"name": tenant.source(), "labels": {LABEL: run}},
        "spec": {
            "workspaceRef": {"name": tenant.workspace()},
            "sourceTemplateRef": {"name": TEMPLATE},
            "sourceConfig": {"account_id": format!("acct_{}", tenant.index)},
            "sourceConfigSecretRefs": [{"path": "client_secret", "secretKeyRef": {"name": tenant.secret(), "key": "client_secret"}}],
        },
    }))
    .expect("static source");
    let params = PostParams::default();
    Api::<Secret>::namespaced(client.clone(), ns)
        .create(&params, &secret)
        .await?;
    Api::<EmbeddedWorkspace>::namespaced(client.clone(), ns)
        .create(&params, &workspace)
        .await?;
    Api::<EmbeddedSource>::namespaced(client.clone(), ns)
        .create(&params, &source)
        .await?;
    Ok(())
}

/// Creates every tenant, `concurrency` at a time, calling `then` after each.
pub async fn create_all<F, Fut>(
    client: &Client,
    tenants: &[Tenant],
    run: &str,
    concurrency: usize,
    then: F,
) -> Result<(), String>
where
    F: Fn(Tenant) -> Fut + Clone,
    Fut: std::future::Future<Output = Result<(), String>>,
{
    let failures = futures::stream::iter(tenants.iter().cloned())
        .map(|tenant| {
            let then = then.clone();
            async move {
                create_tenant(client, &tenant, run)
                    .await
                    .map_err(|e| format!("creating tenant {}: {e}", tenant.index))?;
                then(tenant).await
            }
        })
        .buffer_unordered(concurrency)
        .filter_map(|result| async move { result.err() })
        .collect::<Vec<_>>()
        .await;
    match failures.first() {
        Some(first) => Err(format!("{} tenants failed; first: {first}", failures.len())),
        None => Ok(()),
    }
}

/// Every applied object of kind `K` as (`tag`, uid, Ready).
fn readiness<K>(
    client: &Client,
    tag: bool,
    ready: fn(&K) -> bool,
) -> futures::stream::BoxStream<'static, Result<(bool, String, bool), kube::runtime::watcher::Error>>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + std::fmt::Debug
        + serde::de::DeserializeOwned
        + Send
        + 'static,
{
    use kube::runtime::{WatchStreamExt, watcher};
    watcher(Api::<K>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .applied_objects()
        .map(move |object| object.map(|o| (tag, o.uid().unwrap_or_default(), ready(&o))))
        .boxed()
}

/// Watches both kinds until `n` workspaces and `n` sources are Ready; returns when that was first
/// seen. A watch, not a poll: listing thousands of objects every half second would load the
/// apiserver during the operator's run only, and the floor has no such load.
pub async fn wait_ready(client: &Client, n: usize, timeout: Duration) -> Result<Instant, String> {
    let ready_workspaces = readiness::<EmbeddedWorkspace>(client, true, |w| {
        w.status
            .as_ref()
            .is_some_and(|s| conditions::is_ready(&s.conditions))
    });
    let ready_sources = readiness::<EmbeddedSource>(client, false, |s| {
        s.status
            .as_ref()
            .is_some_and(|st| conditions::is_ready(&st.conditions))
    });
    let mut events = futures::stream::select(ready_workspaces, ready_sources);
    let mut workspaces = std::collections::HashSet::new();
    let mut sources = std::collections::HashSet::new();
    let mut reported = Instant::now();
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let event = tokio::time::timeout_at(deadline, events.next())
            .await
            .map_err(|_| {
                format!(
                    "not Ready after {timeout:?}: {} workspaces, {} sources of {n}",
                    workspaces.len(),
                    sources.len()
                )
            })?;
        let Some(event) = event else {
            return Err("the watch ended".into());
        };
        let Ok((is_workspace, uid, ready)) = event else {
            continue; // the watcher retries with backoff by itself
        };
        let set = if is_workspace {
            &mut workspaces
        } else {
            &mut sources
        };
        if ready {
            set.insert(uid);
        } else {
            set.remove(&uid);
        }
        if workspaces.len() >= n && sources.len() >= n {
            eprintln!("  ready: {n} workspaces, {n} sources of {n}");
            return Ok(Instant::now());
        }
        if reported.elapsed() >= Duration::from_secs(1) {
            eprintln!(
                "  ready: {} workspaces, {} sources of {n}",
                workspaces.len(),
                sources.len()
            );
            reported = Instant::now();
        }
    }
}
