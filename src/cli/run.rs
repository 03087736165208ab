//! `airbyte-embedded-operator run` (the default): the controllers, the metrics and health server,
//! and leader election when asked, until SIGTERM or Ctrl-C.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::FutureExt;

use embedded_operator::config::RunArgs;
use embedded_operator::http_server::{self, Health};
use embedded_operator::metrics::Metrics;

pub async fn run(args: RunArgs) -> super::Outcome {
    let config = args.into_config()?;
    let metrics = Arc::new(Metrics::new());
    let ready = Arc::new(AtomicBool::new(false));
    let _server = http_server::serve(
        config.metrics_addr,
        Health {
            metrics: metrics.clone(),
            ready: ready.clone(),
        },
    )
    .await
    .map_err(|e| format!("cannot serve metrics on {}: {e}", config.metrics_addr))?;
    tracing::info!(
        api_url = %config.api_url,
        organization_id = config.organization_id.as_deref().unwrap_or("none (organizations are resources only)"),
        identity = %config.identity,
        "starting airbyte-embedded-operator"
    );
    let shutdown = embedded_operator::shutdown::signal().shared();

    let Some(election) = config.leader_election.clone() else {
        metrics.leader.set(1);
        return embedded_operator::controllers::run(config, metrics, ready, shutdown).await;
    };
    let client = embedded_operator::controllers::kube_client(&config.identity).await?;
    // A standby is healthy and ready (it must not block a rolling update); it only waits.
    ready.store(true, Ordering::SeqCst);
    let Some(leadership) =
        embedded_operator::leader::acquire(client, &election, &config.identity, shutdown.clone())
            .await?
    else {
        return Ok(());
    };
    ready.store(false, Ordering::SeqCst);
    metrics.leader.set(1);
    let lost = leadership.lost().shared();
    let stop = futures::future::select(shutdown.clone(), lost.clone()).map(|_| ());
    let result = embedded_operator::controllers::run(config, metrics.clone(), ready, stop).await;
    metrics.leader.set(0);
    if lost.peek().is_some() {
        return Err(
            "lost the leader Lease; exiting so that this replica restarts as a standby".into(),
        );
    }
    leadership.release().await;
    result
}
