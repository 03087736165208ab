//! `airbyte-embedded-operator airbyte-sim`: the Airbyte Embedded API simulator as a process.

use std::net::SocketAddr;
use std::time::Duration;

use airbyte_sim::{
    AuthFailure, ErrorShape, Modes, OrganizationConfig, SimConfig, Simulator, TenantField,
};

/// `ORGANIZATION_ID:CLIENT_ID:CLIENT_SECRET`.
fn parse_organization(text: &str) -> Result<OrganizationConfig, String> {
    let mut parts = text.splitn(3, ':');
    let (Some(id), Some(client_id), Some(secret)) = (parts.next(), parts.next(), parts.next())
    else {
        return Err("expected ORGANIZATION_ID:CLIENT_ID:CLIENT_SECRET".into());
    };
    uuid::Uuid::parse_str(id).map_err(|_| format!("{id:?} is not a UUID"))?;
    if client_id.is_empty() || secret.is_empty() {
        return Err("the client id and secret must not be empty".into());
    }
    Ok(OrganizationConfig {
        organization_id: id.to_string(),
        client_id: client_id.to_string(),
        client_secret: secret.to_string(),
    })
}

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
    /// Another organization served beside the first, as `ORGANIZATION_ID:CLIENT_ID:CLIENT_SECRET`
    /// (repeatable); each has its own credentials, workspaces, templates and tokens.
    #[arg(long = "organization", value_parser = parse_organization)]
    pub organizations: Vec<OrganizationConfig>,
    /// Lifetime of scoped and widget tokens (Airbyte: 1200).
    #[arg(long, default_value_t = 1200)]
    pub token_ttl_seconds: u64,
    /// Lifetime of organization tokens (Airbyte: 900).
    #[arg(long, default_value_t = 900)]
    pub organization_token_ttl_seconds: u64,
    /// Error bodies: `current` (the reference's `{message, errors}`) or `fastapi` (`{detail}`).
    #[arg(long, value_enum, default_value_t = ErrorShapeArg::Current)]
    pub error_shape: ErrorShapeArg,
    /// Status of an authentication failure: 403 (the reference) or 401.
    #[arg(long, default_value = "403", value_parser = ["401", "403"])]
    pub auth_failure_status: String,
    /// Serve only the current paths: the deprecated `/api/v1/embedded/*` token paths answer 404.
    #[arg(long, conflicts_with = "only_deprecated_paths")]
    pub without_deprecated_paths: bool,
    /// Serve only the deprecated `/api/v1/embedded/*` token paths, as a server of the embedded
    /// reference's era did (the current `/api/v1/account/applications/*` ones answer 404).
    #[arg(long)]
    pub only_deprecated_paths: bool,
    /// Refuse request fields the reference does not name (the real API ignores them).
    #[arg(long)]
    pub strict: bool,
    /// Refuse requests without `X-Organization-Id` (an account in several organizations).
    #[arg(long)]
    pub require_organization_header: bool,
    /// The tenant field of the current token paths.
    #[arg(long, value_enum, default_value_t = TenantFieldArg::WorkspaceName)]
    pub tenant_field: TenantFieldArg,
    /// Most workspaces per page, whatever `limit` asks (exercises paging).
    #[arg(long)]
    pub workspace_page_size: Option<usize>,
    /// Requests per hour for the organization, then 429 with `Retry-After` (no quota by default).
    #[arg(long)]
    pub hourly_quota: Option<u64>,
    /// Check every answer against the reference's response schemas (500 on a mismatch).
    #[arg(long)]
    pub check_responses: bool,
    /// More connector specifications: one JSON file per connector, in the connector registry's
    /// shape (`sourceDefinitionId`/`destinationDefinitionId`, `name`, `spec.connectionSpecification`).
    #[arg(long)]
    pub connectors_dir: Option<std::path::PathBuf>,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum ErrorShapeArg {
    Current,
    Fastapi,
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum TenantFieldArg {
    WorkspaceName,
    CustomerName,
    ExternalUserId,
}

impl AirbyteSimArgs {
    fn modes(&self) -> Modes {
        Modes {
            error_shape: match self.error_shape {
                ErrorShapeArg::Current => ErrorShape::Current,
                ErrorShapeArg::Fastapi => ErrorShape::FastApi,
            },
            auth_failure: if self.auth_failure_status == "401" {
                AuthFailure::Unauthorized
            } else {
                AuthFailure::Forbidden
            },
            deprecated_paths: !self.without_deprecated_paths,
            current_paths: !self.only_deprecated_paths,
            strict: self.strict,
            organization_header_required: self.require_organization_header,
            tenant_field: match self.tenant_field {
                TenantFieldArg::WorkspaceName => TenantField::WorkspaceName,
                TenantFieldArg::CustomerName => TenantField::CustomerName,
                TenantFieldArg::ExternalUserId => TenantField::ExternalUserId,
            },
            workspace_page_size: self.workspace_page_size,
            hourly_quota: self.hourly_quota,
            check_responses: self.check_responses,
            connectors_dir: self.connectors_dir.clone(),
        }
    }
}

pub async fn run(args: AirbyteSimArgs) -> super::Outcome {
    let modes = args.modes();
    let config = SimConfig {
        modes,
        organization_id: args.organization_id.to_string(),
        client_id: args.client_id,
        client_secret: args.client_secret,
        more_organizations: args.organizations,
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
