//! When to re-mint a workspace's token: pure functions of what the token Secret says, the spec and
//! the clock, each answer a reason that appears in logs and events.
//!
//! Refreshes are spread: each workspace refreshes at its own stable phase of the refresh cycle
//! (`lifetime - refreshBefore`), derived from its uid, at the latest such moment no later than
//! `expiry - refreshBefore`, but never before half the token's lifetime: a token whose phase
//! falls earlier is refreshed in the window between half its lifetime and `expiry -
//! refreshBefore`, at a moment that brings the next token onto its phase within a few
//! generations. Tokens minted together (a rollout, a restart of everything) therefore refresh at
//! evenly spread moments, none is thrown away minutes after it was minted, and because the
//! schedule depends only on the stored mint time, the expiry and the uid, a restarted operator
//! keeps it and re-mints nothing that is still fresh. With `refreshBefore` of half the lifetime
//! or more, the phase alone decides (as it must: there is no later half to wait for).

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
    /// No token is kept, and a source found the workspace's name opening another workspace or
    /// its token refused: minting by name settles which workspace the name opens.
    SourceReported,
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
            MintReason::SourceReported => {
                "a source found the name opening another workspace, or its token refused"
            }
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
    let millis = |t: SystemTime| {
        t.duration_since(UNIX_EPOCH)
            .unwrap_or(Duration::ZERO)
            .as_millis() as u64
    };
    let latest_ms = millis(latest);
    // The latest t <= latest with t ≡ offset (mod cycle).
    let back = (latest_ms + cycle_ms - offset_ms % cycle_ms) % cycle_ms;
    let aligned = latest_ms.saturating_sub(back);
    let earliest = (millis(minted_at) + lifetime.as_millis() as u64 / 2).min(latest_ms);
    UNIX_EPOCH + Duration::from_millis(not_before(aligned, earliest, latest_ms))
}

/// `aligned` if it is not before `earliest`; else the moment of the window `earliest..=latest`
/// congruent to `aligned` modulo the window's length (the next token then lies a whole number of
/// windows from its phase and reaches it within `cycle / window` generations).
fn not_before(aligned: u64, earliest: u64, latest: u64) -> u64 {
    if aligned >= earliest {
        return aligned;
    }
    let window = latest - earliest;
    if window == 0 {
        // refreshBefore of half the lifetime or more: the phase alone spreads the refreshes.
        return aligned;
    }
    earliest + (window - (earliest - aligned) % window) % window
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
            assert!(when >= at(10_600), "{uid}: used for at least half its life");
        }
        let explicit = refresh_at("a", at(10_000), at(11_200), Some(Duration::from_secs(60)));
        assert!(explicit <= at(11_140) && explicit >= at(10_600));
        // refreshBefore over half the lifetime: the phase alone, spread over the cycle.
        let early = refresh_at("a", at(10_000), at(11_200), Some(Duration::from_secs(900)));
        assert!(early <= at(10_300) && early > at(10_000));
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
        // 60 s tokens refreshed 20 s before expiry: the first refreshes fall between 30 s and
        // 40 s after the mint; windows of 1 s hold about 10% each, never a crowd.
        let (min, max) = (moments.iter().min().unwrap(), moments.iter().max().unwrap());
        assert!(
            *min >= 100_030_000 && *max <= 100_040_000 && max - min > 8_000,
            "spread over the second half of the first lifetime: {min}..{max}"
        );
        for start in (*min..*max).step_by(250) {
            let in_window = moments
                .iter()
                .filter(|m| **m >= start && **m < start + 1000)
                .count();
            assert!(
                in_window < 200,
                "window at {start} holds {in_window} of 1000"
            );
        }
    }

    #[test]
    fn refreshed_tokens_reach_their_phase_within_four_generations_and_keep_it() {
        // 60 s tokens, cycle 40 s, window 10 s: at most 40 / 10 generations off the phase.
        for i in 0..200 {
            let uid = format!("uid-{i}");
            let mut minted = at(1_000);
            let mut intervals = Vec::new();
            for _ in 0..8 {
                let next = refresh_at(&uid, minted, minted + Duration::from_secs(60), None);
                intervals.push(next.duration_since(minted).unwrap());
                minted = next;
            }
            for interval in &intervals {
                assert!(
                    *interval >= Duration::from_secs(30) && *interval <= Duration::from_secs(40),
                    "{uid}: {intervals:?}"
                );
            }
            assert!(
                intervals[4..].iter().all(|i| *i == Duration::from_secs(40)),
                "{uid}: one refresh per cycle once on its phase: {intervals:?}"
            );
        }
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
