//! What to do about the Airbyte object, decided from what was looked up: pure, the same for every
//! kind; the kind words the stalls and computes its own changes.

use super::{AirbyteObject, Lookup, Origin};
use embedded_crds::conditions::Reason;

/// The decision; `C` is the kind's changes to an existing object.
#[derive(Debug, PartialEq)]
pub enum Decision<C> {
    /// In sync as far as is known: record it.
    Nothing { id: String },
    /// Make the object (again, if `replaces` names one deleted out of band).
    Create { replaces: Option<String> },
    /// Bring an existing object to the declared state (`changes` may be empty).
    Update {
        id: String,
        origin: Origin,
        changes: C,
    },
    /// The user must change something.
    Stall { reason: Reason, message: String },
}

/// How a kind explains the stalls a lookup can lead to.
pub trait Wording {
    /// The object the annotation adopted is gone.
    fn gone(&self, id: &str) -> String;
    /// The annotation names nothing this object may adopt (`foreign`: another workspace's or
    /// organization's).
    fn missing(&self, id: &str, foreign: bool) -> String;
    /// A namesake this object did not make: the reason and what to do.
    fn taken(&self, id: &str) -> (Reason, String);
}

/// `adopt`: the `external-id` annotation. `changed`: the inputs changed since the last sync (so
/// what a masked answer hides is sent anyway); `changes(object, changed)` computes the kind's
/// changes.
pub fn decide<T: AirbyteObject, C>(
    lookup: &Lookup<T>,
    adopt: Option<&String>,
    changed: bool,
    changes: impl Fn(&T, bool) -> C,
    wording: &impl Wording,
) -> Decision<C> {
    let update = |found: &T, origin: Origin| Decision::Update {
        id: found.id().to_string(),
        origin,
        changes: changes(found, changed || origin != Origin::Known),
    };
    let stall = |message: String| Decision::Stall {
        reason: Reason::AdoptionFailed,
        message,
    };
    match lookup {
        Lookup::Unread { id } => Decision::Nothing { id: id.clone() },
        Lookup::Found(found) => update(found, Origin::Known),
        Lookup::Gone { id } if adopt == Some(id) => stall(wording.gone(id)),
        Lookup::Gone { id } => Decision::Create {
            replaces: Some(id.clone()),
        },
        Lookup::Adoptable(found) => update(found, Origin::Annotation),
        Lookup::AdoptionMissing { id, foreign } => stall(wording.missing(id, *foreign)),
        Lookup::Recovered(found) => update(found, Origin::Recovered),
        Lookup::Taken { id } => {
            let (reason, message) = wording.taken(id);
            Decision::Stall { reason, message }
        }
        Lookup::Absent => Decision::Create { replaces: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Object(&'static str);

    impl AirbyteObject for Object {
        fn id(&self) -> &str {
            self.0
        }
        fn created_at(&self) -> Option<&str> {
            None
        }
    }

    struct Words;

    impl Wording for Words {
        fn gone(&self, id: &str) -> String {
            format!("gone {id}")
        }
        fn missing(&self, id: &str, foreign: bool) -> String {
            format!("missing {id} {foreign}")
        }
        fn taken(&self, id: &str) -> (Reason, String) {
            (Reason::TemplateNameTaken, format!("taken {id}"))
        }
    }

    /// (case, annotation, what was looked up, whether inputs changed, the decision; the changes
    /// are whether they must be sent in full)
    type Case = (
        &'static str,
        Option<&'static str>,
        Lookup<Object>,
        bool,
        Decision<bool>,
    );

    fn update(id: &str, origin: Origin, full: bool) -> Decision<bool> {
        Decision::Update {
            id: id.into(),
            origin,
            changes: full,
        }
    }

    fn stall(reason: Reason, message: &str) -> Decision<bool> {
        Decision::Stall {
            reason,
            message: message.into(),
        }
    }

    #[test]
    fn decides_by_what_was_looked_up() {
        let table: Vec<Case> = vec![
            (
                "a known object nobody asked about is left alone",
                None,
                Lookup::Unread { id: "t".into() },
                false,
                Decision::Nothing { id: "t".into() },
            ),
            (
                "a known object is compared with what is declared",
                None,
                Lookup::Found(Object("t")),
                false,
                update("t", Origin::Known, false),
            ),
            (
                "changed inputs are sent although the answer is masked",
                None,
                Lookup::Found(Object("t")),
                true,
                update("t", Origin::Known, true),
            ),
            (
                "an object deleted out of band is created again",
                None,
                Lookup::Gone { id: "t".into() },
                false,
                Decision::Create {
                    replaces: Some("t".into()),
                },
            ),
            (
                "an adopted object that disappeared stalls",
                Some("t"),
                Lookup::Gone { id: "t".into() },
                false,
                stall(Reason::AdoptionFailed, "gone t"),
            ),
            (
                "an adoption id that names nothing stalls",
                Some("x"),
                Lookup::AdoptionMissing {
                    id: "x".into(),
                    foreign: false,
                },
                false,
                stall(Reason::AdoptionFailed, "missing x false"),
            ),
            (
                "an adoption id that names another's object stalls",
                Some("x"),
                Lookup::AdoptionMissing {
                    id: "x".into(),
                    foreign: true,
                },
                false,
                stall(Reason::AdoptionFailed, "missing x true"),
            ),
            (
                "an adopted object is brought to the spec in full",
                Some("x"),
                Lookup::Adoptable(Object("x")),
                false,
                update("x", Origin::Annotation, true),
            ),
            (
                "a namesake this object did not create is never taken",
                None,
                Lookup::Taken { id: "x".into() },
                false,
                stall(Reason::TemplateNameTaken, "taken x"),
            ),
            (
                "ours from an interrupted create is adopted and sent in full",
                None,
                Lookup::Recovered(Object("r")),
                false,
                update("r", Origin::Recovered, true),
            ),
            (
                "nothing of the name is created",
                None,
                Lookup::Absent,
                false,
                Decision::Create { replaces: None },
            ),
        ];
        for (case, adopt, lookup, changed, expected) in table {
            let adopt = adopt.map(String::from);
            let decided = decide(&lookup, adopt.as_ref(), changed, |_, full| full, &Words);
            assert_eq!(decided, expected, "{case}");
        }
    }
}
