//! The organization token cache: one token for all callers, refreshed before it expires, and minted
//! by exactly one caller at a time (the others wait for its result instead of stampeding the token
//! endpoint).

use std::future::Future;
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::Mutex;

use super::{ApiError, BearerToken};

/// Lifetime assumed when neither `expires_in` nor the JWT tells: the shortest seen in Airbyte's
/// material (Airbyte Cloud application tokens), so a token is never cached past what it may live.
pub const FALLBACK_LIFETIME: Duration = Duration::from_secs(180);

#[derive(Default)]
pub(crate) struct OrganizationTokenCache {
    state: Mutex<Option<Cached>>,
}

struct Cached {
    token: BearerToken,
    /// Monotonic instant after which the token is no longer handed out.
    refresh_at: Instant,
}

impl OrganizationTokenCache {
    /// The cached token, or the result of `mint` when there is none or it is due for refresh.
    /// The lock is held across the mint: that is the single flight.
    pub async fn get<F, Fut>(&self, mint: F) -> Result<BearerToken, ApiError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<(BearerToken, Duration), ApiError>>,
    {
        let mut state = self.state.lock().await;
        if let Some(cached) = state.as_ref()
            && Instant::now() < cached.refresh_at
        {
            return Ok(cached.token.clone());
        }
        let (token, lifetime) = mint().await?;
        *state = Some(Cached {
            token: token.clone(),
            refresh_at: Instant::now() + refresh_after(lifetime),
        });
        Ok(token)
    }

    /// Forgets `token` if it is still the cached one (a 401 proved it dead). Callers holding an
    /// older token do not throw away a newer one another caller just minted.
    pub async fn invalidate(&self, token: &BearerToken) {
        let mut state = self.state.lock().await;
        if state
            .as_ref()
            .is_some_and(|cached| cached.token.ct_eq(token))
        {
            *state = None;
        }
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
                        Ok((BearerToken::new("t1"), Duration::from_secs(900)))
                    })
                    .await
                    .unwrap()
            }));
        }
        for task in tasks {
            assert_eq!(task.await.unwrap().expose(), "t1");
        }
        assert_eq!(mints.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn invalidating_a_stale_token_keeps_the_fresh_one() {
        let cache = OrganizationTokenCache::default();
        let first = cache
            .get(|| async { Ok((BearerToken::new("t1"), Duration::from_secs(900))) })
            .await
            .unwrap();
        cache.invalidate(&first).await;
        let second = cache
            .get(|| async { Ok((BearerToken::new("t2"), Duration::from_secs(900))) })
            .await
            .unwrap();
        cache.invalidate(&first).await;
        let third = cache
            .get(|| async { Ok((BearerToken::new("t3"), Duration::from_secs(900))) })
            .await
            .unwrap();
        assert_eq!(second.expose(), "t2");
        assert_eq!(third.expose(), "t2");
    }
}
