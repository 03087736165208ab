//! Glue for the project's tests and benchmarks: the two sides of the Airbyte contract meet only
//! here (the simulator does not know the client, and the client does not know the simulator).

use airbyte_client::{ClientConfig, OrganizationCredentials};
use airbyte_sim::Simulator;

/// A client configuration holding the simulator's address and organization credentials.
pub fn client_config(sim: &Simulator) -> ClientConfig {
    ClientConfig::new(
        sim.url(),
        sim.organization_id().to_string(),
        OrganizationCredentials::ClientCredentials {
            client_id: sim.client_id().to_string(),
            client_secret: sim.client_secret().to_string().into(),
        },
    )
}
