//! airbyte-embedded-operator: manages Airbyte Embedded tenants as Kubernetes resources.

pub mod airbyte;
pub mod airbyte_sim;
pub mod cli;
pub mod config;
pub mod control_plane;
pub mod controllers;
pub mod http_server;
pub mod leader;
pub mod metrics;
pub mod resources;
pub mod sandbox;
pub mod shutdown;
pub mod telemetry;
