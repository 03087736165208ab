//! What an organization's plan is decided from: its settings, its credentials Secret (read only
//! when the cached version differs from the one its client was built from), who uses it (from
//! the caches, counted at most every [`COUNT_INTERVAL`] unless it is being deleted), and what
//! the registry holds for it.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, ResourceExt};
use secrecy::SecretString;

use super::registry::Organization;
use super::{OrganizationKey, OrganizationObject, users};
use crate::controllers::context::Context;
use crate::controllers::error::Error;
use crate::controllers::memory::Users;
use crate::controllers::secret_values::{key_text, version_of};
use airbyte_client::AirbyteApi;
use embedded_crds::RECONCILE_REQUESTED_AT;
use embedded_crds::conditions::Reason;

/// Users are counted at most this often while the organization is not being deleted (a rollout
/// of thousands of tenants wakes it for each).
pub const COUNT_INTERVAL: Duration = Duration::from_secs(5);
/// How many users a condition names.
pub const USERS_SHOWN: usize = 3;

/// Application credentials read from the Secret.
pub struct Credentials {
    pub client_id: String,
    pub client_secret: SecretString,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("client_id", &self.client_id)
            .finish_non_exhaustive()
    }
}

/// The credentials Secret, as far as the reconcile needs it.
#[derive(Debug)]
pub enum CredentialsState {
    /// The version the current client was built from: nothing to read.
    Unchanged,
    Read(Credentials),
    Problem {
        reason: Reason,
        message: String,
    },
}

pub struct Observation<A> {
    pub key: OrganizationKey,
    pub secret: String,
    /// `uid@resourceVersion` of the credentials Secret, when known.
    pub credentials_version: Option<String>,
    pub credentials: CredentialsState,
    pub users: Users,
    /// The users were not counted afresh: count them again after this long.
    pub recount_in: Option<Duration>,
    pub deleting: bool,
    /// An object saw Airbyte refuse the credentials since the last look.
    pub suspect: bool,
    pub requested: Option<String>,
    pub request_pending: bool,
    pub generation_changed: bool,
    /// The client built last time, if any.
    pub current: Option<Arc<Organization<A>>>,
}

pub async fn observe<K: OrganizationObject, A: AirbyteApi>(
    organization: &K,
    ctx: &Context<A>,
) -> Result<Observation<A>, Error> {
    let key = organization.key();
    let status = organization.status().cloned().unwrap_or_default();
    let reference = &organization.settings().credentials_secret_ref;
    let namespace = organization.secret_namespace(&ctx.config);
    let cached_version = ctx
        .stores
        .secret(&namespace, &reference.name)
        .map(|meta| credentials_version(&meta.metadata, reference));
    let current = ctx.organizations.entry(&key).and_then(|(_, _, o)| o);
    let unchanged = matches!((&current, &cached_version),
        (Some(current), Some(version)) if current.credentials_version == *version);
    let (credentials, credentials_version) = if unchanged {
        (CredentialsState::Unchanged, cached_version)
    } else {
        read_credentials(organization, ctx, &namespace).await?
    };
    let deleting = organization.meta().deletion_timestamp.is_some();
    let requested = organization
        .annotations()
        .get(RECONCILE_REQUESTED_AT)
        .cloned();
    let (users, recount_in) = count_users(organization, ctx, &key, deleting);
    Ok(Observation {
        secret: format!("{namespace}/{}", reference.name),
        credentials_version,
        credentials,
        users,
        recount_in,
        deleting,
        suspect: ctx.organizations.take_suspect(&key),
        request_pending: requested.is_some() && requested != status.last_handled_reconcile_at,
        requested,
        generation_changed: status.observed_generation != organization.meta().generation,
        current,
        key,
    })
}

/// Who uses the organization: counted afresh when due (or while it is being deleted), else
/// what the last count found.
fn count_users<K: OrganizationObject, A: AirbyteApi>(
    organization: &K,
    ctx: &Context<A>,
    key: &OrganizationKey,
    deleting: bool,
) -> (Users, Option<Duration>) {
    let uid = organization.uid().unwrap_or_default();
    let now = ctx.clock.instant();
    if let Some(counted) = ctx.memory.users(&uid)
        && !deleting
        && now.saturating_duration_since(counted.at) < COUNT_INTERVAL
    {
        let left = COUNT_INTERVAL - now.saturating_duration_since(counted.at);
        return (counted, Some(left));
    }
    let found = users::users(&ctx.stores, key);
    let counted = Users {
        at: now,
        count: found.len(),
        some: users::some(&found, USERS_SHOWN),
    };
    ctx.memory.note_users(&uid, counted.clone());
    (counted, None)
}

/// What the credentials were read from: the Secret's version and the keys read (a change of
/// either reads them again).
fn credentials_version(
    metadata: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    reference: &embedded_crds::CredentialsSecretRef,
) -> String {
    format!(
        "{}#{}#{}",
        version_of(metadata),
        reference.client_id_key(),
        reference.client_secret_key()
    )
}

/// One credential of the Secret, or what is wrong with it.
fn secret_value(secret: &Secret, namespace: &str, key: &str) -> Result<String, CredentialsState> {
    let name = secret.metadata.name.as_deref().unwrap_or_default();
    let problem = |error: Error| CredentialsState::Problem {
        reason: error.outcome("").reason(),
        message: error.to_string(),
    };
    let text = key_text(secret, namespace, name, key).map_err(problem)?;
    match text.trim() {
        "" => Err(problem(Error::InvalidConfig(format!(
            "Secret {namespace}/{name} key {key} is empty: put the credential there"
        )))),
        text => Ok(text.to_string()),
    }
}

/// Reads the client id and secret (one GET: Secret data is never cached).
async fn read_credentials<K: OrganizationObject, A: AirbyteApi>(
    organization: &K,
    ctx: &Context<A>,
    namespace: &str,
) -> Result<(CredentialsState, Option<String>), Error> {
    let reference = &organization.settings().credentials_secret_ref;
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let Some(secret) = secrets.get_opt(&reference.name).await? else {
        let problem = CredentialsState::Problem {
            reason: Reason::SecretNotFound,
            message: format!(
                "Secret {namespace}/{} not found: create it with the keys {} and {}",
                reference.name,
                reference.client_id_key(),
                reference.client_secret_key()
            ),
        };
        return Ok((problem, None));
    };
    let version = credentials_version(&secret.metadata, reference);
    let value = |key: &str| secret_value(&secret, namespace, key);
    let state = match (
        value(reference.client_id_key()),
        value(reference.client_secret_key()),
    ) {
        (Ok(client_id), Ok(secret)) => CredentialsState::Read(Credentials {
            client_id,
            client_secret: SecretString::from(secret),
        }),
        (Err(problem), _) | (_, Err(problem)) => problem,
    };
    Ok((state, Some(version)))
}
