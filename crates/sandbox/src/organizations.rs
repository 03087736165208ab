//! The sandbox's two Airbyte organizations, declared as resources: the ClusterAirbyteOrganization
//! `default` (the simulator's first organization, which objects without an `organizationRef`
//! use) and `partner` (its second), each with its credentials Secret in the operator's namespace,
//! as a platform team would declare them.

use std::path::Path;

use airbyte_sim::Simulator;

use super::OPERATOR_NAMESPACE;
use super::apply::{Manifest, parse};

/// The second organization's name.
pub const PARTNER: &str = "partner";

/// The organizations and their Secrets; `api_url`: where the operator reaches the simulator.
pub fn manifests(sim: &Simulator, api_url: &str) -> Result<Vec<Manifest>, String> {
    let organizations = sim.state().organizations();
    let mut text = String::new();
    for (name, organization) in ["default", PARTNER].iter().zip(organizations.iter()) {
        text.push_str(&format!(
            r#"apiVersion: v1
kind: Secret
metadata: {{name: {name}-credentials, namespace: {OPERATOR_NAMESPACE}}}
stringData: {{clientId: {client}, clientSecret: {secret}}}
---
apiVersion: embedded.airbyte.ai/v1alpha1
kind: ClusterAirbyteOrganization
metadata: {{name: {name}}}
spec:
  organizationId: {id}
  apiUrl: {api_url}
  credentialsSecretRef: {{name: {name}-credentials}}
---
"#,
            client = organization.client_id,
            secret = organization.client_secret(),
            id = organization.id,
        ));
    }
    parse(&text, Path::new("(the sandbox's organizations)"))
}
