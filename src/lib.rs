//! airbyte-embedded-operator: manages Airbyte Embedded tenants as Kubernetes resources.

pub mod airbyte;
