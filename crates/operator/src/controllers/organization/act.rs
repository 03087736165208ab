//! Performs an organization's plan: the in-use finalizer, the client (built anew when its
//! settings or credentials changed), one application-token request, and what the registry
//! holds for it. Thin: `plan` decided.

use std::sync::Arc;

use super::OrganizationObject;
use super::observe::Observation;
use super::plan::{Plan, Planned};
use super::registry::{Entry, Health, Organization};
use crate::controllers::context::Context;
use crate::controllers::error::Error;
use crate::controllers::lifecycle::write_metadata;
use crate::controllers::status::OwnedMetadata;
use airbyte_client::{AirbyteApi, ApiError, ApplicationToken};
use embedded_crds::conditions::{Outcome, Reason};

pub struct Applied {
    pub outcome: Outcome,
    /// The application token obtained, when one was.
    pub token: Option<ApplicationToken>,
    /// The organization was let go (deleted, unused).
    pub released: bool,
}

pub async fn act<K: OrganizationObject, A: AirbyteApi>(
    organization: &K,
    ctx: &Context<A>,
    observation: &Observation<A>,
    planned: Planned,
) -> Result<Applied, Error> {
    let mut metadata = OwnedMetadata::of(organization);
    metadata.finalizer = planned.finalizer;
    write_metadata(organization, ctx, &metadata).await?;
    let key = organization.key();
    let generation = organization.meta().generation;
    let (outcome, token, built) = match planned.plan {
        Plan::Release => {
            ctx.organizations.remove(&key);
            return Ok(Applied {
                outcome: Outcome::in_progress(Reason::Deleting, "no object uses it any more"),
                token: None,
                released: true,
            });
        }
        Plan::Stall { reason, message } => (Outcome::stalled(reason, message), None, None),
        Plan::Authenticate {
            settings,
            fingerprint,
            connect,
            fresh,
        } => {
            let built = match (connect, observation.current.clone()) {
                (false, Some(current)) => current,
                _ => match ctx.organizations.connect(&settings) {
                    Ok(airbyte) => Arc::new(Organization {
                        key: key.clone(),
                        organization_id: settings.organization_id.clone(),
                        region: region(organization),
                        airbyte,
                        fingerprint,
                        credentials: settings.credentials.clone(),
                        credentials_version: observation
                            .credentials_version
                            .clone()
                            .unwrap_or_default(),
                    }),
                    Err(error) => {
                        let outcome = Outcome::stalled(Reason::InvalidConfig, error);
                        return Ok(publish(ctx, &key, generation, outcome, None, None));
                    }
                },
            };
            let result = built.airbyte.authenticate(fresh).await;
            let (outcome, token) = judge(organization, observation, result);
            (outcome, token, Some(built))
        }
    };
    Ok(publish(ctx, &key, generation, outcome, token, built))
}

/// Records in the registry what objects may do now, and hands the outcome on.
fn publish<A>(
    ctx: &Context<A>,
    key: &super::OrganizationKey,
    generation: Option<i64>,
    outcome: Outcome,
    token: Option<ApplicationToken>,
    built: Option<Arc<Organization<A>>>,
) -> Applied
where
    A: AirbyteApi,
{
    // Airbyte away: objects keep acting as before (their own calls back off), but only with
    // the very settings and credentials that were proven, never with unchecked new ones.
    let proven = ctx
        .organizations
        .entry(key)
        .is_some_and(|(seen, health, client)| {
            health == Health::Ready
                && seen == generation
                && client
                    .zip(built.as_ref())
                    .is_some_and(|(a, b)| a.fingerprint == b.fingerprint)
        });
    let health = match &outcome {
        Outcome::Ready { .. } => Health::Ready,
        Outcome::InProgress { .. } if proven => Health::Ready,
        Outcome::InProgress { reason, message } => Health::NotReady {
            reason: *reason,
            message: message.clone(),
        },
        Outcome::Stalled { reason, message } => Health::NotReady {
            reason: *reason,
            message: message.clone(),
        },
    };
    ctx.organizations.set(
        key.clone(),
        Entry {
            generation,
            health,
            organization: built,
        },
    );
    Applied {
        outcome,
        token,
        released: false,
    }
}

/// What Airbyte's answer to the token request means for the organization.
fn judge<K: OrganizationObject, A>(
    organization: &K,
    observation: &Observation<A>,
    result: Result<ApplicationToken, ApiError>,
) -> (Outcome, Option<ApplicationToken>) {
    let declared = &organization.settings().organization_id;
    let secret = &observation.secret;
    match result {
        Ok(token) => match &token.organization_id {
            Some(issued) if !issued.eq_ignore_ascii_case(declared) => (
                Outcome::stalled(
                    Reason::OrganizationIdMismatch,
                    format!(
                        "the credentials in Secret {secret} are for Airbyte organization {issued}, not spec.organizationId {declared}: fix spec.organizationId or the Secret"
                    ),
                ),
                Some(token),
            ),
            _ => (
                Outcome::ready(
                    Reason::Authenticated,
                    format!(
                        "an application token was obtained for organization {declared} with the credentials in Secret {secret}"
                    ),
                ),
                Some(token),
            ),
        },
        Err(error) => (refused(&error, secret, organization), None),
    }
}

fn refused<K: OrganizationObject>(error: &ApiError, secret: &str, organization: &K) -> Outcome {
    let url = organization
        .settings()
        .api_url
        .as_deref()
        .unwrap_or(embedded_crds::DEFAULT_API_URL);
    match error {
        ApiError::Unauthorized { .. }
        | ApiError::Forbidden { .. }
        | ApiError::Validation { .. }
        | ApiError::Rejected { .. } => Outcome::stalled(
            Reason::CredentialsRefused,
            format!(
                "Airbyte refused the application credentials in Secret {secret} ({error}): fix the client id or secret there"
            ),
        ),
        ApiError::NotFound { .. } => Outcome::stalled(
            Reason::ApiEndpointMissing,
            format!(
                "{url} does not serve the application token endpoint ({error}): check spec.apiUrl"
            ),
        ),
        ApiError::Config(_) => Outcome::stalled(Reason::InvalidConfig, error.to_string()),
        ApiError::RateLimited { .. } => {
            Outcome::in_progress(Reason::RateLimited, format!("{error}; retrying"))
        }
        ApiError::Server { .. } | ApiError::Transport { .. } | ApiError::Decode { .. } => {
            Outcome::in_progress(
                Reason::ApiUnavailable,
                format!(
                    "could not obtain an application token from {url} ({error}); retrying: check spec.apiUrl if it lasts"
                ),
            )
        }
    }
}

/// The region id its workspaces are created in, unless they name one.
fn region<K: OrganizationObject>(organization: &K) -> Option<String> {
    let settings = organization.settings();
    settings
        .region_id
        .clone()
        .or_else(|| settings.region.map(|r| r.id().to_string()))
}
