//! What to do about an EmbeddedWorkspace: pure functions of what was observed and the clock.
//! Where the token is refreshed: [`mint_reason`] (with `refresh::refresh_at` for the moment).

use std::time::SystemTime;

use super::observe::{Basis, Checks, Observation, SecretState, TokenCheck};
use super::refresh::{self, MintReason};
use airbyte_client::models::WorkspaceStatus;
use embedded_crds::conditions::Reason;

/// Which Airbyte reads the plan needs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Reads {
    /// Check the stored token (it also proves the workspace exists).
    pub validate_token: bool,
    /// Read the workspace's status (`suspend` matters).
    pub check_status: bool,
    /// Routine work (a scheduled check): waits for a routine slot.
    pub routine: bool,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Plan {
    /// The user must change something.
    Stall { reason: Reason, message: String },
    /// Mint a token (and write the Secret); `suspend`: set a newly created workspace inactive.
    Mint { reason: MintReason, suspend: bool },
    /// Set the Airbyte workspace's status.
    SetStatus(WorkspaceStatus),
    /// Everything is in place.
    Nothing,
}

/// Whether the token must be minted, from Kubernetes alone (the Secret, the spec, the clock).
pub fn stored_mint_reason(basis: &Basis, now: SystemTime) -> Option<MintReason> {
    // No token kept: a mint only binds the name (the first, after the workspace went, or when a
    // source found the name opening another workspace or its token refused).
    if !basis.keep_token {
        return match (&basis.known_id, basis.token_suspect) {
            (None, _) => Some(MintReason::Missing),
            (Some(_), true) => Some(MintReason::SourceReported),
            (Some(_), false) => None,
        };
    }
    let reason = match &basis.secret {
        SecretState::Missing | SecretState::Foreign => Some(MintReason::Missing),
        SecretState::Ours(None) => Some(MintReason::Tampered),
        SecretState::Ours(Some(stored)) => refresh::mint_reason(
            Some(stored),
            &basis.settings_hash,
            basis.request_pending,
            &basis.uid,
            basis.refresh_before,
            now,
        ),
    };
    // Without a bound workspace id there is nothing to keep: mint.
    reason.or(basis.known_id.is_none().then_some(MintReason::Missing))
}

/// Which reads the plan needs (no mint is due: a token check at the drift interval or when a
/// source saw the token refused; the status when `suspend` matters).
pub fn reads(basis: &Basis) -> Reads {
    if basis.naming.is_some() || basis.secret == SecretState::Foreign {
        return Reads::default();
    }
    let keep = stored_mint_reason(basis, basis.now).is_none() && basis.known_id.is_some();
    let validate_token = keep && basis.keep_token && (basis.drift_due || basis.token_suspect);
    // Without a kept token the organization's token checks the workspace instead.
    let drift_by_status =
        !basis.keep_token && (basis.drift_due || basis.token_suspect || basis.request_pending);
    let check_status = keep
        && ((basis.generation_changed && !basis.first_visit)
            || drift_by_status
            || (basis.suspend && (basis.drift_due || basis.first_visit)));
    Reads {
        validate_token,
        check_status,
        routine: validate_token || check_status,
    }
}

/// Why to mint now, if at all: the Secret, then what Airbyte said about the token.
pub fn mint_reason(basis: &Basis, checks: &Checks) -> Option<MintReason> {
    stored_mint_reason(basis, basis.now)
        .or(match checks.token {
            Some(TokenCheck::WorkspaceGone) => Some(MintReason::WorkspaceGone),
            Some(TokenCheck::Revoked) => Some(MintReason::Revoked),
            _ => None,
        })
        .or(match checks.airbyte_status {
            Some(None) => Some(MintReason::WorkspaceGone),
            _ => None,
        })
}

/// Whether the mint about to happen binds the name (so the name is checked for duplicates).
pub fn needs_name_check(basis: &Basis, checks: &Checks) -> bool {
    basis.naming.is_none()
        && basis.secret != SecretState::Foreign
        && mint_reason(basis, checks).is_some_and(|r| r.binds(basis.known_id.as_deref()))
}

/// Whether a token Secret this workspace owns must go (`tokenPolicy: OnDemand`).
pub fn removes_secret(basis: &Basis) -> bool {
    !basis.keep_token && basis.stale_secret
}

pub fn plan(observation: &Observation) -> Plan {
    let Observation { basis, checks } = observation;
    if let Some(outcome) = &basis.naming {
        return Plan::Stall {
            reason: outcome.reason(),
            message: outcome.message().to_string(),
        };
    }
    if basis.secret == SecretState::Foreign {
        return Plan::Stall {
            reason: Reason::SecretConflict,
            message: format!(
                "Secret {} exists and is not owned by this EmbeddedWorkspace; it is left untouched: delete it, or set spec.tokenSecretName to another name",
                basis.secret_name
            ),
        };
    }
    if let Some(reason) = mint_reason(basis, checks) {
        if let Some(ids) = checks.same_named.as_ref().filter(|ids| ids.len() > 1) {
            return Plan::Stall {
                reason: Reason::WorkspaceNameAmbiguous,
                message: format!(
                    "Airbyte has {} workspaces named {:?} ({}): minting by that name cannot tell them apart, so nothing is minted; rename or delete all but one in Airbyte",
                    ids.len(),
                    basis.workspace_name,
                    ids.join(", ")
                ),
            };
        }
        return Plan::Mint {
            reason,
            suspend: basis.suspend,
        };
    }
    let desired = if basis.suspend {
        WorkspaceStatus::Inactive
    } else {
        WorkspaceStatus::Active
    };
    match checks.airbyte_status {
        Some(Some(current)) if current != desired => Plan::SetStatus(desired),
        _ => Plan::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controllers::memory::StoredToken;
    use embedded_crds::conditions::Outcome;
    use std::time::{Duration, UNIX_EPOCH};

    fn at(seconds: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(seconds)
    }

    fn fresh() -> StoredToken {
        StoredToken {
            minted_at: at(1000),
            expires_at: at(2200),
            settings_hash: "h".into(),
            intact: true,
        }
    }

    fn basis() -> Basis {
        Basis {
            now: at(1001),
            uid: "uid".into(),
            workspace_name: "tenant-a.main".into(),
            region: "r".into(),
            settings_hash: "h".into(),
            secret_name: "main-airbyte-token".into(),
            keep_token: true,
            stale_secret: false,
            naming: None,
            secret: SecretState::Ours(Some(fresh())),
            secret_cached: true,
            known_id: Some("ws".into()),
            requested: None,
            request_pending: false,
            refresh_before: None,
            suspend: false,
            first_visit: false,
            generation_changed: false,
            drift_due: false,
            token_suspect: false,
        }
    }

    /// `tokenPolicy: OnDemand`, bound: no Secret is read.
    fn on_demand() -> Basis {
        Basis {
            keep_token: false,
            secret: SecretState::Missing,
            secret_cached: false,
            ..basis()
        }
    }

    fn observed(basis: Basis, checks: Checks) -> Plan {
        plan(&Observation { basis, checks })
    }

    #[test]
    fn plans_in_order() {
        let table: Vec<(&str, Basis, Checks, Plan)> = vec![
            ("a fresh token in an intact Secret needs nothing", basis(), Checks::default(), Plan::Nothing),
            (
                "a name problem stalls before anything else",
                Basis { naming: Some(Outcome::stalled(Reason::WorkspaceNameConflict, "taken")), secret: SecretState::Missing, ..basis() },
                Checks::default(),
                Plan::Stall { reason: Reason::WorkspaceNameConflict, message: "taken".into() },
            ),
            (
                "a foreign Secret of the token's name is never touched",
                Basis { secret: SecretState::Foreign, ..basis() },
                Checks::default(),
                Plan::Stall { reason: Reason::SecretConflict, message: "Secret main-airbyte-token exists and is not owned by this EmbeddedWorkspace; it is left untouched: delete it, or set spec.tokenSecretName to another name".into() },
            ),
            ("no Secret yet mints", Basis { secret: SecretState::Missing, known_id: None, ..basis() }, Checks::default(), Plan::Mint { reason: MintReason::Missing, suspend: false }),
            ("an unreadable Secret of ours mints", Basis { secret: SecretState::Ours(None), ..basis() }, Checks::default(), Plan::Mint { reason: MintReason::Tampered, suspend: false }),
            ("a token past its refresh moment is refreshed", Basis { now: at(2300), ..basis() }, Checks::default(), Plan::Mint { reason: MintReason::Refresh, suspend: false }),
            ("a refused token is replaced", basis(), Checks { token: Some(TokenCheck::Revoked), ..Checks::default() }, Plan::Mint { reason: MintReason::Revoked, suspend: false }),
            ("a workspace deleted out of band is minted again", basis(), Checks { airbyte_status: Some(None), ..Checks::default() }, Plan::Mint { reason: MintReason::WorkspaceGone, suspend: false }),
            (
                "a name two workspaces share mints nothing",
                Basis { secret: SecretState::Missing, known_id: None, ..basis() },
                Checks { same_named: Some(vec!["a".into(), "b".into()]), ..Checks::default() },
                Plan::Stall { reason: Reason::WorkspaceNameAmbiguous, message: "Airbyte has 2 workspaces named \"tenant-a.main\" (a, b): minting by that name cannot tell them apart, so nothing is minted; rename or delete all but one in Airbyte".into() },
            ),
            ("suspend sets an active workspace inactive", Basis { suspend: true, ..basis() }, Checks { airbyte_status: Some(Some(WorkspaceStatus::Active)), ..Checks::default() }, Plan::SetStatus(WorkspaceStatus::Inactive)),
            ("resume sets it active again", basis(), Checks { airbyte_status: Some(Some(WorkspaceStatus::Inactive)), ..Checks::default() }, Plan::SetStatus(WorkspaceStatus::Active)),
            ("a bound workspace that keeps no token does nothing", on_demand(), Checks::default(), Plan::Nothing),
            ("one that keeps no token is never refreshed", Basis { now: at(2300), ..on_demand() }, Checks::default(), Plan::Nothing),
            ("one that keeps no token mints once to bind its name", Basis { known_id: None, ..on_demand() }, Checks::default(), Plan::Mint { reason: MintReason::Missing, suspend: false }),
            ("one that keeps no token is minted again when deleted out of band", on_demand(), Checks { airbyte_status: Some(None), ..Checks::default() }, Plan::Mint { reason: MintReason::WorkspaceGone, suspend: false }),
            ("a source's report on one that keeps no token mints by name to rebind", Basis { token_suspect: true, ..on_demand() }, Checks::default(), Plan::Mint { reason: MintReason::SourceReported, suspend: false }),
            ("a requested reconcile of one that keeps no token mints nothing", Basis { request_pending: true, requested: Some("now".into()), ..on_demand() }, Checks { airbyte_status: Some(Some(WorkspaceStatus::Active)), ..Checks::default() }, Plan::Nothing),
        ];
        for (case, basis, checks, expected) in table {
            assert_eq!(observed(basis, checks), expected, "{case}");
        }
    }

    #[test]
    fn reads_only_what_the_plan_needs() {
        let table: Vec<(&str, Basis, Reads)> = vec![
            (
                "a steady workspace reads nothing",
                basis(),
                Reads::default(),
            ),
            (
                "a due drift check validates the token",
                Basis {
                    drift_due: true,
                    ..basis()
                },
                Reads {
                    validate_token: true,
                    check_status: false,
                    routine: true,
                },
            ),
            (
                "a source's report validates the token",
                Basis {
                    token_suspect: true,
                    ..basis()
                },
                Reads {
                    validate_token: true,
                    check_status: false,
                    routine: true,
                },
            ),
            (
                "a suspended workspace's first visit reads its status",
                Basis {
                    suspend: true,
                    first_visit: true,
                    ..basis()
                },
                Reads {
                    validate_token: false,
                    check_status: true,
                    routine: true,
                },
            ),
            (
                "a spec change reads the status",
                Basis {
                    generation_changed: true,
                    ..basis()
                },
                Reads {
                    validate_token: false,
                    check_status: true,
                    routine: true,
                },
            ),
            (
                "without a kept token a due drift check reads the workspace",
                Basis {
                    drift_due: true,
                    ..on_demand()
                },
                Reads {
                    validate_token: false,
                    check_status: true,
                    routine: true,
                },
            ),
            (
                "without a kept token a requested reconcile reads the workspace",
                Basis {
                    request_pending: true,
                    ..on_demand()
                },
                Reads {
                    validate_token: false,
                    check_status: true,
                    routine: true,
                },
            ),
            (
                "without a kept token a steady workspace reads nothing",
                on_demand(),
                Reads::default(),
            ),
            (
                "a mint that is due anyway reads nothing first",
                Basis {
                    secret: SecretState::Missing,
                    drift_due: true,
                    ..basis()
                },
                Reads::default(),
            ),
        ];
        for (case, basis, expected) in table {
            assert_eq!(reads(&basis), expected, "{case}");
        }
    }

    #[test]
    fn only_a_workspace_that_keeps_no_token_removes_the_secret_it_owns() {
        let table = [
            (
                "keeps its token",
                Basis {
                    stale_secret: true,
                    ..basis()
                },
                false,
            ),
            (
                "no token, a Secret of ours",
                Basis {
                    stale_secret: true,
                    ..on_demand()
                },
                true,
            ),
            ("no token, no Secret of ours", on_demand(), false),
        ];
        for (case, basis, expected) in table {
            assert_eq!(removes_secret(&basis), expected, "{case}");
        }
    }

    #[test]
    fn only_a_binding_mint_checks_the_name() {
        let unbound = Basis {
            secret: SecretState::Missing,
            known_id: None,
            ..basis()
        };
        assert!(needs_name_check(&unbound, &Checks::default()));
        let refresh = Basis {
            now: at(2300),
            ..basis()
        };
        assert!(
            !needs_name_check(&refresh, &Checks::default()),
            "a refresh keeps the bound workspace"
        );
        let gone = Checks {
            airbyte_status: Some(None),
            ..Checks::default()
        };
        assert!(
            needs_name_check(&basis(), &gone),
            "re-creating a deleted workspace binds again"
        );
    }
}
