//! Leader election on a `coordination.k8s.io/v1` Lease (kube-lease-manager): only the holder runs
//! the controllers. A replica that loses the Lease stops its controllers and exits, so the
//! Deployment restarts it as a standby; a new leader takes over within the lease duration. A
//! replica stopped by SIGTERM releases the Lease, so the handover is immediate.

use std::future::Future;
use std::time::Duration;

use kube::Client;
use kube_lease_manager::{LeaseManager, LeaseManagerBuilder, LeaseManagerError, LeaseParams};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::LeaderElection;

/// Held leadership.
pub struct Leadership {
    leading: watch::Receiver<bool>,
    task: JoinHandle<Result<LeaseManager, LeaseManagerError>>,
}

/// Waits until this replica leads (or `cancel` resolves first: `None`).
pub async fn acquire(
    client: Client,
    settings: &LeaderElection,
    identity: &str,
    cancel: impl Future<Output = ()>,
) -> Result<Option<Leadership>, String> {
    let lease_seconds = settings.lease_seconds;
    let grace = (lease_seconds / 3).max(2);
    let manager = LeaseManagerBuilder::new(client, &settings.lease_name)
        .with_namespace(&settings.namespace)
        .with_parameters(
            LeaseParams::new(identity, lease_seconds, grace)
                .with_field_manager(embedded_crds::MANAGER),
        )
        .build()
        .await
        .map_err(|e| format!("leader election: {e}"))?;
    let (mut leading, task) = manager.watch().await;
    tracing::info!(lease = %settings.lease_name, namespace = %settings.namespace, identity, "waiting to lead");
    let wait = async {
        while !*leading.borrow_and_update() {
            if leading.changed().await.is_err() {
                return Err("leader election stopped".to_string());
            }
        }
        Ok(())
    };
    tokio::select! {
        result = wait => result?,
        _ = cancel => {
            task.abort();
            return Ok(None);
        }
    }
    tracing::info!(identity, "leading");
    Ok(Some(Leadership { leading, task }))
}

impl Leadership {
    /// Resolves when another replica takes the Lease (or renewals stop).
    pub fn lost(&self) -> impl Future<Output = ()> + Send + 'static {
        let mut leading = self.leading.clone();
        async move {
            loop {
                if leading.changed().await.is_err() || !*leading.borrow_and_update() {
                    return;
                }
            }
        }
    }

    pub fn is_leading(&self) -> bool {
        *self.leading.borrow()
    }

    /// Gives the Lease up (graceful stop), waiting a few seconds at most.
    pub async fn release(self) {
        drop(self.leading);
        let released = async {
            if let Ok(Ok(manager)) = self.task.await {
                let _ = manager.release().await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(5), released)
            .await
            .is_err()
        {
            tracing::debug!("lease release timed out; it expires by itself");
        }
    }
}
