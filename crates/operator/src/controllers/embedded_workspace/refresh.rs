//! When to re-mint a workspace's token: pure functions of what the token Secret says, the spec and
//! the clock, each answer a reason that appears in logs and events.
//!
//! Refreshes are spread: each workspace refreshes at its own stable phase of the refresh cycle
//! (`lifetime - refreshBefore`), derived from its uid, at the latest such moment no later than
//! `expiry - refreshBefore`. Tokens minted together (a rollout, a restart of everything) therefore
//! refresh at evenly spread moments, and because the schedule depends only on the stored expiry
//! and the uid, a restarted operator keeps it and re-mints nothing that is still fresh.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::controllers::context::phase;
pub use crate::controllers::memory::StoredToken;

/// Why a token is minted now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MintReason {
    /// No token Secret yet (or it was deleted).
    Missing,
    /// The Secret's data was edited by someone else, or is incomplete.
    Tampered,
    /// The workspace, region or widget settings changed since the token was minted.
    SpecChanged,
    /// `reconcile-requested-at` changed.
    Requested,
    /// The refresh moment came.
    Refresh,
    /// The Airbyte workspace was deleted out of band: minting re-creates it.
    WorkspaceGone,
    /// Airbyte refused the stored token (revoked).
    Revoked,
}

impl MintReason {
    /// Whether this mint (re)binds the workspace name to an Airbyte workspace (a first mint, or a
    /// workspace deleted out of band), so the name is checked for duplicates before it.
    pub fn binds(self, known_id: Option<&str>) -> bool {
        known_id.is_none() || self == MintReason::WorkspaceGone
    }
}

impl MintReason {
    pub fn as_str(self) -> &'static str {
        match self {
            MintReason::Missing => "no token yet",
            MintReason::Tampered => "the token Secret was changed by someone else",
            MintReason::SpecChanged => "the workspace settings changed",
            MintReason::Requested => "a reconcile was requested",
            MintReason::Refresh => "the token is due for refresh",
            MintReason::WorkspaceGone => "the Airbyte workspace was deleted out of band",
            MintReason::Revoked => "Airbyte refused the stored token",
        }
    }
}

/// The moment to mint the next token.
pub fn refresh_at(
    uid: &str,
    minted_at: SystemTime,
    expires_at: SystemTime,
    refresh_before: Option<Duration>,
) -> SystemTime {
    let lifetime = expires_at
        .duration_since(minted_at)
        .unwrap_or(Duration::ZERO)
        .max(Duration::from_secs(1));
    let before = refresh_before
        .unwrap_or(lifetime / 3)
        .min(lifetime.mul_f64(0.9));
    let latest = expires_at - before;
    let cycle = (lifetime - before)
        .max(lifetime / 10)
        .max(Duration::from_secs(1));
    let cycle_ms = cycle.as_millis() as u64;
    let offset_ms = phase(uid, cycle_ms);
    let latest_ms = latest
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_millis() as u64;
    // The latest t <= latest with t ≡ offset (mod cycle).
    let back = (latest_ms + cycle_ms - offset_ms % cycle_ms) % cycle_ms;
    UNIX_EPOCH + Duration::from_millis(latest_ms - back)
}

/// Whether to mint now, and why.
pub fn mint_reason(
    stored: Option<&StoredToken>,
    settings_hash: &str,
    request_pending: bool,
    uid: &str,
    refresh_before: Option<Duration>,
    now: SystemTime,
) -> Option<MintReason> {
    let Some(stored) = stored else {
        return Some(MintReason::Missing);
    };
    if !stored.intact {
        return Some(MintReason::Tampered);
    }
    if stored.settings_hash != settings_hash {
        return Some(MintReason::SpecChanged);
    }
    if request_pending {
        return Some(MintReason::Requested);
    }
    if now >= refresh_at(uid, stored.minted_at, stored.expires_at, refresh_before) {
        return Some(MintReason::Refresh);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn stored(minted: u64, expires: u64) -> StoredToken {
        StoredToken {
            minted_at: at(minted),
            expires_at: at(expires),
            settings_hash: "h".into(),
            intact: true,
        }
    }

    #[test]
    fn refresh_lands_in_the_last_cycle_before_expiry_minus_refresh_before() {
        // 1200 s tokens: refresh 400 s before expiry, cycle 800 s.
        for uid in ["a", "b", "c", "d", "e"] {
            let when = refresh_at(uid, at(10_000), at(11_200), None);
            assert!(
                when <= at(10_800),
                "{uid}: not after expiry - refreshBefore"
            );
            assert!(when > at(10_000), "{uid}: within one cycle");
        }
        let explicit = refresh_at("a", at(10_000), at(11_200), Some(Duration::from_secs(60)));
        assert!(explicit <= at(11_140) && explicit > at(10_000));
    }

    #[test]
    fn tokens_minted_together_refresh_at_spread_moments() {
        let moments: Vec<u64> = (0..1000)
            .map(|i| {
                refresh_at(&format!("uid-{i}"), at(100_000), at(100_060), None)
                    .duration_since(UNIX_EPOCH)
                    .unwrap()
                    .as_millis() as u64
            })
            .collect();
        // 60 s tokens, cycle 40 s: windows of 6 s hold about 15% each, never most of them.
        let (min, max) = (moments.iter().min().unwrap(), moments.iter().max().unwrap());
        assert!(
            max - min > 30_000,
            "spread over most of the cycle: {min}..{max}"
        );
        for start in (*min..*max).step_by(1000) {
            let in_window = moments
                .iter()
                .filter(|m| **m >= start && **m < start + 6000)
                .count();
            assert!(
                in_window < 250,
                "window at {start} holds {in_window} of 1000"
            );
        }
    }

    #[test]
    fn a_refreshed_token_keeps_its_phase() {
        let first = refresh_at("w", at(0), at(60), None);
        let minted = first + Duration::from_millis(120);
        let second = refresh_at("w", minted, minted + Duration::from_secs(60), None);
        let cycle = second.duration_since(first).unwrap();
        assert_eq!(cycle, Duration::from_secs(40), "one refresh per cycle");
    }

    #[test]
    fn reasons_in_order() {
        let fresh = stored(1000, 2200);
        let tampered = StoredToken {
            intact: false,
            ..fresh.clone()
        };
        let table: Vec<(
            &str,
            Option<&StoredToken>,
            &str,
            bool,
            u64,
            Option<MintReason>,
        )> = vec![
            (
                "no secret",
                None,
                "h",
                false,
                1001,
                Some(MintReason::Missing),
            ),
            (
                "edited data",
                Some(&tampered),
                "h",
                false,
                1001,
                Some(MintReason::Tampered),
            ),
            (
                "changed settings",
                Some(&fresh),
                "other",
                false,
                1001,
                Some(MintReason::SpecChanged),
            ),
            (
                "requested",
                Some(&fresh),
                "h",
                true,
                1001,
                Some(MintReason::Requested),
            ),
            ("fresh token", Some(&fresh), "h", false, 1001, None),
            (
                "expired token",
                Some(&fresh),
                "h",
                false,
                2300,
                Some(MintReason::Refresh),
            ),
        ];
        for (case, stored, hash, requested, now, expected) in table {
            assert_eq!(
                mint_reason(stored, hash, requested, "uid", None, at(now)),
                expected,
                "{case}"
            );
        }
    }
}
