//! End-to-end tests: one binary, one shared control plane (or `E2E_KUBECONFIG`), one namespace
//! per test. See `support/` for the harness.

mod support;

mod admission;
mod clients;
mod kube_runtime;
mod lifecycle;
mod processes;
mod workspace_token;
mod crash_and_drift;
mod bad_input;
mod steady_state;
