//! The Airbyte object behind a Kubernetes object, handled the same way for sources and both
//! template kinds: [`look_up`] finds it (from status, the `external-id` annotation, or by name
//! against the recorded create intent), [`decide`] says what to do about it (pure), and
//! [`Events`] words what was done. Each kind supplies only its [`Reader`] and its [`Wording`].

mod decide;
mod events;
mod read;

pub use decide::{Decision, Wording, decide};
pub use events::Events;
pub use read::{Reader, look_up, made_by};

use airbyte_client::models::{ConnectionTemplate, Source, SourceTemplate};

/// What Airbyte holds for an object, as far as it was read.
#[derive(Debug)]
pub enum Lookup<T> {
    /// Nothing was read: the object is known and nothing asks for a look.
    Unread { id: String },
    /// The known object.
    Found(T),
    /// The known object is gone (deleted out of band).
    Gone { id: String },
    /// The object the `external-id` annotation names.
    Adoptable(T),
    /// The `external-id` annotation names nothing this object may adopt; `foreign`: it names
    /// another workspace's or organization's.
    AdoptionMissing { id: String, foreign: bool },
    /// An object of this name made inside the recorded create window: ours, from an interrupted
    /// create.
    Recovered(T),
    /// An object of this name that this Kubernetes object did not make.
    Taken { id: String },
    /// Nothing of this name.
    Absent,
}

/// How the Airbyte object came to be this Kubernetes object's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Known from status.
    Known,
    /// Named by the `external-id` annotation.
    Annotation,
    /// Found by name inside the recorded create window after an interrupted create.
    Recovered,
}

/// What every Airbyte object the operator makes says about itself.
pub trait AirbyteObject {
    fn id(&self) -> &str;
    /// When Airbyte made it (RFC 3339), if it says.
    fn created_at(&self) -> Option<&str>;
}

macro_rules! airbyte_object {
    ($($model:ty),*) => {$(
        impl AirbyteObject for $model {
            fn id(&self) -> &str {
                &self.id
            }
            fn created_at(&self) -> Option<&str> {
                self.created_at.as_deref()
            }
        }
    )*};
}

airbyte_object!(Source, SourceTemplate, ConnectionTemplate);
