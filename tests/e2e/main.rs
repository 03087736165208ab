//! End-to-end tests: one binary, one shared control plane (or `E2E_KUBECONFIG`), one namespace
//! per test. See `support/` for the harness.

mod support;

mod admission;
mod bad_input;
mod chart;
mod clients;
mod connection_templates;
mod crash_and_drift;
mod faults;
mod in_cluster;
mod kube_runtime;
mod leader_election;
mod lifecycle;
mod organizations;
mod processes;
mod sandbox;
mod security;
mod shutdown;
mod steady_state;
mod upgrade;
mod workspace_token;
