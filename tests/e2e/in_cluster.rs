//! The chart as users run it: the image built here (`scripts/build-image.sh`) loaded into the
//! local node's containerd, `helm install` into a namespace that enforces PodSecurity
//! `restricted`, and the operator in its pod (in-cluster configuration, the chart's ServiceAccount
//! token mounted by the kubelet) reconciling a tenant against the simulator on this machine; then
//! two replicas and a new image tag, a leader handover, an apiserver outage, and `helm uninstall`;
//! and the chart's RBAC proven with the operator in its pod (no 403, every rule used).

use std::path::PathBuf;
use std::time::Duration;

use airbyte_client::Endpoint;
use airbyte_sim::Simulator;
use airbyte_sim::catalog::POSTGRES_DEFINITION_ID;
use embedded_crds::conditions;
use embedded_crds::{EmbeddedSource, EmbeddedWorkspace, SourceTemplate};
use embedded_operator::controllers::lifecycle::Managed;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::Api;
use kube::api::{DeleteParams, ListParams};

use crate::support::operator::{Operator, TEST_LABEL, simulator};
use crate::support::{
    Generation, Scenario, TestContext, Tools, node_cluster, repo_path, wait_for, with_node_plane,
};

const LEASE: &str = "airbyte-embedded-operator-leader";
const IMAGE: &str = "docker.io/library/airbyte-embedded-operator";
/// Pods start on a 2-core machine shared with other tests: generous.
const POD_TIMEOUT: Duration = Duration::from_secs(180);
/// How long the apiserver is frozen in the outage phase (three liveness periods).
const OUTAGE: Duration = Duration::from_secs(60);

/// Tests on the node's control plane take turns: one of them freezes its apiserver.
static TURNS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The release in the test's namespace (cluster-scoped objects carry its name, so it is unique).
fn release(ctx: &TestContext) -> String {
    let ns = &ctx.namespace;
    format!("aeo-{}", &ns[ns.len() - 6..])
}

fn full_name(ctx: &TestContext) -> String {
    format!("{}-airbyte-embedded-operator", release(ctx))
}

/// The image archive: `$AEO_IMAGE_ARCHIVE` (scripts/test.sh builds it once), else built now.
pub fn image_archive() -> PathBuf {
    if let Some(path) = std::env::var_os("AEO_IMAGE_ARCHIVE") {
        return PathBuf::from(path);
    }
    let script = repo_path("scripts/build-image.sh");
    let output = std::process::Command::new("bash")
        .arg(&script)
        .args(["--tag", "e2e"])
        .output()
        .expect("run scripts/build-image.sh");
    assert!(
        output.status.success(),
        "scripts/build-image.sh failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    PathBuf::from(stdout.lines().last().expect("the archive path").trim())
}

/// Loads the image into the node's containerd once, as `e2e` and `e2e-next` (a new tag for the
/// upgrade).
fn load_images() {
    static LOADED: std::sync::Once = std::sync::Once::new();
    LOADED.call_once(|| {
        let archive = image_archive();
        with_node_plane(|plane| {
            let node = plane.node().expect("the control plane has a node");
            node.import_image(&archive).expect("import the image");
            node.tag_image(&format!("{IMAGE}:e2e"), &format!("{IMAGE}:e2e-next"))
                .expect("tag the image");
        });
    });
}

/// The CRDs, the images, a namespace enforcing PodSecurity `restricted`, a simulator reachable from
/// pods (tokens living `token_ttl`) and the organization credentials Secret the chart reads.
async fn prepare(ctx: &TestContext, token_ttl: Duration) -> (Simulator, String) {
    let tools = ctx.tools(Generation::Current);
    let ns = &ctx.namespace;
    let crds = repo_path("crds");
    tools
        .kubectl(&[
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            crds.to_str().unwrap(),
        ])
        .success();
    load_images();
    let (sim, url) = simulator_for_pods(token_ttl).await;
    tools
        .kubectl(&[
            "label",
            "namespace",
            ns,
            "pod-security.kubernetes.io/enforce=restricted",
            "pod-security.kubernetes.io/enforce-version=latest",
        ])
        .success();
    tools
        .kubectl(&[
            "create",
            "secret",
            "generic",
            "airbyte-credentials",
            "-n",
            ns,
            &format!("--from-literal=clientId={}", sim.client_id()),
            &format!("--from-literal=clientSecret={}", sim.client_secret()),
        ])
        .success();
    (sim, url)
}

/// The simulator on loopback, reachable from pods at the node's gateway.
async fn simulator_for_pods(token_ttl: Duration) -> (Simulator, String) {
    let sim = simulator(token_ttl).await;
    let port = sim.url().port().expect("the simulator's port");
    let gateway = with_node_plane(|plane| {
        plane
            .node_mut()
            .expect("the control plane has a node")
            .expose_loopback_port(port)
            .expect("expose the simulator to pods")
    });
    (sim, format!("http://{gateway}:{port}"))
}

fn helm_values(
    ctx: &TestContext,
    sim: &Simulator,
    url: &str,
    tag: &str,
    replicas: u8,
) -> Vec<String> {
    let ns = &ctx.namespace;
    [
        format!("airbyte.organizationId={}", sim.organization_id()),
        format!("airbyte.apiUrl={url}"),
        "airbyte.allowInsecureHttp=true".into(),
        format!("image.tag={tag}"),
        format!("replicas={replicas}"),
        format!("operator.selector={TEST_LABEL}={ns}"),
        format!("operator.workspaceNamePolicyNamespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name={ns}"),
        // Debug: the leak check reads every HTTP line the operator logs.
        "operator.logLevel=debug".into(),
    ]
    .into_iter()
    .flat_map(|value| ["--set".to_string(), value])
    .collect()
}

fn helm(ctx: &TestContext, verb: &str, values: &[String]) {
    let tools = ctx.tools(Generation::Current);
    let chart = repo_path("charts/airbyte-embedded-operator");
    let release = release(ctx);
    let ns = ctx.namespace.as_str();
    let mut args: Vec<&str> = vec![verb, &release, chart.to_str().unwrap(), "-n", ns];
    args.extend(["--wait", "--timeout", "240s"]);
    args.extend(values.iter().map(String::as_str));
    tools.helm(&args).success();
}

/// Waits until the Deployment has `replicas` updated, available pods and no old ones.
async fn wait_rolled_out(ctx: &TestContext, replicas: i32) -> Deployment {
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    wait_for(
        "the Deployment rolled out and Available",
        POD_TIMEOUT,
        || async {
            let deployment = deployments.get_opt(&full_name(ctx)).await.ok()??;
            let status = deployment.status.clone()?;
            let available = status.conditions.as_ref()?.iter().any(|c| {
                c.type_.as_deref() == Some("Available") && c.status.as_deref() == Some("True")
            });
            (available
                && status.observed_generation == deployment.metadata.generation
                && status.updated_replicas == Some(replicas)
                && status.available_replicas == Some(replicas)
                && status.replicas == Some(replicas))
            .then_some(deployment)
        },
    )
    .await
}

async fn operator_pods(ctx: &TestContext) -> Vec<Pod> {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let selector = format!("app.kubernetes.io/instance={}", release(ctx));
    pods.list(&ListParams::default().labels(&selector))
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .collect()
}

fn restarts(pod: &Pod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|statuses| statuses.iter().map(|s| s.restart_count).sum())
        .unwrap_or_default()
}

async fn wait_ready<K: Managed>(api: &Api<K>, name: &str) -> K {
    wait_for(
        &format!("{} {name} Ready", K::KIND),
        POD_TIMEOUT,
        || async {
            let object = api.get_opt(name).await.ok()??;
            let ready = object
                .status()
                .map(K::conditions)
                .is_some_and(conditions::is_ready);
            ready.then_some(object)
        },
    )
    .await
}

/// The successful calls of `endpoint`, as "key at ms" (for an assertion's message).
fn call_log(sim: &Simulator, endpoint: Endpoint) -> Vec<String> {
    sim.state()
        .recorder
        .log_since(0)
        .iter()
        .filter(|r| r.endpoint == endpoint.label() && r.status < 300)
        .map(|r| format!("{} at {} ms", r.key, r.received_ms))
        .collect()
}

fn calls(sim: &Simulator, endpoint: Endpoint) -> u64 {
    sim.state()
        .recorder
        .counts()
        .iter()
        .filter(|c| c.endpoint == endpoint.label() && c.status < 300)
        .map(|c| c.count)
        .sum()
}

fn tenant(ctx: &TestContext, workspace: &str) -> String {
    let ns = &ctx.namespace;
    let meta =
        |name: &str| format!("{{name: {name}, namespace: {ns}, labels: {{{TEST_LABEL}: {ns}}}}}");
    format!(
        r#"apiVersion: embedded.airbyte.ai/v1alpha1
kind: EmbeddedWorkspace
metadata: {ws}
spec: {{deletionPolicy: Orphan}}
"#,
        ws = meta(workspace),
    )
}

fn first_story(ctx: &TestContext) -> String {
    let ns = &ctx.namespace;
    let meta =
        |name: &str| format!("{{name: {name}, namespace: {ns}, labels: {{{TEST_LABEL}: {ns}}}}}");
    format!(
        r#"apiVersion: embedded.airbyte.ai/v1alpha1
kind: SourceTemplate
metadata: {{name: {ns}-pg, labels: {{{TEST_LABEL}: {ns}}}}}
spec:
  name: pg {ns}
  actorDefinitionId: {POSTGRES_DEFINITION_ID}
  partialDefaultConfig: {{host: db, port: 5432}}
  deletionPolicy: Orphan
---
apiVersion: v1
kind: Secret
metadata: {login}
stringData: {{username: in-cluster-reader}}
---
apiVersion: embedded.airbyte.ai/v1alpha1
kind: EmbeddedSource
metadata: {src}
spec:
  workspaceRef: {{name: main}}
  sourceTemplateRef: {{name: {ns}-pg}}
  sourceConfig: {{database: app}}
  sourceConfigSecretRefs: [{{path: username, secretKeyRef: {{name: login, key: username}}}}]
  deletionPolicy: Orphan
---
{workspace}"#,
        login = meta("login"),
        src = meta("feed"),
        workspace = tenant(ctx, "main"),
    )
}

/// Every line the operator logged is a JSON object with a level and a message.
fn assert_json_logs(ctx: &TestContext) {
    let tools = ctx.tools(Generation::Current);
    let logs = tools
        .kubectl(&[
            "logs",
            "-n",
            &ctx.namespace,
            &format!("deployment/{}", full_name(ctx)),
            "--tail=200",
        ])
        .success()
        .stdout();
    let lines: Vec<&str> = logs.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty(), "kubectl logs returned nothing");
    for line in &lines {
        let value: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON log line ({e}): {line}"));
        assert!(value["level"].is_string(), "no level: {line}");
        assert!(
            value["fields"]["message"].is_string() || value["message"].is_string(),
            "no message: {line}"
        );
    }
}

/// Releases the finalizers of the test's objects (the operator is gone) so the namespace goes.
fn release_finalizers(tools: &Tools, ns: &str) {
    for kind in ["embeddedsources", "embeddedworkspaces"] {
        let names = tools.kubectl(&[
            "get",
            &format!("{kind}.embedded.airbyte.ai"),
            "-n",
            ns,
            "-o",
            "name",
        ]);
        for name in names.stdout().lines().filter(|l| !l.is_empty()) {
            let _ = tools.kubectl(&[
                "patch",
                "-n",
                ns,
                name,
                "--type=merge",
                "-p",
                r#"{"metadata":{"finalizers":null}}"#,
            ]);
        }
    }
    let template = format!("sourcetemplates.embedded.airbyte.ai/{ns}-pg");
    let _ = tools.kubectl(&[
        "patch",
        &template,
        "--type=merge",
        "-p",
        r#"{"metadata":{"finalizers":null}}"#,
    ]);
    let _ = tools.kubectl(&["delete", &template, "--wait=false"]);
}

/// Lines of the kubelet's log since `mark` that report a failed liveness probe in `namespace`.
fn liveness_failures(mark: u64, namespace: &str) -> Vec<String> {
    let log = with_node_plane(|plane| plane.node().expect("a node").dir().join("kubelet.log"));
    let text = std::fs::read(&log).unwrap_or_default();
    let since = text.get(mark as usize..).unwrap_or_default();
    String::from_utf8_lossy(since)
        .lines()
        .filter(|l| l.contains("probeType=\"Liveness\"") && l.contains(namespace))
        .map(str::to_string)
        .collect()
}

fn kubelet_log_mark() -> u64 {
    with_node_plane(|plane| {
        let log = plane.node().expect("a node").dir().join("kubelet.log");
        std::fs::metadata(log).map(|m| m.len()).unwrap_or(0)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_runs_the_built_image_as_a_pod_that_reconciles_tenants_hands_over_and_upgrades() {
    let test = "the chart runs the built image as a pod";
    let Some(cluster) = node_cluster(test) else {
        return;
    };
    let _turn = TURNS.lock().await;
    let ctx = TestContext::on(cluster, "in-cluster").await;
    let tools = ctx.tools(Generation::Current);
    let ns = ctx.namespace.clone();
    // 30-day tokens: refreshes are spread over the refresh cycle by workspace uid, so a 20-minute
    // token may be refreshed in this test's minutes and be counted as a re-mint.
    let (sim, url) = prepare(&ctx, Duration::from_secs(30 * 24 * 3600)).await;

    // 1. Installed as users install it: the pod runs under restricted PodSecurity and turns ready.
    helm(&ctx, "install", &helm_values(&ctx, &sim, &url, "e2e", 1));
    wait_rolled_out(&ctx, 1).await;

    // 2. The operator in the pod reconciles a tenant to Ready against the simulator.
    tools
        .kubectl_stdin(&["apply", "-f", "-"], &first_story(&ctx))
        .success();
    let workspaces: Api<EmbeddedWorkspace> = Api::namespaced(ctx.client.clone(), &ns);
    let sources: Api<EmbeddedSource> = Api::namespaced(ctx.client.clone(), &ns);
    let templates: Api<SourceTemplate> = Api::all(ctx.client.clone());
    wait_ready(&templates, &format!("{ns}-pg")).await;
    let main = wait_ready(&workspaces, "main").await;
    wait_ready(&sources, "feed").await;
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ns);
    let token_secret = main
        .status
        .and_then(|s| s.token_secret_name)
        .expect("the token Secret's name");
    let token_version = secrets
        .get(&token_secret)
        .await
        .unwrap()
        .metadata
        .resource_version;
    assert_json_logs(&ctx);
    assert!(
        operator_pods(&ctx).await.iter().all(|p| restarts(p) == 0),
        "no restart"
    );

    // 3. Two replicas and a new image tag: a rolling update re-mints nothing, creates nothing twice.
    let mints = calls(&sim, Endpoint::ScopedTokenCreate);
    let creates = calls(&sim, Endpoint::SourcesCreate);
    helm(
        &ctx,
        "upgrade",
        &helm_values(&ctx, &sim, &url, "e2e-next", 2),
    );
    let deployment = wait_rolled_out(&ctx, 2).await;
    let image = deployment.spec.template.spec.unwrap().containers[0]
        .image
        .clone();
    assert_eq!(image.as_deref(), Some("airbyte-embedded-operator:e2e-next"));
    tools
        .kubectl_stdin(&["apply", "-f", "-"], &tenant(&ctx, "second"))
        .success();
    wait_ready(&workspaces, "second").await;
    assert_eq!(
        calls(&sim, Endpoint::ScopedTokenCreate),
        mints + 1,
        "only the new workspace's token is minted: {:?}",
        call_log(&sim, Endpoint::ScopedTokenCreate)
    );
    assert_eq!(
        calls(&sim, Endpoint::SourcesCreate),
        creates,
        "no source created twice"
    );

    // 4. Deleting the leader's pod hands over to the standby; nothing is written twice.
    let leases: Api<Lease> = Api::namespaced(ctx.client.clone(), &ns);
    let leader = leases
        .get(LEASE)
        .await
        .unwrap()
        .spec
        .and_then(|s| s.holder_identity)
        .expect("a leader");
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    pods.delete(&leader, &DeleteParams::default())
        .await
        .unwrap();
    let successor = wait_for("another replica leads", POD_TIMEOUT, || async {
        let holder = leases.get(LEASE).await.ok()?.spec?.holder_identity?;
        (holder != leader).then_some(holder)
    })
    .await;
    tools
        .kubectl_stdin(&["apply", "-f", "-"], &tenant(&ctx, "third"))
        .success();
    wait_ready(&workspaces, "third").await;
    assert_eq!(
        calls(&sim, Endpoint::ScopedTokenCreate),
        mints + 2,
        "the new leader re-mints nothing fresh: {:?}",
        call_log(&sim, Endpoint::ScopedTokenCreate)
    );
    assert_eq!(calls(&sim, Endpoint::SourcesCreate), creates);
    assert_eq!(
        secrets
            .get(&token_secret)
            .await
            .unwrap()
            .metadata
            .resource_version,
        token_version,
        "the first token Secret was never rewritten"
    );
    eprintln!("{test}: leader {leader} handed over to {successor}");
    wait_rolled_out(&ctx, 2).await;

    // 5. The apiserver frozen for a minute is not the pod's fault: the kubelet's liveness probes
    // keep passing (no restart by the probe), and the operator converges afterwards.
    let mark = kubelet_log_mark();
    with_node_plane(|plane| plane.freeze_apiserver(true));
    // The outage itself (not a wait for a condition).
    tokio::time::sleep(OUTAGE).await;
    with_node_plane(|plane| plane.freeze_apiserver(false));
    tools
        .kubectl_stdin(&["apply", "-f", "-"], &tenant(&ctx, "fourth"))
        .success();
    wait_ready(&workspaces, "fourth").await;
    wait_rolled_out(&ctx, 2).await;
    let failures = liveness_failures(mark, &ns);
    assert!(
        failures.is_empty(),
        "liveness probes failed during an apiserver outage: {failures:?}"
    );
    assert_eq!(calls(&sim, Endpoint::SourcesCreate), creates);

    // 6. `helm uninstall` removes the operator; the tenants' Secrets and Airbyte objects stay.
    let release = release(&ctx);
    tools
        .helm(&[
            "uninstall",
            &release,
            "-n",
            &ns,
            "--wait",
            "--timeout",
            "120s",
        ])
        .success();
    wait_for("operator pods gone", POD_TIMEOUT, || async {
        operator_pods(&ctx).await.is_empty().then_some(())
    })
    .await;
    assert!(
        secrets.get_opt(&token_secret).await.unwrap().is_some(),
        "the tenant's token Secret stays"
    );
    assert_eq!(
        sim.state().world().sources.len(),
        1,
        "the Airbyte source stays"
    );
    release_finalizers(&tools, &ns);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_in_its_pod_runs_the_whole_story_with_the_charts_rbac_and_uses_every_rule() {
    let test = "the chart's RBAC, operator in its pod";
    let Some(cluster) = node_cluster(test) else {
        return;
    };
    let audit = cluster
        .audit
        .clone()
        .expect("the local control plane's audit log");
    let _turn = TURNS.lock().await;
    let ctx = TestContext::on(cluster, "in-cluster-rbac").await;
    let (sim, url) = prepare(&ctx, Duration::from_secs(8)).await;
    let mark = audit.mark();
    helm(&ctx, "install", &helm_values(&ctx, &sim, &url, "e2e", 1));
    wait_rolled_out(&ctx, 1).await;
    let full = full_name(&ctx);
    // The identity comes from Kubernetes: the ServiceAccount token the kubelet mounted.
    let user = format!("system:serviceaccount:{}:{full}", ctx.namespace);
    let operator = Operator::elsewhere(&full, ctx.path("operator.log"));
    let s = Scenario { operator, sim, ctx };
    crate::chart::whole_story_uses_every_rule(&s, &audit, mark, &user, &full, &url).await;
    let logs = s
        .ctx
        .tools(Generation::Current)
        .kubectl(&[
            "logs",
            "-n",
            s.ns(),
            &format!("deployment/{full}"),
            "--tail=-1",
        ])
        .success()
        .stdout();
    std::fs::write(&s.operator.log, logs).unwrap();
    s.assert_no_leaks(&crate::chart::STORY_SECRET_VALUES);
    let release = release(&s.ctx);
    s.ctx
        .tools(Generation::Current)
        .helm(&[
            "uninstall",
            &release,
            "-n",
            s.ns(),
            "--wait",
            "--timeout",
            "120s",
        ])
        .success();
}
