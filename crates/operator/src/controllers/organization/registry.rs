//! The organizations the operator acts for, as the organization controller last found them:
//! per organization one Airbyte client (its own application-token cache with single-flight
//! refresh, its own request budget and fallbacks), its health, and the flag-given organization
//! that stands in for `ClusterAirbyteOrganization/default` when no such object exists.

use std::collections::{HashMap, HashSet};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, RwLock};

use url::Url;

use super::OrganizationKey;
use airbyte_client::OrganizationCredentials;
use embedded_crds::conditions::Reason;

/// Everything an Airbyte client for one organization is built from.
#[derive(Clone, Debug)]
pub struct Settings {
    pub key: OrganizationKey,
    pub organization_id: String,
    pub api_url: Url,
    pub credentials: OrganizationCredentials,
    pub requests_per_second: Option<NonZeroU32>,
    pub burst: Option<NonZeroU32>,
}

/// Builds the Airbyte client of one organization (production: an HTTP client whose metrics
/// carry the organization; tests: a fake).
pub type Connect<A> = Arc<dyn Fn(&Settings) -> Result<A, String> + Send + Sync>;

/// Whether objects may act for the organization now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Health {
    Ready,
    NotReady { reason: Reason, message: String },
}

/// An organization objects can act for.
pub struct Organization<A> {
    pub key: OrganizationKey,
    pub organization_id: String,
    /// The region of the workspaces it creates, unless a workspace names one.
    pub region: Option<String>,
    pub airbyte: A,
    /// What the client was built from (settings and the credentials Secret's version): a new
    /// value builds a new client.
    pub fingerprint: u64,
    /// The credentials, and the Secret version (`uid@resourceVersion`) they were read at
    /// (empty: from the operator's flags).
    pub credentials: OrganizationCredentials,
    pub credentials_version: String,
}

/// What the organization controller last found about one organization object.
pub struct Entry<A> {
    /// The object's generation this describes.
    pub generation: Option<i64>,
    pub health: Health,
    /// Its client, when its credentials could be read.
    pub organization: Option<Arc<Organization<A>>>,
}

pub struct Organizations<A> {
    entries: RwLock<HashMap<OrganizationKey, Entry<A>>>,
    fallback: Option<Arc<Organization<A>>>,
    connect: Connect<A>,
    suspects: Mutex<HashSet<OrganizationKey>>,
}

impl<A> Organizations<A> {
    /// `fallback`: the organization of the operator's flags, if any.
    pub fn new(connect: Connect<A>, fallback: Option<Arc<Organization<A>>>) -> Self {
        Organizations {
            entries: RwLock::default(),
            fallback,
            connect,
            suspects: Mutex::default(),
        }
    }

    /// The flag-given organization.
    pub fn fallback(&self) -> Option<Arc<Organization<A>>> {
        self.fallback.clone()
    }

    /// What is known of an organization object: the generation, its health, its client.
    pub fn entry(
        &self,
        key: &OrganizationKey,
    ) -> Option<(Option<i64>, Health, Option<Arc<Organization<A>>>)> {
        let entries = self.entries.read().unwrap_or_else(|p| p.into_inner());
        let entry = entries.get(key)?;
        Some((
            entry.generation,
            entry.health.clone(),
            entry.organization.clone(),
        ))
    }

    pub fn set(&self, key: OrganizationKey, entry: Entry<A>) {
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, entry);
    }

    pub fn remove(&self, key: &OrganizationKey) {
        self.entries
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key);
        self.take_suspect(key);
    }

    /// Builds a client for `settings`.
    pub fn connect(&self, settings: &Settings) -> Result<A, String> {
        (self.connect)(settings)
    }

    /// An object saw Airbyte refuse the organization's credentials: the organization checks
    /// them afresh on its next reconcile.
    pub fn mark_suspect(&self, key: &OrganizationKey) {
        self.suspects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key.clone());
    }

    /// Whether an object reported a refusal since the last look; clears the report.
    pub fn take_suspect(&self, key: &OrganizationKey) -> bool {
        self.suspects
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(key)
    }
}
