//! Ctrl-C and SIGTERM, the two ways a user or Kubernetes asks a process to stop.
//!
//! [`install`] registers the handlers at start-up (before anything announces readiness, so a
//! signal sent right after "ready" is never lost to the default action); [`signal`] resolves once
//! one has arrived, for any number of waiters.

use std::sync::OnceLock;

use tokio::sync::watch;

static STOP: OnceLock<watch::Receiver<bool>> = OnceLock::new();

/// Registers the SIGINT and SIGTERM handlers (idempotent). Needs a running Tokio runtime.
pub fn install() {
    STOP.get_or_init(|| {
        let (sender, receiver) = watch::channel(false);
        use tokio::signal::unix::{SignalKind, signal};
        let terminate = signal(SignalKind::terminate());
        let interrupt = signal(SignalKind::interrupt());
        tokio::spawn(async move {
            match (terminate, interrupt) {
                (Ok(mut terminate), Ok(mut interrupt)) => {
                    tokio::select! {
                        _ = terminate.recv() => {}
                        _ = interrupt.recv() => {}
                    }
                }
                _ => {
                    let _ = tokio::signal::ctrl_c().await;
                }
            }
            let _ = sender.send(true);
        });
        receiver
    });
}

/// Resolves on the first SIGINT or SIGTERM since [`install`].
pub async fn signal() {
    install();
    let Some(receiver) = STOP.get() else { return };
    let mut receiver = receiver.clone();
    let _ = receiver.wait_for(|stopped| *stopped).await;
}
