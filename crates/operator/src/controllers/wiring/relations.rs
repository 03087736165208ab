//! What a kind's objects depend on, declared by the kind ([`Kind::relations`]) as typed mappers:
//! a change or deletion of an `O` concerns these objects of `D`. Each relation becomes one
//! trigger of `D`'s kube-runtime controller (`watches_shared_stream`), fed by `O`'s watch.

use std::sync::Arc;

use futures::StreamExt;
use kube::runtime::Controller;
use kube::runtime::reflector::{ObjectRef, Store};

use super::Kind;
use super::feed::{Feeds, Watched};
use crate::config::OperatorConfig;
use crate::controllers::context::Stores;

/// What a mapper may read: the settings and every cache.
#[derive(Clone)]
pub struct Scope {
    pub config: Arc<OperatorConfig>,
    pub stores: Stores,
}

/// Which objects of `D` a change of `other` concerns.
pub type Mapper<O, D> = fn(other: &O, objects: &Store<D>, scope: &Scope) -> Vec<ObjectRef<D>>;

type Wire<D> =
    Box<dyn FnOnce(&mut Feeds, &Store<D>, &Scope, Controller<D>) -> Controller<D> + Send>;

/// The relations of one kind, wired into its controller when the operator starts.
pub struct Relations<D: Kind> {
    wires: Vec<Wire<D>>,
}

impl<D: Kind> Default for Relations<D> {
    fn default() -> Self {
        Relations { wires: Vec::new() }
    }
}

impl<D: Kind> Relations<D> {
    /// The objects of `D` that `mapper` names are reconciled when an `O`'s published state
    /// changes or it goes away.
    pub fn watch<O: Watched>(&mut self, mapper: Mapper<O, D>) {
        self.wires
            .push(Box::new(move |feeds, store, scope, controller| {
                let (store, scope) = (store.clone(), scope.clone());
                let changes = feeds.of::<O>().subscribe();
                controller.watches_shared_stream(changes.boxed(), move |other: Arc<O>| {
                    mapper(&other, &store, &scope)
                })
            }));
    }

    /// Adds every relation's trigger to `controller`.
    pub(crate) fn wire(
        self,
        feeds: &mut Feeds,
        store: &Store<D>,
        scope: &Scope,
        mut controller: Controller<D>,
    ) -> Controller<D> {
        for wire in self.wires {
            controller = wire(feeds, store, scope, controller);
        }
        controller
    }
}

/// The objects of `D` in `store` for which `concerned` holds.
pub fn those<D: Kind>(store: &Store<D>, concerned: impl Fn(&D) -> bool) -> Vec<ObjectRef<D>> {
    store
        .state_filter(|object| concerned(object))
        .iter()
        .map(|object| ObjectRef::from_obj(object.as_ref()))
        .collect()
}
