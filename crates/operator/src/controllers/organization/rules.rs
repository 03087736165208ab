//! Who may act for which organization: pure functions of the reference, the organization object
//! as the cache holds it, the namespace's labels and what the organization controller found.
//! A refusal names the organization and the rule, and says how to fix it.

use std::collections::BTreeMap;

use kube::core::{Selector, SelectorExt};

use super::OrganizationKey;
use super::registry::Health;
use embedded_crds::conditions::Reason;
use embedded_crds::{DEFAULT_ORGANIZATION, NamespaceRule, OrganizationKind};

/// The organization an object asks for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub key: OrganizationKey,
    /// The asking object's namespace (`None`: a cluster-scoped object).
    pub namespace: Option<String>,
    /// No `organizationRef` is set: the default was taken.
    pub defaulted: bool,
    /// The object already acts for an Airbyte organization (its external object exists).
    pub bound: bool,
}

/// The organization object, as the cache holds it.
#[derive(Clone, Copy, Debug)]
pub struct Found<'a> {
    pub generation: Option<i64>,
    pub namespaces: Option<&'a NamespaceRule>,
    /// Being deleted: it serves the objects that use it until they are gone, and no new one.
    pub deleting: bool,
}

/// What the organization controller last found (for the generation it describes).
#[derive(Clone, Copy, Debug)]
pub struct Known<'a> {
    pub generation: Option<i64>,
    pub health: &'a Health,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Act with the organization object's client.
    Use,
    /// Act with the organization of the operator's flags (no `default` object exists).
    UseFallback,
    /// The organization has not been checked in its current form yet: wait quietly.
    Wait,
    /// Refused: the object stalls with this reason and makes no Airbyte call.
    Refuse { reason: Reason, message: String },
}

/// Whether `rule` admits `namespace` (no rule: every namespace). A selector Kubernetes would
/// refuse admits nothing.
pub fn admits(
    rule: Option<&NamespaceRule>,
    namespace: &str,
    labels: Option<&BTreeMap<String, String>>,
) -> bool {
    let Some(rule) = rule else {
        return true;
    };
    if rule.names.iter().any(|name| name == namespace) {
        return true;
    }
    let empty = BTreeMap::new();
    rule.selector
        .clone()
        .and_then(|selector| Selector::try_from(selector).ok())
        .is_some_and(|selector| selector.matches(labels.unwrap_or(&empty)))
}

/// The rule in words, for a refusal.
fn describe_rule(rule: &NamespaceRule) -> String {
    let mut parts = Vec::new();
    if !rule.names.is_empty() {
        parts.push(format!("the namespaces {}", rule.names.join(", ")));
    }
    if let Some(selector) = &rule.selector {
        match Selector::try_from(selector.clone()) {
            Ok(selector) => parts.push(format!("namespaces labelled {selector}")),
            Err(_) => parts.push("no namespace by its invalid selector".into()),
        }
    }
    parts.join(" and ")
}

pub fn decide(
    request: &Request,
    found: Option<Found<'_>>,
    labels: Option<&BTreeMap<String, String>>,
    known: Option<Known<'_>>,
    fallback: bool,
) -> Decision {
    let key = &request.key;
    let Some(found) = found else {
        if key.is_default() && fallback {
            return Decision::UseFallback;
        }
        return Decision::Refuse {
            reason: Reason::OrganizationNotFound,
            message: not_found(request),
        };
    };
    if let (OrganizationKind::ClusterAirbyteOrganization, Some(namespace)) =
        (key.kind, &request.namespace)
        && !admits(found.namespaces, namespace, labels)
    {
        // A namespace not cached yet may match the selector once it is.
        if labels.is_none() && found.namespaces.is_some_and(|rule| rule.selector.is_some()) {
            return Decision::Wait;
        }
        let rule = found.namespaces.map(describe_rule).unwrap_or_default();
        return Decision::Refuse {
            reason: Reason::OrganizationNotAllowed,
            message: format!(
                "{} does not admit namespace {namespace} (spec.namespaces admits {rule}): ask the platform team to add it, or use another organization",
                key.describe()
            ),
        };
    }
    if found.deleting && !request.bound {
        return Decision::Refuse {
            reason: Reason::OrganizationNotReady,
            message: format!(
                "{} is being deleted: it serves only the objects that used it before; use another organization",
                key.describe()
            ),
        };
    }
    match known {
        Some(known) if known.generation == found.generation => match known.health {
            Health::Ready => Decision::Use,
            Health::NotReady { reason, message } => Decision::Refuse {
                reason: Reason::OrganizationNotReady,
                message: format!(
                    "{} is not Ready ({reason}: {message}); nothing is sent to Airbyte for this object until it is",
                    key.describe()
                ),
            },
        },
        _ => Decision::Wait,
    }
}

fn not_found(request: &Request) -> String {
    let key = &request.key;
    if request.defaulted {
        format!(
            "no spec.organizationRef is set, so the ClusterAirbyteOrganization {DEFAULT_ORGANIZATION} is used, and it does not exist (nor was the operator started with --organization-id): create it, or set spec.organizationRef"
        )
    } else {
        format!(
            "{} does not exist: create it, or fix spec.organizationRef",
            key.describe()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, LabelSelectorRequirement};

    fn cluster(name: &str) -> OrganizationKey {
        OrganizationKey::cluster(name)
    }

    fn asked(key: OrganizationKey, namespace: Option<&str>) -> Request {
        Request {
            defaulted: key.is_default(),
            key,
            namespace: namespace.map(str::to_string),
            bound: false,
        }
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn rule(names: &[&str], selector: Option<LabelSelector>) -> NamespaceRule {
        NamespaceRule {
            names: names.iter().map(|n| n.to_string()).collect(),
            selector,
        }
    }

    fn team(value: &str) -> LabelSelector {
        LabelSelector {
            match_labels: Some(labels(&[("team", value)])),
            match_expressions: None,
        }
    }

    #[test]
    fn namespace_rules_admit_by_name_or_by_label() {
        let bad = LabelSelector {
            match_labels: None,
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "team".into(),
                operator: "Sometimes".into(),
                values: None,
            }]),
        };
        let table: Vec<(
            &str,
            Option<NamespaceRule>,
            &str,
            BTreeMap<String, String>,
            bool,
        )> = vec![
            (
                "no rule admits every namespace",
                None,
                "a",
                labels(&[]),
                true,
            ),
            (
                "a listed namespace is admitted",
                Some(rule(&["a", "b"], None)),
                "b",
                labels(&[]),
                true,
            ),
            (
                "an unlisted namespace is not",
                Some(rule(&["a"], None)),
                "c",
                labels(&[]),
                false,
            ),
            (
                "a namespace with the selected label is admitted",
                Some(rule(&[], Some(team("x")))),
                "c",
                labels(&[("team", "x")]),
                true,
            ),
            (
                "a namespace with another value is not",
                Some(rule(&[], Some(team("x")))),
                "c",
                labels(&[("team", "y")]),
                false,
            ),
            (
                "either a name or a label admits",
                Some(rule(&["a"], Some(team("x")))),
                "a",
                labels(&[]),
                true,
            ),
            (
                "an invalid selector admits nothing",
                Some(rule(&[], Some(bad))),
                "a",
                labels(&[("team", "x")]),
                false,
            ),
        ];
        for (case, rule, namespace, labels, expected) in table {
            assert_eq!(
                admits(rule.as_ref(), namespace, Some(&labels)),
                expected,
                "{case}"
            );
        }
    }

    #[test]
    fn references_are_decided_in_order() {
        let ready = Health::Ready;
        let refused = Health::NotReady {
            reason: Reason::CredentialsRefused,
            message: "Airbyte refused the client secret".into(),
        };
        let only_a = rule(&["tenant-a"], None);
        fn found(rule: Option<&NamespaceRule>) -> Option<Found<'_>> {
            Some(Found {
                generation: Some(2),
                namespaces: rule,
                deleting: false,
            })
        }
        let by_label = rule(&[], Some(team("x")));
        let deleting = Some(Found {
            generation: Some(2),
            namespaces: None,
            deleting: true,
        });
        fn known(health: &Health, generation: Option<i64>) -> Option<Known<'_>> {
            Some(Known { generation, health })
        }
        let table: Vec<(&str, Request, Option<Found>, Option<Known>, bool, Decision)> = vec![
            (
                "the default object missing falls back to the flags' organization",
                asked(cluster("default"), Some("tenant-a")),
                None,
                None,
                true,
                Decision::UseFallback,
            ),
            (
                "the default object missing without flags is not found",
                asked(cluster("default"), Some("tenant-a")),
                None,
                None,
                false,
                Decision::Refuse {
                    reason: Reason::OrganizationNotFound,
                    message: "no spec.organizationRef is set, so the ClusterAirbyteOrganization default is used, and it does not exist (nor was the operator started with --organization-id): create it, or set spec.organizationRef".into(),
                },
            ),
            (
                "another missing organization is never replaced by the flags' one",
                asked(cluster("prod"), Some("tenant-a")),
                None,
                None,
                true,
                Decision::Refuse {
                    reason: Reason::OrganizationNotFound,
                    message: "ClusterAirbyteOrganization prod does not exist: create it, or fix spec.organizationRef".into(),
                },
            ),
            (
                "a namespace the cluster organization does not admit is refused before anything else",
                asked(cluster("prod"), Some("tenant-b")),
                found(Some(&only_a)),
                known(&ready, Some(2)),
                false,
                Decision::Refuse {
                    reason: Reason::OrganizationNotAllowed,
                    message: "ClusterAirbyteOrganization prod does not admit namespace tenant-b (spec.namespaces admits the namespaces tenant-a): ask the platform team to add it, or use another organization".into(),
                },
            ),
            (
                "a cluster-scoped template is not subject to namespace rules",
                asked(cluster("prod"), None),
                found(Some(&only_a)),
                known(&ready, Some(2)),
                false,
                Decision::Use,
            ),
            (
                "an admitted namespace uses a Ready organization",
                asked(cluster("prod"), Some("tenant-a")),
                found(Some(&only_a)),
                known(&ready, Some(2)),
                false,
                Decision::Use,
            ),
            (
                "an organization whose credentials were refused refuses its objects",
                asked(cluster("prod"), Some("tenant-a")),
                found(None),
                known(&refused, Some(2)),
                false,
                Decision::Refuse {
                    reason: Reason::OrganizationNotReady,
                    message: "ClusterAirbyteOrganization prod is not Ready (CredentialsRefused: Airbyte refused the client secret); nothing is sent to Airbyte for this object until it is".into(),
                },
            ),
            (
                "an organization not checked since its spec changed makes its objects wait",
                asked(cluster("prod"), Some("tenant-a")),
                found(None),
                known(&ready, Some(1)),
                false,
                Decision::Wait,
            ),
            (
                "an organization being deleted takes no new object",
                asked(cluster("prod"), Some("tenant-a")),
                deleting,
                known(&ready, Some(2)),
                false,
                Decision::Refuse {
                    reason: Reason::OrganizationNotReady,
                    message: "ClusterAirbyteOrganization prod is being deleted: it serves only the objects that used it before; use another organization".into(),
                },
            ),
            (
                "an organization being deleted still serves the objects that use it",
                Request { bound: true, ..asked(cluster("prod"), Some("tenant-a")) },
                deleting,
                known(&ready, Some(2)),
                false,
                Decision::Use,
            ),
            (
                "a namespace not cached yet waits for its labels",
                asked(cluster("prod"), Some("tenant-new")),
                found(Some(&by_label)),
                known(&ready, Some(2)),
                false,
                Decision::Wait,
            ),
            (
                "an organization not checked yet by this process makes its objects wait",
                asked(OrganizationKey::namespaced("tenant-a", "own"), Some("tenant-a")),
                found(None),
                None,
                false,
                Decision::Wait,
            ),
        ];
        for (case, request, found, known, fallback, expected) in table {
            let labels = BTreeMap::new();
            let cached = request.namespace.as_deref() != Some("tenant-new");
            assert_eq!(
                decide(&request, found, cached.then_some(&labels), known, fallback),
                expected,
                "{case}"
            );
        }
    }
}
