//! Who uses an organization: every object of the four kinds that acts for it, from the caches
//! (an EmbeddedSource without a reference of its own acts for its workspace's organization).

use kube::runtime::reflector::Store;

use super::OrganizationKey;
use crate::controllers::context::Stores;
use crate::controllers::wiring::Kind;
use embedded_crds::{ConnectionTemplate, EmbeddedSource, EmbeddedWorkspace, SourceTemplate};

/// The objects that act for `key`, described (`EmbeddedWorkspace tenant-a/main`), sorted.
pub fn users(stores: &Stores, key: &OrganizationKey) -> Vec<String> {
    let mut found = Vec::new();
    found.extend(of(&stores.of::<EmbeddedWorkspace>(), stores, key));
    found.extend(of(&stores.of::<EmbeddedSource>(), stores, key));
    found.extend(of(&stores.of::<SourceTemplate>(), stores, key));
    found.extend(of(&stores.of::<ConnectionTemplate>(), stores, key));
    found.sort();
    found
}

/// An object counts when it asks for `key` and the organization admits it (a namespace the
/// organization does not admit cannot hold it from being deleted).
fn of<K: Kind>(store: &Store<K>, stores: &Stores, key: &OrganizationKey) -> Vec<String> {
    let rule = super::organization_object(stores, key).and_then(|found| found.namespaces);
    store
        .state_filter(|object| {
            object.organization(stores).is_some_and(|request| {
                request.key == *key
                    && request.namespace.as_deref().is_none_or(|namespace| {
                        super::rules::admits(
                            rule.as_ref(),
                            namespace,
                            stores.namespace_labels(namespace).as_ref(),
                        )
                    })
            })
        })
        .iter()
        .map(|object| object.describe())
        .collect()
}

/// A few users in words, for a condition: `EmbeddedWorkspace a/main, ... and 7 more`.
pub fn some(users: &[String], shown: usize) -> String {
    let mut text = users
        .iter()
        .take(shown)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if users.len() > shown {
        text.push_str(&format!(" and {} more", users.len() - shown));
    }
    text
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_few_users_are_named_and_the_rest_counted() {
        let users: Vec<String> = ["a", "b", "c", "d"].iter().map(|s| s.to_string()).collect();
        assert_eq!(super::some(&users, 3), "a, b, c and 1 more");
        assert_eq!(super::some(&users[..2], 3), "a, b");
    }
}
