//! The simulator's in-memory world: its settings, what the simulated organization holds, the
//! tokens it issued, and who a request acts as.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use serde::Serialize;
use serde_json::{Map, Value};

use crate::auth::{self, SCOPED_TOKEN_TYPE, Signer};
use crate::catalog::{Catalog, FAKER_DEFINITION_ID};
use crate::errors::{AuthFailure, ErrorShape, SimError};
use crate::faults::{FaultRule, Quota, Recorder};
use crate::reference::{Reference, Strictness};

/// Airbyte's US region, the default when a workspace is created without one.
pub const REGION_US: &str = "645a183f-b12b-4c6e-8ad3-99e165603450";

/// Airbyte's standard template, offered to every organization (it has no organization).
pub const STANDARD_FAKER_TEMPLATE_ID: &str = "00000000-0000-4000-8000-00000000fa4e";

/// The tenant field of the current token paths: the reference has named it differently over
/// time (`workspace_name` in the newest guide and the embedded API, `customer_name` in the Agent
/// Engine reference, `external_user_id` before that).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum TenantField {
    #[default]
    WorkspaceName,
    CustomerName,
    ExternalUserId,
}

impl TenantField {
    pub fn as_str(self) -> &'static str {
        match self {
            TenantField::WorkspaceName => "workspace_name",
            TenantField::CustomerName => "customer_name",
            TenantField::ExternalUserId => "external_user_id",
        }
    }
}

/// How the simulator answers where Airbyte's documents leave room (see `docs/simulator.md`).
#[derive(Clone, Debug)]
pub struct Modes {
    pub error_shape: ErrorShape,
    pub auth_failure: AuthFailure,
    /// Serve the deprecated `/api/v1/embedded/*` token paths (with a `Deprecation` header).
    pub deprecated_paths: bool,
    /// Serve the current token paths; off, the simulator is a server of the embedded reference's
    /// era, which had only the `/api/v1/embedded/*` ones.
    pub current_paths: bool,
    /// Refuse request fields the reference does not name (the real API ignores them).
    pub strict: bool,
    /// Refuse requests without `X-Organization-Id` (an account in several organizations).
    pub organization_header_required: bool,
    pub tenant_field: TenantField,
    /// Most workspaces on one page, whatever `limit` asks (exercises paging).
    pub workspace_page_size: Option<usize>,
    /// Requests per hour for the organization; then 429 with `Retry-After`.
    pub hourly_quota: Option<u64>,
    /// Check every 200 answer against the reference's response schema (a mismatch is a 500 and
    /// an error in the log): proves the simulator answers as documented.
    pub check_responses: bool,
    /// More connector specifications, one JSON file per connector.
    pub connectors_dir: Option<PathBuf>,
}

impl Default for Modes {
    fn default() -> Self {
        Modes {
            error_shape: ErrorShape::Current,
            auth_failure: AuthFailure::Forbidden,
            deprecated_paths: true,
            current_paths: true,
            strict: false,
            organization_header_required: false,
            tenant_field: TenantField::WorkspaceName,
            workspace_page_size: None,
            hourly_quota: None,
            check_responses: false,
            connectors_dir: None,
        }
    }
}

impl Modes {
    /// What the project's own tests use: unknown fields refused, answers checked.
    pub fn strict() -> Modes {
        Modes {
            strict: true,
            check_responses: true,
            ..Modes::default()
        }
    }
}

/// Another organization the simulator serves, besides the first.
#[derive(Clone, Debug)]
pub struct OrganizationConfig {
    pub organization_id: String,
    pub client_id: String,
    pub client_secret: String,
}

impl OrganizationConfig {
    /// A new organization with a random id and secret.
    pub fn random(client_id: &str) -> OrganizationConfig {
        OrganizationConfig {
            organization_id: uuid::Uuid::new_v4().to_string(),
            client_id: client_id.to_string(),
            client_secret: uuid::Uuid::new_v4().to_string(),
        }
    }
}

/// Settings of the simulator: its first organization, the others, lifetimes and modes.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub organization_id: String,
    pub client_id: String,
    pub client_secret: String,
    /// More organizations in the same process, each with its own credentials, workspaces,
    /// templates and tokens.
    pub more_organizations: Vec<OrganizationConfig>,
    /// Lifetime of scoped and widget tokens (Airbyte: 20 minutes).
    pub scoped_token_ttl: Duration,
    /// Lifetime of organization tokens (Airbyte Embedded docs: 15 minutes).
    pub organization_token_ttl: Duration,
    pub modes: Modes,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            organization_id: uuid::Uuid::new_v4().to_string(),
            client_id: "sim-client".into(),
            client_secret: uuid::Uuid::new_v4().to_string(),
            more_organizations: Vec::new(),
            scoped_token_ttl: Duration::from_secs(20 * 60),
            organization_token_ttl: Duration::from_secs(15 * 60),
            modes: Modes::default(),
        }
    }
}

/// A workspace, with the region it was created in (not part of the API's answers).
#[derive(Clone, Debug, Serialize)]
pub struct WorkspaceRecord {
    pub id: String,
    pub name: String,
    pub status: String,
    pub region_id: String,
    pub created_at: String,
    pub updated_at: String,
    /// Creation order, the basis of cursor paging.
    pub sequence: u64,
}

/// A source template. `organization_id: None` is one of Airbyte's standard templates.
#[derive(Clone, Debug, Serialize)]
pub struct TemplateRecord {
    pub id: String,
    pub name: String,
    pub definition_id: String,
    pub organization_id: Option<String>,
    pub partial_default_config: Map<String, Value>,
    pub customization: Option<Value>,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A source, unmasked: its own configuration and the template defaults it was made with (a
/// template change reaches it only when propagated).
#[derive(Clone, Debug, Serialize)]
pub struct SourceRecord {
    pub id: String,
    pub name: String,
    pub workspace_id: String,
    pub template_id: String,
    pub definition_id: String,
    pub own_config: Map<String, Value>,
    pub defaults: Map<String, Value>,
    pub connection_template_tags: Vec<String>,
    pub connection_template_tags_mode: String,
    pub created_at: String,
    pub updated_at: String,
}

impl SourceRecord {
    /// The configuration the source runs with: its template defaults with its own values over
    /// them (unmasked).
    pub fn config(&self) -> Map<String, Value> {
        crate::catalog::deep_merge(&self.defaults, &self.own_config)
    }
}

/// A connection template, unmasked.
#[derive(Clone, Debug, Serialize)]
pub struct ConnectionTemplateRecord {
    pub id: String,
    pub destination_name: String,
    pub destination_definition_id: String,
    pub destination_config: Map<String, Value>,
    pub cron_expression: Option<String>,
    pub non_breaking_changes_preference: String,
    pub sync_on_create: bool,
    pub data_hosting_type: String,
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A connection Airbyte made for a new source from a matching connection template.
#[derive(Clone, Debug, Serialize)]
pub struct ConnectionRecord {
    pub id: String,
    pub source_id: String,
    pub workspace_id: String,
    pub connection_template_id: String,
    pub created_at: String,
}

#[derive(Clone, Debug, Serialize)]
pub struct TagRecord {
    pub id: String,
    pub name: String,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Default, Serialize)]
pub struct World {
    #[serde(skip)]
    next_sequence: u64,
    pub workspaces: BTreeMap<String, WorkspaceRecord>,
    pub source_templates: BTreeMap<String, TemplateRecord>,
    pub connection_templates: BTreeMap<String, ConnectionTemplateRecord>,
    pub tags: BTreeMap<String, TagRecord>,
    pub sources: BTreeMap<String, SourceRecord>,
    pub connections: BTreeMap<String, ConnectionRecord>,
}

impl World {
    pub fn next_sequence(&mut self) -> u64 {
        self.next_sequence += 1;
        self.next_sequence
    }

    /// Workspaces of exactly this name, oldest first.
    pub fn workspaces_named(&self, name: &str) -> Vec<&WorkspaceRecord> {
        let mut found: Vec<&WorkspaceRecord> = self
            .workspaces
            .values()
            .filter(|w| w.name == name)
            .collect();
        found.sort_by_key(|w| w.sequence);
        found
    }

    /// Adds a workspace (minting creates one on first use of a name).
    pub fn add_workspace(&mut self, name: &str, region_id: &str) -> String {
        let id = uuid::Uuid::new_v4().to_string();
        let sequence = self.next_sequence();
        let now = timestamp();
        self.workspaces.insert(
            id.clone(),
            WorkspaceRecord {
                id: id.clone(),
                name: name.to_string(),
                status: "active".into(),
                region_id: region_id.to_string(),
                created_at: now.clone(),
                updated_at: now,
                sequence,
            },
        );
        id
    }

    /// Registers tag names the organization has not used yet (a tag added to a template exists).
    pub fn ensure_tags(&mut self, names: &[String]) {
        for name in names {
            if !self.tags.contains_key(name) {
                let now = timestamp();
                self.tags.insert(
                    name.clone(),
                    TagRecord {
                        id: uuid::Uuid::new_v4().to_string(),
                        name: name.clone(),
                        created_at: now.clone(),
                        updated_at: now,
                    },
                );
            }
        }
    }
}

/// One simulated organization: its credentials, what it holds, and the generation its tokens
/// carry (revoking bumps it). Nothing of one organization is visible to another's tokens.
pub struct Organization {
    pub id: String,
    pub client_id: String,
    client_secret: Mutex<String>,
    world: Mutex<World>,
    generation: AtomicU64,
}

impl std::fmt::Debug for Organization {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Organization")
            .field("id", &self.id)
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

impl Organization {
    fn new(config: &OrganizationConfig) -> Organization {
        let mut world = World::default();
        let now = timestamp();
        world.source_templates.insert(
            STANDARD_FAKER_TEMPLATE_ID.into(),
            TemplateRecord {
                id: STANDARD_FAKER_TEMPLATE_ID.into(),
                name: "Faker".into(),
                definition_id: FAKER_DEFINITION_ID.into(),
                organization_id: None,
                partial_default_config: Map::new(),
                customization: None,
                tags: vec!["standard".into()],
                created_at: now.clone(),
                updated_at: now,
            },
        );
        Organization {
            id: config.organization_id.to_lowercase(),
            client_id: config.client_id.clone(),
            client_secret: Mutex::new(config.client_secret.clone()),
            world: Mutex::new(world),
            generation: AtomicU64::new(0),
        }
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        lock(&self.world)
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Every token of this organization issued so far stops working.
    pub fn revoke_tokens(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    pub fn client_secret(&self) -> String {
        lock(&self.client_secret).clone()
    }

    /// A new client secret: the old one is refused from now on.
    pub fn set_client_secret(&self, secret: &str) {
        *lock(&self.client_secret) = secret.to_string();
    }
}

/// Who a request acts as.
#[derive(Clone, Debug)]
pub enum Caller {
    Anonymous,
    Organization(Arc<Organization>),
    Workspace(Arc<Organization>, String),
}

impl Caller {
    /// The organization the caller acts for.
    pub fn organization(&self) -> Option<&Arc<Organization>> {
        match self {
            Caller::Anonymous => None,
            Caller::Organization(organization) | Caller::Workspace(organization, _) => {
                Some(organization)
            }
        }
    }
}

/// Everything a running simulator holds.
pub struct SimState {
    pub config: SimConfig,
    pub reference: Reference,
    pub signer: Signer,
    pub catalog: Catalog,
    /// The first organization (the one `config` names).
    primary: Arc<Organization>,
    /// The others, in the order they were added.
    others: RwLock<Vec<Arc<Organization>>>,
    /// Seconds added to the wall clock: moving it forward expires tokens already handed out.
    clock_offset: AtomicI64,
    ttl: Mutex<(Duration, Duration)>,
    pub faults: Mutex<Vec<FaultRule>>,
    pub quota: Quota,
    pub recorder: Recorder,
    pub started: Instant,
    /// Every token handed out, so a test can search logs and events for leaks (test surface).
    issued: Mutex<Vec<String>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl SimState {
    /// A fresh organization; fails only when the connector folder cannot be read.
    pub fn new(config: SimConfig) -> Result<SimState, String> {
        let ttl = (config.scoped_token_ttl, config.organization_token_ttl);
        let catalog = Catalog::load(config.modes.connectors_dir.as_deref())?;
        let reference = Reference::load(&Strictness {
            refuse_unknown_fields: config.modes.strict,
            tenant_field: config.modes.tenant_field.as_str().to_string(),
        });
        let primary = Arc::new(Organization::new(&OrganizationConfig {
            organization_id: config.organization_id.clone(),
            client_id: config.client_id.clone(),
            client_secret: config.client_secret.clone(),
        }));
        let state = SimState {
            quota: Quota::new(config.modes.hourly_quota),
            config,
            reference,
            signer: Signer::random(),
            catalog,
            primary,
            others: RwLock::default(),
            clock_offset: AtomicI64::new(0),
            ttl: Mutex::new(ttl),
            faults: Mutex::new(Vec::new()),
            recorder: Recorder::default(),
            started: Instant::now(),
            issued: Mutex::new(Vec::new()),
        };
        for more in state.config.more_organizations.clone() {
            state.add_organization(&more)?;
        }
        Ok(state)
    }

    /// The first organization's world.
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.primary.world()
    }

    /// The first organization.
    pub fn primary(&self) -> &Arc<Organization> {
        &self.primary
    }

    /// Every organization, the first first.
    pub fn organizations(&self) -> Vec<Arc<Organization>> {
        let mut all = vec![self.primary.clone()];
        all.extend(
            self.others
                .read()
                .unwrap_or_else(|p| p.into_inner())
                .iter()
                .cloned(),
        );
        all
    }

    /// The organization of this id.
    pub fn organization(&self, id: &str) -> Option<Arc<Organization>> {
        self.organizations()
            .into_iter()
            .find(|o| o.id.eq_ignore_ascii_case(id))
    }

    /// The organization of this client id.
    pub fn organization_by_client(&self, client_id: &str) -> Option<Arc<Organization>> {
        self.organizations()
            .into_iter()
            .find(|o| o.client_id == client_id)
    }

    /// Adds an organization; its id and client id must be new.
    pub fn add_organization(
        &self,
        config: &OrganizationConfig,
    ) -> Result<Arc<Organization>, String> {
        let taken = self.organizations().into_iter().any(|o| {
            o.id.eq_ignore_ascii_case(&config.organization_id) || o.client_id == config.client_id
        });
        if taken {
            return Err(format!(
                "an organization with id {} or client id {} exists already",
                config.organization_id, config.client_id
            ));
        }
        let organization = Arc::new(Organization::new(config));
        self.others
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .push(organization.clone());
        Ok(organization)
    }

    pub fn modes(&self) -> &Modes {
        &self.config.modes
    }

    /// The simulator's clock, in Unix seconds.
    pub fn now(&self) -> u64 {
        auth::unix_now().saturating_add_signed(self.clock_offset.load(Ordering::SeqCst))
    }

    pub fn set_clock_offset(&self, seconds: i64) {
        self.clock_offset.store(seconds, Ordering::SeqCst);
    }

    /// Every token issued so far, of every organization, stops working.
    pub fn revoke_all_tokens(&self) {
        for organization in self.organizations() {
            organization.revoke_tokens();
        }
    }

    /// (scoped, organization) token lifetimes.
    pub fn token_ttls(&self) -> (Duration, Duration) {
        *lock(&self.ttl)
    }

    pub fn set_token_ttls(&self, scoped: Option<Duration>, organization: Option<Duration>) {
        let mut ttl = lock(&self.ttl);
        if let Some(scoped) = scoped {
            ttl.0 = scoped;
        }
        if let Some(organization) = organization {
            ttl.1 = organization;
        }
    }

    pub fn issue_scoped_token(&self, organization: &Organization, workspace_id: &str) -> String {
        let token = self.signer.issue(
            &organization.id,
            Some(workspace_id),
            self.token_ttls().0,
            organization.generation(),
            self.now(),
        );
        self.remember(&token)
    }

    pub fn issue_organization_token(&self, organization: &Organization) -> String {
        let token = self.signer.issue(
            &organization.id,
            None,
            self.token_ttls().1,
            organization.generation(),
            self.now(),
        );
        self.remember(&token)
    }

    /// Keeps the newest 100,000 tokens issued (a leak search needs them; memory stays bounded).
    pub fn remember(&self, token: &str) -> String {
        let mut issued = lock(&self.issued);
        if issued.len() >= 100_000 {
            issued.drain(..10_000);
        }
        issued.push(token.to_string());
        token.to_string()
    }

    /// Tokens handed out (scoped, organization and widget), newest last.
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.issued).clone()
    }

    /// Who the request's bearer token acts as (`Anonymous` without a usable token).
    pub fn caller(&self, headers: &HeaderMap) -> Caller {
        let Some(token) = auth::bearer(headers) else {
            return Caller::Anonymous;
        };
        let Some(organization) = self
            .signer
            .peek_organization(token)
            .and_then(|id| self.organization(&id))
        else {
            return Caller::Anonymous;
        };
        let Some(claims) = self.signer.verify(
            token,
            &organization.id,
            organization.generation(),
            self.now(),
        ) else {
            return Caller::Anonymous;
        };
        match (claims.typ.as_str(), claims.workspace_scope) {
            (SCOPED_TOKEN_TYPE, Some(scope))
                if organization
                    .world()
                    .workspaces
                    .contains_key(&scope.workspace_id) =>
            {
                Caller::Workspace(organization, scope.workspace_id)
            }
            (SCOPED_TOKEN_TYPE, _) => Caller::Anonymous,
            _ => Caller::Organization(organization),
        }
    }

    /// `X-Organization-Id`: another organization is refused; a missing one only when the
    /// simulated account belongs to several organizations.
    pub fn check_organization_header(
        &self,
        headers: &HeaderMap,
        caller: &Caller,
    ) -> Result<(), SimError> {
        let acting = caller
            .organization()
            .map_or(self.config.organization_id.as_str(), |o| o.id.as_str());
        match headers.get("x-organization-id").map(|v| v.to_str()) {
            None if self.modes().organization_header_required => Err(SimError::Status {
                status: axum::http::StatusCode::BAD_REQUEST,
                message:
                    "X-Organization-Id is required: this account belongs to several organizations"
                        .into(),
                retry_after: None,
            }),
            None => Ok(()),
            Some(Ok(value)) if value.eq_ignore_ascii_case(acting) => Ok(()),
            Some(_) => Err(SimError::forbidden(
                "X-Organization-Id names an organization this account cannot act for",
            )),
        }
    }
}

/// Now, as the API writes timestamps (RFC 3339, UTC).
pub fn timestamp() -> String {
    jiff::Timestamp::now().to_string()
}

/// A stable bucket of tags by name (`tags` may arrive with repeats).
pub fn dedup(tags: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags {
        if !out.contains(&tag) {
            out.push(tag);
        }
    }
    out
}

/// `any`: at least one wanted tag; `all`: every wanted tag; no wanted tags: everything matches.
pub fn tags_match(have: &[String], wanted: &[String], mode: &str) -> bool {
    if wanted.is_empty() {
        return true;
    }
    if mode == "any" {
        wanted.iter().any(|tag| have.contains(tag))
    } else {
        wanted.iter().all(|tag| have.contains(tag))
    }
}

/// Per-request values the pipeline extracted and checked before the handler runs.
#[derive(Clone, Debug, Default)]
pub struct Input {
    pub body: Value,
    pub query: BTreeMap<String, Vec<String>>,
    /// The request came in on a deprecated path.
    pub deprecated_path: bool,
}

impl Input {
    pub fn query_one(&self, name: &str) -> Option<&str> {
        self.query.get(name)?.first().map(String::as_str)
    }

    pub fn query_all(&self, name: &str) -> &[String] {
        self.query.get(name).map(Vec::as_slice).unwrap_or_default()
    }

    pub fn str(&self, field: &str) -> Option<&str> {
        self.body.get(field)?.as_str()
    }

    pub fn object(&self, field: &str) -> Option<&Map<String, Value>> {
        self.body.get(field)?.as_object()
    }

    pub fn strings(&self, field: &str) -> Vec<String> {
        self.body
            .get(field)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tag_modes() {
        let have = vec!["a".to_string(), "b".to_string()];
        let cases = [
            (vec![], "any", true),
            (vec!["a"], "any", true),
            (vec!["a", "c"], "any", true),
            (vec!["a", "c"], "all", false),
            (vec!["a", "b"], "all", true),
            (vec!["c"], "any", false),
        ];
        for (wanted, mode, expected) in cases {
            let wanted: Vec<String> = wanted.into_iter().map(String::from).collect();
            assert_eq!(
                tags_match(&have, &wanted, mode),
                expected,
                "{wanted:?} {mode}"
            );
        }
    }
}
