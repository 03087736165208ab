//! One operator story: a namespace, a simulator, the operator binary, and helpers to apply
//! manifests with kubectl and wait for conditions.

use std::time::Duration;

use airbyte_client::{AirbyteClient, Endpoint};
use airbyte_sim::Simulator;
use embedded_crds::conditions;
use embedded_crds::{ConnectionTemplate, EmbeddedSource, EmbeddedWorkspace, SourceTemplate};
use embedded_operator::controllers::lifecycle::Managed;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::Api;

use super::operator::{Operator, OperatorOptions, TEST_LABEL, install_crds, simulator};
use super::{Generation, Run, TestContext, Tools, wait_for};

/// Fields drop in order: the operator first (its log is printed on failure while the test's
/// folder still exists), the namespace last.
pub struct Scenario {
    pub operator: Operator,
    pub sim: Simulator,
    pub ctx: TestContext,
}

/// How long a reconcile may take to show, generously (2 cores, parallel tests).
pub const SETTLE: Duration = Duration::from_secs(60);

impl Scenario {
    /// A story with day-long tokens: refreshes are spread over the refresh cycle by workspace
    /// uid, so a short-lived token may be refreshed early within a test's minutes, and a test
    /// counting mints would count it (tests about refreshes choose their lifetime with `with`).
    pub async fn new(prefix: &str) -> Scenario {
        Scenario::with(
            prefix,
            Duration::from_secs(24 * 3600),
            OperatorOptions::default(),
        )
        .await
    }

    pub async fn with(
        prefix: &str,
        scoped_token_ttl: Duration,
        options: OperatorOptions,
    ) -> Scenario {
        let ctx = TestContext::new(prefix).await;
        install_crds(&ctx);
        let sim = simulator(scoped_token_ttl).await;
        let operator = Operator::start(&ctx, &sim, options);
        Scenario { operator, sim, ctx }
    }

    pub fn ns(&self) -> &str {
        &self.ctx.namespace
    }

    /// `{name: ..., namespace: ..., labels: {test label}}` for a namespaced object.
    pub fn meta(&self, name: &str) -> String {
        format!(
            "{{name: {name}, namespace: {ns}, labels: {{{TEST_LABEL}: {ns}}}}}",
            ns = self.ns()
        )
    }

    /// Cluster-scoped names are shared by all tests: prefix them with the namespace.
    pub fn cluster_name(&self, name: &str) -> String {
        format!("{}-{name}", self.ns())
    }

    /// `{name: <ns>-name, labels: {test label}}` for a SourceTemplate.
    pub fn template_meta(&self, name: &str) -> String {
        format!(
            "{{name: {}, labels: {{{TEST_LABEL}: {}}}}}",
            self.cluster_name(name),
            self.ns()
        )
    }

    pub fn kubectl(&self, args: &[&str]) -> Run {
        self.ctx.tools(Generation::Current).kubectl(args)
    }

    /// `kubectl apply -f -`.
    pub fn apply(&self, manifest: &str) -> Run {
        self.ctx
            .tools(Generation::Current)
            .kubectl_stdin(&["apply", "-f", "-"], manifest)
    }

    pub fn workspaces(&self) -> Api<EmbeddedWorkspace> {
        Api::namespaced(self.ctx.client.clone(), self.ns())
    }

    pub fn sources(&self) -> Api<EmbeddedSource> {
        Api::namespaced(self.ctx.client.clone(), self.ns())
    }

    pub fn templates(&self) -> Api<SourceTemplate> {
        Api::all(self.ctx.client.clone())
    }

    pub fn connection_templates(&self) -> Api<ConnectionTemplate> {
        Api::all(self.ctx.client.clone())
    }

    pub fn secrets(&self) -> Api<Secret> {
        Api::namespaced(self.ctx.client.clone(), self.ns())
    }

    /// Waits until `name`'s conditions satisfy `check`, and returns the object.
    pub async fn wait<K: Managed>(
        &self,
        api: &Api<K>,
        name: &str,
        what: &str,
        check: impl Fn(&[Condition]) -> bool,
    ) -> K {
        wait_for(&format!("{} {name}: {what}", K::KIND), SETTLE, || async {
            let object = api.get_opt(name).await.ok()??;
            let conditions = object.status().map(K::conditions).unwrap_or_default();
            check(conditions).then_some(object)
        })
        .await
    }

    pub async fn wait_ready<K: Managed>(&self, api: &Api<K>, name: &str) -> K {
        self.wait(api, name, "Ready", conditions::is_ready).await
    }

    /// Waits for Ready=False with `reason`, and returns the object.
    pub async fn wait_reason<K: Managed>(&self, api: &Api<K>, name: &str, reason: &str) -> K {
        self.wait(api, name, &format!("reason {reason}"), |c| {
            conditions::ready(c).is_some_and(|ready| ready.reason == reason)
        })
        .await
    }

    /// A tenant's identity: the ServiceAccount `tenant` of `namespace`, bound to a Role of
    /// `rules` there, and kubectl and helm acting as it (the real authorizer decides).
    pub async fn tenant(&self, namespace: &str, rules: serde_json::Value) -> Tools {
        use k8s_openapi::api::core::v1::ServiceAccount;
        use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
        use kube::api::PostParams;
        let client = self.ctx.client.clone();
        let create = PostParams::default();
        fn parse<T: serde::de::DeserializeOwned>(value: serde_json::Value) -> T {
            serde_json::from_value(value).unwrap()
        }
        let account: ServiceAccount = parse(serde_json::json!({"metadata": {"name": "tenant"}}));
        Api::namespaced(client.clone(), namespace)
            .create(&create, &account)
            .await
            .unwrap();
        let role: Role =
            parse(serde_json::json!({"metadata": {"name": "tenant-edit"}, "rules": rules}));
        Api::namespaced(client.clone(), namespace)
            .create(&create, &role)
            .await
            .unwrap();
        let binding: RoleBinding = parse(serde_json::json!({
            "metadata": {"name": "tenant-edit"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "tenant-edit"},
            "subjects": [{"kind": "ServiceAccount", "name": "tenant", "namespace": namespace}]
        }));
        Api::namespaced(client, namespace)
            .create(&create, &binding)
            .await
            .unwrap();
        let kubeconfig = self.ctx.path("tenant.kubeconfig");
        self.ctx
            .cluster
            .service_account_kubeconfig(&kubeconfig, namespace, "tenant")
            .await;
        Tools::new(
            Generation::Current,
            &kubeconfig,
            &self.ctx.path("tenant-home"),
        )
    }

    /// The simulator's second organization (the operator's own is the first).
    pub fn partner(&self) -> std::sync::Arc<airbyte_sim::Organization> {
        self.sim.state().organizations()[1].clone()
    }

    /// Requests the simulator answered for `endpoint` of the organization `organization_id`.
    pub fn calls_for(&self, endpoint: Endpoint, organization_id: &str) -> usize {
        self.sim
            .state()
            .recorder
            .log_since(0)
            .iter()
            .filter(|r| {
                r.endpoint == endpoint.label() && r.organization.as_deref() == Some(organization_id)
            })
            .count()
    }

    /// Calls the simulator answered for `endpoint`, any status.
    pub fn calls(&self, endpoint: Endpoint) -> u64 {
        self.sim
            .state()
            .recorder
            .counts()
            .iter()
            .filter(|c| c.endpoint == endpoint.label())
            .map(|c| c.count)
            .sum()
    }

    /// Write calls the simulator answered, any endpoint.
    pub fn airbyte_writes(&self) -> u64 {
        self.sim
            .state()
            .recorder
            .counts()
            .iter()
            .filter(|c| Endpoint::from_label(&c.endpoint).is_some_and(Endpoint::is_write))
            .map(|c| c.count)
            .sum()
    }

    /// An Airbyte client with the simulator's organization credentials (for tests that act on
    /// Airbyte out of band).
    pub fn airbyte(&self) -> AirbyteClient {
        AirbyteClient::new(test_support::client_config(&self.sim)).unwrap()
    }

    /// Asserts that no token the simulator issued appears in the apiserver's audit log: every
    /// run of base64url characters in it is looked up among the tokens' signatures (one pass).
    pub fn assert_no_token_in_audit_log(&self) {
        let Some(audit) = &self.ctx.cluster.audit else {
            return;
        };
        let signatures: std::collections::HashSet<String> = self
            .sim
            .state()
            .issued_tokens()
            .iter()
            .filter_map(|t| t.rsplit('.').next().map(str::to_string))
            .filter(|s| s.len() > 20)
            .collect();
        let bytes = std::fs::read(audit.path()).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        for run in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '-' || c == '_')) {
            assert!(
                !signatures.contains(run),
                "a token leaked into the apiserver's audit log"
            );
        }
    }

    /// Asserts that no token the simulator issued and none of `secret_values` appears in the
    /// operator's log, the namespace's events and statuses, or the audit log.
    pub fn assert_no_leaks(&self, secret_values: &[&str]) {
        self.assert_no_token_in_audit_log();
        let logs = self.operator.logs();
        assert!(!logs.is_empty(), "the operator wrote no log");
        // Events of cluster-scoped objects (templates) land in `default`.
        let events = [self.ns(), "default"]
            .map(|namespace| {
                self.kubectl(&["get", "events", "-n", namespace, "-o", "json"])
                    .success()
                    .stdout()
            })
            .concat();
        let namespaced = self
            .kubectl(&[
                "get",
                "embeddedworkspaces,embeddedsources",
                "-n",
                self.ns(),
                "-o",
                "json",
            ])
            .success()
            .stdout();
        let cluster = self
            .kubectl(&["get", "sourcetemplates,connectiontemplates", "-o", "json"])
            .success()
            .stdout();
        let statuses = namespaced + &cluster;
        let tokens = self.sim.state().issued_tokens();
        assert!(
            !tokens.is_empty() || secret_values.is_empty(),
            "the simulator issued no token"
        );
        for (place, text) in [
            ("operator log", &logs),
            ("events", &events),
            ("status", &statuses),
        ] {
            for token in &tokens {
                assert!(
                    !text.contains(token.as_str()),
                    "a token leaked into the {place}"
                );
                // A JWT's signature part alone is also a leak.
                if let Some(signature) = token.rsplit('.').next().filter(|s| s.len() > 20) {
                    assert!(
                        !text.contains(signature),
                        "a token signature leaked into the {place}"
                    );
                }
            }
            for value in secret_values {
                assert!(
                    !text.contains(value),
                    "a Secret value leaked into the {place}"
                );
            }
        }
    }
}

impl Drop for Scenario {
    /// On failure, the simulator's last requests join the operator's log in the test output.
    fn drop(&mut self) {
        if std::thread::panicking() {
            let log = self.sim.state().recorder.log_since(0);
            eprintln!(
                "---- Airbyte simulator: {} requests, the last 20 ----",
                log.len()
            );
            for record in log.iter().rev().take(20).rev() {
                eprintln!(
                    "{} ms→{} ms {} {} {} {}",
                    record.received_ms,
                    record.answered_ms,
                    record.method,
                    record.path,
                    record.key,
                    record.status
                );
            }
        }
    }
}
