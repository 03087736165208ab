//! The operator at scale, against the floor measured in the same run: a bare client doing exactly
//! the minimum work (1 mint per workspace, 1 lookup + 1 create per source, the token Secret and one
//! status write per object) at the same concurrency, on a fresh control plane and simulator with
//! the same 20 ms of latency per Airbyte call.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use airbyte_client::models::{CreateSource, CreateSourceTemplate};
use airbyte_client::{
    AirbyteClient, Endpoint, SourceApi, SourceTemplateApi, TokenApi, WorkspaceApi,
};
use airbyte_sim::catalog::STRIPE_DEFINITION_ID;
use airbyte_sim::{FaultRule, SimConfig, Simulator};
use embedded_crds::{EmbeddedSource, EmbeddedWorkspace};
use embedded_operator::controllers::USER_AGENT;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};
use local_control_plane::{AuditLog, free_port};
use serde_json::json;
use tokio::sync::Semaphore;

use super::workload::{self, Tenant};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Tenants (each: one EmbeddedWorkspace, one Secret, one EmbeddedSource).
    #[arg(long, default_value_t = 100)]
    pub objects: usize,
    /// Reconciles at once per kind (the operator's --concurrency; the floor uses the same).
    #[arg(long, default_value_t = 16)]
    pub concurrency: u16,
    /// Concurrent object creates by the applier (both runs).
    #[arg(long, default_value_t = 32)]
    pub apply_concurrency: usize,
    /// Added latency per Airbyte call, in milliseconds.
    #[arg(long, default_value_t = 20)]
    pub latency_ms: u64,
    /// Airbyte request budget per second for both runs (0: unlimited).
    #[arg(long, default_value_t = 0)]
    pub max_requests_per_second: u32,
    /// Seconds of steady state observed after convergence, and again after a restart.
    #[arg(long, default_value_t = 60)]
    pub steady_seconds: u64,
    /// Skip the floor run.
    #[arg(long)]
    pub no_floor: bool,
    /// Write the operator's Prometheus metrics, as of convergence, to this file.
    #[arg(long)]
    pub metrics_out: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
pub struct RefreshArgs {
    #[arg(long, default_value_t = 10_000)]
    pub objects: usize,
    #[arg(long, default_value_t = 60)]
    pub token_ttl_seconds: u64,
    /// Lifetimes observed after the first one.
    #[arg(long, default_value_t = 3)]
    pub lifetimes: u64,
    #[arg(long, default_value_t = 16)]
    pub concurrency: u16,
    /// The workspaces' `spec.tokenPolicy`: `Keep` (a refreshed token Secret each) or `OnDemand`
    /// (no token kept: steady state should mint nothing).
    #[arg(long, default_value = "Keep")]
    pub token_policy: String,
}

fn operator_binary() -> PathBuf {
    std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.join("airbyte-embedded-operator")))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("airbyte-embedded-operator"))
}

async fn simulator(latency_ms: u64, token_ttl: Duration) -> Result<Simulator, String> {
    let sim = Simulator::start(
        SimConfig {
            scoped_token_ttl: token_ttl,
            ..SimConfig::default()
        },
        "127.0.0.1:0".parse().unwrap(),
    )
    .await
    .map_err(|e| e.to_string())?;
    *sim.state().faults.lock().unwrap() = vec![FaultRule {
        latency_ms,
        ..Default::default()
    }];
    Ok(sim)
}

/// A running operator process for the benchmark.
struct OperatorProcess {
    child: Child,
    metrics_port: u16,
}

impl OperatorProcess {
    fn start(
        kubeconfig: &std::path::Path,
        sim: &Simulator,
        concurrency: u16,
        rate: u32,
        extra: &[&str],
    ) -> Result<Self, String> {
        let metrics_port = free_port().map_err(|e| e.to_string())?;
        let mut command = Command::new(operator_binary());
        command
            .args([
                "run",
                "--api-url",
                sim.url().as_str(),
                "--organization-id",
                sim.organization_id(),
                "--secret-namespace",
                "default",
            ])
            .args([
                "--concurrency",
                &concurrency.to_string(),
                "--max-requests-per-second",
                &rate.to_string(),
            ])
            .args(["--metrics-addr", &format!("127.0.0.1:{metrics_port}")])
            .args(extra)
            .env("KUBECONFIG", kubeconfig)
            .env("AIRBYTE_CLIENT_ID", &sim.state().config.client_id)
            .env("AIRBYTE_CLIENT_SECRET", &sim.state().config.client_secret)
            .env("POD_NAME", "bench")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        let child = command
            .spawn()
            .map_err(|e| format!("starting {}: {e}", operator_binary().display()))?;
        Ok(OperatorProcess {
            child,
            metrics_port,
        })
    }

    async fn wait_ready(&self) -> Result<(), String> {
        let url = format!("http://127.0.0.1:{}/readyz", self.metrics_port);
        for _ in 0..600 {
            if let Ok(response) = reqwest::get(&url).await
                && response.status().is_success()
            {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err("the operator did not become ready".into())
    }

    /// Peak resident memory (VmHWM), in MiB.
    fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find(|l| l.starts_with("VmHWM:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|kb| kb.parse::<f64>().ok())
            .map(|kb| kb / 1024.0)
            .unwrap_or(0.0)
    }

    fn stop(mut self) {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(self.child.id() as i32),
            nix::sys::signal::Signal::SIGTERM,
        );
        let _ = self.child.wait();
    }
}

impl Drop for OperatorProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Airbyte calls by endpoint (answered), from the simulator's counters.
fn calls(sim: &Simulator) -> BTreeMap<String, u64> {
    let mut by_endpoint = BTreeMap::new();
    for count in sim.state().recorder.counts() {
        *by_endpoint.entry(count.endpoint).or_default() += count.count;
    }
    by_endpoint
}

fn diff(after: &BTreeMap<String, u64>, before: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

fn writes_and_reads(by_endpoint: &BTreeMap<String, u64>) -> (u64, u64) {
    let mut writes = 0;
    let mut reads = 0;
    for (endpoint, count) in by_endpoint {
        match Endpoint::from_label(endpoint) {
            Some(e) if e.is_write() => writes += count,
            Some(Endpoint::ApplicationToken) => {}
            _ => reads += count,
        }
    }
    (writes, reads)
}

/// The operator's Kubernetes requests after `mark`, by verb and resource (leases excluded:
/// renewals are leader election's, not the work's).
fn kube_requests(audit: &AuditLog, mark: u64) -> BTreeMap<String, u64> {
    let agent = format!("{USER_AGENT} (bench)");
    let mut by_verb = BTreeMap::new();
    for event in audit.since(mark) {
        if event.user_agent.as_deref() == Some(agent.as_str()) && event.resource() != "leases" {
            *by_verb
                .entry(format!("{} {}", event.verb, event.resource()))
                .or_default() += 1;
        }
    }
    by_verb
}

/// The operator's Kubernetes requests after `mark`, once they stop arriving: an object's Event
/// is sent after the status write that makes it Ready, so the last ones land just after the
/// rollout is seen Ready. Quiet for half a second, or five seconds at most (steady-state refreshes
/// of a large rollout never pause; they add at most a few writes).
async fn settled_requests(audit: &AuditLog, mark: u64) -> BTreeMap<String, u64> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut seen = kube_requests(audit, mark);
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = kube_requests(audit, mark);
        if now == seen || Instant::now() >= deadline {
            return now;
        }
        seen = now;
    }
}

fn count_list(map: &BTreeMap<String, u64>) -> String {
    if map.is_empty() {
        return "none".into();
    }
    map.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn write_count(by_verb: &BTreeMap<String, u64>) -> u64 {
    by_verb
        .iter()
        .filter(|(key, _)| {
            matches!(
                key.split(' ').next(),
                Some("create" | "update" | "patch" | "delete")
            )
        })
        .map(|(_, count)| count)
        .sum()
}

fn per_object(map: &BTreeMap<String, u64>, objects: usize) -> String {
    map.iter()
        .map(|(k, v)| format!("{k} {:.2}", *v as f64 / objects as f64))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The floor: the minimum work, done by a bare client at the same concurrency.
async fn floor(args: &Args, dir: &std::path::Path) -> Result<Duration, String> {
    let (plane, client) = workload::start_plane(dir).await?;
    let sim = simulator(args.latency_ms, Duration::from_secs(1200)).await?;
    let tenants = workload::tenants(args.objects);
    workload::prepare(&client, &tenants, "floor").await?;
    let mut config = test_support::client_config(&sim);
    config.max_requests_per_second = std::num::NonZeroU32::new(args.max_requests_per_second);
    let airbyte = AirbyteClient::new(config).map_err(|e| e.to_string())?;
    let template = airbyte
        .create_source_template(&CreateSourceTemplate {
            actor_definition_id: STRIPE_DEFINITION_ID.into(),
            partial_default_config: Default::default(),
            name: Some("Stripe (floor)".into()),
            customization: None,
        })
        .await
        .map_err(|e| e.to_string())?
        .id;
    let workspaces = Arc::new(Semaphore::new(args.concurrency as usize));
    let sources = Arc::new(Semaphore::new(args.concurrency as usize));
    let started = Instant::now();
    workload::create_all(&client, &tenants, "floor", args.apply_concurrency, |tenant: Tenant| {
        let (client, airbyte, template) = (client.clone(), airbyte.clone(), template.clone());
        let (workspaces, sources) = (workspaces.clone(), sources.clone());
        async move {
            let token = {
                let _permit = workspaces.acquire().await.map_err(|e| e.to_string())?;
                let name = format!("{}.{}", tenant.namespace, tenant.workspace());
                // The name is checked for duplicates before it is bound, as the operator does.
                airbyte.find_workspaces_named(&name).await.map_err(|e| e.to_string())?;
                let scoped = airbyte.mint_scoped_token(&name, None).await.map_err(|e| e.to_string())?;
                let secret: Secret = serde_json::from_value(json!({
                    "apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": format!("{}-airbyte-token", tenant.workspace())},
                    "stringData": {"token": scoped.token.expose(), "workspaceId": scoped.workspace_id},
                }))
                .map_err(|e| e.to_string())?;
                Api::<Secret>::namespaced(client.clone(), &tenant.namespace)
                    .patch(&secret.metadata.name.clone().unwrap_or_default(), &PatchParams::apply("floor").force(), &Patch::Apply(&secret))
                    .await
                    .map_err(|e| e.to_string())?;
                status(&client, &tenant, "EmbeddedWorkspace", &tenant.workspace(), json!({"workspaceId": scoped.workspace_id})).await?;
                scoped
            };
            let _permit = sources.acquire().await.map_err(|e| e.to_string())?;
            airbyte.list_sources(&token.token, &token.workspace_id).await.map_err(|e| e.to_string())?;
            let created = airbyte
                .create_source(
                    &token.token,
                    &CreateSource {
                        name: tenant.source(),
                        workspace_id: token.workspace_id.clone(),
                        source_template_id: template.clone(),
                        source_config: json!({"account_id": format!("acct_{}", tenant.index), "client_secret": format!("sk_bench_{}", tenant.index)}).as_object().cloned().unwrap_or_default(),
                        selected_connection_template_tags: None,
                        selected_connection_template_tags_mode: None,
                    },
                )
                .await
                .map_err(|e| e.to_string())?;
            status(&client, &tenant, "EmbeddedSource", &tenant.source(), json!({"sourceId": created.id})).await
        }
    })
    .await?;
    let elapsed = started.elapsed();
    drop(plane);
    Ok(elapsed)
}

async fn status(
    client: &Client,
    tenant: &Tenant,
    kind: &str,
    name: &str,
    fields: serde_json::Value,
) -> Result<(), String> {
    let mut status = fields;
    status["observedGeneration"] = json!(1);
    status["conditions"] = json!([{"type": "Ready", "status": "True", "reason": "Floor", "message": "floor", "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 1}]);
    let patch =
        json!({"apiVersion": "embedded.airbyte.ai/v1alpha1", "kind": kind, "status": status});
    let params = PatchParams::apply("floor").force();
    let result = if kind == "EmbeddedWorkspace" {
        Api::<EmbeddedWorkspace>::namespaced(client.clone(), &tenant.namespace)
            .patch_status(name, &params, &Patch::Apply(&patch))
            .await
            .map(|_| ())
    } else {
        Api::<EmbeddedSource>::namespaced(client.clone(), &tenant.namespace)
            .patch_status(name, &params, &Patch::Apply(&patch))
            .await
            .map(|_| ())
    };
    result.map_err(|e| e.to_string())
}

pub async fn run(args: Args) -> Result<(), String> {
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let n = args.objects;
    println!(
        "# Operator benchmark: {n} tenants (workspace + Secret + source each), {} ms per Airbyte call, concurrency {}",
        args.latency_ms, args.concurrency
    );
    let floor_time = if args.no_floor {
        None
    } else {
        eprintln!("floor run…");
        let elapsed = floor(&args, &scratch.path().join("floor")).await?;
        eprintln!("  floor: {:.1} s", elapsed.as_secs_f64());
        Some(elapsed)
    };

    eprintln!("operator run…");
    let (plane, client) = workload::start_plane(&scratch.path().join("operator")).await?;
    let audit = plane.audit_log().clone();
    let sim = simulator(args.latency_ms, Duration::from_secs(1200)).await?;
    let tenants = workload::tenants(n);
    workload::prepare(&client, &tenants, "operator").await?;
    let operator = OperatorProcess::start(
        plane.kubeconfig_path(),
        &sim,
        args.concurrency,
        args.max_requests_per_second,
        &[],
    )?;
    operator.wait_ready().await?;
    let mark = audit.mark();
    let started = Instant::now();
    workload::create_all(
        &client,
        &tenants,
        "operator",
        args.apply_concurrency,
        |_| async { Ok(()) },
    )
    .await?;
    let applied = started.elapsed();
    let ready_at = workload::wait_ready(&client, n, Duration::from_secs(3600)).await?;
    let to_ready = ready_at - started;
    let rollout_calls = calls(&sim);
    let rollout_kube = settled_requests(&audit, mark).await;
    let peak = operator.peak_rss_mib();
    if let Some(path) = &args.metrics_out {
        let url = format!("http://127.0.0.1:{}/metrics", operator.metrics_port);
        let text = reqwest::get(&url)
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        std::fs::write(path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    }

    println!("\n| measure | value |\n|---|---|");
    println!("| objects applied in | {:.1} s |", applied.as_secs_f64());
    println!("| time until all Ready | {:.1} s |", to_ready.as_secs_f64());
    println!(
        "| objects per second (workspaces + sources) | {:.0} |",
        (2 * n) as f64 / to_ready.as_secs_f64()
    );
    if let Some(floor) = floor_time {
        println!(
            "| floor (bare client, same work and concurrency) | {:.1} s |",
            floor.as_secs_f64()
        );
        println!(
            "| operator / floor | {:.2} |",
            to_ready.as_secs_f64() / floor.as_secs_f64()
        );
    }
    println!(
        "| Airbyte calls per tenant | {} |",
        per_object(&rollout_calls, n)
    );
    println!(
        "| Kubernetes requests per object (operator, by verb and resource) | {} |",
        per_object(&rollout_kube, 2 * n)
    );
    let writes = write_count(&rollout_kube);
    println!(
        "| Kubernetes writes per object to reach Ready | {:.2} |",
        writes as f64 / (2 * n) as f64
    );
    println!("| operator peak resident memory | {peak:.0} MiB |");

    let mark = audit.mark();
    let before = calls(&sim);
    tokio::time::sleep(Duration::from_secs(args.steady_seconds)).await;
    let window = diff(&calls(&sim), &before);
    let (airbyte_writes, airbyte_reads) = writes_and_reads(&window);
    let kube_writes = write_count(&kube_requests(&audit, mark));
    println!(
        "| steady state: writes in {} s (Kubernetes / Airbyte) | {kube_writes} / {airbyte_writes} |",
        args.steady_seconds
    );
    println!(
        "| steady state: Airbyte reads in {} s | {airbyte_reads} ({:.3} per tenant) |",
        args.steady_seconds,
        airbyte_reads as f64 / n as f64
    );
    println!(
        "| steady state: Airbyte calls by endpoint | {} |",
        count_list(&window)
    );
    // Restart: same identity, same flags.
    operator.stop();
    let mark = audit.mark();
    let before = calls(&sim);
    let restarted = OperatorProcess::start(
        plane.kubeconfig_path(),
        &sim,
        args.concurrency,
        args.max_requests_per_second,
        &[],
    )?;
    restarted.wait_ready().await?;
    tokio::time::sleep(Duration::from_secs(args.steady_seconds)).await;
    let window = diff(&calls(&sim), &before);
    let (airbyte_writes, airbyte_reads) = writes_and_reads(&window);
    let kube_writes = write_count(&kube_requests(&audit, mark));
    println!(
        "| after a restart: writes in {} s (Kubernetes / Airbyte) | {kube_writes} / {airbyte_writes} |",
        args.steady_seconds
    );
    println!(
        "| after a restart: Airbyte reads in {} s | {airbyte_reads} ({:.3} per tenant) |",
        args.steady_seconds,
        airbyte_reads as f64 / n as f64
    );
    println!(
        "| after a restart: Airbyte calls by endpoint | {} |",
        count_list(&window)
    );
    println!(
        "| after a restart: peak resident memory | {:.0} MiB |",
        restarted.peak_rss_mib()
    );
    restarted.stop();
    drop(plane);
    Ok(())
}

/// Token refresh spread: N workspaces with short-lived tokens; mints per window of a tenth of the
/// lifetime against the mean, after the first lifetime.
pub async fn refresh(args: RefreshArgs) -> Result<(), String> {
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let n = args.objects;
    let lifetime = Duration::from_secs(args.token_ttl_seconds);
    let (plane, client) = workload::start_plane(&scratch.path().join("refresh")).await?;
    let sim = simulator(0, lifetime).await?;
    let tenants = workload::tenants(n);
    workload::prepare(&client, &tenants, "refresh").await?;
    let operator = OperatorProcess::start(plane.kubeconfig_path(), &sim, args.concurrency, 0, &[])?;
    operator.wait_ready().await?;
    let started = Instant::now();
    let policy = args.token_policy.as_str();
    futures::future::try_join_all(tenants.chunks(500).map(|chunk| {
        let client = client.clone();
        async move {
            for tenant in chunk {
                let workspace: EmbeddedWorkspace = serde_json::from_value(json!({
                    "apiVersion": "embedded.airbyte.ai/v1alpha1", "kind": "EmbeddedWorkspace",
                    "metadata": {"name": tenant.workspace()},
                    "spec": {"tokenPolicy": policy}
                }))
                .map_err(|e| e.to_string())?;
                Api::<EmbeddedWorkspace>::namespaced(client.clone(), &tenant.namespace)
                    .create(&Default::default(), &workspace)
                    .await
                    .map_err(|e| e.to_string())?;
            }
            Ok::<(), String>(())
        }
    }))
    .await?;
    eprintln!(
        "applied {n} workspaces in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    let begin_ms = sim.state().started.elapsed().as_millis() as u64 + lifetime.as_millis() as u64;
    let end_ms = begin_ms + args.lifetimes * lifetime.as_millis() as u64;
    tokio::time::sleep(Duration::from_millis(
        end_ms - sim.state().started.elapsed().as_millis() as u64 + 1000,
    ))
    .await;
    let mints: Vec<u64> = sim
        .state()
        .recorder
        .log_since(0)
        .into_iter()
        .filter(|r| {
            r.endpoint == Endpoint::ScopedTokenCreate.label()
                && r.status == 200
                && r.received_ms >= begin_ms
                && r.received_ms < end_ms
        })
        .map(|r| r.received_ms)
        .collect();
    let window = lifetime.as_millis() as u64 / 10;
    let mut busiest = 0;
    let mut start = begin_ms;
    while start + window <= end_ms {
        busiest = busiest.max(
            mints
                .iter()
                .filter(|m| **m >= start && **m < start + window)
                .count(),
        );
        start += 1000;
    }
    let mean = mints.len() as f64 / ((end_ms - begin_ms) as f64 / window as f64);
    let expired: usize = sim
        .state()
        .recorder
        .log_since(0)
        .iter()
        .filter(|r| r.status == 401)
        .count();
    println!("| refresh run | value |\n|---|---|");
    println!(
        "| workspaces, token lifetime, tokenPolicy | {n}, {} s, {policy} |",
        args.token_ttl_seconds
    );
    println!(
        "| steady-state mints per second | {:.2} |",
        mints.len() as f64 / ((end_ms - begin_ms) as f64 / 1000.0)
    );
    println!(
        "| mints observed over {} lifetimes (after the first) | {} ({:.2} per workspace per lifetime) |",
        args.lifetimes,
        mints.len(),
        mints.len() as f64 / n as f64 / args.lifetimes as f64
    );
    println!(
        "| busiest window of {} s / mean | {busiest} / {mean:.0} = {:.2} |",
        window as f64 / 1000.0,
        busiest as f64 / mean.max(1.0)
    );
    println!("| requests refused with 401 (expired or revoked tokens) | {expired} |");
    println!(
        "| operator peak resident memory | {:.0} MiB |",
        operator.peak_rss_mib()
    );
    operator.stop();
    drop(plane);
    Ok(())
}
