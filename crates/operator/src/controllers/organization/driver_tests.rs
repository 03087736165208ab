//! The organization driver, and objects acting for organizations, without a control plane: a
//! fake Airbyte (its clients built with each organization's client secret) and a scripted
//! apiserver.

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::time::{Duration, SystemTime};

    use base64::Engine;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
    use kube::core::{ObjectMeta, PartialObjectMeta};
    use serde_json::{Value, json};

    use crate::controllers::clock::parse_rfc3339;
    use crate::controllers::organization::OrganizationKey;
    use crate::controllers::organization::registry::Health;
    use crate::controllers::testing::{Harness, deleting, stored};
    use airbyte_client::Endpoint;
    use embedded_crds::conditions::Reason;
    use embedded_crds::{
        ClusterAirbyteOrganization, ClusterAirbyteOrganizationSpec, CredentialsSecretRef,
        EmbeddedSource, EmbeddedSourceSpec, EmbeddedWorkspace, EmbeddedWorkspaceSpec, LocalRef,
        NamespaceRule, OrganizationKind, OrganizationRef, OrganizationSettings, TemplateRef,
    };

    const PROD: &str = "00000000-0000-4000-8000-0000000000b1";

    fn now() -> SystemTime {
        parse_rfc3339("2026-06-01T12:00:00Z").unwrap()
    }

    /// A harness whose Airbyte issues application tokens for `PROD`.
    fn harness() -> Harness {
        let harness = Harness::new(now());
        harness.airbyte.world().token_organization = Some(PROD.into());
        harness
    }

    fn prod(namespaces: Option<NamespaceRule>) -> ClusterAirbyteOrganization {
        let spec = ClusterAirbyteOrganizationSpec {
            settings: OrganizationSettings {
                organization_id: PROD.into(),
                credentials_secret_ref: CredentialsSecretRef {
                    name: "prod-credentials".into(),
                    ..Default::default()
                },
                ..Default::default()
            },
            namespaces,
        };
        stored(
            ClusterAirbyteOrganization::new("prod", spec),
            None,
            now() - Duration::from_secs(60),
        )
    }

    fn prod_ref() -> OrganizationRef {
        OrganizationRef {
            kind: OrganizationKind::ClusterAirbyteOrganization,
            name: "prod".into(),
            namespace: None,
        }
    }

    fn workspace(organization: Option<OrganizationRef>) -> EmbeddedWorkspace {
        let spec = EmbeddedWorkspaceSpec {
            organization_ref: organization,
            ..Default::default()
        };
        stored(
            EmbeddedWorkspace::new("main", spec),
            Some("tenant-a"),
            now() - Duration::from_secs(30),
        )
    }

    /// The apiserver's answer to reading the credentials Secret (`None`: 404).
    fn secret(harness: &Harness, secret: Option<&str>, version: u64) {
        let data = |value: &str| base64::engine::general_purpose::STANDARD.encode(value);
        let answer = match secret {
            Some(secret) => (
                200,
                json!({
                    "apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": "prod-credentials", "namespace": "operator", "uid": "s-uid", "resourceVersion": version.to_string()},
                    "data": {"clientId": data("prod-client"), "clientSecret": data(secret)},
                }),
            ),
            None => (
                404,
                json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "NotFound", "code": 404}),
            ),
        };
        harness.kube.expect(
            "GET",
            "/api/v1/namespaces/operator/secrets/prod-credentials",
            move |_| answer,
        );
    }

    /// `prod`, reconciled once with the Secret holding `secret` (`None`: no Secret).
    async fn reconciled(
        harness: &mut Harness,
        secret_value: Option<&str>,
    ) -> ClusterAirbyteOrganization {
        let organization = prod(None);
        harness.put_cluster_organization(&organization);
        secret(harness, secret_value, 3);
        harness.expect_write("/clusterairbyteorganizations/prod?", &organization, 4);
        harness.expect_write("/clusterairbyteorganizations/prod/status", &organization, 5);
        harness.reconcile(&organization).await;
        organization
    }

    fn ready_condition(status: &Value) -> Condition {
        let conditions: Vec<Condition> =
            serde_json::from_value(status["conditions"].clone()).unwrap();
        conditions.into_iter().find(|c| c.type_ == "Ready").unwrap()
    }

    fn health(harness: &Harness) -> Option<Health> {
        harness
            .ctx
            .organizations
            .entry(&OrganizationKey::cluster("prod"))
            .map(|(_, health, _)| health)
    }

    #[tokio::test]
    async fn credentials_that_obtain_a_token_make_the_organization_ready() {
        let mut harness = harness();
        reconciled(&mut harness, Some("right")).await;
        assert_eq!(harness.airbyte.calls(), [Endpoint::ApplicationToken]);
        let status = harness.status_written();
        assert_eq!(ready_condition(&status).reason, "Authenticated");
        assert_eq!(status["users"], 0);
        assert_eq!(status["tokenExpiresAt"], "2026-06-01T12:15:00Z");
        assert_eq!(health(&harness), Some(Health::Ready));
    }

    #[tokio::test]
    async fn credentials_of_another_organization_than_declared_stall_it() {
        let mut harness = Harness::new(now());
        reconciled(&mut harness, Some("right")).await;
        let ready = ready_condition(&harness.status_written());
        assert_eq!(ready.reason, "OrganizationIdMismatch");
        assert!(ready.message.contains(PROD), "{}", ready.message);
    }

    #[tokio::test]
    async fn a_missing_secret_stalls_the_organization_without_calling_airbyte() {
        let mut harness = harness();
        reconciled(&mut harness, None).await;
        assert!(harness.airbyte.calls().is_empty());
        let ready = ready_condition(&harness.status_written());
        assert_eq!(ready.reason, "SecretNotFound");
        assert!(
            ready.message.contains("operator/prod-credentials"),
            "{}",
            ready.message
        );
        assert!(matches!(
            health(&harness),
            Some(Health::NotReady {
                reason: Reason::SecretNotFound,
                ..
            })
        ));
    }

    #[tokio::test]
    async fn refused_credentials_stall_and_a_rotated_secret_recovers_without_a_restart() {
        let mut harness = harness();
        harness.airbyte.world().accepted_secret = Some("right".into());
        let mut organization = reconciled(&mut harness, Some("wrong")).await;
        let ready = ready_condition(&harness.status_written());
        assert_eq!(ready.reason, "CredentialsRefused");
        assert!(
            !ready.message.contains("wrong"),
            "never the secret: {}",
            ready.message
        );
        assert!(matches!(
            health(&harness),
            Some(Health::NotReady {
                reason: Reason::CredentialsRefused,
                ..
            })
        ));

        // The Secret is fixed: a new version is read, a new client built, the token obtained.
        organization.metadata.resource_version = Some("5".into());
        organization.metadata.finalizers = Some(vec!["embedded.airbyte.ai/in-use".into()]);
        organization.status = serde_json::from_value(harness.status_written()).unwrap();
        secret(&harness, Some("right"), 7);
        harness.expect_write("/clusterairbyteorganizations/prod/status", &organization, 8);
        harness.reconcile(&organization).await;
        assert_eq!(
            ready_condition(&harness.status_written()).reason,
            "Authenticated"
        );
        assert_eq!(health(&harness), Some(Health::Ready));
        assert_eq!(
            harness.airbyte.calls(),
            [Endpoint::ApplicationToken, Endpoint::ApplicationToken]
        );
    }

    #[tokio::test]
    async fn an_organization_in_use_holds_its_finalizer_and_its_deletion_waits_naming_its_users() {
        let mut harness = harness();
        let organization = prod(None);
        harness.put_cluster_organization(&organization);
        harness.put_workspace(&workspace(Some(prod_ref())));
        secret(&harness, Some("right"), 3);
        harness.expect_write("/clusterairbyteorganizations/prod?", &organization, 4);
        harness.expect_write("/clusterairbyteorganizations/prod/status", &organization, 5);
        harness.reconcile(&organization).await;
        let metadata = &harness.kube.requests()[1].body["metadata"];
        assert_eq!(
            metadata["finalizers"],
            json!(["embedded.airbyte.ai/in-use"])
        );
        assert_eq!(harness.status_written()["users"], 1);

        let mut held = deleting(organization, now(), 5);
        held.metadata.finalizers = Some(vec!["embedded.airbyte.ai/in-use".into()]);
        harness.put_cluster_organization(&held);
        secret(&harness, Some("right"), 3);
        harness.expect_write("/clusterairbyteorganizations/prod/status", &held, 6);
        harness.reconcile(&held).await;
        let ready = ready_condition(&harness.status_written());
        assert_eq!(ready.reason, "InUse");
        assert!(
            ready.message.contains("EmbeddedWorkspace tenant-a/main"),
            "{}",
            ready.message
        );
    }

    #[tokio::test]
    async fn an_unused_organization_being_deleted_lets_go() {
        let mut harness = harness();
        let mut gone = deleting(prod(None), now(), 5);
        gone.metadata.finalizers = Some(vec!["embedded.airbyte.ai/in-use".into()]);
        harness.put_cluster_organization(&gone);
        secret(&harness, Some("right"), 3);
        harness.expect_write("/clusterairbyteorganizations/prod?", &gone, 6);
        harness.reconcile(&gone).await;
        let metadata = &harness.kube.requests()[1].body["metadata"];
        assert_eq!(metadata["finalizers"], json!([]));
        assert!(harness.airbyte.calls().is_empty());
        assert_eq!(health(&harness), None, "forgotten");
    }

    #[tokio::test]
    async fn a_workspace_of_an_organization_whose_credentials_were_refused_stalls_without_a_call() {
        let mut harness = harness();
        harness.airbyte.world().accepted_secret = Some("right".into());
        reconciled(&mut harness, Some("wrong")).await;
        let calls = harness.airbyte.calls().len();

        let main = workspace(Some(prod_ref()));
        harness.put_workspace(&main);
        harness.expect_write("/embeddedworkspaces/main/status", &main, 6);
        harness.reconcile(&main).await;
        assert_eq!(
            harness.airbyte.calls().len(),
            calls,
            "no Airbyte call for the workspace"
        );
        let status = harness.status_written();
        let ready = ready_condition(&status);
        assert_eq!(ready.reason, "OrganizationNotReady");
        assert!(
            ready.message.contains("ClusterAirbyteOrganization prod"),
            "{}",
            ready.message
        );
        assert_eq!(status["organization"], "ClusterAirbyteOrganization/prod");
        assert!(
            !harness.noted(crate::controllers::events::EventReason::Condition(
                Reason::OrganizationNotReady
            )),
            "the organization's own Event tells"
        );
    }

    #[tokio::test]
    async fn a_namespace_a_cluster_organization_does_not_admit_is_refused_before_any_call() {
        let mut harness = harness();
        let organization = prod(Some(NamespaceRule {
            names: vec!["tenant-b".into()],
            selector: None,
        }));
        harness.put_cluster_organization(&organization);
        harness.put_namespace(&PartialObjectMeta {
            metadata: ObjectMeta {
                name: Some("tenant-a".into()),
                labels: Some(BTreeMap::from([("team".into(), "a".into())])),
                ..Default::default()
            },
            ..Default::default()
        });
        let main = workspace(Some(prod_ref()));
        harness.put_workspace(&main);
        harness.expect_write("/embeddedworkspaces/main/status", &main, 6);
        harness.reconcile(&main).await;
        assert!(harness.airbyte.calls().is_empty());
        let ready = ready_condition(&harness.status_written());
        assert_eq!(ready.reason, "OrganizationNotAllowed");
        assert!(
            ready.message.contains("does not admit namespace tenant-a"),
            "{}",
            ready.message
        );
    }

    #[tokio::test]
    async fn an_organization_not_checked_yet_makes_its_objects_wait_quietly() {
        let mut harness = harness();
        harness.put_cluster_organization(&prod(None));
        let main = workspace(Some(prod_ref()));
        harness.put_workspace(&main);
        let action = harness.reconcile(&main).await;
        assert!(harness.kube.requests().is_empty(), "no write at all");
        assert!(harness.airbyte.calls().is_empty());
        assert_eq!(
            action,
            kube::runtime::controller::Action::requeue(Duration::from_secs(2))
        );
    }

    #[tokio::test]
    async fn a_source_naming_another_organization_than_its_workspace_is_refused() {
        let mut harness = harness();
        reconciled(&mut harness, Some("right")).await;
        let calls = harness.airbyte.calls().len();
        // The workspace acts for the default (the flags' organization), the source names prod.
        let mut main = workspace(None);
        main.status = Some(embedded_crds::EmbeddedWorkspaceStatus {
            workspace_id: Some("workspace-1".into()),
            conditions: vec![Condition {
                type_: "Ready".into(),
                status: "True".into(),
                reason: "TokenIssued".into(),
                message: String::new(),
                observed_generation: Some(1),
                last_transition_time: k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(
                    jiff::Timestamp::try_from(now()).unwrap(),
                ),
            }],
            ..Default::default()
        });
        harness.put_workspace(&main);
        let spec = EmbeddedSourceSpec {
            workspace_ref: LocalRef {
                name: "main".into(),
                namespace: None,
            },
            source_template_ref: Some(TemplateRef {
                name: "stripe".into(),
            }),
            organization_ref: Some(prod_ref()),
            ..Default::default()
        };
        let source = stored(
            EmbeddedSource::new("stripe", spec),
            Some("tenant-a"),
            now() - Duration::from_secs(10),
        );
        harness.put_source(&source);
        harness.expect_write("/embeddedsources/stripe/status", &source, 9);
        harness.reconcile(&source).await;
        assert_eq!(harness.airbyte.calls().len(), calls);
        let ready = ready_condition(&harness.status_written());
        assert_eq!(ready.reason, "OrganizationMismatch");
        assert!(
            ready
                .message
                .contains("EmbeddedWorkspace main acts for ClusterAirbyteOrganization default"),
            "{}",
            ready.message
        );
    }

    #[tokio::test]
    async fn a_namespace_organization_reads_its_secret_in_its_own_namespace() {
        let mut harness = harness();
        let spec = embedded_crds::AirbyteOrganizationSpec {
            settings: OrganizationSettings {
                organization_id: PROD.into(),
                credentials_secret_ref: CredentialsSecretRef {
                    name: "own".into(),
                    client_secret_key: Some("secret".into()),
                    ..Default::default()
                },
                ..Default::default()
            },
        };
        let own = stored(
            embedded_crds::AirbyteOrganization::new("own", spec),
            Some("tenant-a"),
            now(),
        );
        harness.put_organization(&own);
        harness.kube.expect("GET", "/api/v1/namespaces/tenant-a/secrets/own", |_| {
            (
                200,
                json!({"apiVersion": "v1", "kind": "Secret",
                    "metadata": {"name": "own", "namespace": "tenant-a", "uid": "u", "resourceVersion": "2"},
                    "data": {"clientId": "aWQ="}}),
            )
        });
        harness.expect_write("/airbyteorganizations/own?", &own, 3);
        harness.expect_write("/airbyteorganizations/own/status", &own, 4);
        harness.reconcile(&own).await;
        let ready = ready_condition(&harness.status_written());
        assert_eq!(ready.reason, "SecretKeyNotFound");
        assert!(
            ready
                .message
                .contains("Secret tenant-a/own has no key secret"),
            "{}",
            ready.message
        );
    }

    #[tokio::test]
    async fn a_workspace_being_deleted_that_its_organization_no_longer_admits_goes_without_a_call()
    {
        let mut harness = harness();
        let organization = prod(Some(NamespaceRule {
            names: vec!["tenant-b".into()],
            selector: None,
        }));
        harness.put_cluster_organization(&organization);
        let mut held = deleting(workspace(Some(prod_ref())), now(), 7);
        held.spec.deletion_policy = Some(embedded_crds::DeletionPolicy::Delete);
        held.metadata.finalizers = Some(vec!["embedded.airbyte.ai/cleanup".into()]);
        held.status = Some(embedded_crds::EmbeddedWorkspaceStatus {
            workspace_id: Some("workspace-1".into()),
            organization_id: Some(PROD.into()),
            ..Default::default()
        });
        harness.put_workspace(&held);
        harness.expect_write("/embeddedworkspaces/main?", &held, 8);
        harness.reconcile(&held).await;
        assert!(harness.airbyte.calls().is_empty(), "Airbyte untouched");
        let metadata = &harness.kube.requests()[0].body["metadata"];
        assert_eq!(metadata["finalizers"], json!([]));
        assert!(
            harness
                .notes()
                .iter()
                .any(|n| n.warning && n.message.contains("deleted without touching Airbyte"))
        );
    }
}
