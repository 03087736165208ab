//! `airbyte-embedded-operator airbyte-sim`: the Airbyte Embedded API simulator as a process.

use std::net::SocketAddr;
use std::time::Duration;

use airbyte_sim::{SimConfig, Simulator};

#[derive(Debug, clap::Args)]
pub struct AirbyteSimArgs {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:8089")]
    pub listen: SocketAddr,
    /// The simulated organization's id (a UUID).
    #[arg(long, env = "AIRBYTE_ORGANIZATION_ID")]
    pub organization_id: uuid::Uuid,
    /// Client id of the organization's application credentials.
    #[arg(long, env = "AIRBYTE_CLIENT_ID")]
    pub client_id: String,
    /// Client secret of the organization's application credentials.
    #[arg(long, env = "AIRBYTE_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: String,
    /// Lifetime of scoped and widget tokens (Airbyte: 1200).
    #[arg(long, default_value_t = 1200)]
    pub token_ttl_seconds: u64,
    /// Lifetime of organization tokens (Airbyte: 900).
    #[arg(long, default_value_t = 900)]
    pub organization_token_ttl_seconds: u64,
}

pub async fn run(args: AirbyteSimArgs) -> super::Outcome {
    let config = SimConfig {
        organization_id: args.organization_id.to_string(),
        client_id: args.client_id,
        client_secret: args.client_secret,
        scoped_token_ttl: Duration::from_secs(args.token_ttl_seconds),
        organization_token_ttl: Duration::from_secs(args.organization_token_ttl_seconds),
    };
    let simulator = Simulator::start(config, args.listen)
        .await
        .map_err(|error| format!("cannot listen on {}: {error}", args.listen))?;
    println!("airbyte-sim listening on http://{}", simulator.addr());
    embedded_operator::shutdown::signal().await;
    drop(simulator);
    Ok(())
}
