//! Benchmarks (commands, not tests): the local control plane's own costs and throughput, and the
//! operator at scale against the floor measured in the same run.
//!
//!   cargo run --release --bin bench -- control-plane [--cold-build]
//!   cargo run --release --bin bench -- operator --objects 1000
//!   cargo run --release --bin bench -- refresh --objects 10000 --token-ttl-seconds 60 [--token-policy OnDemand]

mod control_plane;
mod operator;
mod workload;

use clap::Parser;

#[derive(Debug, Parser)]
#[command(
    name = "bench",
    about = "Benchmarks of the local control plane and the operator"
)]
enum Bench {
    /// Build times, startup time to ready, and the control plane's write throughput.
    ControlPlane(control_plane::Args),
    /// Time to Ready, calls per object, writes, memory and quiet, against the floor.
    Operator(operator::Args),
    /// Token refresh spread with short-lived tokens.
    Refresh(operator::RefreshArgs),
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    embedded_operator::shutdown::install();
    embedded_operator::telemetry::init(embedded_operator::telemetry::LogFormat::Text, "warn");
    let result = match Bench::parse() {
        Bench::ControlPlane(args) => control_plane::run(args).await,
        Bench::Operator(args) => operator::run(args).await,
        Bench::Refresh(args) => operator::refresh(args).await,
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("bench: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}
