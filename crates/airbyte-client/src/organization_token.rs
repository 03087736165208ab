//! The organization token cache: one token for all callers, refreshed before it expires, and minted
//! by exactly one caller at a time (the others wait for its result instead of stampeding the token
//! endpoint). Credentials Airbyte refused are not tried again for [`REFUSAL_HOLD`]: every caller
//! gets the same refusal without a request, so a revoked secret costs a handful of token requests
//! a minute, not one per object.

use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Mutex;

use super::{ApiError, BearerToken};

/// Lifetime assumed when neither `expires_in` nor the JWT tells: the shortest seen in Airbyte's
/// material (Airbyte Cloud application tokens), so a token is never cached past what it may live.
pub const FALLBACK_LIFETIME: Duration = Duration::from_secs(180);

/// How long a refusal of the credentials is answered from memory.
pub const REFUSAL_HOLD: Duration = Duration::from_secs(30);

/// What is known of the organization token last obtained.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplicationToken {
    /// When it expires.
    pub expires_at: SystemTime,
    /// The organization Airbyte says it was issued for (the Agent Engine reference's answer
    /// carries it; the embedded one does not).
    pub organization_id: Option<String>,
}

/// A freshly minted token: the token, how long it lives, and the organization it is for.
pub(crate) struct Minted {
    pub token: BearerToken,
    pub lifetime: Duration,
    pub organization_id: Option<String>,
}

#[derive(Default)]
pub(crate) struct OrganizationTokenCache {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    cached: Option<Cached>,
    /// The last refusal of the credentials, and when it happened.
    refused: Option<(Instant, ApiError)>,
}

struct Cached {
    token: BearerToken,
    /// Monotonic instant after which the token is no longer handed out.
    refresh_at: Instant,
    info: ApplicationToken,
}

/// Whether a failed mint means the credentials were refused (rather than Airbyte being away).
fn is_refusal(error: &ApiError) -> bool {
    matches!(
        error,
        ApiError::Unauthorized { .. }
            | ApiError::Forbidden { .. }
            | ApiError::Validation { .. }
            | ApiError::Rejected { .. }
    )
}

impl OrganizationTokenCache {
    /// The cached token, or the result of `mint` when there is none or it is due for refresh.
    /// The lock is held across the mint: that is the single flight. A refusal within
    /// [`REFUSAL_HOLD`] is answered again without minting.
    pub async fn get<F, Fut>(&self, mint: F) -> Result<(BearerToken, ApplicationToken), ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Minted, ApiError>>,
    {
        let mut state = self.state.lock().await;
        let now = Instant::now();
        if let Some(cached) = state.cached.as_ref()
            && now < cached.refresh_at
        {
            return Ok((cached.token.clone(), cached.info.clone()));
        }
        if let Some((at, error)) = &state.refused
            && now.duration_since(*at) < REFUSAL_HOLD
        {
            return Err(error.clone());
        }
        match mint().await {
            Ok(minted) => {
                let info = ApplicationToken {
                    expires_at: SystemTime::now() + minted.lifetime,
                    organization_id: minted.organization_id,
                };
                state.cached = Some(Cached {
                    token: minted.token.clone(),
                    refresh_at: Instant::now() + refresh_after(minted.lifetime),
                    info: info.clone(),
                });
                state.refused = None;
                Ok((minted.token, info))
            }
            Err(error) => {
                if is_refusal(&error) {
                    state.refused = Some((Instant::now(), error.clone()));
                }
                Err(error)
            }
        }
    }

    /// Forgets `token` if it is still the cached one (a 401 proved it dead). Callers holding an
    /// older token do not throw away a newer one another caller just minted.
    pub async fn invalidate(&self, token: &BearerToken) {
        let mut state = self.state.lock().await;
        if state
            .cached
            .as_ref()
            .is_some_and(|cached| cached.token.ct_eq(token))
        {
            state.cached = None;
        }
    }

    /// Forgets the token and any held refusal: the next caller mints.
    pub async fn clear(&self) {
        *self.state.lock().await = State::default();
    }
}

/// Use a token for four fifths of its lifetime, keeping at least 10 s (clock skew, slow calls).
fn refresh_after(lifetime: Duration) -> Duration {
    let margin = (lifetime / 5).max(Duration::from_secs(10));
    lifetime.saturating_sub(margin)
}

/// How long a freshly minted token lives: the server's `expires_in`, else the JWT `exp`, else the
/// fallback; never longer than the JWT says.
pub(crate) fn token_lifetime(
    token: &BearerToken,
    expires_in: Option<u64>,
    now: SystemTime,
) -> Duration {
    let from_jwt = token
        .expires_at()
        .map(|exp| exp.duration_since(now).unwrap_or(Duration::ZERO));
    match (expires_in.map(Duration::from_secs), from_jwt) {
        (Some(a), Some(b)) => a.min(b),
        (Some(a), None) => a,
        (None, Some(b)) => b,
        (None, None) => FALLBACK_LIFETIME,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[test]
    fn refresh_leaves_a_margin() {
        assert_eq!(
            refresh_after(Duration::from_secs(900)),
            Duration::from_secs(720)
        );
        assert_eq!(
            refresh_after(Duration::from_secs(20)),
            Duration::from_secs(10)
        );
        assert_eq!(refresh_after(Duration::from_secs(5)), Duration::ZERO);
    }

    #[test]
    fn lifetime_prefers_the_shorter_of_server_and_jwt() {
        let now = SystemTime::now();
        let opaque = BearerToken::new("opaque");
        assert_eq!(
            token_lifetime(&opaque, Some(900), now),
            Duration::from_secs(900)
        );
        assert_eq!(token_lifetime(&opaque, None, now), FALLBACK_LIFETIME);
    }

    #[tokio::test]
    async fn concurrent_callers_share_one_mint() {
        let cache = Arc::new(OrganizationTokenCache::default());
        let mints = Arc::new(AtomicUsize::new(0));
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (cache, mints) = (cache.clone(), mints.clone());
            tasks.push(tokio::spawn(async move {
                cache
                    .get(|| async {
                        mints.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok(minted("t1"))
                    })
                    .await
                    .unwrap()
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap().0.expose(), "t1");
        }
        assert_eq!(mints.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn invalidating_a_stale_token_keeps_the_fresh_one() {
        let cache = OrganizationTokenCache::default();
        let (first, _) = cache.get(|| async { Ok(minted("t1")) }).await.unwrap();
        cache.invalidate(&first).await;
        let (second, _) = cache.get(|| async { Ok(minted("t2")) }).await.unwrap();
        cache.invalidate(&first).await;
        let (third, _) = cache.get(|| async { Ok(minted("t3")) }).await.unwrap();
        assert_eq!(second.expose(), "t2");
        assert_eq!(third.expose(), "t2");
    }

    fn minted(token: &str) -> Minted {
        Minted {
            token: BearerToken::new(token),
            lifetime: Duration::from_secs(900),
            organization_id: Some("org".into()),
        }
    }

    #[tokio::test]
    async fn refused_credentials_are_not_tried_again_for_a_while_but_a_clear_tries_at_once() {
        let cache = OrganizationTokenCache::default();
        let mints = AtomicUsize::new(0);
        let refuse = || async {
            mints.fetch_add(1, Ordering::SeqCst);
            Err::<Minted, _>(ApiError::from_response(
                crate::Endpoint::ApplicationToken,
                401,
                b"{}",
                None,
            ))
        };
        for _ in 0..10 {
            assert!(cache.get(refuse).await.is_err());
        }
        assert_eq!(
            mints.load(Ordering::SeqCst),
            1,
            "held: one request for ten callers"
        );
        cache.clear().await;
        let (token, info) = cache.get(|| async { Ok(minted("t")) }).await.unwrap();
        assert_eq!(token.expose(), "t");
        assert_eq!(info.organization_id.as_deref(), Some("org"));
    }

    #[tokio::test]
    async fn an_unreachable_api_is_not_held_as_a_refusal() {
        let cache = OrganizationTokenCache::default();
        let unreachable = || async {
            Err::<Minted, _>(ApiError::Transport {
                endpoint: crate::Endpoint::ApplicationToken,
                message: "connection failed".into(),
            })
        };
        assert!(cache.get(unreachable).await.is_err());
        assert!(cache.get(|| async { Ok(minted("t")) }).await.is_ok());
    }
}
