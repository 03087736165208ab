//! Which Airbyte workspace an EmbeddedWorkspace may claim. Minting is idempotent by name on
//! Airbyte's side, so these checks are the only guard against one tenant naming another's
//! workspace: the name policy, immutability of a bound name, and one claim per name.

use crate::config::WorkspaceNamePolicy;
use embedded_crds::conditions::{Outcome, Reason};

/// Namespace label that lets a namespace claim any workspace name (platform admins only: tenants
/// cannot label namespaces).
pub const NAMESPACE_POLICY_LABEL: &str = "embedded.airbyte.ai/workspace-name-policy";

/// `spec.workspaceName`, or `<namespace>.<name>`.
pub fn effective_name(namespace: &str, name: &str, spec_name: Option<&str>) -> String {
    spec_name
        .map(str::to_string)
        .unwrap_or_else(|| format!("{namespace}.{name}"))
}

/// Whether an object of `namespace`/`name` with `spec_name` claims `workspace_name`, without
/// building the default name (it runs over the candidates of `name_index`).
pub fn claims(namespace: &str, name: &str, spec_name: Option<&str>, workspace_name: &str) -> bool {
    match spec_name {
        Some(spec_name) => spec_name == workspace_name,
        None => workspace_name
            .strip_prefix(namespace)
            .and_then(|rest| rest.strip_prefix('.'))
            .is_some_and(|rest| rest == name),
    }
}

/// Another EmbeddedWorkspace that claims the same workspace name.
#[derive(Clone, Debug)]
pub struct Claim {
    pub namespace: String,
    pub name: String,
    pub uid: String,
    /// Its `status.workspaceName` equals the name: it already holds the workspace.
    pub bound: bool,
    /// RFC 3339 creation time (sorts chronologically).
    pub created: String,
}

/// Whether `ours` loses to `rival`: a bound claim beats an unbound one, then the older, then the
/// smaller uid (a total order, so exactly one claim wins).
fn beats(rival: &Claim, ours: &Claim) -> bool {
    (
        rival.bound,
        std::cmp::Reverse(&rival.created),
        std::cmp::Reverse(&rival.uid),
    ) > (
        ours.bound,
        std::cmp::Reverse(&ours.created),
        std::cmp::Reverse(&ours.uid),
    )
}

/// The claim among `rivals` that beats `ours`, if any.
pub fn winner<'a>(ours: &Claim, rivals: &'a [Claim]) -> Option<&'a Claim> {
    rivals.iter().find(|rival| beats(rival, ours))
}

/// All checks before any call to Airbyte; `Some` is the Stalled outcome that stops the reconcile.
pub fn check(
    namespace: &str,
    workspace_name: &str,
    bound_name: Option<&str>,
    policy: WorkspaceNamePolicy,
    namespace_allows_any: bool,
    ours: &Claim,
    rivals: &[Claim],
) -> Option<Outcome> {
    if let Some(bound) = bound_name
        && bound != workspace_name
    {
        return Some(Outcome::stalled(
            Reason::WorkspaceNameImmutable,
            format!(
                "spec.workspaceName {workspace_name:?} differs from the bound workspace {bound:?}: a workspace name cannot change; set it back, or create a new EmbeddedWorkspace"
            ),
        ));
    }
    let prefix = format!("{namespace}.");
    if policy == WorkspaceNamePolicy::Namespaced
        && !namespace_allows_any
        && !workspace_name.starts_with(&prefix)
    {
        return Some(Outcome::stalled(
            Reason::WorkspaceNameNotAllowed,
            format!(
                "workspace name {workspace_name:?} must start with {prefix:?} under the namespaced name policy; use such a name, or ask a platform admin to label the namespace {NAMESPACE_POLICY_LABEL}=any"
            ),
        ));
    }
    if let Some(winner) = winner(ours, rivals) {
        return Some(Outcome::stalled(
            Reason::WorkspaceNameConflict,
            format!(
                "workspace name {workspace_name:?} is already claimed by EmbeddedWorkspace {}/{}; choose another spec.workspaceName",
                winner.namespace, winner.name
            ),
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claim(ns: &str, name: &str, uid: &str, bound: bool, created: &str) -> Claim {
        Claim {
            namespace: ns.into(),
            name: name.into(),
            uid: uid.into(),
            bound,
            created: created.into(),
        }
    }

    #[test]
    fn claims_matches_the_effective_name() {
        for (ns, name, spec, candidate) in [
            ("a", "main", None, "a.main"),
            ("a", "main", None, "a.other"),
            ("a", "main", Some("b.x"), "b.x"),
            ("a", "main", Some("b.x"), "a.main"),
            ("a.b", "c", None, "a.b.c"),
            ("a", "b.c", None, "a.b.c"),
        ] {
            assert_eq!(
                claims(ns, name, spec, candidate),
                effective_name(ns, name, spec) == candidate,
                "{ns} {name} {spec:?} {candidate}"
            );
        }
    }

    #[test]
    fn the_default_name_is_namespace_dot_name() {
        assert_eq!(effective_name("tenant-a", "main", None), "tenant-a.main");
        assert_eq!(
            effective_name("tenant-a", "main", Some("tenant-a.x")),
            "tenant-a.x"
        );
    }

    #[test]
    fn checks_in_order() {
        let ours = claim("tenant-b", "main", "u2", false, "2026-01-02T00:00:00Z");
        let older_unbound = claim("tenant-a", "main", "u1", false, "2026-01-01T00:00:00Z");
        let newer_bound = claim("tenant-c", "main", "u3", true, "2026-01-03T00:00:00Z");
        let newer_unbound = claim("tenant-c", "main", "u3", false, "2026-01-03T00:00:00Z");
        let policy = WorkspaceNamePolicy::Namespaced;
        let table: Vec<(
            &str,
            Option<&str>,
            WorkspaceNamePolicy,
            bool,
            Vec<Claim>,
            Option<Reason>,
        )> = vec![
            (
                "a name in its own namespace is fine",
                None,
                policy,
                false,
                vec![],
                None,
            ),
            (
                "another namespace's prefix is refused",
                None,
                policy,
                false,
                vec![],
                Some(Reason::WorkspaceNameNotAllowed),
            ),
            (
                "the any policy allows it",
                None,
                WorkspaceNamePolicy::Any,
                false,
                vec![],
                None,
            ),
            (
                "a namespace labelled any allows it",
                None,
                policy,
                true,
                vec![],
                None,
            ),
            (
                "a changed name is refused",
                Some("tenant-b.old"),
                policy,
                false,
                vec![],
                Some(Reason::WorkspaceNameImmutable),
            ),
            (
                "an older claim wins",
                None,
                policy,
                false,
                vec![older_unbound],
                Some(Reason::WorkspaceNameConflict),
            ),
            (
                "a bound claim wins even when newer",
                None,
                policy,
                false,
                vec![newer_bound],
                Some(Reason::WorkspaceNameConflict),
            ),
            (
                "a newer unbound claim loses",
                None,
                policy,
                false,
                vec![newer_unbound],
                None,
            ),
        ];
        for (case, bound, policy, allows_any, rivals, expected) in table {
            let name = if case.contains("another namespace") || case.contains("any") {
                "tenant-a.main"
            } else {
                "tenant-b.main"
            };
            let got = check("tenant-b", name, bound, policy, allows_any, &ours, &rivals)
                .map(|o| o.reason());
            assert_eq!(got, expected, "{case}");
        }
    }

    #[test]
    fn exactly_one_of_two_claims_wins() {
        let a = claim("a", "w", "u1", false, "2026-01-01T00:00:00Z");
        let b = claim("b", "w", "u2", false, "2026-01-01T00:00:00Z");
        assert_ne!(beats(&a, &b), beats(&b, &a));
    }
}
