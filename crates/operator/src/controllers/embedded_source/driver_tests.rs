//! The EmbeddedSource driver without a control plane: a fake Airbyte and a scripted apiserver.

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
    use serde_json::{Value, json};

    use crate::controllers::clock::{parse_rfc3339, rfc3339};
    use crate::controllers::events::EventReason;
    use crate::controllers::memory::CachedToken;
    use crate::controllers::testing::{Harness, deleting, stored};
    use crate::controllers::wiring::Kind;
    use airbyte_client::{BearerToken, Endpoint};
    use embedded_crds::{
        CREATE_PENDING, ConnectionTemplate, ConnectionTemplateSpec, DeletionPolicy, EmbeddedSource,
        EmbeddedSourceSpec, EmbeddedSourceStatus, EmbeddedWorkspace, EmbeddedWorkspaceSpec,
        EmbeddedWorkspaceStatus, FINALIZER, LocalRef, TagFilter, TagMode,
    };

    const TEMPLATE: &str = "00000000-0000-4000-8000-00000000fa4e";

    fn now() -> SystemTime {
        parse_rfc3339("2026-06-01T12:00:00Z").unwrap()
    }

    fn ready() -> Vec<Condition> {
        vec![Condition {
            type_: "Ready".into(),
            status: "True".into(),
            reason: "TokenIssued".into(),
            message: "ok".into(),
            observed_generation: Some(1),
            last_transition_time: Time(jiff::Timestamp::try_from(now()).unwrap()),
        }]
    }

    /// A Ready workspace `main` in `tenant-a` bound to `workspace_id`, its token in memory.
    fn with_workspace(harness: &mut Harness, workspace_id: &str) {
        let mut workspace = stored(
            EmbeddedWorkspace::new("main", EmbeddedWorkspaceSpec::default()),
            Some("tenant-a"),
            now() - Duration::from_secs(600),
        );
        workspace.status = Some(EmbeddedWorkspaceStatus {
            workspace_id: Some(workspace_id.into()),
            conditions: ready(),
            observed_generation: Some(1),
            ..Default::default()
        });
        harness.put_workspace(&workspace);
        harness.ctx.memory.remember_token(
            "uid-main",
            CachedToken {
                token: BearerToken::new("token"),
                workspace_id: workspace_id.into(),
                expires_at: now() + Duration::from_secs(900),
            },
        );
    }

    fn source(created: SystemTime) -> EmbeddedSource {
        let mut source = stored(
            EmbeddedSource::new(
                "feed",
                EmbeddedSourceSpec {
                    workspace_ref: LocalRef {
                        name: "main".into(),
                        namespace: None,
                    },
                    source_template_id: Some(TEMPLATE.into()),
                    source_config: json!({"count": 5}).as_object().cloned(),
                    deletion_policy: Some(DeletionPolicy::Delete),
                    ..Default::default()
                },
            ),
            Some("tenant-a"),
            created,
        );
        source.metadata.finalizers = Some(vec![FINALIZER.into()]);
        source
    }

    #[tokio::test]
    async fn a_tenants_own_source_made_while_this_one_waited_is_never_taken_over_nor_deleted() {
        let mut harness = Harness::new(now());
        let created = now() - Duration::from_secs(120);
        // The tenant made its own `feed` with a scoped token after the EmbeddedSource was created.
        let theirs =
            harness
                .airbyte
                .add_source("workspace-1", "feed", now() - Duration::from_secs(60));
        with_workspace(&mut harness, "workspace-1");
        let feed = source(created);
        harness.expect_write("/embeddedsources/feed/status", &feed, 3);
        harness.reconcile(&feed).await;
        assert_eq!(harness.airbyte.calls(), [Endpoint::SourcesList]);
        let status = harness.status_written();
        assert_eq!(status["conditions"][0]["reason"], "SourceNameTaken");
        assert!(status.get("sourceId").is_none());

        // Deleting the EmbeddedSource (Delete policy) leaves the tenant's source alone.
        let deleted = deleting(feed, now(), 3);
        harness.expect_write("/embeddedsources/feed?", &deleted, 4);
        harness.reconcile(&deleted).await;
        assert!(harness.airbyte.world().sources.contains_key(&theirs));
        assert!(!harness.airbyte.calls().contains(&Endpoint::SourceDelete));
    }

    #[tokio::test]
    async fn a_new_source_records_its_intent_then_is_created_with_the_workspace_token() {
        let mut harness = Harness::new(now());
        with_workspace(&mut harness, "workspace-1");
        let feed = source(now() - Duration::from_secs(5));
        harness.expect_write("/embeddedsources/feed?", &feed, 2);
        harness.expect_write("/embeddedsources/feed/status", &feed, 3);
        harness.reconcile(&feed).await;
        assert_eq!(
            harness.kube.requests()[0].body["metadata"]["annotations"][CREATE_PENDING],
            rfc3339(now())
        );
        assert_eq!(
            harness.airbyte.calls(),
            [Endpoint::SourcesList, Endpoint::SourcesCreate]
        );
        let status = harness.status_written();
        assert_eq!(status["sourceId"], "source-1");
        assert_eq!(status["workspaceId"], "workspace-1");
        assert!(harness.noted(EventReason::Created));
    }

    #[tokio::test]
    async fn sources_of_a_workspace_that_keeps_no_token_share_one_token_minted_on_demand() {
        let mut harness = Harness::new(now());
        let id = harness.airbyte.add_workspace("tenant-a.main");
        let mut workspace = stored(
            EmbeddedWorkspace::new(
                "main",
                EmbeddedWorkspaceSpec {
                    token_policy: Some(embedded_crds::TokenPolicy::OnDemand),
                    ..Default::default()
                },
            ),
            Some("tenant-a"),
            now() - Duration::from_secs(600),
        );
        workspace.status = Some(EmbeddedWorkspaceStatus {
            workspace_id: Some(id.clone()),
            workspace_name: Some("tenant-a.main".into()),
            conditions: ready(),
            observed_generation: Some(1),
            ..Default::default()
        });
        harness.put_workspace(&workspace);
        let feed = source(now() - Duration::from_secs(5));
        harness.expect_write("/embeddedsources/feed?", &feed, 2);
        harness.expect_write("/embeddedsources/feed/status", &feed, 3);
        harness.reconcile(&feed).await;
        assert_eq!(
            harness.airbyte.calls(),
            [
                Endpoint::WorkspaceGet,
                Endpoint::ScopedTokenCreate,
                Endpoint::SourcesList,
                Endpoint::SourcesCreate
            ]
        );
        assert_eq!(harness.status_written()["workspaceId"], id.as_str());

        let mut second = source(now() - Duration::from_secs(5));
        second.metadata.name = Some("orders".into());
        second.metadata.uid = Some("uid-orders".into());
        harness.expect_write("/embeddedsources/orders?", &second, 4);
        harness.expect_write("/embeddedsources/orders/status", &second, 5);
        harness.reconcile(&second).await;
        let mints = harness
            .airbyte
            .calls()
            .iter()
            .filter(|c| **c == Endpoint::ScopedTokenCreate)
            .count();
        assert_eq!(mints, 1, "the second source uses the token in memory");

        // The Airbyte workspace deleted out of band: a source never re-creates it by minting.
        harness.airbyte.world().workspaces.remove(&id);
        harness.ctx.memory.mark_token_suspect("uid-main");
        let mut third = source(now() - Duration::from_secs(5));
        third.metadata.name = Some("third".into());
        third.metadata.uid = Some("uid-third".into());
        harness.expect_write("/embeddedsources/third/status", &third, 7);
        harness.reconcile(&third).await;
        assert!(
            !harness
                .airbyte
                .world()
                .workspaces
                .values()
                .any(|w| w.name == "tenant-a.main"),
            "no workspace made again by a source"
        );
        assert_eq!(
            harness.status_written()["conditions"][0]["reason"],
            "WorkspaceNotReady"
        );
    }

    #[tokio::test]
    async fn a_source_queued_behind_its_unreconciled_workspace_writes_nothing_a_failing_one_says_why()
     {
        let mut harness = Harness::new(now());
        let mut workspace = stored(
            EmbeddedWorkspace::new("main", EmbeddedWorkspaceSpec::default()),
            Some("tenant-a"),
            now() - Duration::from_secs(600),
        );
        harness.put_workspace(&workspace);
        // Applied a minute ago: long past the 10 s a wait is quiet for.
        let feed = source(now() - Duration::from_secs(60));
        harness.reconcile(&feed).await;
        assert!(harness.kube.requests().is_empty(), "nothing written");
        assert!(harness.airbyte.calls().is_empty());

        let mut stalled = ready();
        stalled[0].status = "False".into();
        stalled[0].reason = "SecretConflict".into();
        workspace.status = Some(EmbeddedWorkspaceStatus {
            conditions: stalled,
            ..Default::default()
        });
        harness.put_workspace(&workspace);
        harness.expect_write("/embeddedsources/feed/status", &feed, 3);
        harness.reconcile(&feed).await;
        let status = harness.status_written();
        assert_eq!(status["conditions"][0]["reason"], "WorkspaceNotReady");
        assert!(
            status["conditions"][0]["message"]
                .as_str()
                .unwrap()
                .contains("SecretConflict")
        );
    }

    #[tokio::test]
    async fn killed_after_the_create_the_next_run_adopts_its_source_instead_of_a_second_create() {
        let mut harness = Harness::new(now());
        with_workspace(&mut harness, "workspace-1");
        let made =
            harness
                .airbyte
                .add_source("workspace-1", "feed", now() + Duration::from_secs(1));
        let mut feed = source(now() - Duration::from_secs(5));
        feed.metadata.annotations = Some([(CREATE_PENDING.to_string(), rfc3339(now()))].into());
        harness.expect_write("/embeddedsources/feed/status", &feed, 3);
        harness.reconcile(&feed).await;
        let calls = harness.airbyte.calls();
        assert!(!calls.contains(&Endpoint::SourcesCreate), "{calls:?}");
        assert_eq!(harness.status_written()["sourceId"], made.as_str());
    }

    fn connection_template(name: &str, tags: &[&str], gone: bool) -> ConnectionTemplate {
        let template = stored(
            ConnectionTemplate::new(
                name,
                ConnectionTemplateSpec {
                    tags: tags.iter().map(|t| t.to_string()).collect(),
                    ..Default::default()
                },
            ),
            None,
            now() - Duration::from_secs(60),
        );
        if gone {
            return deleting(template, now(), 1);
        }
        template
    }

    #[tokio::test]
    async fn the_status_names_the_connection_templates_the_tags_select() {
        let table = [
            (
                "no filter selects every live template",
                None,
                vec!["archive", "lake", "warehouse"],
            ),
            (
                "any: one shared tag is enough",
                Some((vec!["s3", "bq"], TagMode::Any)),
                vec!["lake", "warehouse"],
            ),
            (
                "all: every tag is needed",
                Some((vec!["s3", "daily"], TagMode::All)),
                vec!["lake"],
            ),
            (
                "a tag no template has selects none",
                Some((vec!["gcs"], TagMode::Any)),
                vec![],
            ),
        ];
        for (case, filter, expected) in table {
            let mut harness = Harness::new(now());
            with_workspace(&mut harness, "workspace-1");
            harness.put_connection_template(&connection_template("lake", &["s3", "daily"], false));
            harness.put_connection_template(&connection_template("warehouse", &["bq"], false));
            harness.put_connection_template(&connection_template("archive", &["cold"], false));
            harness.put_connection_template(&connection_template(
                "leaving",
                &["s3", "daily"],
                true,
            ));
            let made = harness.airbyte.add_source("workspace-1", "feed", now());
            let mut feed = source(now() - Duration::from_secs(5));
            feed.spec.connection_template_tags = filter.map(|(tags, mode)| TagFilter {
                tags: tags.into_iter().map(str::to_string).collect(),
                mode: Some(mode),
            });
            feed.status = Some(EmbeddedSourceStatus {
                source_id: Some(made),
                workspace_id: Some("workspace-1".into()),
                ..Default::default()
            });
            harness.expect_write("/embeddedsources/feed/status", &feed, 3);
            harness.reconcile(&feed).await;
            let written = harness.status_written()["connectionTemplates"].clone();
            let names: Vec<&str> = written
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            assert_eq!(names, expected, "{case}");
        }
    }

    #[tokio::test]
    async fn a_source_deleted_out_of_band_is_created_again_when_its_drift_check_is_due() {
        let mut harness = Harness::new(now());
        with_workspace(&mut harness, "workspace-1");
        let mut feed = source(now() - Duration::from_secs(3600));
        feed.metadata.annotations = Some(
            [(
                CREATE_PENDING.to_string(),
                rfc3339(now() - Duration::from_secs(3600)),
            )]
            .into(),
        );
        feed.status = Some(EmbeddedSourceStatus {
            source_id: Some("source-gone".into()),
            workspace_id: Some("workspace-1".into()),
            observed_generation: Some(1),
            conditions: ready(),
            ..Default::default()
        });
        harness.expect_write("/embeddedsources/feed?", &feed, 4);
        harness.expect_write("/embeddedsources/feed/status", &feed, 5);
        harness.reconcile(&feed).await;
        assert_eq!(
            harness.airbyte.calls(),
            [Endpoint::SourceGet, Endpoint::SourcesCreate]
        );
        assert!(harness.noted(EventReason::DriftDetected));
    }

    #[tokio::test]
    async fn a_source_waits_quietly_for_a_workspace_that_does_not_exist_yet() {
        let harness = Harness::new(now());
        let feed = source(now() - Duration::from_secs(2));
        let action = harness.reconcile(&feed).await;
        assert!(
            harness.kube.requests().is_empty(),
            "no write in the first seconds of waiting"
        );
        assert!(harness.airbyte.calls().is_empty());
        assert_eq!(
            action,
            kube::runtime::controller::Action::requeue(Duration::from_secs(2))
        );
    }

    #[tokio::test]
    async fn a_source_made_from_a_template_object_waits_for_it_then_uses_its_id() {
        let mut harness = Harness::new(now());
        with_workspace(&mut harness, "workspace-1");
        let mut feed = source(now() - Duration::from_secs(60));
        feed.spec.source_template_id = None;
        feed.spec.source_template_ref = Some(embedded_crds::TemplateRef {
            name: "faker".into(),
        });
        harness.expect_write("/embeddedsources/feed/status", &feed, 3);
        EmbeddedSource::reconcile(Arc::new(feed.clone()), harness.ctx.clone())
            .await
            .unwrap();
        let waiting = harness.status_written();
        assert_eq!(waiting["conditions"][0]["reason"], "TemplateNotReady");

        let mut template = stored(
            embedded_crds::SourceTemplate::new("faker", Default::default()),
            None,
            now(),
        );
        template.status = Some(embedded_crds::SourceTemplateStatus {
            template_id: Some(TEMPLATE.into()),
            conditions: ready(),
            observed_generation: Some(1),
            ..Default::default()
        });
        harness.put_template(&template);
        feed.metadata.resource_version = Some("3".into());
        harness.expect_write("/embeddedsources/feed?", &feed, 4);
        harness.expect_write("/embeddedsources/feed/status", &feed, 5);
        harness.reconcile(&feed).await;
        assert_eq!(harness.status_written()["sourceTemplateId"], TEMPLATE);
        assert_eq!(harness.kube.requests()[1].method, "PATCH");
    }

    #[tokio::test]
    async fn of_two_sources_claiming_one_name_the_older_wins_and_the_other_stalls() {
        let mut harness = Harness::new(now());
        with_workspace(&mut harness, "workspace-1");
        let older = source(now() - Duration::from_secs(600));
        let mut newer = source(now() - Duration::from_secs(60));
        newer.metadata.name = Some("feed-2".into());
        newer.metadata.uid = Some("uid-feed-2".into());
        newer.spec.name = Some("feed".into());
        harness.put_source(&older);
        harness.put_source(&newer);
        harness.expect_write("/embeddedsources/feed-2/status", &newer, 3);
        harness.reconcile(&newer).await;
        assert!(harness.airbyte.calls().is_empty());
        assert_eq!(
            harness.status_written()["conditions"][0]["reason"],
            "DuplicateSourceName"
        );
    }

    #[tokio::test]
    async fn a_refused_create_stalls_with_the_field_airbyte_named() {
        let mut harness = Harness::new(now());
        with_workspace(&mut harness, "workspace-1");
        harness.airbyte.fail(
            Endpoint::SourcesCreate,
            airbyte_client::ApiError::from_response(
                Endpoint::SourcesCreate,
                422,
                br#"{"message":"invalid","errors":[{"field":"body.source_config.count","message":"Input should be a valid integer","error_code":"int_type"}]}"#,
                None,
            ),
        );
        let feed = source(now() - Duration::from_secs(60));
        harness.expect_write("/embeddedsources/feed?", &feed, 2);
        harness.expect_write("/embeddedsources/feed/status", &feed, 3);
        harness.reconcile(&feed).await;
        let condition = &harness.status_written()["conditions"][0];
        assert_eq!(condition["reason"], "ApiRejected");
        assert!(
            condition["message"]
                .as_str()
                .unwrap()
                .contains("body.source_config.count"),
            "{condition}"
        );
    }
}
