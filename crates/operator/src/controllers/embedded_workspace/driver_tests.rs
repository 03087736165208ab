//! The EmbeddedWorkspace driver without a control plane: a fake Airbyte and a scripted apiserver.

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::{Duration, SystemTime};

    use kube::core::{ObjectMeta, PartialObjectMeta};
    use serde_json::{Value, json};

    use crate::controllers::clock::parse_rfc3339;
    use crate::controllers::events::EventReason;
    use crate::controllers::memory::{RecordedSecret, StoredToken};
    use crate::controllers::testing::{Harness, stored};
    use crate::controllers::wiring::Kind;
    use airbyte_client::Endpoint;
    use embedded_crds::{EmbeddedWorkspace, EmbeddedWorkspaceSpec, EmbeddedWorkspaceStatus};

    fn now() -> SystemTime {
        parse_rfc3339("2026-06-01T12:00:00Z").unwrap()
    }

    fn workspace() -> EmbeddedWorkspace {
        stored(
            EmbeddedWorkspace::new("main", EmbeddedWorkspaceSpec::default()),
            Some("tenant-a"),
            now() - Duration::from_secs(60),
        )
    }

    fn secret_answer(version: u64) -> impl FnOnce(&Value) -> (u16, Value) + Send {
        move |body| {
            let mut secret = body.clone();
            secret["metadata"]["resourceVersion"] = json!(version.to_string());
            secret["metadata"]["uid"] = json!("secret-uid");
            (201, secret)
        }
    }

    /// The token Secret of `main` as the operator wrote it (version 5), recorded in memory.
    fn recorded_secret(harness: &Harness, minted_at: SystemTime, expires_at: SystemTime) {
        let settings = crate::controllers::embedded_workspace::token_secret::settings_hash(&[
            "tenant-a.main",
            embedded_crds::REGION_US,
            "",
        ]);
        harness.ctx.memory.record_secret(
            "uid-main",
            Some(RecordedSecret {
                name: "main-airbyte-token".into(),
                version: 5,
                token: StoredToken {
                    minted_at,
                    expires_at,
                    settings_hash: settings,
                    intact: true,
                },
            }),
        );
    }

    /// The watch cache holds `main`'s token Secret at `version`.
    fn cache_token_secret(harness: &mut Harness, version: u64) {
        harness.put_secret(&PartialObjectMeta {
            metadata: ObjectMeta {
                name: Some("main-airbyte-token".into()),
                namespace: Some("tenant-a".into()),
                resource_version: Some(version.to_string()),
                ..Default::default()
            },
            ..Default::default()
        });
    }

    #[tokio::test]
    async fn a_new_workspace_checks_its_name_mints_creates_the_secret_and_records_the_id() {
        let harness = Harness::new(now());
        let main = workspace();
        harness
            .kube
            .expect("POST", "/namespaces/tenant-a/secrets", secret_answer(5));
        harness.expect_write("/embeddedworkspaces/main/status", &main, 6);
        harness.reconcile(&main).await;
        assert_eq!(
            harness.airbyte.calls(),
            [Endpoint::WorkspacesList, Endpoint::ScopedTokenCreate]
        );
        let secret = &harness.kube.requests()[0].body;
        assert_eq!(secret["metadata"]["name"], "main-airbyte-token");
        assert_eq!(secret["metadata"]["ownerReferences"][0]["uid"], "uid-main");
        let status = harness.status_written();
        assert_eq!(status["workspaceId"], "workspace-1");
        assert_eq!(status["workspaceName"], "tenant-a.main");
        assert_eq!(status["conditions"][0]["reason"], "TokenIssued");
        assert!(harness.noted(EventReason::TokenIssued));
        assert!(
            harness.ctx.memory.token("uid-main").is_some(),
            "kept for the workspace's sources"
        );
    }

    #[tokio::test]
    async fn a_name_two_airbyte_workspaces_share_stops_the_tenant_and_mints_nothing() {
        let harness = Harness::new(now());
        let first = harness.airbyte.add_workspace("tenant-a.main");
        let second = harness.airbyte.add_workspace("tenant-a.main");
        let main = workspace();
        harness.expect_write("/embeddedworkspaces/main/status", &main, 6);
        harness.reconcile(&main).await;
        assert_eq!(harness.airbyte.calls(), [Endpoint::WorkspacesList]);
        let status = harness.status_written();
        assert_eq!(status["conditions"][0]["reason"], "WorkspaceNameAmbiguous");
        let message = status["conditions"][0]["message"].as_str().unwrap();
        assert!(
            message.contains(&first) && message.contains(&second),
            "{message}"
        );
    }

    #[tokio::test]
    async fn a_token_due_for_refresh_is_minted_again_into_the_same_secret() {
        let mut harness = Harness::new(now());
        let mut main = workspace();
        main.status = Some(EmbeddedWorkspaceStatus {
            workspace_id: Some("workspace-1".into()),
            workspace_name: Some("tenant-a.main".into()),
            observed_generation: Some(1),
            ..Default::default()
        });
        harness.airbyte.add_workspace("tenant-a.main");
        // The Secret as the operator wrote it: cached at the version it recorded.
        recorded_secret(
            &harness,
            now() - Duration::from_secs(1190),
            now() + Duration::from_secs(10),
        );
        cache_token_secret(&mut harness, 5);
        harness.kube.expect(
            "PATCH",
            "/namespaces/tenant-a/secrets/main-airbyte-token",
            secret_answer(7),
        );
        harness.expect_write("/embeddedworkspaces/main/status", &main, 8);
        harness.reconcile(&main).await;
        assert_eq!(
            harness.airbyte.calls(),
            [Endpoint::ScopedTokenCreate],
            "a refresh does not check the name again"
        );
        assert!(harness.noted(EventReason::TokenRefreshed));
        assert_eq!(
            harness
                .ctx
                .memory
                .recorded_secret("uid-main")
                .unwrap()
                .version,
            7
        );
    }

    #[tokio::test]
    async fn a_foreign_secret_of_the_tokens_name_is_never_touched() {
        let mut harness = Harness::new(now());
        cache_token_secret(&mut harness, 3);
        let main = workspace();
        harness.expect_write("/embeddedworkspaces/main/status", &main, 6);
        harness.reconcile(&main).await;
        assert!(harness.airbyte.calls().is_empty());
        assert_eq!(
            harness.status_written()["conditions"][0]["reason"],
            "SecretConflict"
        );
    }

    #[tokio::test]
    async fn a_steady_workspace_reads_nothing_until_its_drift_check_then_checks_its_token_once() {
        let mut harness = Harness::new(now());
        let mut main = workspace();
        let id = harness.airbyte.add_workspace("tenant-a.main");
        main.status = Some(EmbeddedWorkspaceStatus {
            workspace_id: Some(id.clone()),
            workspace_name: Some("tenant-a.main".into()),
            observed_generation: Some(1),
            ..Default::default()
        });
        recorded_secret(&harness, now(), now() + Duration::from_secs(100 * 3600));
        harness.ctx.memory.remember_token(
            "uid-main",
            crate::controllers::memory::CachedToken {
                token: airbyte_client::BearerToken::new(format!("token-{id}-1")),
                workspace_id: id.clone(),
                expires_at: now() + Duration::from_secs(100 * 3600),
            },
        );
        cache_token_secret(&mut harness, 5);
        harness.expect_write("/embeddedworkspaces/main/status", &main, 6);
        EmbeddedWorkspace::reconcile(Arc::new(main.clone()), harness.ctx.clone())
            .await
            .unwrap();
        assert!(
            harness.airbyte.calls().is_empty(),
            "nothing read before the drift check"
        );

        harness.clock.advance(Duration::from_secs(601));
        main.metadata.resource_version = Some("6".into());
        harness.expect_write("/embeddedworkspaces/main/status", &main, 7);
        harness.reconcile(&main).await;
        assert_eq!(harness.airbyte.calls(), [Endpoint::ScopedTokenInfo]);
    }

    fn on_demand() -> EmbeddedWorkspace {
        let mut main = workspace();
        main.spec.token_policy = Some(embedded_crds::TokenPolicy::OnDemand);
        main
    }

    #[tokio::test]
    async fn a_workspace_that_keeps_no_token_mints_once_to_bind_its_name_and_writes_no_secret() {
        let harness = Harness::new(now());
        let main = on_demand();
        harness.expect_write("/embeddedworkspaces/main/status", &main, 6);
        let action = harness.reconcile(&main).await;
        assert_eq!(
            harness.airbyte.calls(),
            [Endpoint::WorkspacesList, Endpoint::ScopedTokenCreate]
        );
        assert_eq!(harness.kube.requests().len(), 1, "the status, no Secret");
        let status = harness.status_written();
        assert_eq!(status["workspaceId"], "workspace-1");
        assert!(status.get("tokenSecretName").is_none(), "{status}");
        assert!(status.get("tokenExpiresAt").is_none(), "{status}");
        assert_eq!(status["conditions"][0]["reason"], "TokenIssued");
        assert!(
            status["conditions"][0]["message"]
                .as_str()
                .unwrap()
                .contains("no token kept")
        );
        assert!(
            harness.ctx.memory.token("uid-main").is_some(),
            "kept in memory for the workspace's sources"
        );
        assert_eq!(
            action,
            kube::runtime::controller::Action::requeue(harness.ctx.until_drift("uid-main")),
            "no refresh to come back for"
        );
    }

    #[tokio::test]
    async fn switching_to_on_demand_deletes_the_owned_secret_and_then_checks_with_the_organization_token()
     {
        let mut harness = Harness::new(now());
        let mut main = on_demand();
        let id = harness.airbyte.add_workspace("tenant-a.main");
        main.status = Some(EmbeddedWorkspaceStatus {
            workspace_id: Some(id.clone()),
            workspace_name: Some("tenant-a.main".into()),
            token_secret_name: Some("main-airbyte-token".into()),
            observed_generation: Some(1),
            ..Default::default()
        });
        let owned = PartialObjectMeta {
            metadata: ObjectMeta {
                name: Some("main-airbyte-token".into()),
                namespace: Some("tenant-a".into()),
                uid: Some("secret-uid".into()),
                resource_version: Some("5".into()),
                owner_references: Some(vec![
                    k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference {
                        uid: "uid-main".into(),
                        kind: "EmbeddedWorkspace".into(),
                        name: "main".into(),
                        ..Default::default()
                    },
                ]),
                ..Default::default()
            },
            ..Default::default()
        };
        harness.put_secret(&owned);
        harness.kube.expect(
            "DELETE",
            "/namespaces/tenant-a/secrets/main-airbyte-token",
            |body| {
                assert_eq!(body["preconditions"]["uid"], "secret-uid", "{body}");
                (
                    200,
                    json!({"kind": "Status", "apiVersion": "v1", "status": "Success"}),
                )
            },
        );
        harness.expect_write("/embeddedworkspaces/main/status", &main, 6);
        harness.reconcile(&main).await;
        assert!(harness.airbyte.calls().is_empty(), "nothing minted");
        assert!(harness.noted(EventReason::TokenSecretRemoved));
        assert!(harness.status_written().get("tokenSecretName").is_none());
        harness.remove_secret(&owned);

        // The drift check: the organization's token reads the workspace; nothing is minted.
        harness.clock.advance(Duration::from_secs(601));
        main.metadata.resource_version = Some("6".into());
        harness.expect_write("/embeddedworkspaces/main/status", &main, 7);
        harness.reconcile(&main).await;
        assert_eq!(harness.airbyte.calls(), [Endpoint::WorkspaceGet]);
    }
}
