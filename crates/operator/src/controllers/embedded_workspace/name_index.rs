//! Which EmbeddedWorkspaces may claim a workspace name, in O(1): the default name
//! `<namespace>.<name>` names its only possible claimant without an index (a namespace has no
//! dot), and an explicit `spec.workspaceName` is looked up in an index the workspace watch keeps
//! beside its cache (a relist rebuilds it, as the cache itself is rebuilt).

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;

use kube::ResourceExt;
use kube::runtime::reflector::ObjectRef;
use kube::runtime::watcher;

use embedded_crds::EmbeddedWorkspace;

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

/// The explicit workspace names of the cached EmbeddedWorkspaces.
#[derive(Default)]
pub struct NameIndex {
    names: Mutex<Names>,
    /// A relist in progress: the index it builds.
    relist: Mutex<Option<Names>>,
}

fn key(workspace: &EmbeddedWorkspace) -> Key {
    (
        workspace.namespace().unwrap_or_default(),
        workspace.name_any(),
    )
}

impl NameIndex {
    /// Follows the workspace watch (the same events its cache applies).
    pub fn apply(&self, event: &watcher::Event<EmbeddedWorkspace>) {
        match event {
            watcher::Event::Apply(w) => self.names().set(key(w), w.spec.workspace_name.clone()),
            watcher::Event::Delete(w) => self.names().set(key(w), None),
            watcher::Event::Init => *self.relisting() = Some(Names::default()),
            watcher::Event::InitApply(w) => {
                if let Some(names) = self.relisting().as_mut() {
                    names.set(key(w), w.spec.workspace_name.clone());
                }
            }
            watcher::Event::InitDone => {
                if let Some(names) = self.relisting().take() {
                    *self.names() = names;
                }
            }
        }
    }

    /// The workspaces that may claim `workspace_name`: the one its default form names, and those
    /// that name it explicitly. The caller checks each against the cache.
    pub fn candidates(&self, workspace_name: &str) -> Vec<ObjectRef<EmbeddedWorkspace>> {
        let mut found: BTreeSet<Key> = self
            .names()
            .by_name
            .get(workspace_name)
            .cloned()
            .unwrap_or_default();
        if let Some((namespace, name)) = workspace_name.split_once('.') {
            found.insert((namespace.to_string(), name.to_string()));
        }
        found
            .into_iter()
            .map(|(namespace, name)| ObjectRef::new(&name).within(&namespace))
            .collect()
    }

    fn names(&self) -> std::sync::MutexGuard<'_, Names> {
        self.names.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn relisting(&self) -> std::sync::MutexGuard<'_, Option<Names>> {
        self.relist.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_crds::EmbeddedWorkspaceSpec;

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

    fn names(index: &NameIndex, name: &str) -> Vec<String> {
        index
            .candidates(name)
            .iter()
            .map(|r| format!("{}/{}", r.namespace.as_deref().unwrap_or_default(), r.name))
            .collect()
    }

    #[test]
    fn candidates_are_the_default_claimant_and_the_explicit_ones() {
        let index = NameIndex::default();
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
    fn changes_deletions_and_relists_are_followed() {
        let index = NameIndex::default();
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
