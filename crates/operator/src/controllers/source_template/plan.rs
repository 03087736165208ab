//! What to do about a SourceTemplate: a pure function of the declared template and what was
//! observed, with the reason that will show in its condition.

use std::collections::BTreeSet;

use serde_json::json;

use super::observe::{External, Observation};
use crate::controllers::compare;
use crate::controllers::convert::stream_selection_mode;
use crate::controllers::secret_values::ResolvedConfig;
use airbyte_client::models::{
    CreateSourceTemplate, PatchSourceTemplate, SourceTemplate as ApiTemplate, TemplateCustomization,
};
use embedded_crds::conditions::Reason;
use embedded_crds::{EXTERNAL_ID, SourceTemplate, SourceTemplateSpec};

/// The declared template, with Secret values merged into its defaults.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub name: String,
    pub actor_definition_id: String,
    pub partial_default_config: ResolvedConfig,
    pub tags: BTreeSet<String>,
    pub customization: Option<TemplateCustomization>,
    pub propagate: bool,
}

impl Desired {
    pub fn new(spec: &SourceTemplateSpec, config: ResolvedConfig) -> Desired {
        Desired {
            name: spec.name.clone(),
            actor_definition_id: spec.actor_definition_id.to_lowercase(),
            partial_default_config: config,
            tags: spec.tags.iter().cloned().collect(),
            customization: spec
                .stream_selection
                .as_ref()
                .map(|s| TemplateCustomization {
                    stream_selection_mode: stream_selection_mode(s.mode),
                    stream_whitelist: s.streams.clone(),
                }),
            propagate: spec.propagate_changes.unwrap_or(false),
        }
    }

    /// Everything declared except the configuration (which may hold Secret values).
    pub fn declared(&self) -> serde_json::Value {
        json!({
            "name": self.name,
            "actor_definition_id": self.actor_definition_id,
            "tags": self.tags,
            "customization": self.customization,
            "propagate": self.propagate,
        })
    }

    pub fn create_request(&self) -> CreateSourceTemplate {
        CreateSourceTemplate {
            actor_definition_id: self.actor_definition_id.clone(),
            partial_default_config: self.partial_default_config.0.clone(),
            name: Some(self.name.clone()),
            customization: self.customization.clone(),
        }
    }
}

/// The changes that bring an observed template to the declared one: a PATCH (always with the
/// full defaults, as the reference requires) and the tags to add and remove (only the difference).
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    pub patch: Option<PatchSourceTemplate>,
    pub add_tags: Vec<String>,
    pub remove_tags: Vec<String>,
}

impl Changes {
    pub fn is_empty(&self) -> bool {
        self.patch.is_none() && self.add_tags.is_empty() && self.remove_tags.is_empty()
    }
}

/// `config_changed`: a referenced Secret or the spec changed, so the defaults are sent even when
/// the masked answer hides a difference.
pub fn changes(desired: &Desired, observed: &ApiTemplate, config_changed: bool) -> Changes {
    let name_differs = observed.name != desired.name;
    let config_differs = config_changed
        || !compare::same(
            &observed.partial_default_config,
            &desired.partial_default_config.0,
        );
    let customization_differs =
        desired.customization.is_some() && observed.customization != desired.customization;
    let patch =
        (name_differs || config_differs || customization_differs).then(|| PatchSourceTemplate {
            name: name_differs.then(|| desired.name.clone()),
            partial_default_config: desired.partial_default_config.0.clone(),
            propagate: desired.propagate,
            customization: if customization_differs {
                desired.customization.clone()
            } else {
                None
            },
        });
    let observed_tags: BTreeSet<String> = observed.tags.iter().cloned().collect();
    Changes {
        patch,
        add_tags: desired.tags.difference(&observed_tags).cloned().collect(),
        remove_tags: observed_tags.difference(&desired.tags).cloned().collect(),
    }
}

pub use crate::controllers::external::Origin;

#[derive(Debug, PartialEq)]
pub enum Plan {
    /// In sync as far as is known: record it.
    Nothing { id: String },
    /// Make the template (again, if `replaces` names one deleted out of band).
    Create { replaces: Option<String> },
    /// Bring an existing template to the declared state (`changes` may be empty).
    Update {
        id: String,
        origin: Origin,
        changes: Changes,
    },
    /// The user must change something.
    Stall { reason: Reason, message: String },
}

pub fn plan(template: &SourceTemplate, observation: &Observation) -> Plan {
    let desired = &observation.desired;
    let adopt = template
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(EXTERNAL_ID));
    match &observation.external {
        External::Unread { id } => Plan::Nothing { id: id.clone() },
        External::Found(found) => Plan::Update {
            id: found.id.clone(),
            origin: Origin::Known,
            changes: changes(desired, found, observation.changed),
        },
        External::Gone { id } if adopt == Some(id) => Plan::Stall {
            reason: Reason::AdoptionFailed,
            message: format!(
                "adopted template {id} no longer exists in Airbyte; remove the {EXTERNAL_ID} annotation to create a new one"
            ),
        },
        External::Gone { id } => Plan::Create {
            replaces: Some(id.clone()),
        },
        External::Adoptable(found) => Plan::Update {
            id: found.id.clone(),
            origin: Origin::Annotation,
            changes: changes(desired, found, true),
        },
        External::AdoptionMissing { id } => Plan::Stall {
            reason: Reason::AdoptionFailed,
            message: format!(
                "{EXTERNAL_ID} {id}: no such template in this Airbyte organization; fix or remove the annotation"
            ),
        },
        External::Recovered(found) => Plan::Update {
            id: found.id.clone(),
            origin: Origin::Recovered,
            changes: changes(desired, found, true),
        },
        External::Taken { id } => Plan::Stall {
            reason: Reason::TemplateNameTaken,
            message: format!(
                "Airbyte already has a source template named {:?} ({id}) that this object did not create; set a distinct spec.name, or adopt it with the {EXTERNAL_ID} annotation",
                desired.name
            ),
        },
        External::Absent => Plan::Create { replaces: None },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, Value};

    fn config(value: Value) -> ResolvedConfig {
        ResolvedConfig(value.as_object().unwrap().clone())
    }

    fn desired() -> Desired {
        Desired {
            name: "Postgres".into(),
            actor_definition_id: "d".into(),
            partial_default_config: config(json!({"port": 5432, "password": "pw"})),
            tags: ["crm".to_string(), "eu".to_string()].into(),
            customization: None,
            propagate: false,
        }
    }

    fn observed() -> ApiTemplate {
        ApiTemplate {
            id: "t".into(),
            name: "Postgres".into(),
            source_definition_id: Some("d".into()),
            tags: vec!["crm".into(), "eu".into()],
            partial_default_config: json!({"port": 5432, "password": "**********"})
                .as_object()
                .unwrap()
                .clone(),
            ..Default::default()
        }
    }

    fn template(annotations: &[(&str, &str)]) -> SourceTemplate {
        let mut template = SourceTemplate::new("pg", SourceTemplateSpec::default());
        template.metadata.annotations = Some(
            annotations
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        );
        template
    }

    fn observation(external: External, changed: bool) -> Observation {
        Observation {
            desired: desired(),
            config_hash: "h".into(),
            changed,
            requested: None,
            request_pending: false,
            intent: None,
            now: std::time::SystemTime::UNIX_EPOCH,
            external,
        }
    }

    /// (case, annotations, what was observed, whether inputs changed, what the plan must be)
    type Case = (
        &'static str,
        &'static [(&'static str, &'static str)],
        External,
        bool,
        fn(&Plan) -> bool,
    );

    #[test]
    fn plans_by_what_was_observed() {
        let table: Vec<Case> = vec![
            (
                "a known template nobody asked about is left alone",
                &[],
                External::Unread { id: "t".into() },
                false,
                |p| matches!(p, Plan::Nothing { id } if id == "t"),
            ),
            (
                "a known template in sync needs no change",
                &[],
                External::Found(observed()),
                false,
                |p| matches!(p, Plan::Update { changes, origin: Origin::Known, .. } if changes.is_empty()),
            ),
            (
                "a changed Secret sends the defaults although the answer is masked",
                &[],
                External::Found(observed()),
                true,
                |p| matches!(p, Plan::Update { changes, .. } if changes.patch.is_some()),
            ),
            (
                "a template deleted out of band is created again",
                &[],
                External::Gone { id: "t".into() },
                false,
                |p| matches!(p, Plan::Create { replaces: Some(id) } if id == "t"),
            ),
            (
                "an adopted template that disappeared stalls",
                &[(EXTERNAL_ID, "t")],
                External::Gone { id: "t".into() },
                false,
                |p| {
                    matches!(
                        p,
                        Plan::Stall {
                            reason: Reason::AdoptionFailed,
                            ..
                        }
                    )
                },
            ),
            (
                "an adoption id that names nothing stalls",
                &[(EXTERNAL_ID, "x")],
                External::AdoptionMissing { id: "x".into() },
                false,
                |p| {
                    matches!(
                        p,
                        Plan::Stall {
                            reason: Reason::AdoptionFailed,
                            ..
                        }
                    )
                },
            ),
            (
                "a namesake this object did not create is never taken",
                &[],
                External::Taken { id: "x".into() },
                false,
                |p| {
                    matches!(
                        p,
                        Plan::Stall {
                            reason: Reason::TemplateNameTaken,
                            ..
                        }
                    )
                },
            ),
            (
                "ours from an interrupted create is adopted",
                &[],
                External::Recovered(observed()),
                false,
                |p| {
                    matches!(
                        p,
                        Plan::Update {
                            origin: Origin::Recovered,
                            ..
                        }
                    )
                },
            ),
            (
                "nothing of the name is created",
                &[],
                External::Absent,
                false,
                |p| matches!(p, Plan::Create { replaces: None }),
            ),
        ];
        for (case, annotations, external, changed, check) in table {
            let plan = plan(&template(annotations), &observation(external, changed));
            assert!(check(&plan), "{case}: {plan:?}");
        }
    }

    #[test]
    fn only_the_differences_are_sent_and_the_defaults_always_in_full() {
        let mut drifted = observed();
        drifted.name = "Renamed".into();
        drifted.tags = vec!["eu".into(), "old".into()];
        let changes = changes(&desired(), &drifted, false);
        let patch = changes.patch.unwrap();
        assert_eq!(patch.name.as_deref(), Some("Postgres"));
        assert_eq!(patch.partial_default_config["password"], "pw");
        assert!(!patch.propagate);
        assert_eq!(changes.add_tags, ["crm"]);
        assert_eq!(changes.remove_tags, ["old"]);
    }

    #[test]
    fn a_removed_default_is_drift() {
        let mut drifted = observed();
        drifted
            .partial_default_config
            .insert("extra".into(), json!(1));
        assert!(changes(&desired(), &drifted, false).patch.is_some());
        let _ = Map::<String, Value>::new();
    }

    #[test]
    fn the_resolved_defaults_never_print() {
        assert!(!format!("{:?}", desired()).contains("pw"));
    }
}
