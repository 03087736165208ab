//! What to do about a template: a pure function of the declared template and what was observed.
//! The kind's check may stall it; otherwise the shared decision applies, with the kind's changes:
//! a patch (the kind decides what it holds) and only the tags that differ.

use std::collections::BTreeSet;

use kube::ResourceExt;

use super::observe::Observation;
use super::{Declared, Template, TemplateObject};
use crate::controllers::external::{Decision, Wording, decide};
use embedded_crds::EXTERNAL_ID;
use embedded_crds::conditions::Reason;

pub type Plan<P> = Decision<Changes<P>>;

/// The changes that bring an observed template to the declared one.
#[derive(Debug, PartialEq)]
pub struct Changes<P> {
    pub patch: Option<P>,
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
}

impl<P> Changes<P> {
    pub fn is_empty(&self) -> bool {
        self.patch.is_none() && self.add_tags.is_empty() && self.remove_tags.is_empty()
    }
}

pub fn plan<K: Template>(template: &K, observation: &Observation<K>) -> Plan<K::Patch> {
    let desired = &observation.desired;
    if let Some((reason, message)) = K::stall(&observation.check, desired) {
        return Decision::Stall { reason, message };
    }
    let (claim, fix) = K::claim(desired);
    let wording = Words {
        noun: K::EVENTS.noun,
        claim,
        fix,
    };
    decide(
        &observation.external,
        template.annotations().get(EXTERNAL_ID),
        observation.changed,
        |found, full| changes::<K>(desired, found, full),
        &wording,
    )
}

/// `full`: send the configuration even when the masked answer hides a difference.
pub fn changes<K: Template>(
    desired: &K::Desired,
    observed: &K::Object,
    full: bool,
) -> Changes<K::Patch> {
    let declared = desired.tags();
    let observed_tags: BTreeSet<String> = observed.tags().iter().cloned().collect();
    Changes {
        patch: K::patch(desired, observed, full),
        add_tags: declared.difference(&observed_tags).cloned().collect(),
        remove_tags: observed_tags.difference(declared).cloned().collect(),
    }
}

/// How a template's stalls read: `noun` names the object, `claim` this object's claim on a
/// namesake, `fix` how to make the claim distinct.
struct Words {
    noun: &'static str,
    claim: String,
    fix: &'static str,
}

impl Wording for Words {
    fn gone(&self, id: &str) -> String {
        format!(
            "adopted {} {id} no longer exists in Airbyte; remove the {EXTERNAL_ID} annotation to create a new one",
            self.noun
        )
    }

    fn missing(&self, id: &str, foreign: bool) -> String {
        let noun = self.noun;
        if foreign {
            format!(
                "{EXTERNAL_ID} {id}: the {noun} is not this organization's (another organization's, or a standard one); only this organization's can be adopted"
            )
        } else {
            format!(
                "{EXTERNAL_ID} {id}: no such {noun} in this Airbyte organization; fix or remove the annotation"
            )
        }
    }

    fn taken(&self, id: &str) -> (Reason, String) {
        (
            Reason::TemplateNameTaken,
            format!(
                "Airbyte already has {} ({id}) that this object did not create; {}, or adopt it with the {EXTERNAL_ID} annotation",
                self.claim, self.fix
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stalls_name_the_kind_and_say_what_to_do() {
        let words = Words {
            noun: "connection template",
            claim: "a connection template for destination \"lake\"".into(),
            fix: "set a distinct spec.destinationName",
        };
        assert!(
            words
                .gone("c")
                .starts_with("adopted connection template c no longer exists")
        );
        assert!(
            words
                .missing("c", false)
                .contains("no such connection template")
        );
        assert!(words.missing("c", true).contains("not this organization's"));
        let (reason, message) = words.taken("c");
        assert_eq!(reason, Reason::TemplateNameTaken);
        assert_eq!(
            message,
            format!(
                "Airbyte already has a connection template for destination \"lake\" (c) that this object did not create; set a distinct spec.destinationName, or adopt it with the {EXTERNAL_ID} annotation"
            )
        );
    }
}
