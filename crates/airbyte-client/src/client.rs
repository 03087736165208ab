//! The HTTP core of the Airbyte client: authentication, retries, rate limit, call accounting.
//!
//! Every API call goes through [`AirbyteClient::call`]: it takes the organization token from the
//! shared cache (or the caller's scoped token), waits for the request-rate budget, sends, and when
//! the organization token is refused (401, or 403 as the reference documents it) re-mints once and
//! retries. Throttling (429), server errors (5xx)
//! and connection failures are retried with exponential backoff and jitter (backon), never sooner
//! than the server's `Retry-After`, for a bounded number of attempts; other 4xx answers return at
//! once. Redirects are never followed, so the organization token cannot be carried to another host.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use backon::{ExponentialBuilder, Retryable};
use futures::future::BoxFuture;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use reqwest::header::{AUTHORIZATION, HeaderMap, RETRY_AFTER};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use url::Url;

use super::compat::Compat;
use super::models::{ApplicationTokenRequest, ApplicationTokenResponse};
use super::organization_token::{
    ApplicationToken, FALLBACK_LIFETIME, Minted, OrganizationTokenCache, token_lifetime,
};
use super::{ApiError, BearerToken, Endpoint};

/// Default Airbyte Embedded API.
pub const DEFAULT_API_URL: &str = "https://api.airbyte.ai";

/// How the operator proves it acts for the organization.
#[derive(Clone)]
pub enum OrganizationCredentials {
    /// Application credentials, exchanged for a short-lived organization token.
    ClientCredentials {
        client_id: String,
        client_secret: SecretString,
    },
    /// A ready organization token (no re-mint possible: a 401 is final).
    AccessToken(BearerToken),
}

impl std::fmt::Debug for OrganizationCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OrganizationCredentials::ClientCredentials { client_id, .. } => f
                .debug_struct("ClientCredentials")
                .field("client_id", client_id)
                .field("client_secret", &"[REDACTED]")
                .finish(),
            OrganizationCredentials::AccessToken(_) => f.write_str("AccessToken([REDACTED])"),
        }
    }
}

/// Bounded retries for transient failures.
#[derive(Clone, Debug)]
pub struct RetryPolicy {
    /// Attempts in total, the first included.
    pub max_attempts: usize,
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// A `Retry-After` longer than this is not waited inline: the error goes back to the caller
    /// (a controller requeues the object for that long instead of holding a worker).
    pub max_inline_wait: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_inline_wait: Duration::from_secs(30),
        }
    }
}

/// Everything needed to build an [`AirbyteClient`].
#[derive(Clone, Debug)]
pub struct ClientConfig {
    pub base_url: Url,
    pub organization_id: String,
    pub credentials: OrganizationCredentials,
    pub retry: RetryPolicy,
    /// Per-request timeout (connect and response).
    pub request_timeout: Duration,
    /// Requests per second toward Airbyte across all callers (a token bucket); `None`: unlimited.
    pub max_requests_per_second: Option<NonZeroU32>,
    /// Requests the bucket lets through at once (default: the rate).
    pub burst: Option<NonZeroU32>,
    /// Allow `http://` to a host other than loopback (never needed in production).
    pub allow_insecure_http: bool,
    pub user_agent: String,
}

impl ClientConfig {
    pub fn new(
        base_url: Url,
        organization_id: impl Into<String>,
        credentials: OrganizationCredentials,
    ) -> Self {
        ClientConfig {
            base_url,
            organization_id: organization_id.into(),
            credentials,
            retry: RetryPolicy::default(),
            request_timeout: Duration::from_secs(30),
            max_requests_per_second: None,
            burst: None,
            allow_insecure_http: false,
            user_agent: concat!(env!("CARGO_PKG_NAME"), "/", env!("CARGO_PKG_VERSION")).into(),
        }
    }
}

/// Receives one record per HTTP exchange (retries included): metrics hang off this.
pub trait CallObserver: Send + Sync {
    /// `status` is `None` when no HTTP answer came back.
    fn observe(&self, endpoint: Endpoint, status: Option<u16>, elapsed: Duration);

    /// The client fell back to an older form of the API for `feature` (`token_paths`,
    /// `tenant_field`, `source_update`), now using `choice`, for the rest of the process.
    fn fallback(&self, feature: &'static str, choice: &'static str) {
        let _ = (feature, choice);
    }
}

/// Who the request acts as.
#[derive(Clone, Copy)]
pub(crate) enum Auth<'a> {
    None,
    Organization,
    Scoped(&'a BearerToken),
}

/// One API request, described without sending it (so it can be retried).
pub(crate) struct Call<'a> {
    pub endpoint: Endpoint,
    pub method: Method,
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Option<serde_json::Value>,
    pub auth: Auth<'a>,
}

impl<'a> Call<'a> {
    pub fn new(
        endpoint: Endpoint,
        method: Method,
        path: impl Into<String>,
        auth: Auth<'a>,
    ) -> Self {
        Call {
            endpoint,
            method,
            path: path.into(),
            query: Vec::new(),
            body: None,
            auth,
        }
    }

    pub fn json(mut self, body: &impl Serialize) -> Result<Self, ApiError> {
        self.body = Some(
            serde_json::to_value(body).map_err(|error| ApiError::Decode {
                endpoint: self.endpoint,
                message: format!("cannot encode request: {error}"),
            })?,
        );
        Ok(self)
    }

    pub fn query(mut self, key: &'static str, value: impl Into<String>) -> Self {
        self.query.push((key, value.into()));
        self
    }
}

/// The Airbyte Embedded API client. Cheap to clone; clones share the token cache and rate budget.
#[derive(Clone)]
pub struct AirbyteClient {
    inner: Arc<Inner>,
}

struct Inner {
    http: reqwest::Client,
    base_url: Url,
    organization_id: String,
    credentials: OrganizationCredentials,
    retry: RetryPolicy,
    tokens: OrganizationTokenCache,
    limiter: Option<DefaultDirectRateLimiter>,
    observer: Option<Arc<dyn CallObserver>>,
    compat: Compat,
}

impl AirbyteClient {
    pub fn new(config: ClientConfig) -> Result<Self, ApiError> {
        Self::with_observer(config, None)
    }

    pub fn with_observer(
        config: ClientConfig,
        observer: Option<Arc<dyn CallObserver>>,
    ) -> Result<Self, ApiError> {
        check_url(&config.base_url, config.allow_insecure_http)?;
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .timeout(config.request_timeout)
            .connect_timeout(config.request_timeout.min(Duration::from_secs(10)))
            .user_agent(config.user_agent.clone())
            .build()
            .map_err(|error| ApiError::Config(format!("cannot build the HTTP client: {error}")))?;
        let limiter = config.max_requests_per_second.map(|rate| {
            let quota = Quota::per_second(rate);
            RateLimiter::direct(match config.burst {
                Some(burst) => quota.allow_burst(burst),
                None => quota,
            })
        });
        Ok(AirbyteClient {
            inner: Arc::new(Inner {
                http,
                base_url: config.base_url,
                organization_id: config.organization_id,
                credentials: config.credentials,
                retry: config.retry,
                tokens: OrganizationTokenCache::default(),
                limiter,
                observer,
                compat: Compat::default(),
            }),
        })
    }

    pub fn organization_id(&self) -> &str {
        &self.inner.organization_id
    }

    pub fn base_url(&self) -> &Url {
        &self.inner.base_url
    }

    /// Sends a call and decodes its JSON answer.
    pub(crate) async fn call<T: DeserializeOwned>(&self, call: Call<'_>) -> Result<T, ApiError> {
        let endpoint = call.endpoint;
        let body = self.send_with_retries(&call).await?;
        serde_json::from_slice(&body).map_err(|error| ApiError::Decode {
            endpoint,
            message: error.to_string(),
        })
    }

    /// Sends a call whose answer body does not matter.
    pub(crate) async fn call_discarding(&self, call: Call<'_>) -> Result<(), ApiError> {
        self.send_with_retries(&call).await.map(|_| ())
    }

    /// Sends a DELETE: what is already gone counts as deleted.
    pub(crate) async fn call_deleting(&self, call: Call<'_>) -> Result<(), ApiError> {
        match self.call_discarding(call).await {
            Err(error) if error.is_not_found() => Ok(()),
            other => other,
        }
    }

    async fn send_with_retries(&self, call: &Call<'_>) -> Result<bytes::Bytes, ApiError> {
        let policy = &self.inner.retry;
        let backoff = ExponentialBuilder::default()
            .with_min_delay(policy.min_delay)
            .with_max_delay(policy.max_delay)
            .with_max_times(policy.max_attempts.saturating_sub(1))
            .with_jitter();
        let max_inline_wait = policy.max_inline_wait;
        (|| self.send_once(call))
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .when(ApiError::is_transient)
            .adjust(move |error, delay| {
                let delay = delay?;
                match error.retry_after() {
                    Some(wait) if wait > max_inline_wait => None,
                    Some(wait) => Some(wait.max(delay)),
                    None => Some(delay),
                }
            })
            .notify(|error, delay| {
                tracing::debug!(endpoint = %call.endpoint, status = ?error.status(), delay_ms = delay.as_millis() as u64, "retrying Airbyte call");
            })
            .await
    }

    /// One attempt, with at most one organization-token re-mint when the token is refused.
    async fn send_once(&self, call: &Call<'_>) -> Result<bytes::Bytes, ApiError> {
        let mut reminted = false;
        loop {
            let token = match call.auth {
                Auth::None => None,
                Auth::Scoped(token) => Some(token.clone()),
                Auth::Organization => Some(self.organization_token().await?),
            };
            let (status, headers, body) = self.exchange(call, token.as_ref()).await?;
            if status.is_success() {
                return Ok(body);
            }
            if (status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN)
                && matches!(call.auth, Auth::Organization)
                && !reminted
                && matches!(
                    self.inner.credentials,
                    OrganizationCredentials::ClientCredentials { .. }
                )
            {
                if let Some(token) = &token {
                    self.inner.tokens.invalidate(token).await;
                }
                reminted = true;
                continue;
            }
            return Err(ApiError::from_response(
                call.endpoint,
                status.as_u16(),
                &body,
                retry_after(&headers),
            ));
        }
    }

    /// One HTTP exchange: rate budget, send, read, record.
    async fn exchange(
        &self,
        call: &Call<'_>,
        token: Option<&BearerToken>,
    ) -> Result<(StatusCode, HeaderMap, bytes::Bytes), ApiError> {
        if let Some(limiter) = &self.inner.limiter {
            limiter.until_ready().await;
        }
        let url = self.url(&call.path);
        let mut request = self
            .inner
            .http
            .request(call.method.clone(), url)
            .header("X-Organization-Id", &self.inner.organization_id);
        if !call.query.is_empty() {
            request = request.query(&call.query);
        }
        if let Some(token) = token {
            request = request.header(AUTHORIZATION, format!("Bearer {}", token.expose()));
        }
        if let Some(body) = &call.body {
            request = request.json(body);
        }
        let started = Instant::now();
        let result = async {
            let response = request.send().await?;
            let status = response.status();
            let headers = response.headers().clone();
            let body = response.bytes().await?;
            Ok::<_, reqwest::Error>((status, headers, body))
        }
        .await;
        let elapsed = started.elapsed();
        match result {
            Ok((status, headers, body)) => {
                self.observe(call.endpoint, Some(status.as_u16()), elapsed);
                tracing::trace!(endpoint = %call.endpoint, status = status.as_u16(), elapsed_ms = elapsed.as_millis() as u64, "Airbyte call");
                Ok((status, headers, body))
            }
            Err(error) => {
                self.observe(call.endpoint, None, elapsed);
                Err(ApiError::Transport {
                    endpoint: call.endpoint,
                    message: transport_message(&error),
                })
            }
        }
    }

    fn observe(&self, endpoint: Endpoint, status: Option<u16>, elapsed: Duration) {
        if let Some(observer) = &self.inner.observer {
            observer.observe(endpoint, status, elapsed);
        }
    }

    pub(crate) fn compat(&self) -> &Compat {
        &self.inner.compat
    }

    /// Logs and reports a fallback the first time it is taken.
    pub(crate) fn fell_back(&self, feature: &'static str, choice: &'static str) {
        tracing::warn!(
            feature,
            choice,
            api_url = %self.inner.base_url,
            "the Airbyte API answered as an older revision; using {choice} for {feature} from now on"
        );
        if let Some(observer) = &self.inner.observer {
            observer.fallback(feature, choice);
        }
    }

    fn url(&self, path: &str) -> String {
        format!(
            "{}{}",
            self.inner.base_url.as_str().trim_end_matches('/'),
            path
        )
    }

    /// The cached organization token, minted (once for all concurrent callers) when missing or
    /// close to expiry. Boxed with an explicit `Send` bound: minting is itself a call, and calls
    /// take the organization token, so the future type is recursive.
    pub fn organization_token(&self) -> BoxFuture<'_, Result<BearerToken, ApiError>> {
        Box::pin(async move { Ok(self.application_token().await?.0) })
    }

    /// The organization token with what is known of it (expiry, organization).
    async fn application_token(&self) -> Result<(BearerToken, ApplicationToken), ApiError> {
        let (client_id, client_secret) = match &self.inner.credentials {
            OrganizationCredentials::AccessToken(token) => {
                let info = ApplicationToken {
                    expires_at: token
                        .expires_at()
                        .unwrap_or_else(|| SystemTime::now() + FALLBACK_LIFETIME),
                    organization_id: None,
                };
                return Ok((token.clone(), info));
            }
            OrganizationCredentials::ClientCredentials {
                client_id,
                client_secret,
            } => (client_id, client_secret),
        };
        self.inner
            .tokens
            .get(|| async {
                let request = ApplicationTokenRequest {
                    client_id: client_id.clone(),
                    client_secret: client_secret.expose_secret().to_string(),
                };
                let call = Call::new(
                    Endpoint::ApplicationToken,
                    Method::POST,
                    "/api/v1/account/applications/token",
                    Auth::None,
                )
                .json(&request)?;
                let response: ApplicationTokenResponse = self.call(call).await?;
                let token = BearerToken::new(response.access_token);
                let lifetime = token_lifetime(&token, response.expires_in, SystemTime::now());
                Ok(Minted {
                    token,
                    lifetime,
                    organization_id: response.organization_id,
                })
            })
            .await
    }

    /// Obtains an organization token with the credentials (`fresh`: a new one, even when one is
    /// cached or a refusal is held) and says what Airbyte answered.
    pub async fn authenticate(&self, fresh: bool) -> Result<ApplicationToken, ApiError> {
        if fresh {
            self.inner.tokens.clear().await;
        }
        Ok(self.application_token().await?.1)
    }

    /// Resolves a `next` link from a list answer into the cursor to send to *our* base URL: the
    /// organization token only ever goes to the configured host.
    pub(crate) fn cursor_from_next(
        &self,
        endpoint: Endpoint,
        next: &str,
    ) -> Result<String, ApiError> {
        let base = &self.inner.base_url;
        let url = base.join(next).map_err(|error| ApiError::Decode {
            endpoint,
            message: format!("invalid next link: {error}"),
        })?;
        if url.origin() != base.origin() {
            return Err(ApiError::Decode {
                endpoint,
                message: format!(
                    "next link points to another host ({}); refusing to follow it",
                    url.host_str().unwrap_or("?")
                ),
            });
        }
        url.query_pairs()
            .find(|(key, _)| key == "cursor")
            .map(|(_, value)| value.into_owned())
            .ok_or_else(|| ApiError::Decode {
                endpoint,
                message: "next link carries no cursor".into(),
            })
    }
}

/// Refuses plain http except to loopback, unless explicitly allowed.
pub fn check_url(url: &Url, allow_insecure_http: bool) -> Result<(), ApiError> {
    match url.scheme() {
        "https" => Ok(()),
        "http" if allow_insecure_http || is_loopback(url) => Ok(()),
        "http" => Err(ApiError::Config(format!(
            "refusing plain http to {}: the organization token would travel unencrypted (use https, or allow insecure http explicitly)",
            url.host_str().unwrap_or("?")
        ))),
        other => Err(ApiError::Config(format!(
            "unsupported URL scheme {other:?} for the Airbyte API"
        ))),
    }
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(name)) => name == "localhost",
        None => false,
    }
}

/// `Retry-After` as seconds or an HTTP date.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(
        when.duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO),
    )
}

/// A transport error's message without the URL's query (which could hold a cursor) and without
/// any header: enough to tell "connection refused" from "timed out".
fn transport_message(error: &reqwest::Error) -> String {
    let kind = if error.is_timeout() {
        "timed out"
    } else if error.is_connect() {
        "connection failed"
    } else if error.is_body() || error.is_decode() {
        "response body could not be read"
    } else {
        "request failed"
    };
    let mut source = std::error::Error::source(error);
    let mut root = None;
    while let Some(cause) = source {
        root = Some(cause.to_string());
        source = cause.source();
    }
    match root {
        Some(root) => format!("{kind}: {root}"),
        None => kind.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    #[test]
    fn plain_http_is_refused_except_to_loopback() {
        let cases = [
            ("https://api.airbyte.ai", false, true),
            ("http://127.0.0.1:8080", false, true),
            ("http://[::1]:8080", false, true),
            ("http://localhost:8080", false, true),
            ("http://api.airbyte.ai", false, false),
            ("http://api.airbyte.ai", true, true),
            ("ftp://api.airbyte.ai", true, false),
        ];
        for (url, allow, ok) in cases {
            let result = check_url(&Url::parse(url).unwrap(), allow);
            assert_eq!(result.is_ok(), ok, "{url} allow={allow}: {result:?}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("7"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(7)));

        let later = SystemTime::now() + Duration::from_secs(120);
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_str(&httpdate::fmt_http_date(later)).unwrap(),
        );
        let wait = retry_after(&headers).unwrap();
        assert!(
            wait > Duration::from_secs(110) && wait <= Duration::from_secs(120),
            "{wait:?}"
        );

        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn credentials_debug_is_redacted() {
        let credentials = OrganizationCredentials::ClientCredentials {
            client_id: "id".into(),
            client_secret: SecretString::from("hunter2"),
        };
        assert!(!format!("{credentials:?}").contains("hunter2"));
        let token = OrganizationCredentials::AccessToken(BearerToken::new("tok-123"));
        assert!(!format!("{token:?}").contains("tok-123"));
    }

    #[test]
    fn next_links_are_followed_only_on_the_configured_host() {
        let client = AirbyteClient::new(ClientConfig::new(
            Url::parse("http://127.0.0.1:9000").unwrap(),
            "org",
            OrganizationCredentials::AccessToken(BearerToken::new("t")),
        ))
        .unwrap();
        assert_eq!(
            client
                .cursor_from_next(
                    Endpoint::WorkspacesList,
                    "http://127.0.0.1:9000/api/v1/workspaces?cursor=abc&limit=2"
                )
                .unwrap(),
            "abc"
        );
        assert_eq!(
            client
                .cursor_from_next(Endpoint::WorkspacesList, "/api/v1/workspaces?cursor=rel")
                .unwrap(),
            "rel"
        );
        assert!(
            client
                .cursor_from_next(
                    Endpoint::WorkspacesList,
                    "https://evil.example/api/v1/workspaces?cursor=abc"
                )
                .is_err()
        );
    }
}
