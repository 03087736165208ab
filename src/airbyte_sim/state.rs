//! The simulator's in-memory world and the request guards every route uses.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use serde::Serialize;
use serde_json::{Map, Value};

use super::auth::{self, Principal, SCOPED_TOKEN_TYPE, Signer};
use super::catalog::{Catalog, FAKER_DEFINITION_ID};
use super::fastapi::SimError;
use super::faults::{FaultRule, Recorder};
use crate::airbyte::models::{Source, SourceTemplate, TemplateTag, Workspace};

/// Settings of one simulated organization.
#[derive(Clone, Debug)]
pub struct SimConfig {
    pub organization_id: String,
    pub client_id: String,
    pub client_secret: String,
    /// Lifetime of scoped and widget tokens (Airbyte: 20 minutes).
    pub scoped_token_ttl: Duration,
    /// Lifetime of organization tokens (Airbyte Embedded docs: 15 minutes).
    pub organization_token_ttl: Duration,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            organization_id: uuid::Uuid::new_v4().to_string(),
            client_id: "sim-client".into(),
            client_secret: uuid::Uuid::new_v4().to_string(),
            scoped_token_ttl: Duration::from_secs(20 * 60),
            organization_token_ttl: Duration::from_secs(15 * 60),
        }
    }
}

/// A workspace with what the API does not show but the simulator must remember.
#[derive(Clone, Debug, Serialize)]
pub struct WorkspaceRecord {
    #[serde(flatten)]
    pub workspace: Workspace,
    pub region_id: String,
}

/// A source with its unmasked configuration and connector.
#[derive(Clone, Debug, Serialize)]
pub struct SourceRecord {
    #[serde(flatten)]
    pub source: Source,
    pub definition_id: String,
}

#[derive(Clone, Debug, Serialize, serde::Deserialize, PartialEq)]
pub struct ConnectionTemplate {
    pub id: String,
    pub organization_id: String,
    pub destination_name: String,
    pub destination_definition_id: String,
    pub destination_config: Map<String, Value>,
    #[serde(default)]
    pub cron_expression: Option<String>,
    #[serde(default)]
    pub non_breaking_changes_preference: Option<String>,
    #[serde(default)]
    pub sync_on_create: Option<bool>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Default, Serialize)]
pub struct World {
    /// Creation order of workspaces, the basis of cursor pagination.
    #[serde(skip)]
    next_sequence: u64,
    #[serde(skip)]
    pub workspace_order: BTreeMap<u64, String>,
    pub workspaces: HashMap<String, WorkspaceRecord>,
    #[serde(skip)]
    pub workspace_by_name: HashMap<String, String>,
    pub source_templates: BTreeMap<String, SourceTemplate>,
    pub connection_templates: BTreeMap<String, ConnectionTemplate>,
    pub tags: BTreeMap<String, TemplateTag>,
    pub sources: BTreeMap<String, SourceRecord>,
}

impl World {
    pub fn next_sequence(&mut self) -> u64 {
        self.next_sequence += 1;
        self.next_sequence
    }

    /// Registers tag names the organization has not used yet (tags added to a template exist).
    pub fn ensure_tags(&mut self, organization_id: &str, names: &[String]) {
        for name in names {
            if !self.tags.contains_key(name) {
                let now = timestamp();
                self.tags.insert(
                    name.clone(),
                    TemplateTag {
                        id: uuid::Uuid::new_v4().to_string(),
                        name: name.clone(),
                        organization_id: Some(organization_id.to_string()),
                        created_at: Some(now.clone()),
                        updated_at: Some(now),
                    },
                );
            }
        }
    }
}

/// Everything a running simulator holds.
pub struct SimState {
    pub config: SimConfig,
    pub signer: Signer,
    pub catalog: Catalog,
    world: Mutex<World>,
    generation: AtomicU64,
    /// Seconds added to the wall clock: moving it forward expires tokens already handed out.
    clock_offset: AtomicI64,
    ttl: Mutex<(Duration, Duration)>,
    pub faults: Mutex<Vec<FaultRule>>,
    pub recorder: Recorder,
    pub started: Instant,
    /// Every token handed out, so a test can search logs and events for leaks (test surface).
    issued: Mutex<Vec<String>>,
}

/// Airbyte's standard template, offered to every organization (no `organization_id`).
pub const STANDARD_FAKER_TEMPLATE_ID: &str = "00000000-0000-4000-8000-00000000fa4e";

impl SimState {
    pub fn new(config: SimConfig) -> SimState {
        let ttl = (config.scoped_token_ttl, config.organization_token_ttl);
        let mut world = World::default();
        let now = timestamp();
        world.source_templates.insert(
            STANDARD_FAKER_TEMPLATE_ID.into(),
            SourceTemplate {
                id: STANDARD_FAKER_TEMPLATE_ID.into(),
                name: "Faker".into(),
                actor_definition_id: FAKER_DEFINITION_ID.into(),
                organization_id: None,
                tags: vec!["standard".into()],
                partial_default_config: Map::new(),
                customization: None,
                created_at: Some(now.clone()),
                updated_at: Some(now),
            },
        );
        SimState {
            config,
            signer: Signer::random(),
            catalog: Catalog::builtin(),
            world: Mutex::new(world),
            generation: AtomicU64::new(0),
            clock_offset: AtomicI64::new(0),
            ttl: Mutex::new(ttl),
            faults: Mutex::new(Vec::new()),
            recorder: Recorder::default(),
            started: Instant::now(),
            issued: Mutex::new(Vec::new()),
        }
    }

    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// The simulator's clock, in Unix seconds.
    pub fn now(&self) -> u64 {
        auth::unix_now().saturating_add_signed(self.clock_offset.load(Ordering::SeqCst))
    }

    pub fn set_clock_offset(&self, seconds: i64) {
        self.clock_offset.store(seconds, Ordering::SeqCst);
    }

    /// Every token issued so far stops working.
    pub fn revoke_all_tokens(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// (scoped, organization) token lifetimes.
    pub fn token_ttls(&self) -> (Duration, Duration) {
        *self.ttl.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn set_token_ttls(&self, scoped: Option<Duration>, organization: Option<Duration>) {
        let mut ttl = self.ttl.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(scoped) = scoped {
            ttl.0 = scoped;
        }
        if let Some(organization) = organization {
            ttl.1 = organization;
        }
    }

    pub fn issue_scoped_token(&self, workspace_id: &str) -> String {
        let token = self.signer.issue(
            &self.config.organization_id,
            Some(workspace_id),
            self.token_ttls().0,
            self.generation(),
            self.now(),
        );
        self.remember(&token)
    }

    pub fn issue_organization_token(&self) -> String {
        let token = self.signer.issue(
            &self.config.organization_id,
            None,
            self.token_ttls().1,
            self.generation(),
            self.now(),
        );
        self.remember(&token)
    }

    /// Keeps the newest 100,000 tokens issued (a leak search needs them; memory stays bounded).
    pub fn remember(&self, token: &str) -> String {
        let mut issued = self.issued.lock().unwrap_or_else(|p| p.into_inner());
        if issued.len() >= 100_000 {
            issued.drain(..10_000);
        }
        issued.push(token.to_string());
        token.to_string()
    }

    /// Tokens handed out (scoped, organization and widget), newest last.
    pub fn issued_tokens(&self) -> Vec<String> {
        self.issued
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn principal(&self, headers: &HeaderMap) -> Result<Principal, SimError> {
        let token = auth::bearer(headers).ok_or(SimError::Unauthorized)?;
        let claims = self.signer.verify(
            token,
            &self.config.organization_id,
            self.generation(),
            self.now(),
        )?;
        match (claims.typ.as_str(), claims.workspace_scope) {
            (SCOPED_TOKEN_TYPE, Some(scope)) => Ok(Principal::Workspace {
                workspace_id: scope.workspace_id,
            }),
            (SCOPED_TOKEN_TYPE, None) => Err(SimError::Unauthorized),
            _ => Ok(Principal::Organization),
        }
    }

    /// `X-Organization-Id`: when `required`, a missing header is a 401; a different organization is
    /// always a 403.
    fn check_organization_header(
        &self,
        headers: &HeaderMap,
        required: bool,
    ) -> Result<(), SimError> {
        match headers.get("x-organization-id").map(|v| v.to_str()) {
            None if required => Err(SimError::Unauthorized),
            None => Ok(()),
            Some(Ok(value)) if value == self.config.organization_id => Ok(()),
            Some(_) => Err(SimError::Forbidden),
        }
    }

    /// The request must carry a valid organization token (a scoped token is the wrong kind: 401).
    pub fn require_organization(
        &self,
        headers: &HeaderMap,
        organization_header_required: bool,
    ) -> Result<(), SimError> {
        match self.principal(headers)? {
            Principal::Organization => {
                self.check_organization_header(headers, organization_header_required)
            }
            Principal::Workspace { .. } => Err(SimError::Unauthorized),
        }
    }

    /// The request must carry a valid scoped token; returns its workspace.
    pub fn require_workspace(
        &self,
        headers: &HeaderMap,
        organization_header_required: bool,
    ) -> Result<String, SimError> {
        match self.principal(headers)? {
            Principal::Workspace { workspace_id } => {
                self.check_organization_header(headers, organization_header_required)?;
                if !self.world().workspaces.contains_key(&workspace_id) {
                    return Err(SimError::Forbidden);
                }
                Ok(workspace_id)
            }
            Principal::Organization => Err(SimError::Unauthorized),
        }
    }
}

pub fn timestamp() -> String {
    jiff::Timestamp::now().to_string()
}

/// Checks a region id the way the API's schema does (a UUID).
pub fn check_uuid(value: &str, loc: &[&str]) -> Result<(), SimError> {
    uuid::Uuid::parse_str(value)
        .map(|_| ())
        .map_err(|_| SimError::field(loc, "value is not a valid uuid", "type_error.uuid"))
}
