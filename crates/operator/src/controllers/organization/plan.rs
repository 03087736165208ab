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
pub struct Defaults<'a> {
    pub allow_insecure_http: bool,
    pub requests_per_second: Option<NonZeroU32>,
    /// For an AirbyteOrganization: the API URLs it may name (the operator sends its Secret's
    /// values there, and its namespace may be a tenant's). `None`: any (the cluster kind).
    pub allowed_api_urls: Option<&'a [Url]>,
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
    /// The in-use finalizer: held from the first reconcile (as Crossplane's ProviderConfig
    /// does), so that no object can start to use it in a window without one, and released
    /// only when it is being deleted and nothing uses it.
    pub finalizer: bool,
}

pub fn plan<A>(
    spec: &OrganizationSettings,
    observation: &Observation<A>,
    defaults: Defaults,
) -> Planned {
    let finalizer = !observation.deleting || observation.users.count > 0;
    let plan = if !finalizer {
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
    allowed(&api_url, defaults.allowed_api_urls)?;
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
        spec.region.map(|r| r.id()),
        spec.region_id.as_deref(),
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

/// Whether an AirbyteOrganization may name `url` (the default API always).
fn allowed(url: &Url, allowed: Option<&[Url]>) -> Result<(), (Reason, String)> {
    let Some(allowed) = allowed else {
        return Ok(());
    };
    let key = |url: &Url| url.as_str().trim_end_matches('/').to_string();
    let default = Url::parse(DEFAULT_API_URL)
        .map(|u| key(&u))
        .unwrap_or_default();
    if key(url) == default || allowed.iter().any(|a| key(a) == key(url)) {
        return Ok(());
    }
    Err((
        Reason::InvalidConfig,
        format!(
            "spec.apiUrl {url} is not an API the operator sends an AirbyteOrganization's credentials to: use {DEFAULT_API_URL}, or ask the platform team to add it to --allowed-api-urls (chart: operator.allowedApiUrls)"
        ),
    ))
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
        allowed_api_urls: None,
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
                true,
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
    fn a_namespace_organization_may_name_only_the_allowed_apis() {
        let ours: Vec<Url> = vec!["http://127.0.0.1:9/".parse().unwrap()];
        let table: Vec<(&str, Option<&str>, bool)> = vec![
            ("the default API", None, true),
            (
                "the default API, written out",
                Some("https://api.airbyte.ai"),
                true,
            ),
            (
                "an allowed API without its slash",
                Some("http://127.0.0.1:9"),
                true,
            ),
            (
                "a server of the tenant's choosing",
                Some("https://collector.example"),
                false,
            ),
        ];
        for (case, url, expected) in table {
            let spec = OrganizationSettings {
                api_url: url.map(str::to_string),
                ..spec()
            };
            let defaults = Defaults {
                allowed_api_urls: Some(&ours),
                ..DEFAULTS
            };
            let planned = plan(&spec, &observed(read("s"), 0, false), defaults);
            let allowed = !matches!(planned.plan, Plan::Stall { .. });
            assert_eq!(allowed, expected, "{case}: {:?}", planned.plan);
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
