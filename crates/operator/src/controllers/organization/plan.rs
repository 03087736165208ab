//! What to do about an organization: pure functions of its settings and what was observed.

use std::num::NonZeroU32;

use secrecy::ExposeSecret;
use url::Url;

use super::observe::{CredentialsState, Observation};
use super::registry::Settings;
use crate::controllers::wiring::hash_of;
use airbyte_client::OrganizationCredentials;
use embedded_crds::conditions::Reason;
use embedded_crds::{DEFAULT_API_URL, OrganizationSettings};

/// What the operator-wide flags add to an organization's own settings.
#[derive(Clone, Copy, Debug)]
pub struct Defaults {
    pub allow_insecure_http: bool,
    pub requests_per_second: Option<NonZeroU32>,
}

#[derive(Debug)]
pub enum Plan {
    /// Being deleted and nobody uses it: let it go.
    Release,
    /// Something must be fixed before anything is sent.
    Stall { reason: Reason, message: String },
    /// Obtain an application token with the credentials (`fresh`: a new one); `connect`: build
    /// a new client from `settings` first.
    Authenticate {
        settings: Box<Settings>,
        fingerprint: u64,
        connect: bool,
        fresh: bool,
    },
}

#[derive(Debug)]
pub struct Planned {
    pub plan: Plan,
    /// The in-use finalizer: held while any object uses the organization.
    pub finalizer: bool,
}

pub fn plan<A>(
    spec: &OrganizationSettings,
    observation: &Observation<A>,
    defaults: Defaults,
) -> Planned {
    let finalizer = observation.users.count > 0;
    let plan = if observation.deleting && !finalizer {
        Plan::Release
    } else {
        match settings(spec, observation, defaults) {
            Ok((settings, fingerprint)) => {
                let connect = observation
                    .current
                    .as_ref()
                    .is_none_or(|current| current.fingerprint != fingerprint);
                Plan::Authenticate {
                    settings: Box::new(settings),
                    fingerprint,
                    connect,
                    fresh: connect
                        || observation.suspect
                        || observation.request_pending
                        || observation.generation_changed,
                }
            }
            Err((reason, message)) => Plan::Stall { reason, message },
        }
    };
    Planned { plan, finalizer }
}

/// The client's settings, and what they are built from in one number.
fn settings<A>(
    spec: &OrganizationSettings,
    observation: &Observation<A>,
    defaults: Defaults,
) -> Result<(Settings, u64), (Reason, String)> {
    let credentials = match &observation.credentials {
        CredentialsState::Problem { reason, message } => return Err((*reason, message.clone())),
        CredentialsState::Read(read) => OrganizationCredentials::ClientCredentials {
            client_id: read.client_id.clone(),
            client_secret: read.client_secret.clone(),
        },
        CredentialsState::Unchanged => match &observation.current {
            Some(current) => current.credentials.clone(),
            None => {
                return Err((
                    Reason::SecretNotFound,
                    format!("Secret {} could not be read", observation.secret),
                ));
            }
        },
    };
    let api_url = api_url(spec.api_url.as_deref(), defaults.allow_insecure_http)?;
    let budget = spec.request_budget.as_ref();
    let requests_per_second = budget
        .and_then(|b| NonZeroU32::new(b.requests_per_second))
        .or(defaults.requests_per_second);
    let burst = budget.and_then(|b| b.burst).and_then(NonZeroU32::new);
    let client_id = match &credentials {
        OrganizationCredentials::ClientCredentials { client_id, .. } => client_id.clone(),
        OrganizationCredentials::AccessToken(token) => token.expose().to_string(),
    };
    let secret_hash = match &credentials {
        OrganizationCredentials::ClientCredentials { client_secret, .. } => {
            hash_of(client_secret.expose_secret())
        }
        OrganizationCredentials::AccessToken(_) => 0,
    };
    let fingerprint = hash_of((
        spec.organization_id.to_lowercase(),
        api_url.as_str(),
        requests_per_second,
        burst,
        client_id,
        secret_hash,
    ));
    let settings = Settings {
        key: observation.key.clone(),
        organization_id: spec.organization_id.to_lowercase(),
        api_url,
        credentials,
        requests_per_second,
        burst,
    };
    Ok((settings, fingerprint))
}

/// `spec.apiUrl`, checked as the client will use it.
pub fn api_url(declared: Option<&str>, allow_insecure_http: bool) -> Result<Url, (Reason, String)> {
    let text = declared.unwrap_or(DEFAULT_API_URL);
    let url = Url::parse(text).map_err(|error| {
        (
            Reason::InvalidConfig,
            format!("spec.apiUrl {text:?} is not a URL: {error}"),
        )
    })?;
    airbyte_client::client::check_url(&url, allow_insecure_http)
        .map_err(|error| (Reason::InvalidConfig, format!("spec.apiUrl: {error}")))?;
    Ok(url)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Instant;

    use secrecy::SecretString;

    use super::*;
    use crate::controllers::memory::Users;
    use crate::controllers::organization::OrganizationKey;
    use crate::controllers::organization::observe::Credentials;
    use crate::controllers::organization::registry::Organization;

    fn spec() -> OrganizationSettings {
        OrganizationSettings {
            organization_id: "00000000-0000-4000-8000-0000000000b1".into(),
            ..Default::default()
        }
    }

    fn read(secret: &str) -> CredentialsState {
        CredentialsState::Read(Credentials {
            client_id: "client".into(),
            client_secret: SecretString::from(secret),
        })
    }

    fn observed(credentials: CredentialsState, users: usize, deleting: bool) -> Observation<()> {
        Observation {
            key: OrganizationKey::cluster("prod"),
            secret: "operator/prod".into(),
            credentials_version: Some("uid@1".into()),
            credentials,
            users: Users {
                at: Instant::now(),
                count: users,
                some: String::new(),
            },
            recount_in: None,
            deleting,
            suspect: false,
            requested: None,
            request_pending: false,
            generation_changed: false,
            current: None,
        }
    }

    const DEFAULTS: Defaults = Defaults {
        allow_insecure_http: false,
        requests_per_second: None,
    };

    /// What the first plan built a client from, as the registry would hold it.
    fn built_from(observation: &Observation<()>) -> Arc<Organization<()>> {
        let Plan::Authenticate {
            settings,
            fingerprint,
            ..
        } = plan(&spec(), observation, DEFAULTS).plan
        else {
            panic!("expected a client");
        };
        Arc::new(Organization {
            key: settings.key.clone(),
            organization_id: settings.organization_id.clone(),
            region: None,
            airbyte: (),
            fingerprint,
            credentials: settings.credentials.clone(),
            credentials_version: "uid@1".into(),
        })
    }

    #[test]
    fn an_organization_is_planned_from_its_secret_its_users_and_its_client() {
        let first = observed(read("s1"), 0, false);
        let current = built_from(&first);
        let with = |mut observation: Observation<()>| {
            observation.current = Some(current.clone());
            observation
        };
        let table: Vec<(&str, Observation<()>, &str, bool)> = vec![
            (
                "new credentials build a client and check them afresh",
                first,
                "connect fresh",
                false,
            ),
            (
                "unchanged credentials reuse the client and its cached token",
                with(observed(CredentialsState::Unchanged, 2, false)),
                "reuse",
                true,
            ),
            (
                "a rotated secret builds a new client",
                with(observed(read("s2"), 2, false)),
                "connect fresh",
                true,
            ),
            (
                "an object's report of a refusal checks afresh",
                with(Observation {
                    suspect: true,
                    ..observed(CredentialsState::Unchanged, 1, false)
                }),
                "reuse fresh",
                true,
            ),
            (
                "a missing Secret stalls",
                observed(
                    CredentialsState::Problem {
                        reason: Reason::SecretNotFound,
                        message: "gone".into(),
                    },
                    1,
                    false,
                ),
                "stall SecretNotFound",
                true,
            ),
            (
                "deleted with users, it keeps working and waits",
                with(observed(CredentialsState::Unchanged, 1, true)),
                "reuse",
                true,
            ),
            (
                "deleted without users, it is let go",
                with(observed(CredentialsState::Unchanged, 0, true)),
                "release",
                false,
            ),
        ];
        for (case, observation, expected, finalizer) in table {
            let planned = plan(&spec(), &observation, DEFAULTS);
            let got = match &planned.plan {
                Plan::Release => "release".to_string(),
                Plan::Stall { reason, .. } => format!("stall {reason}"),
                Plan::Authenticate { connect, fresh, .. } => format!(
                    "{}{}",
                    if *connect { "connect" } else { "reuse" },
                    if *fresh { " fresh" } else { "" }
                ),
            };
            assert_eq!(got, expected, "{case}");
            assert_eq!(planned.finalizer, finalizer, "{case}: finalizer");
        }
    }

    #[test]
    fn an_api_url_is_checked_as_the_client_uses_it() {
        assert_eq!(
            api_url(None, false).unwrap().as_str(),
            "https://api.airbyte.ai/"
        );
        assert!(api_url(Some("http://127.0.0.1:9"), false).is_ok());
        let (reason, message) = api_url(Some("http://airbyte.internal"), false).unwrap_err();
        assert_eq!(reason, Reason::InvalidConfig);
        assert!(message.contains("refusing plain http"), "{message}");
        assert!(api_url(Some("http://airbyte.internal"), true).is_ok());
    }
}
