//! The command line: one subcommand per job, each a thin call into the library.

pub mod airbyte_sim;
pub mod control_plane;

use clap::{Parser, Subcommand};

use crate::telemetry::LogFormat;

/// A subcommand's result: a one-line message on failure.
pub type Outcome = Result<(), String>;

#[derive(Debug, Parser)]
#[command(
    name = "airbyte-embedded-operator",
    version,
    about = "Manage Airbyte Embedded tenants as Kubernetes resources"
)]
pub struct Cli {
    /// Log format on stderr.
    #[arg(long, global = true, env = "AIRBYTE_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the Airbyte Embedded API simulator (for your own CI; never for production).
    AirbyteSim(airbyte_sim::AirbyteSimArgs),
    /// Run a local, real Kubernetes control plane (etcd, kube-apiserver, kube-controller-manager),
    /// building it from the upstream Go modules on first use.
    ControlPlane(control_plane::ControlPlaneArgs),
}

pub async fn main(cli: Cli) -> Outcome {
    crate::telemetry::init(cli.log_format, "info");
    match cli.command {
        Some(Command::AirbyteSim(args)) => airbyte_sim::run(args).await,
        Some(Command::ControlPlane(args)) => control_plane::run(args).await,
        None => Err("no subcommand given; see --help".into()),
    }
}
