//! The operator: one controller per kind over shared watch caches, the per-object state they
//! keep, configuration, metrics, health, leader election and shutdown.

pub mod config;
pub mod controllers;
pub mod http_server;
pub mod leader;
pub mod metrics;
pub mod shutdown;
pub mod telemetry;
