//! What the sources and both template kinds say in Events about their Airbyte object: created
//! (again, after an out-of-band deletion), adopted (by annotation, or recovered after an
//! interrupted create), updated, deleted. One vocabulary, each kind naming its object and actions.

use super::Origin;
use crate::controllers::events::{EventAction, EventReason, Note};

/// How a kind names its Airbyte object in Events, and the actions that read, create, update and
/// delete it.
#[derive(Clone, Copy, Debug)]
pub struct Events {
    pub noun: &'static str,
    pub get: EventAction,
    pub create: EventAction,
    pub update: EventAction,
    pub delete: EventAction,
}

impl Events {
    /// The create (`detail` follows the id, e.g. " in workspace main"), preceded by a warning
    /// when it replaces an object deleted out of band.
    pub fn created(self, replaces: Option<&str>, id: &str, detail: &str) -> Vec<Note> {
        let noun = self.noun;
        let mut notes = Vec::new();
        if let Some(old) = replaces {
            notes.push(Note::warning(
                EventReason::DriftDetected,
                self.get,
                format!("Airbyte {noun} {old} was deleted out of band; created it again"),
            ));
        }
        notes.push(Note::normal(
            EventReason::Created,
            self.create,
            format!("created Airbyte {noun} {id}{detail}"),
        ));
        notes
    }

    /// Nothing for a known object; an adoption otherwise.
    pub fn origin(self, id: &str, origin: Origin) -> Vec<Note> {
        let noun = self.noun;
        match origin {
            Origin::Known => Vec::new(),
            Origin::Annotation => vec![Note::normal(
                EventReason::Adopted,
                self.get,
                format!("adopted Airbyte {noun} {id}"),
            )],
            Origin::Recovered => vec![Note::normal(
                EventReason::Adopted,
                self.create,
                format!("found Airbyte {noun} {id} from an interrupted create and took it over"),
            )],
        }
    }

    pub fn updated(self, id: &str) -> Note {
        Note::normal(
            EventReason::Updated,
            self.update,
            format!("updated Airbyte {} {id}", self.noun),
        )
    }

    pub fn deleted(self, id: &str) -> Note {
        Note::normal(
            EventReason::Deleted,
            self.delete,
            format!("deleted Airbyte {} {id}", self.noun),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEMPLATE: Events = Events {
        noun: "source template",
        get: EventAction::GetTemplate,
        create: EventAction::CreateTemplate,
        update: EventAction::UpdateTemplate,
        delete: EventAction::DeleteTemplate,
    };

    #[test]
    fn each_event_names_the_object_and_its_action() {
        let created = TEMPLATE.created(Some("old"), "new", "");
        assert_eq!(created.len(), 2);
        assert!(created[0].warning && created[0].action == EventAction::GetTemplate);
        assert_eq!(
            created[0].message,
            "Airbyte source template old was deleted out of band; created it again"
        );
        assert_eq!(created[1].message, "created Airbyte source template new");
        assert!(TEMPLATE.origin("x", Origin::Known).is_empty());
        let recovered = TEMPLATE.origin("x", Origin::Recovered);
        assert_eq!(recovered[0].action, EventAction::CreateTemplate);
        assert_eq!(
            TEMPLATE.updated("x").message,
            "updated Airbyte source template x"
        );
        let deleted = TEMPLATE.deleted("x");
        assert_eq!(deleted.message, "deleted Airbyte source template x");
        assert_eq!(deleted.action, EventAction::DeleteTemplate);
    }
}
