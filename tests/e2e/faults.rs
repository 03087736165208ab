//! Reliability under faults: Airbyte failing and throttling, the Kubernetes API cutting watches
//! and refusing writes, the operator killed again and again, tokens revoked, the leader lost, the
//! apiserver restarted. Every time: everything Ready, nothing duplicated, nothing left behind.

use std::collections::{BTreeMap, HashSet};
use std::time::{Duration, Instant, SystemTime};

use airbyte_client::{BearerToken, TokenApi};
use airbyte_sim::{FaultRule, STANDARD_FAKER_TEMPLATE_ID};
use embedded_crds::{EmbeddedSource, EmbeddedWorkspace, conditions};
use futures::StreamExt;
use kube::api::{DeleteParams, ListParams, PostParams};
use kube::{Api, Client};
use local_control_plane::{ControlPlane, ControlPlaneOptions};
use serde_json::json;

use crate::support::kube_proxy::{self, ProxyFaults};
use crate::support::operator::{Operator, OperatorOptions, TEST_LABEL};
use crate::support::{Scenario, wait_for};

/// Creates `workspaces` EmbeddedWorkspaces (`w<i>`) and `per` sources in each (`s<i>-<j>`).
async fn rollout(
    client: &Client,
    ns: &str,
    workspaces: usize,
    per: usize,
    workspace_spec: serde_json::Value,
) {
    let labels = json!({TEST_LABEL: ns});
    let ws_api: Api<EmbeddedWorkspace> = Api::namespaced(client.clone(), ns);
    let src_api: Api<EmbeddedSource> = Api::namespaced(client.clone(), ns);
    let mut creates = Vec::new();
    for i in 0..workspaces {
        let workspace: EmbeddedWorkspace = serde_json::from_value(json!({
            "apiVersion": "embedded.airbyte.ai/v1alpha1", "kind": "EmbeddedWorkspace",
            "metadata": {"name": format!("w{i}"), "labels": labels}, "spec": workspace_spec,
        }))
        .unwrap();
        let ws_api = ws_api.clone();
        creates.push(futures::future::Either::Left(async move {
            ws_api
                .create(&PostParams::default(), &workspace)
                .await
                .map(|_| ())
        }));
        for j in 0..per {
            let source: EmbeddedSource = serde_json::from_value(json!({
                "apiVersion": "embedded.airbyte.ai/v1alpha1", "kind": "EmbeddedSource",
                "metadata": {"name": format!("s{i}-{j}"), "labels": labels},
                "spec": {"workspaceRef": {"name": format!("w{i}")}, "sourceTemplateId": STANDARD_FAKER_TEMPLATE_ID, "sourceConfig": {"count": j + 1}},
            }))
            .unwrap();
            let src_api = src_api.clone();
            creates.push(futures::future::Either::Right(async move {
                src_api
                    .create(&PostParams::default(), &source)
                    .await
                    .map(|_| ())
            }));
        }
    }
    let failures: Vec<_> = futures::stream::iter(creates)
        .buffer_unordered(16)
        .filter_map(|r| async move { r.err() })
        .collect()
        .await;
    assert!(
        failures.is_empty(),
        "creating the rollout: {:?}",
        failures.first()
    );
}

/// (ready workspaces, ready sources) in `ns`.
async fn ready_counts(client: &Client, ns: &str) -> (usize, usize) {
    let ws = Api::<EmbeddedWorkspace>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    let src = Api::<EmbeddedSource>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .map(|l| l.items)
        .unwrap_or_default();
    let ready = |c: Option<&Vec<k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition>>| {
        c.is_some_and(|c| conditions::is_ready(c))
    };
    (
        ws.iter()
            .filter(|w| ready(w.status.as_ref().map(|s| &s.conditions)))
            .count(),
        src.iter()
            .filter(|s| ready(s.status.as_ref().map(|st| &st.conditions)))
            .count(),
    )
}

async fn wait_all_ready(
    client: &Client,
    ns: &str,
    workspaces: usize,
    sources: usize,
    timeout: Duration,
) -> Duration {
    let started = Instant::now();
    wait_for(
        &format!("{workspaces} workspaces and {sources} sources Ready"),
        timeout,
        || async {
            let (w, s) = ready_counts(client, ns).await;
            (w >= workspaces && s >= sources).then_some(())
        },
    )
    .await;
    started.elapsed()
}

/// Every source exists exactly once in Airbyte, and each EmbeddedSource points at its own.
async fn assert_no_duplicates(s: &Scenario, client: &Client, expected: usize) {
    {
        let world = s.sim.state().world();
        let mut seen = HashSet::new();
        for record in world.sources.values() {
            assert!(
                seen.insert((record.workspace_id.clone(), record.name.clone())),
                "duplicate source {} in workspace {}",
                record.name,
                record.workspace_id
            );
        }
        assert_eq!(world.sources.len(), expected, "sources in Airbyte");
    }
    let objects = Api::<EmbeddedSource>::namespaced(client.clone(), s.ns())
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    let ids: HashSet<String> = objects
        .iter()
        .filter_map(|o| o.status.as_ref()?.source_id.clone())
        .collect();
    assert_eq!(ids.len(), expected, "distinct source ids in status");
    let world = s.sim.state().world();
    assert!(
        ids.iter().all(|id| world.sources.contains_key(id)),
        "every recorded id exists in Airbyte"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn airbyte_failing_and_throttling_writes_still_converges_exactly_once_honouring_retry_after()
{
    let s = Scenario::new("faults-airbyte").await;
    *s.sim.state().faults.lock().unwrap() = vec![
        FaultRule {
            latency_ms: 20,
            ..Default::default()
        },
        FaultRule {
            writes_only: true,
            error_rate: 0.30,
            status: 503,
            ..Default::default()
        },
        // 10% of all writes: 0.1 / 0.7 of those the first rule let through.
        FaultRule {
            writes_only: true,
            error_rate: 0.1 / 0.7,
            status: 429,
            retry_after_seconds: Some(1),
            ..Default::default()
        },
    ];
    let took = {
        rollout(&s.ctx.client, s.ns(), 200, 1, json!({})).await;
        wait_all_ready(&s.ctx.client, s.ns(), 200, 200, Duration::from_secs(600)).await
    };
    assert_no_duplicates(&s, &s.ctx.client, 200).await;

    let log = s.sim.state().recorder.log_since(0);
    let injected_503 = log.iter().filter(|r| r.injected && r.status == 503).count();
    let injected_429 = log.iter().filter(|r| r.injected && r.status == 429).count();
    assert!(
        injected_503 > 50 && injected_429 > 10,
        "faults were injected: {injected_503} x 503, {injected_429} x 429"
    );
    // Every Retry-After was honoured: the next attempt of the same operation came no sooner.
    let mut by_operation: BTreeMap<(String, String, String), Vec<_>> = BTreeMap::new();
    for record in &log {
        by_operation
            .entry((
                record.endpoint.clone(),
                record.path.clone(),
                record.key.clone(),
            ))
            .or_default()
            .push(record);
    }
    let mut honoured = 0;
    for attempts in by_operation.values() {
        for pair in attempts.windows(2) {
            if let Some(wait) = pair[0].retry_after_seconds {
                assert!(
                    pair[1].received_ms >= pair[0].answered_ms + wait * 1000,
                    "{} {}: retried {} ms after a Retry-After of {wait} s",
                    pair[0].endpoint,
                    pair[0].key,
                    pair[1].received_ms.saturating_sub(pair[0].answered_ms)
                );
                honoured += 1;
            }
        }
    }
    assert!(
        honoured > 10,
        "Retry-After answers were followed by retries: {honoured}"
    );
    eprintln!(
        "FIGURES airbyte faults: 200 workspaces + 200 sources Ready in {:.1} s; {injected_503} x 503 and {injected_429} x 429 injected, {} Airbyte requests in all, {honoured} retries after Retry-After, duplicates 0",
        took.as_secs_f64(),
        log.len()
    );
    s.assert_no_leaks(&[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kubernetes_api_that_cuts_watches_and_refuses_writes_still_converges_without_a_relist_storm()
 {
    let mut s = Scenario::new("faults-kube").await;
    let Some(audit) = s.ctx.cluster.audit("kubernetes faults").cloned() else {
        return;
    };
    let pki = s.ctx.cluster.state_dir.clone().unwrap().join("pki");
    let proxy = kube_proxy::start(
        &s.ctx.cluster.server,
        &pki,
        ProxyFaults {
            write_error_rate: 0.05,
            latency: Duration::from_millis(10),
            watch_cut_after: (Duration::from_secs(2), Duration::from_secs(5)),
        },
    )
    .await;
    let kubeconfig = s.ctx.path("proxy.kubeconfig");
    kube_proxy::write_kubeconfig(&kubeconfig, &proxy.url);
    s.operator.kill();
    s.operator = Operator::start(
        &s.ctx,
        &s.sim,
        OperatorOptions {
            kubeconfig: Some(kubeconfig),
            log_name: "operator-proxied.log".into(),
            ..Default::default()
        },
    );
    let agent = format!(
        "{} ({})",
        embedded_operator::controllers::USER_AGENT,
        s.operator.identity
    );
    let mark = audit.mark();
    rollout(&s.ctx.client, s.ns(), 200, 1, json!({})).await;
    let took = wait_all_ready(&s.ctx.client, s.ns(), 200, 200, Duration::from_secs(600)).await;
    assert_no_duplicates(&s, &s.ctx.client, 200).await;
    let cuts = proxy
        .counters
        .watch_cuts
        .load(std::sync::atomic::Ordering::Relaxed);
    let injected = proxy
        .counters
        .injected
        .load(std::sync::atomic::Ordering::Relaxed);
    let lists = audit
        .since(mark)
        .iter()
        .filter(|e| e.user_agent.as_deref() == Some(agent.as_str()) && e.verb == "list")
        .count();
    assert!(cuts >= 10, "watches were cut: {cuts}");
    assert!(injected >= 20, "writes were refused: {injected}");
    // Six watches list once at start; a cut watch resumes from its resourceVersion, not a relist.
    assert!(
        lists <= 6 + 3 + (cuts as usize) / 5,
        "{lists} lists for {cuts} watch cuts: a relist storm"
    );
    eprintln!(
        "FIGURES kubernetes faults: 200 + 200 Ready in {:.1} s through the proxy; {cuts} watch cuts, {injected} writes answered 409/429/500, {lists} lists by the operator, duplicates 0",
        took.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_twenty_times_during_a_rollout_nothing_is_duplicated_and_delete_leaves_nothing() {
    let mut s = Scenario::new("faults-chaos").await;
    rollout(
        &s.ctx.client,
        s.ns(),
        20,
        10,
        json!({"deletionPolicy": "Delete"}),
    )
    .await;
    let started = Instant::now();
    let mut kills = 0;
    while kills < 20 || ready_counts(&s.ctx.client, s.ns()).await != (20, 200) {
        tokio::time::sleep(Duration::from_millis(300 + rand::random::<u64>() % 1200)).await;
        if kills < 20 {
            s.operator.kill();
            s.operator.start_again();
            kills += 1;
        }
        assert!(
            started.elapsed() < Duration::from_secs(600),
            "not converged after {kills} kills: {:?}",
            ready_counts(&s.ctx.client, s.ns()).await
        );
    }
    let took = started.elapsed();
    assert_no_duplicates(&s, &s.ctx.client, 200).await;
    assert_eq!(s.sim.state().world().workspaces.len(), 20);

    // Delete everything: nothing with the Delete policy is left in Airbyte.
    let sources: Api<EmbeddedSource> = Api::namespaced(s.ctx.client.clone(), s.ns());
    let workspaces: Api<EmbeddedWorkspace> = Api::namespaced(s.ctx.client.clone(), s.ns());
    sources
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .unwrap();
    workspaces
        .delete_collection(&DeleteParams::default(), &ListParams::default())
        .await
        .unwrap();
    wait_for(
        "every object to be gone",
        Duration::from_secs(300),
        || async {
            let left = sources.list(&ListParams::default()).await.ok()?.items.len()
                + workspaces
                    .list(&ListParams::default())
                    .await
                    .ok()?
                    .items
                    .len();
            (left == 0).then_some(())
        },
    )
    .await;
    let world = s.sim.state().world();
    assert!(
        world.sources.is_empty() && world.workspaces.is_empty(),
        "left in Airbyte: {} sources, {} workspaces",
        world.sources.len(),
        world.workspaces.len()
    );
    eprintln!(
        "FIGURES chaos: {kills} SIGKILLs during a rollout of 20 workspaces + 200 sources, Ready {:.1} s after the first kill, duplicates 0, left after delete 0",
        took.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_all_tokens_are_revoked_every_secret_holds_a_fresh_valid_token_within_one_cycle() {
    let options = OperatorOptions {
        drift_interval_seconds: 10,
        ..Default::default()
    };
    let s = Scenario::with("faults-revoke", Duration::from_secs(20 * 60), options).await;
    rollout(&s.ctx.client, s.ns(), 20, 1, json!({})).await;
    wait_all_ready(&s.ctx.client, s.ns(), 20, 20, Duration::from_secs(300)).await;
    let secrets = s.secrets();
    let token_of = |i: usize| {
        let secrets = secrets.clone();
        async move {
            let secret = secrets.get(&format!("w{i}-airbyte-token")).await.ok()?;
            String::from_utf8(secret.data?.get("token")?.0.clone()).ok()
        }
    };
    let mut before = Vec::new();
    for i in 0..20 {
        before.push(token_of(i).await.unwrap());
    }
    let revoked = Instant::now();
    s.sim.state().revoke_all_tokens();
    let airbyte = s.airbyte();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut fresh = 0;
    while fresh < 20 {
        assert!(
            Instant::now() < deadline,
            "only {fresh} of 20 Secrets hold a valid token 60 s after revocation"
        );
        fresh = 0;
        for (i, old) in before.iter().enumerate() {
            let Some(token) = token_of(i).await else {
                continue;
            };
            let bearer = BearerToken::new(token.clone());
            // No Secret ever holds a token past its lifetime.
            assert!(
                bearer
                    .expires_at()
                    .is_some_and(|exp| exp > SystemTime::now()),
                "w{i} holds an expired token"
            );
            if token != *old && airbyte.scoped_token_info(&bearer).await.is_ok() {
                fresh += 1;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // One reconcile cycle: the drift interval (10 s), plus scheduling slack.
    let took = revoked.elapsed();
    assert!(
        took < Duration::from_secs(10 + 20),
        "fresh tokens took {took:?}"
    );
    wait_all_ready(&s.ctx.client, s.ns(), 20, 20, Duration::from_secs(60)).await;
    eprintln!(
        "FIGURES revocation: 20 workspaces hold fresh valid tokens {:.1} s after revoking every token (drift interval 10 s)",
        took.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_the_leader_mid_rollout_loses_nothing_and_duplicates_nothing() {
    let mut s = Scenario::with(
        "faults-failover",
        Duration::from_secs(1200),
        OperatorOptions::leader("first"),
    )
    .await;
    wait_for(
        "the first replica to lead",
        Duration::from_secs(30),
        || async { s.operator.logs().contains("leading").then_some(()) },
    )
    .await;
    let standby = Operator::start(&s.ctx, &s.sim, OperatorOptions::leader("second"));
    rollout(&s.ctx.client, s.ns(), 60, 2, json!({})).await;
    wait_for(
        "part of the rollout to be Ready",
        Duration::from_secs(120),
        || async {
            let (w, _) = ready_counts(&s.ctx.client, s.ns()).await;
            (w >= 10).then_some(())
        },
    )
    .await;
    s.operator.kill();
    let took = wait_all_ready(&s.ctx.client, s.ns(), 60, 120, Duration::from_secs(300)).await;
    assert!(standby.logs().contains("leading"), "the standby took over");
    assert_no_duplicates(&s, &s.ctx.client, 120).await;
    assert_eq!(s.sim.state().world().workspaces.len(), 60);
    eprintln!(
        "FIGURES failover: leader killed mid-rollout of 60 + 120; all Ready {:.1} s later, duplicates 0",
        took.as_secs_f64()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_reconnects_by_itself_after_the_apiserver_and_etcd_restart() {
    if std::env::var_os("E2E_KUBECONFIG").is_some() {
        eprintln!("skipped: restarts a local control plane");
        return;
    }
    // A control plane of its own: restarting the shared one would disturb the other tests.
    let dir = tempfile::tempdir().unwrap();
    let mut plane = ControlPlane::start(ControlPlaneOptions::new(dir.path().join("plane")))
        .await
        .unwrap();
    let ctx = crate::support::TestContext::new("faults-restart").await;
    let client = plane.admin_client().await.unwrap();
    let tools = ctx.tools(crate::support::Generation::Current);
    let private = tools.kubectl(&[
        "--kubeconfig",
        plane.kubeconfig_path().to_str().unwrap(),
        "apply",
        "--server-side",
        "-f",
        crate::support::repo_path("crds").to_str().unwrap(),
    ]);
    assert!(private.ok(), "{}", private.stderr());
    let ns = ctx.namespace.clone();
    let namespace: k8s_openapi::api::core::v1::Namespace =
        serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
    wait_for(
        "the CRDs and namespace on the private control plane",
        Duration::from_secs(60),
        || async {
            Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone())
                .create(&PostParams::default(), &namespace)
                .await
                .ok()
                .map(|_| ())
        },
    )
    .await;
    let sim = crate::support::operator::simulator(Duration::from_secs(1200)).await;
    let operator = Operator::start(
        &ctx,
        &sim,
        OperatorOptions {
            kubeconfig: Some(plane.kubeconfig_path().to_path_buf()),
            ..Default::default()
        },
    );
    let s = Scenario { operator, sim, ctx };
    wait_for("the CRDs to be served", Duration::from_secs(60), || async {
        Api::<EmbeddedWorkspace>::namespaced(client.clone(), &ns)
            .list(&ListParams::default())
            .await
            .ok()
            .map(|_| ())
    })
    .await;
    rollout(&client, &ns, 30, 1, json!({})).await;
    wait_for(
        "part of the rollout to be Ready",
        Duration::from_secs(120),
        || async {
            let (w, _) = ready_counts(&client, &ns).await;
            (w >= 5).then_some(())
        },
    )
    .await;
    let restarted = Instant::now();
    plane.restart_apiserver(true).await.unwrap();
    let client = plane.admin_client().await.unwrap();
    let took = wait_all_ready(&client, &ns, 30, 30, Duration::from_secs(300)).await;
    assert_no_duplicates(&s, &client, 30).await;
    eprintln!(
        "FIGURES control-plane restart: apiserver and etcd restarted mid-rollout (30 + 30); all Ready {:.1} s after the restart began ({:.1} s wait)",
        restarted.elapsed().as_secs_f64(),
        took.as_secs_f64()
    );
    drop(s);
    drop(plane);
}
