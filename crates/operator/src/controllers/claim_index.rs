//! Which objects claim a name, in O(1) per lookup: an index the kind's watch keeps beside its
//! cache (a relist rebuilds it, as the cache itself is rebuilt). The workspace name check uses
//! it for explicit `spec.workspaceName` values (the default name `<namespace>.<name>` names its
//! only possible claimant without an index: a namespace has no dot); the source name check for
//! the display names in each workspace.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;

use embedded_crds::{EmbeddedSource, EmbeddedWorkspace};

type Key = (String, String);

#[derive(Default)]
struct Names {
    by_name: HashMap<String, BTreeSet<Key>>,
    by_object: HashMap<Key, String>,
}

impl Names {
    fn set(&mut self, key: Key, name: Option<String>) {
        if let Some(old) = self.by_object.remove(&key)
            && let Some(keys) = self.by_name.get_mut(&old)
        {
            keys.remove(&key);
            if keys.is_empty() {
                self.by_name.remove(&old);
            }
        }
        if let Some(name) = name {
            self.by_name
                .entry(name.clone())
                .or_default()
                .insert(key.clone());
            self.by_object.insert(key, name);
        }
    }
}

/// The name each object of `K` claims (`None`: none worth indexing).
pub trait Claims: kube::Resource<DynamicType = ()> + Clone {
    fn claimed(&self) -> Option<String>;
}

impl Claims for EmbeddedWorkspace {
    /// Only an explicit name: the default one needs no index.
    fn claimed(&self) -> Option<String> {
        self.spec.workspace_name.clone()
    }
}

impl Claims for EmbeddedSource {
    /// The display name within its workspace.
    fn claimed(&self) -> Option<String> {
        Some(source_key(
            &self.namespace().unwrap_or_default(),
            &self.spec.workspace_ref.name,
            self.spec.name.as_deref().unwrap_or(&self.name_any()),
        ))
    }
}

/// The index key of a source display name in a workspace.
pub fn source_key(namespace: &str, workspace: &str, name: &str) -> String {
    format!("{namespace}/{workspace}/{name}")
}

/// The names the cached objects of `K` claim.
pub struct ClaimIndex<K> {
    names: Mutex<Names>,
    /// A relist in progress: the index it builds.
    relist: Mutex<Option<Names>>,
    kind: std::marker::PhantomData<fn(K)>,
}

impl<K> Default for ClaimIndex<K> {
    fn default() -> Self {
        ClaimIndex {
            names: Mutex::default(),
            relist: Mutex::default(),
            kind: std::marker::PhantomData,
        }
    }
}

fn key<K: kube::Resource>(object: &K) -> Key {
    (object.namespace().unwrap_or_default(), object.name_any())
}

impl<K: Claims> ClaimIndex<K> {
    /// Follows the kind's watch (the same events its cache applies).
    pub fn apply(&self, event: &watcher::Event<K>) {
        match event {
            watcher::Event::Apply(o) => self.names().set(key(o), o.claimed()),
            watcher::Event::Delete(o) => self.names().set(key(o), None),
            watcher::Event::Init => *self.relisting() = Some(Names::default()),
            watcher::Event::InitApply(o) => {
                if let Some(names) = self.relisting().as_mut() {
                    names.set(key(o), o.claimed());
                }
            }
            watcher::Event::InitDone => {
                if let Some(names) = self.relisting().take() {
                    *self.names() = names;
                }
            }
        }
    }

    /// The objects that claim `name`; the caller checks each against the cache.
    pub fn claimants(&self, name: &str) -> Vec<ObjectRef<K>> {
        self.names()
            .by_name
            .get(name)
            .into_iter()
            .flatten()
            .map(|(namespace, name)| ObjectRef::new(name).within(namespace))
            .collect()
    }

    fn names(&self) -> std::sync::MutexGuard<'_, Names> {
        self.names.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn relisting(&self) -> std::sync::MutexGuard<'_, Option<Names>> {
        self.relist.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl ClaimIndex<EmbeddedWorkspace> {
    /// The workspaces that may claim `workspace_name`: the one its default form names, and those
    /// that name it explicitly.
    pub fn candidates(&self, workspace_name: &str) -> Vec<ObjectRef<EmbeddedWorkspace>> {
        let mut found = self.claimants(workspace_name);
        if let Some((namespace, name)) = workspace_name.split_once('.') {
            let default = ObjectRef::new(name).within(namespace);
            if !found.contains(&default) {
                found.push(default);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_crds::{EmbeddedSourceSpec, EmbeddedWorkspaceSpec, LocalRef};

    fn workspace(namespace: &str, name: &str, spec_name: Option<&str>) -> EmbeddedWorkspace {
        let mut w = EmbeddedWorkspace::new(
            name,
            EmbeddedWorkspaceSpec {
                workspace_name: spec_name.map(str::to_string),
                ..Default::default()
            },
        );
        w.metadata.namespace = Some(namespace.into());
        w
    }

    fn names(index: &ClaimIndex<EmbeddedWorkspace>, name: &str) -> Vec<String> {
        let mut found: Vec<String> = index
            .candidates(name)
            .iter()
            .map(|r| format!("{}/{}", r.namespace.as_deref().unwrap_or_default(), r.name))
            .collect();
        found.sort();
        found
    }

    #[test]
    fn candidates_are_the_default_claimant_and_the_explicit_ones() {
        let index = ClaimIndex::<EmbeddedWorkspace>::default();
        index.apply(&watcher::Event::Apply(workspace("a", "main", None)));
        index.apply(&watcher::Event::Apply(workspace("b", "x", Some("a.main"))));
        index.apply(&watcher::Event::Apply(workspace("c", "y", Some("shared"))));
        let table = [
            ("default and explicit", "a.main", vec!["a/main", "b/x"]),
            ("explicit only", "shared", vec!["c/y"]),
            (
                "a default name with dots in the object name",
                "a.b.c",
                vec!["a/b.c"],
            ),
            ("nobody", "none", vec![]),
        ];
        for (case, name, expected) in table {
            assert_eq!(names(&index, name), expected, "{case}");
        }
    }

    #[test]
    fn sources_claim_their_display_name_within_their_workspace() {
        let source = |name: &str, workspace: &str, display: Option<&str>| {
            let mut s = EmbeddedSource::new(
                name,
                EmbeddedSourceSpec {
                    workspace_ref: LocalRef {
                        name: workspace.into(),
                        namespace: None,
                    },
                    name: display.map(str::to_string),
                    ..Default::default()
                },
            );
            s.metadata.namespace = Some("t".into());
            s
        };
        let index = ClaimIndex::<EmbeddedSource>::default();
        index.apply(&watcher::Event::Apply(source("feed", "main", None)));
        index.apply(&watcher::Event::Apply(source(
            "other",
            "main",
            Some("feed"),
        )));
        index.apply(&watcher::Event::Apply(source(
            "feed2",
            "second",
            Some("feed"),
        )));
        let mut found: Vec<String> = index
            .claimants(&source_key("t", "main", "feed"))
            .iter()
            .map(|r| r.name.clone())
            .collect();
        found.sort();
        assert_eq!(
            found,
            ["feed", "other"],
            "the second workspace's is not a rival"
        );
    }

    #[test]
    fn changes_deletions_and_relists_are_followed() {
        let index = ClaimIndex::<EmbeddedWorkspace>::default();
        index.apply(&watcher::Event::Apply(workspace("c", "y", Some("shared"))));
        index.apply(&watcher::Event::Apply(workspace("c", "y", Some("other"))));
        assert!(names(&index, "shared").is_empty(), "renamed away");
        assert_eq!(names(&index, "other"), ["c/y"]);
        index.apply(&watcher::Event::Delete(workspace("c", "y", Some("other"))));
        assert!(names(&index, "other").is_empty(), "deleted");

        index.apply(&watcher::Event::Apply(workspace("d", "z", Some("gone"))));
        index.apply(&watcher::Event::Init);
        index.apply(&watcher::Event::InitApply(workspace(
            "e",
            "w",
            Some("kept"),
        )));
        assert_eq!(
            names(&index, "gone"),
            ["d/z"],
            "the old index serves until the relist ends"
        );
        index.apply(&watcher::Event::InitDone);
        assert!(names(&index, "gone").is_empty(), "absent from the relist");
        assert_eq!(names(&index, "kept"), ["e/w"]);
    }
}
