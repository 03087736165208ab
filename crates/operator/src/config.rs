//! Operator settings: flags, each also read from an `AIRBYTE_*` environment variable, and the
//! organization credentials from the environment. Validation happens here so that a missing
//! setting stops the operator at start with one line naming it.

use std::net::SocketAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use secrecy::SecretString;
use url::Url;

use airbyte_client::{BearerToken, DEFAULT_API_URL, OrganizationCredentials};

/// Who may name which Airbyte workspace.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum WorkspaceNamePolicy {
    /// A workspace name must start with `<namespace>.` (unless the namespace is labelled
    /// `embedded.airbyte.ai/workspace-name-policy=any`).
    #[default]
    Namespaced,
    /// Any name (platform admins adopting existing workspaces).
    Any,
}

/// `airbyte-embedded-operator run` flags.
#[derive(Clone, Debug, clap::Args)]
pub struct RunArgs {
    /// Base URL of the Airbyte Embedded API.
    #[arg(long, env = "AIRBYTE_API_URL", default_value = DEFAULT_API_URL)]
    pub api_url: Url,
    /// The Airbyte organization of objects without an organizationRef, when no
    /// ClusterAirbyteOrganization named `default` exists (that object wins). With it, the
    /// credentials come from the environment. Optional: organizations can all be resources.
    #[arg(long, env = "AIRBYTE_ORGANIZATION_ID")]
    pub organization_id: Option<String>,
    /// Watch only this namespace for EmbeddedWorkspaces and EmbeddedSources (default: all).
    #[arg(long, env = "AIRBYTE_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
    /// Reconcile only objects matching this label selector (to run several operators, e.g. one
    /// per Airbyte organization, in one cluster).
    #[arg(long, env = "AIRBYTE_SELECTOR")]
    pub selector: Option<String>,
    /// Namespace of the Secrets that SourceTemplates reference (default: the operator's own
    /// namespace, from POD_NAMESPACE).
    #[arg(long, env = "AIRBYTE_SECRET_NAMESPACE")]
    pub secret_namespace: Option<String>,
    /// Which workspace names an EmbeddedWorkspace may claim.
    #[arg(long, env = "AIRBYTE_WORKSPACE_NAME_POLICY", value_enum, default_value_t = WorkspaceNamePolicy::Namespaced)]
    pub workspace_name_policy: WorkspaceNamePolicy,
    /// Objects reconciled at once, per kind.
    #[arg(long, env = "AIRBYTE_CONCURRENCY", default_value_t = 16)]
    pub concurrency: u16,
    /// Most requests per second sent to Airbyte, per organization (each has its own token
    /// bucket; an organization's `spec.requestBudget` overrides it).
    #[arg(long, env = "AIRBYTE_MAX_REQUESTS_PER_SECOND", default_value_t = 50)]
    pub max_requests_per_second: u32,
    /// How often each source and template is compared with Airbyte (one read each per interval,
    /// spread evenly), as seconds.
    #[arg(long, env = "AIRBYTE_DRIFT_INTERVAL_SECONDS", default_value_t = 600)]
    pub drift_interval_seconds: u64,
    /// Address of the metrics and health endpoints (`/metrics`, `/healthz`, `/readyz`).
    #[arg(long, env = "AIRBYTE_METRICS_ADDR", default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Elect a leader on a Lease so that only one replica reconciles (the others stand by).
    #[arg(long, env = "AIRBYTE_LEADER_ELECTION", default_value_t = false)]
    pub leader_election: bool,
    /// Namespace of the leader-election Lease (default: the operator's own namespace).
    #[arg(long, env = "AIRBYTE_LEADER_ELECTION_NAMESPACE")]
    pub leader_election_namespace: Option<String>,
    /// Name of the leader-election Lease (distinct per operator instance in one cluster).
    #[arg(
        long,
        env = "AIRBYTE_LEADER_ELECTION_ID",
        default_value = "airbyte-embedded-operator-leader"
    )]
    pub leader_election_id: String,
    /// Seconds a leader holds the Lease without renewing it.
    #[arg(
        long,
        env = "AIRBYTE_LEADER_ELECTION_LEASE_SECONDS",
        default_value_t = 15
    )]
    pub leader_election_lease_seconds: u64,
    /// Allow a plain-http API URL to a host other than loopback (never in production).
    #[arg(long, env = "AIRBYTE_ALLOW_INSECURE_HTTP", default_value_t = false)]
    pub allow_insecure_http: bool,
    /// The API URLs an AirbyteOrganization (namespaced: its namespace may be a tenant's) may
    /// name, comma-separated; the operator sends that organization's Secret values there.
    /// Always allowed: `https://api.airbyte.ai` and `--api-url`. ClusterAirbyteOrganizations
    /// (the platform team's) may name any.
    #[arg(long, env = "AIRBYTE_ALLOWED_API_URLS", value_delimiter = ',')]
    pub allowed_api_urls: Vec<Url>,
}

/// Validated settings.
#[derive(Clone, Debug)]
pub struct OperatorConfig {
    /// The API of the flags' organization.
    pub api_url: Url,
    /// The flags' organization (`ClusterAirbyteOrganization/default` when no such object
    /// exists), with its credentials.
    pub organization_id: Option<String>,
    pub credentials: Option<OrganizationCredentials>,
    pub watch_namespace: Option<String>,
    pub selector: Option<String>,
    pub secret_namespace: String,
    pub workspace_name_policy: WorkspaceNamePolicy,
    pub concurrency: u16,
    pub max_requests_per_second: Option<NonZeroU32>,
    pub drift_interval: Duration,
    pub metrics_addr: SocketAddr,
    pub leader_election: Option<LeaderElection>,
    pub allow_insecure_http: bool,
    /// The API URLs an AirbyteOrganization may name (always: the default API and `api_url`).
    pub allowed_api_urls: Vec<Url>,
    /// This replica's name (POD_NAME, else host name and a random suffix).
    pub identity: String,
}

/// Leader-election settings.
#[derive(Clone, Debug)]
pub struct LeaderElection {
    pub namespace: String,
    pub lease_name: String,
    pub lease_seconds: u64,
}

/// The organization credentials from the environment: client credentials, or a ready token.
fn credentials_from_env() -> Result<Option<OrganizationCredentials>, String> {
    match (
        env("AIRBYTE_CLIENT_ID"),
        env("AIRBYTE_CLIENT_SECRET"),
        env("AIRBYTE_ACCESS_TOKEN"),
    ) {
        (Some(client_id), Some(secret), _) => {
            Ok(Some(OrganizationCredentials::ClientCredentials {
                client_id,
                client_secret: SecretString::from(secret),
            }))
        }
        (None, None, Some(token)) => Ok(Some(OrganizationCredentials::AccessToken(
            BearerToken::new(token),
        ))),
        (Some(_), None, _) => {
            Err("AIRBYTE_CLIENT_ID is set but AIRBYTE_CLIENT_SECRET is missing".into())
        }
        (None, Some(_), _) => {
            Err("AIRBYTE_CLIENT_SECRET is set but AIRBYTE_CLIENT_ID is missing".into())
        }
        (None, None, None) => Ok(None),
    }
}

/// Reads an environment variable, treating an empty value as unset.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// The flags' organization: its id and credentials together, or neither.
fn flags_organization(
    organization_id: Option<String>,
) -> Result<(Option<String>, Option<OrganizationCredentials>), String> {
    let organization_id = organization_id.filter(|v| !v.trim().is_empty());
    let credentials = credentials_from_env()?;
    match (&organization_id, &credentials) {
        (Some(id), Some(_)) => {
            uuid::Uuid::parse_str(id)
                .map_err(|_| format!("--organization-id {id:?} is not a UUID"))?;
        }
        (Some(_), None) => return Err("--organization-id is set but the credentials are missing: set AIRBYTE_CLIENT_ID and AIRBYTE_CLIENT_SECRET, or AIRBYTE_ACCESS_TOKEN".into()),
        (None, Some(_)) => return Err("Airbyte credentials are set but --organization-id (AIRBYTE_ORGANIZATION_ID) is missing".into()),
        (None, None) => {}
    }
    Ok((organization_id, credentials))
}

impl RunArgs {
    /// Checks the flags and reads the credentials; the error is one line naming what is missing.
    pub fn into_config(self) -> Result<OperatorConfig, String> {
        let (organization_id, credentials) = flags_organization(self.organization_id.clone())?;
        airbyte_client::client::check_url(&self.api_url, self.allow_insecure_http)
            .map_err(|e| format!("--api-url: {e}"))?;
        if self.concurrency == 0 {
            return Err("--concurrency must be at least 1".into());
        }
        if self.drift_interval_seconds < 10 {
            return Err("--drift-interval-seconds must be at least 10".into());
        }
        let own_namespace =
            env("POD_NAMESPACE").unwrap_or_else(|| "airbyte-embedded-operator".into());
        Ok(OperatorConfig {
            api_url: self.api_url.clone(),
            organization_id,
            credentials,
            watch_namespace: self.watch_namespace,
            selector: self.selector,
            secret_namespace: self
                .secret_namespace
                .clone()
                .unwrap_or_else(|| own_namespace.clone()),
            workspace_name_policy: self.workspace_name_policy,
            concurrency: self.concurrency,
            max_requests_per_second: NonZeroU32::new(self.max_requests_per_second),
            drift_interval: Duration::from_secs(self.drift_interval_seconds),
            metrics_addr: self.metrics_addr,
            leader_election: self.leader_election.then(|| LeaderElection {
                namespace: self
                    .leader_election_namespace
                    .clone()
                    .unwrap_or_else(|| own_namespace.clone()),
                lease_name: self.leader_election_id.clone(),
                lease_seconds: self.leader_election_lease_seconds.max(5),
            }),
            allow_insecure_http: self.allow_insecure_http,
            allowed_api_urls: {
                let mut allowed = self.allowed_api_urls.clone();
                allowed.push(self.api_url.clone());
                allowed
            },
            identity: env("POD_NAME").unwrap_or_else(|| {
                let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
                format!(
                    "{}-{}",
                    host.trim(),
                    &uuid::Uuid::new_v4().simple().to_string()[..8]
                )
            }),
        })
    }
}
