//! The SourceTemplate driver without a control plane: a fake Airbyte and a scripted apiserver.

#[cfg(test)]
mod tests {

    use std::time::{Duration, SystemTime};

    use serde_json::json;

    use crate::controllers::clock::{parse_rfc3339, rfc3339};
    use crate::controllers::events::EventReason;
    use crate::controllers::testing::{Harness, annotated, deleting, stored};
    use airbyte_client::Endpoint;
    use embedded_crds::{CREATE_PENDING, FINALIZER, SourceTemplate, SourceTemplateSpec};

    fn now() -> SystemTime {
        parse_rfc3339("2026-06-01T12:00:00Z").unwrap()
    }

    fn template(annotations: &[(&str, String)], finalizer: bool) -> SourceTemplate {
        let template = stored(
            SourceTemplate::new(
                "pg",
                SourceTemplateSpec {
                    name: "Postgres".into(),
                    actor_definition_id: "decd338e-5647-4c0b-adf4-da0e75f5a750".into(),
                    tags: vec!["crm".into()],
                    ..Default::default()
                },
            ),
            None,
            now() - Duration::from_secs(60),
        );
        let mut template = annotated(template, annotations);
        if finalizer {
            template.metadata.finalizers = Some(vec![FINALIZER.into()]);
        }
        template
    }

    #[tokio::test]
    async fn a_new_template_records_its_create_intent_before_the_create_then_is_tagged() {
        let harness = Harness::new(now());
        let template = template(&[], false);
        harness.expect_write("/sourcetemplates/pg?", &template, 2);
        harness.expect_write("/sourcetemplates/pg/status", &template, 3);
        harness.reconcile(&template).await;
        let metadata = &harness.kube.requests()[0].body["metadata"];
        assert_eq!(metadata["finalizers"], json!([FINALIZER]));
        assert_eq!(metadata["annotations"][CREATE_PENDING], rfc3339(now()));
        assert_eq!(
            harness.airbyte.calls(),
            [
                Endpoint::SourceTemplatesList,
                Endpoint::SourceTemplateCreate,
                Endpoint::SourceTemplateTagAdd
            ]
        );
        let status = harness.status_written();
        assert_eq!(status["templateId"], "template-1");
        assert_eq!(status["conditions"][0]["reason"], "Synced");
        assert!(
            status["configHash"]
                .as_str()
                .unwrap()
                .starts_with("sha256:")
        );
        assert!(harness.noted(EventReason::Created));
    }

    #[tokio::test]
    async fn an_operator_that_died_after_the_create_adopts_its_template_and_creates_nothing() {
        let harness = Harness::new(now());
        let made = harness
            .airbyte
            .add_template("Postgres", now() + Duration::from_secs(2));
        let template = template(&[(CREATE_PENDING, rfc3339(now()))], true);
        harness.expect_write("/sourcetemplates/pg/status", &template, 3);
        harness.reconcile(&template).await;
        assert_eq!(
            harness.airbyte.calls(),
            [
                Endpoint::SourceTemplatesList,
                Endpoint::SourceTemplateGet,
                Endpoint::SourceTemplatePatch,
                Endpoint::SourceTemplateTagAdd
            ],
            "no second create; the defaults are sent again, as the inputs may have moved since"
        );
        assert_eq!(harness.status_written()["templateId"], made.as_str());
        assert!(harness.noted(EventReason::Adopted));
    }

    #[tokio::test]
    async fn a_namesake_it_never_set_out_to_create_is_reported_and_left_alone() {
        let harness = Harness::new(now());
        harness
            .airbyte
            .add_template("Postgres", now() + Duration::from_secs(2));
        let template = template(&[], true);
        harness.expect_write("/sourcetemplates/pg/status", &template, 3);
        harness.reconcile(&template).await;
        assert_eq!(harness.airbyte.calls(), [Endpoint::SourceTemplatesList]);
        let status = harness.status_written();
        assert_eq!(status["conditions"][0]["reason"], "TemplateNameTaken");
        assert!(status.get("templateId").is_none());
    }

    #[tokio::test]
    async fn deleted_after_an_interrupted_create_its_template_is_found_and_deleted() {
        let harness = Harness::new(now());
        harness
            .airbyte
            .add_template("Postgres", now() + Duration::from_secs(1));
        let template = template(&[(CREATE_PENDING, rfc3339(now()))], true);
        let template = deleting(template, now(), 1);
        harness.expect_write("/sourcetemplates/pg?", &template, 4);
        harness.reconcile(&template).await;
        assert_eq!(
            harness.airbyte.calls(),
            [
                Endpoint::SourceTemplatesList,
                Endpoint::SourceTemplateDelete
            ]
        );
        assert!(harness.airbyte.world().templates.is_empty());
        assert_eq!(
            harness.kube.requests()[0].body["metadata"]["finalizers"],
            json!([])
        );
    }

    #[tokio::test]
    async fn a_template_deleted_out_of_band_is_created_again_at_the_drift_check() {
        let harness = Harness::new(now());
        let first_create = now() - Duration::from_secs(3600);
        let mut template = template(&[(CREATE_PENDING, rfc3339(first_create))], true);
        template.status = Some(embedded_crds::SourceTemplateStatus {
            template_id: Some("gone".into()),
            config_hash: Some("sha256:old".into()),
            observed_generation: Some(1),
            ..Default::default()
        });
        harness.expect_write("/sourcetemplates/pg?", &template, 4);
        harness.expect_write("/sourcetemplates/pg/status", &template, 5);
        harness.reconcile(&template).await;
        assert_eq!(
            harness.airbyte.calls(),
            [
                Endpoint::SourceTemplateGet,
                Endpoint::SourceTemplateCreate,
                Endpoint::SourceTemplateTagAdd
            ]
        );
        assert!(harness.noted(EventReason::DriftDetected));
        assert_eq!(harness.status_written()["templateId"], "template-1");
        assert_eq!(
            harness.kube.requests()[0].body["metadata"]["annotations"][CREATE_PENDING],
            rfc3339(now()),
            "the intent is renewed before the second create"
        );
    }
}
