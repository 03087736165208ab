//! A local simulator of the Airbyte Embedded API, for the operator's tests and users' own CI.
//!
//! It is written from Airbyte's published reference, kept as data in `reference/api.yaml`
//! (operations, paths, who may call them, request and answer schemas), and shares no code with
//! the operator's client: it exists to disagree with the client when the client is wrong.
//! Real HS256 JWTs, connector specifications that validate configurations and mask secrets, tag
//! semantics, cursor paging, idempotent workspace creation, modes for what the reference leaves
//! open (`Modes`), and an admin surface under `/_sim/` for faults and inspection.
//! `docs/simulator.md` lists what it implements.

pub mod admin;
mod answers;
mod api;
pub mod auth;
pub mod catalog;
pub mod cron;
pub mod errors;
pub mod faults;
mod pipeline;
pub mod reference;
pub mod state;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use url::Url;

pub use api::valid_origin;
pub use errors::{AuthFailure, ErrorShape};
pub use faults::{CallCount, FaultRule, RequestRecord};
pub use state::{
    Modes, Organization, OrganizationConfig, STANDARD_FAKER_TEMPLATE_ID, SimConfig, SimState,
    TenantField, tags_match,
};

/// The whole application: API routes behind the request pipeline, plus `/_sim/`.
pub fn app(state: Arc<SimState>) -> Router {
    api::router(&state)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            pipeline::pipeline,
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
        let state = Arc::new(SimState::new(config).map_err(std::io::Error::other)?);
        let listener = TcpListener::bind(listen).await?;
        let addr = listener.local_addr()?;
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

    pub fn client_id(&self) -> &str {
        &self.state.config.client_id
    }

    /// The first organization's client secret (as rotated, if it was).
    pub fn client_secret(&self) -> String {
        self.state.primary().client_secret()
    }
}

impl Drop for Simulator {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
    }
}
