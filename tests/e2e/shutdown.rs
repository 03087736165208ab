//! A stop takes a bounded time whatever the apiserver and Airbyte are doing: SIGTERM ends the
//! operator within the graceful-shutdown period (30 s, controller-runtime's default) during
//! start-up with the apiserver frozen, during a rollout with Airbyte holding every request open,
//! and during a deletion with both stuck.

use std::time::{Duration, Instant};

use airbyte_sim::FaultRule;

use crate::support::freeze_proxy::FreezeProxy;
use crate::support::operator::{Operator, OperatorOptions, install_crds, simulator};
use crate::support::{TestContext, wait_for};

/// The operator's graceful-shutdown period, and what a stop may take on top of it.
const BOUND: Duration = Duration::from_secs(30 + 8);

fn workspace(ctx: &TestContext, name: &str) -> String {
    let ns = &ctx.namespace;
    format!(
        "apiVersion: embedded.airbyte.ai/v1alpha1\nkind: EmbeddedWorkspace\nmetadata: {{name: {name}, namespace: {ns}, labels: {{e2e.airbyte.ai/test: {ns}}}}}\nspec: {{deletionPolicy: Delete}}\n"
    )
}

/// SIGTERM, then how long the process took to end (it is killed after 60 s).
fn stop(operator: &mut Operator) -> Duration {
    let started = Instant::now();
    let status = operator.stop_within(Duration::from_secs(60));
    let took = started.elapsed();
    assert!(
        status.is_some_and(|s| s.success()),
        "exit status {status:?} after {took:?}"
    );
    took
}

/// Airbyte holds every request for ten minutes.
fn hold_airbyte(sim: &airbyte_sim::Simulator) {
    *sim.state().faults.lock().unwrap() = vec![FaultRule {
        latency_ms: 600_000,
        ..Default::default()
    }];
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_ends_the_operator_in_bounded_time_whatever_the_apiserver_and_airbyte_do() {
    let ctx = TestContext::new("shutdown").await;
    if !ctx.cluster.is_local() {
        eprintln!("skipped: freezes the apiserver's connections through a local relay");
        return;
    }
    install_crds(&ctx);
    let sim = simulator(Duration::from_secs(1200)).await;
    let upstream = ctx
        .cluster
        .server
        .trim_start_matches("https://")
        .trim_end_matches('/')
        .to_string();
    let relay = FreezeProxy::start(upstream).await;
    let kubeconfig = ctx.path("frozen.kubeconfig");
    relay.kubeconfig(&ctx.cluster.kubeconfig, &kubeconfig);
    let options = |log: &str| OperatorOptions {
        kubeconfig: Some(kubeconfig.clone()),
        log_name: log.into(),
        ..Default::default()
    };

    // 1. Start-up with the apiserver frozen: the operator waits for its CRD check and caches.
    relay.freeze(true);
    let mut operator = Operator::start(&ctx, &sim, options("startup.log"));
    tokio::time::sleep(Duration::from_secs(3)).await;
    let took = stop(&mut operator);
    assert!(took < Duration::from_secs(8), "start-up stop took {took:?}");
    relay.freeze(false);

    // 2. A rollout with Airbyte holding every request open: reconciles are in flight.
    hold_airbyte(&sim);
    let mut operator = Operator::start(&ctx, &sim, options("rollout.log"));
    ctx.tools(crate::support::Generation::Current)
        .kubectl_stdin(&["apply", "-f", "-"], &workspace(&ctx, "held"))
        .success();
    wait_for(
        "the controllers to start",
        Duration::from_secs(60),
        || async {
            operator
                .logs()
                .contains("starting controllers")
                .then_some(())
        },
    )
    .await;
    // The workspace's first reconcile is now waiting on Airbyte.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let took = stop(&mut operator);
    assert!(took < BOUND, "rollout stop took {took:?}");
    assert!(
        operator
            .logs()
            .contains("graceful shutdown did not finish in time"),
        "the deadline, not the work, ended the stop"
    );

    // 3. A deletion with Airbyte holding the delete and then the apiserver frozen too.
    sim.state().faults.lock().unwrap().clear();
    let mut operator = Operator::start(&ctx, &sim, options("deletion.log"));
    let workspaces: kube::Api<embedded_crds::EmbeddedWorkspace> =
        kube::Api::namespaced(ctx.cluster.client().await, &ctx.namespace);
    wait_for(
        "the workspace to be Ready",
        Duration::from_secs(60),
        || async {
            let status = workspaces.get("held").await.ok()?.status?;
            embedded_crds::conditions::is_ready(&status.conditions).then_some(())
        },
    )
    .await;
    hold_airbyte(&sim);
    workspaces
        .delete("held", &kube::api::DeleteParams::default())
        .await
        .unwrap();
    // The deletion's reconcile is now waiting on Airbyte's delete.
    tokio::time::sleep(Duration::from_secs(3)).await;
    relay.freeze(true);
    let took = stop(&mut operator);
    assert!(took < BOUND, "deletion stop took {took:?}");
    relay.freeze(false);
    sim.state().faults.lock().unwrap().clear();
}
