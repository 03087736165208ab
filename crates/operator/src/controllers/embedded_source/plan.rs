//! What to do about an EmbeddedSource: a pure function of what was observed, with the reason
//! that will show in its condition.

use serde_json::json;

use super::observe::{Observation, Wait};
use crate::controllers::compare;
use crate::controllers::convert::tag_mode;
use crate::controllers::external::{Decision, Wording, decide};
use crate::controllers::secret_values::ResolvedConfig;
use airbyte_client::models::{CreateSource, Source, TagMode, UpdateSource};
use embedded_crds::conditions::Reason;
use embedded_crds::{EXTERNAL_ID, EmbeddedSource};

/// The declared source, Secret values merged.
#[derive(Clone, Debug, PartialEq)]
pub struct Desired {
    pub name: String,
    pub workspace_id: String,
    pub template_id: String,
    pub config: ResolvedConfig,
    pub tags: Option<Vec<String>>,
    pub mode: Option<TagMode>,
}

impl Desired {
    pub fn new(
        source: &EmbeddedSource,
        workspace_id: &str,
        template_id: &str,
        config: ResolvedConfig,
    ) -> Desired {
        let filter = source.spec.connection_template_tags.as_ref();
        Desired {
            name: super::source_name(source),
            workspace_id: workspace_id.to_string(),
            template_id: template_id.to_string(),
            config,
            tags: filter.map(|f| f.tags.clone()),
            mode: filter.map(|f| tag_mode(f.mode())),
        }
    }

    /// Everything declared except the configuration (which may hold Secret values).
    pub fn declared(&self) -> serde_json::Value {
        json!({
            "name": self.name,
            "workspace_id": self.workspace_id,
            "template_id": self.template_id,
            "tags": self.tags,
            "mode": self.mode,
        })
    }

    pub fn create_request(&self) -> CreateSource {
        CreateSource {
            name: self.name.clone(),
            workspace_id: self.workspace_id.clone(),
            source_template_id: self.template_id.clone(),
            source_config: self.config.0.clone(),
            selected_connection_template_tags: self.tags.clone(),
            selected_connection_template_tags_mode: self.mode,
        }
    }
}

/// The `PUT` that brings `observed` to `desired`, if anything differs. `config_changed` (the
/// spec or a referenced Secret changed) forces the configuration to be sent even when the masked
/// answer hides it. The connection template selection cannot change after creation (the API
/// does not take it, and admission refuses the edit).
pub fn changes(desired: &Desired, observed: &Source, config_changed: bool) -> Option<UpdateSource> {
    let name = (observed.name != desired.name).then(|| desired.name.clone());
    let config = (config_changed || !compare::contains(&observed.source_config, &desired.config.0))
        .then(|| desired.config.0.clone());
    (name.is_some() || config.is_some()).then_some(UpdateSource {
        name,
        source_config: config,
    })
}

/// Whether a filter of `wanted` tags in `mode` selects a template tagged `have`: no wanted tags
/// select every template; `any` needs one of them, `all` every one.
pub fn selects(wanted: &[String], mode: embedded_crds::TagMode, have: &[String]) -> bool {
    if wanted.is_empty() {
        return true;
    }
    match mode {
        embedded_crds::TagMode::Any => wanted.iter().any(|t| have.contains(t)),
        embedded_crds::TagMode::All => wanted.iter().all(|t| have.contains(t)),
    }
}

/// The ConnectionTemplates (from the cache, not being deleted) whose tags the source selects, by
/// name, sorted.
pub fn selected_templates(
    source: &EmbeddedSource,
    templates: &kube::runtime::reflector::Store<embedded_crds::ConnectionTemplate>,
    organization: &crate::controllers::organization::OrganizationKey,
) -> Vec<String> {
    let filter = source
        .spec
        .connection_template_tags
        .clone()
        .unwrap_or_default();
    let mut names: Vec<String> = templates
        .state_filter(|t| {
            t.metadata.deletion_timestamp.is_none()
                && selects(&filter.tags, filter.mode(), &t.spec.tags)
                && crate::controllers::organization::OrganizationKey::of(
                    t.spec.organization_ref.as_ref(),
                    None,
                ) == *organization
        })
        .iter()
        .filter_map(|t| t.metadata.name.clone())
        .collect();
    names.sort();
    names
}

pub use crate::controllers::external::Origin;

#[derive(Debug, PartialEq)]
pub enum Plan {
    /// Something it needs may still appear (in progress, no call).
    Wait(Wait),
    /// The user must change something.
    Stall {
        reason: Reason,
        message: String,
    },
    /// Synced from these very inputs: nothing to read or write.
    Steady {
        id: String,
    },
    /// In sync as far as is known: record it.
    Nothing {
        id: String,
    },
    Create {
        replaces: Option<String>,
    },
    Update {
        id: String,
        origin: Origin,
        update: Option<UpdateSource>,
    },
}

pub fn plan(source: &EmbeddedSource, observation: &Observation) -> Plan {
    let seen = match observation {
        Observation::Waiting(wait) => return Plan::Wait(wait.clone()),
        Observation::Invalid { reason, message } => {
            return Plan::Stall {
                reason: *reason,
                message: message.clone(),
            };
        }
        Observation::Steady { id, .. } => return Plan::Steady { id: id.clone() },
        Observation::Seen(seen) => seen,
    };
    from_external(source, seen)
}

/// The plan once Airbyte was looked at (or need not be).
fn from_external(source: &EmbeddedSource, seen: &super::observe::Seen) -> Plan {
    let desired = &seen.desired;
    let wording = Words {
        workspace: &source.spec.workspace_ref.name,
        name: &desired.name,
    };
    let adopt = source
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(EXTERNAL_ID));
    let update = |found: &Source, full| changes(desired, found, full);
    match decide(&seen.external, adopt, seen.changed, update, &wording) {
        Decision::Nothing { id } => Plan::Nothing { id },
        Decision::Create { replaces } => Plan::Create { replaces },
        Decision::Update {
            id,
            origin,
            changes,
        } => Plan::Update {
            id,
            origin,
            update: changes,
        },
        Decision::Stall { reason, message } => Plan::Stall { reason, message },
    }
}

/// How a source's stalls read: sources live in a workspace.
struct Words<'a> {
    workspace: &'a str,
    name: &'a str,
}

impl Wording for Words<'_> {
    fn gone(&self, id: &str) -> String {
        let workspace = self.workspace;
        format!(
            "adopted source {id} no longer exists in workspace {workspace}; remove the {EXTERNAL_ID} annotation to create a new one"
        )
    }

    fn missing(&self, id: &str, foreign: bool) -> String {
        let workspace = self.workspace;
        if foreign {
            format!(
                "{EXTERNAL_ID} {id}: the source belongs to another workspace; only a source of workspace {workspace} can be adopted"
            )
        } else {
            format!("{EXTERNAL_ID} {id}: no such source; fix or remove the annotation")
        }
    }

    fn taken(&self, id: &str) -> (Reason, String) {
        let workspace = self.workspace;
        (
            Reason::SourceNameTaken,
            format!(
                "workspace {workspace} already has a source named {:?} ({id}) that this object did not create; set a distinct spec.name, or adopt it with the {EXTERNAL_ID} annotation",
                self.name
            ),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::observe::Seen;
    use super::*;
    use crate::controllers::external::Lookup;
    use crate::controllers::testing::{annotated, object};
    use airbyte_client::models::{MASKED_SECRET, TemplateSummary};
    use embedded_crds::{EmbeddedSourceSpec, LocalRef};

    fn desired() -> Desired {
        Desired {
            name: "stripe".into(),
            workspace_id: "w".into(),
            template_id: "t".into(),
            config: ResolvedConfig(object(
                json!({"account_id": "acct", "client_secret": "sk", "nested": {"a": 1}}),
            )),
            tags: Some(vec!["s3".into()]),
            mode: Some(TagMode::All),
        }
    }

    fn observed() -> Source {
        Source {
            id: "s".into(),
            name: "stripe".into(),
            source_template: Some(TemplateSummary {
                id: "t".into(),
                name: "Stripe".into(),
            }),
            source_config: object(
                json!({"account_id": "acct", "client_secret": MASKED_SECRET, "nested": {"a": 1}, "lookback_window_days": 0}),
            ),
            ..Default::default()
        }
    }

    fn source(annotations: &[(&str, &str)]) -> EmbeddedSource {
        let source = EmbeddedSource::new(
            "stripe",
            EmbeddedSourceSpec {
                workspace_ref: LocalRef {
                    name: "main".into(),
                    namespace: None,
                },
                ..Default::default()
            },
        );
        annotated(source, annotations)
    }

    fn seen(external: Lookup<Source>, changed: bool) -> Observation {
        Observation::Seen(Box::new(Seen {
            desired: desired(),
            config_hash: "h".into(),
            changed,
            requested: None,
            intent: None,
            now: std::time::SystemTime::UNIX_EPOCH,
            inputs: None,
            connection_templates: Vec::new(),
            external,
            token: None,
        }))
    }

    /// (case, annotations, what was observed, what the plan must be)
    type Case = (
        &'static str,
        &'static [(&'static str, &'static str)],
        Observation,
        fn(&Plan) -> bool,
    );

    #[test]
    fn plans_by_what_was_observed() {
        let table: Vec<Case> = vec![
            (
                "a missing workspace is waited for",
                &[],
                Observation::Waiting(Wait {
                    reason: Reason::WorkspaceNotReady,
                    message: "m".into(),
                    queued: false,
                }),
                |p| {
                    matches!(
                        p,
                        Plan::Wait(Wait {
                            reason: Reason::WorkspaceNotReady,
                            ..
                        })
                    )
                },
            ),
            (
                "a source synced from the same inputs needs nothing",
                &[],
                Observation::Steady {
                    id: "s".into(),
                    inputs: 1,
                },
                |p| matches!(p, Plan::Steady { .. }),
            ),
            (
                "a known source in sync needs no update",
                &[],
                seen(Lookup::Found(observed()), false),
                |p| {
                    matches!(
                        p,
                        Plan::Update {
                            update: None,
                            origin: Origin::Known,
                            ..
                        }
                    )
                },
            ),
            (
                "a changed Secret sends the configuration although the answer is masked",
                &[],
                seen(Lookup::Found(observed()), true),
                |p| matches!(p, Plan::Update { update: Some(u), .. } if u.source_config.is_some()),
            ),
            (
                "a source deleted out of band is created again",
                &[],
                seen(Lookup::Gone { id: "s".into() }, false),
                |p| matches!(p, Plan::Create { replaces: Some(_) }),
            ),
            (
                "an adopted source that disappeared stalls",
                &[(EXTERNAL_ID, "s")],
                seen(Lookup::Gone { id: "s".into() }, false),
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
                "a source of another workspace is never adopted",
                &[(EXTERNAL_ID, "x")],
                seen(
                    Lookup::AdoptionMissing {
                        id: "x".into(),
                        foreign: true,
                    },
                    false,
                ),
                |p| matches!(p, Plan::Stall { reason: Reason::AdoptionFailed, message } if message.contains("another workspace")),
            ),
            (
                "a tenant's own source of the same name is never taken",
                &[],
                seen(Lookup::Taken { id: "x".into() }, false),
                |p| {
                    matches!(
                        p,
                        Plan::Stall {
                            reason: Reason::SourceNameTaken,
                            ..
                        }
                    )
                },
            ),
            (
                "ours from an interrupted create is adopted",
                &[],
                seen(Lookup::Recovered(observed()), false),
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
                seen(Lookup::Absent, false),
                |p| matches!(p, Plan::Create { replaces: None }),
            ),
        ];
        for (case, annotations, observation, check) in table {
            let plan = plan(&source(annotations), &observation);
            assert!(check(&plan), "{case}: {plan:?}");
        }
    }

    #[test]
    fn tag_filters_select_templates_by_any_or_all() {
        use embedded_crds::TagMode::{All, Any};
        let have = ["s3".to_string(), "eu".to_string()];
        let table: [(&str, &[&str], embedded_crds::TagMode, bool); 6] = [
            ("no tags select every template", &[], Any, true),
            ("any: one shared tag is enough", &["s3", "us"], Any, true),
            ("any: no shared tag selects nothing", &["gcs"], Any, false),
            ("all: every tag present", &["s3", "eu"], All, true),
            ("all: one tag missing", &["s3", "us"], All, false),
            ("all: no tags still select everything", &[], All, true),
        ];
        for (case, wanted, mode, expected) in table {
            let wanted: Vec<String> = wanted.iter().map(|t| t.to_string()).collect();
            assert_eq!(selects(&wanted, mode, &have), expected, "{case}");
        }
    }

    #[test]
    fn updates_carry_only_name_and_configuration() {
        let mut drifted = observed();
        drifted.name = "renamed".into();
        drifted
            .source_config
            .insert("account_id".into(), json!("other"));
        let update = changes(&desired(), &drifted, false).unwrap();
        assert_eq!(update.name.as_deref(), Some("stripe"));
        assert_eq!(update.source_config.unwrap()["client_secret"], "sk");
        assert_eq!(
            changes(&desired(), &observed(), false),
            None,
            "masked secrets and template defaults are not drift"
        );
    }

    #[test]
    fn the_resolved_configuration_never_prints() {
        assert!(!format!("{:?}", desired()).contains("\"sk\""));
    }
}
