//! `airbyte-embedded-operator run` (the default): the controllers, the metrics and health server,
//! until SIGTERM or Ctrl-C.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use crate::config::RunArgs;
use crate::http_server::{self, Health};
use crate::metrics::Metrics;

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
    metrics.leader.set(1);
    tracing::info!(api_url = %config.api_url, organization_id = %config.organization_id, "starting airbyte-embedded-operator");
    crate::controllers::run(config, metrics, ready, crate::shutdown::signal()).await
}
