//! A strict local simulator of the Airbyte Embedded API (`../shared/airbyte-api.md`).
//!
//! Real HS256 JWTs, the FastAPI error shapes, connector specifications that validate
//! `source_config`, tag semantics, cursor pagination and idempotent workspace creation, plus an
//! admin surface under `/_sim/` for fault injection and inspection. Runs in-process for tests
//! ([`Simulator::start`]) and as the `airbyte-sim` subcommand for users' own CI.

pub mod admin;
mod api;
pub mod auth;
pub mod catalog;
pub mod fastapi;
pub mod faults;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use url::Url;

pub use api::{tags_match, valid_origin};
pub use faults::{CallCount, FaultRule, RequestRecord};
pub use state::{STANDARD_FAKER_TEMPLATE_ID, SimConfig, SimState};

use crate::airbyte::{ClientConfig, OrganizationCredentials};

/// The whole application: API routes behind the fault/accounting middleware, plus `/_sim/`.
pub fn app(state: Arc<SimState>) -> Router {
    api::router()
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            faults::inject_and_record,
        ))
        .merge(admin::router())
        .with_state(state)
}

/// A running simulator; stops when dropped.
pub struct Simulator {
    state: Arc<SimState>,
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
}

impl Simulator {
    /// Binds `listen` (use port 0 for a free port) and serves in the background.
    pub async fn start(config: SimConfig, listen: SocketAddr) -> std::io::Result<Simulator> {
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(SimState::new(config));
        let (shutdown, stopped) = oneshot::channel::<()>();
        let app = app(state.clone());
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
            if let Err(error) = served {
                tracing::error!(%error, "airbyte simulator stopped");
            }
        });
        Ok(Simulator {
            state,
            addr,
            shutdown: Some(shutdown),
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self) -> Url {
        Url::parse(&format!("http://{}", self.addr)).expect("socket address makes a valid URL")
    }

    pub fn state(&self) -> &Arc<SimState> {
        &self.state
    }

    pub fn organization_id(&self) -> &str {
        &self.state.config.organization_id
    }

    /// A client configuration holding this simulator's organization credentials.
    pub fn client_config(&self) -> ClientConfig {
        ClientConfig::new(
            self.url(),
            self.state.config.organization_id.clone(),
            OrganizationCredentials::ClientCredentials {
                client_id: self.state.config.client_id.clone(),
                client_secret: self.state.config.client_secret.clone().into(),
            },
        )
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
