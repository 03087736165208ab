//! Test harness: the shared cluster, a namespace per test (dumped on failure, deleted after),
//! real kubectl and helm, and waits that poll with a deadline.

#![allow(dead_code)]

pub mod cluster;
pub mod freeze_proxy;
pub mod kube_proxy;
pub mod operator;
pub mod scenario;
pub mod tools;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{DeleteParams, PostParams};
use kube::{Api, Client};

pub use cluster::{Cluster, cluster, node_cluster, with_node_plane};
pub use scenario::Scenario;
pub use tools::{Generation, Run, Tools};

/// Label on every namespace the suite creates.
pub const SUITE_LABEL: &str = "e2e.airbyte.ai/suite";

/// One test's context: a fresh namespace, a scratch folder, an admin client.
pub struct TestContext {
    pub name: String,
    pub namespace: String,
    pub client: Client,
    pub dir: tempfile::TempDir,
    pub cluster: &'static Cluster,
}

impl TestContext {
    /// Creates namespace `<prefix>-<random>` labelled for the suite.
    pub async fn new(prefix: &str) -> TestContext {
        TestContext::on(cluster(), prefix).await
    }

    /// The same, on `cluster`.
    pub async fn on(cluster: &'static Cluster, prefix: &str) -> TestContext {
        let client = cluster.client().await;
        let suffix: String = uuid::Uuid::new_v4().simple().to_string()[..6].to_string();
        let namespace = format!("{prefix}-{suffix}");
        let namespaces: Api<Namespace> = Api::all(client.clone());
        let object: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": namespace, "labels": {SUITE_LABEL: "true"}}
        }))
        .unwrap();
        namespaces
            .create(&PostParams::default(), &object)
            .await
            .unwrap_or_else(|error| panic!("create namespace {namespace}: {error}"));
        TestContext {
            name: prefix.to_string(),
            namespace,
            client,
            dir: tempfile::Builder::new()
                .prefix(&format!("e2e-{prefix}-"))
                .tempdir()
                .unwrap(),
            cluster,
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// kubectl and helm of `generation` with this test's own caches.
    pub fn tools(&self, generation: Generation) -> Tools {
        Tools::new(
            generation,
            &self.cluster.kubeconfig,
            &self.dir.path().join(format!("home-{}", generation.label())),
        )
    }

    /// Writes the namespace's objects and events to stderr (called on failure).
    fn dump(&self) {
        let tools = self.tools(Generation::Current);
        let kinds = "all,secrets,configmaps,serviceaccounts,roles,rolebindings,leases,events";
        let custom = "embeddedworkspaces.embedded.airbyte.ai,embeddedsources.embedded.airbyte.ai";
        for what in [kinds, custom] {
            let run = tools.kubectl(&["get", what, "-n", &self.namespace, "-o", "yaml"]);
            eprintln!(
                "---- {what} in {} ----\n{}{}",
                self.namespace,
                redact_secret_data(&run.stdout()),
                run.stderr()
            );
        }
        // The operator's own account, where it ran as a pod (the in-cluster stories).
        let logs = tools.kubectl(&[
            "logs",
            "-n",
            &self.namespace,
            "-l",
            "app.kubernetes.io/name=airbyte-embedded-operator",
            "--prefix",
            "--tail=300",
        ]);
        eprintln!(
            "---- operator pod logs in {} ----\n{}{}",
            self.namespace,
            logs.stdout(),
            logs.stderr()
        );
    }
}

/// Secret `data` values are replaced before a dump reaches the test log.
fn redact_secret_data(yaml: &str) -> String {
    let mut out = String::new();
    let mut in_data = false;
    for line in yaml.lines() {
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if in_data && indent <= 4 {
            in_data = false;
        }
        if trimmed == "data:" || trimmed == "stringData:" {
            in_data = true;
            out.push_str(line);
        } else if in_data {
            match line.split_once(':') {
                Some((key, _)) => out.push_str(&format!("{key}: <redacted>")),
                None => out.push_str(line),
            }
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

impl Drop for TestContext {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.dump();
        }
        if std::env::var_os("E2E_KEEP_NAMESPACES").is_some() {
            eprintln!("kept namespace {}", self.namespace);
            return;
        }
        let tools = self.tools(Generation::Current);
        // Cluster-scoped objects of the test (SourceTemplates) go too, finalizers released: their
        // operator is gone by now.
        let selector = format!("e2e.airbyte.ai/test={}", self.namespace);
        let templates = tools.kubectl(&[
            "get",
            "sourcetemplates.embedded.airbyte.ai",
            "-l",
            &selector,
            "-o",
            "name",
        ]);
        for template in templates.stdout().lines().filter(|l| !l.is_empty()) {
            let _ = tools.kubectl(&[
                "patch",
                template,
                "--type=merge",
                "-p",
                r#"{"metadata":{"finalizers":null}}"#,
            ]);
            let _ = tools.kubectl(&["delete", template, "--wait=false"]);
        }
        let _ = tools.kubectl(&["delete", "namespace", &self.namespace, "--wait=false"]);
    }
}

/// Polls `check` every 250 ms until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Deletes a cluster-scoped object by name, ignoring "not found".
pub async fn delete_cluster_object<K>(client: &Client, name: &str)
where
    K: kube::Resource<Scope = kube::core::ClusterResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let api: Api<K> = Api::all(client.clone());
    let _ = api.delete(name, &DeleteParams::default()).await;
}

pub fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}
