//! Contract tests: the Airbyte client against the simulator (which shares no code with it),
//! endpoint by endpoint, in each of the simulator's modes, and the failure modes a production
//! operator meets (expired and revoked tokens, 403, 422, 429, 5xx, paging, moved endpoints).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use airbyte_client::models::{
    CreateSource, CreateSourceTemplate, MASKED_SECRET, PatchSourceTemplate, StreamSelectionMode,
    TagMode, TemplateCustomization, UpdateSource, UpdateWorkspace, WidgetTokenPayload,
    WidgetTokenRequest, WorkspaceQuery, WorkspaceStatus,
};
use airbyte_client::{
    AirbyteClient, ApiError, BearerToken, CallObserver, ClientConfig, Endpoint,
    OrganizationCredentials, RetryPolicy, SourceApi, SourceTemplateApi, TemplateTagApi, TokenApi,
    WorkspaceApi,
};
use airbyte_sim::catalog::{FAKER_DEFINITION_ID, POSTGRES_DEFINITION_ID, STRIPE_DEFINITION_ID};
use airbyte_sim::{
    AuthFailure, ErrorShape, FaultRule, Modes, STANDARD_FAKER_TEMPLATE_ID, SimConfig, Simulator,
    TenantField,
};
use base64::Engine;
use embedded_crds::REGION_EU;
use serde_json::{Map, Value, json};

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

/// The project's tests run the simulator strict: unknown fields refused, answers checked
/// against the reference.
async fn simulator() -> Simulator {
    simulator_with(Modes::strict()).await
}

async fn simulator_with(modes: Modes) -> Simulator {
    Simulator::start(
        SimConfig {
            modes,
            ..SimConfig::default()
        },
        loopback(),
    )
    .await
    .unwrap()
}

fn fast_retries(config: &mut ClientConfig) {
    config.retry = RetryPolicy {
        max_attempts: 4,
        min_delay: Duration::from_millis(20),
        max_delay: Duration::from_millis(200),
        max_inline_wait: Duration::from_secs(5),
    };
}

fn client(sim: &Simulator) -> AirbyteClient {
    let mut config = test_support::client_config(sim);
    fast_retries(&mut config);
    AirbyteClient::new(config).unwrap()
}

fn object(value: Value) -> Map<String, Value> {
    value.as_object().cloned().unwrap()
}

fn count(sim: &Simulator, endpoint: Endpoint, status: u16) -> u64 {
    sim.state()
        .recorder
        .counts()
        .iter()
        .filter(|c| c.endpoint == endpoint.label() && c.status == status)
        .map(|c| c.count)
        .sum()
}

async fn template(
    client: &AirbyteClient,
    definition: &str,
    defaults: Value,
    tags: &[&str],
) -> String {
    let id = client
        .create_source_template(&CreateSourceTemplate {
            actor_definition_id: definition.to_string(),
            partial_default_config: object(defaults),
            name: Some(format!("template {definition}")),
            customization: None,
        })
        .await
        .unwrap()
        .id;
    for tag in tags {
        client.add_source_template_tag(&id, tag).await.unwrap();
    }
    id
}

#[tokio::test]
async fn scoped_tokens_are_idempotent_by_name_and_carry_the_workspace() {
    let sim = simulator().await;
    let client = client(&sim);
    let first = client
        .mint_scoped_token("acme.prod", Some(REGION_EU))
        .await
        .unwrap();
    let second = client.mint_scoped_token("acme.prod", None).await.unwrap();
    assert_eq!(first.workspace_id, second.workspace_id);
    assert_eq!(first.organization_id, sim.organization_id());
    assert!(first.expires_at > std::time::SystemTime::now() + Duration::from_secs(19 * 60));

    let info = client.scoped_token_info(&first.token).await.unwrap();
    assert_eq!(info.workspace_id, first.workspace_id);

    let workspace = client.get_workspace(&first.workspace_id).await.unwrap();
    assert_eq!(workspace.name, "acme.prod");
    assert_eq!(workspace.status, WorkspaceStatus::Active);
    let region = sim.state().world().workspaces[&first.workspace_id]
        .region_id
        .clone();
    assert_eq!(region, REGION_EU, "the region of the first mint is kept");
}

#[tokio::test]
async fn widget_tokens_wrap_a_scoped_token_and_check_the_origin() {
    let sim = simulator().await;
    let client = client(&sim);
    let mut request = WidgetTokenRequest {
        workspace_name: "acme.widget".into(),
        allowed_origin: "https://app.example.com".into(),
        selected_source_template_tags: vec!["crm".into()],
        ..Default::default()
    };
    let widget = client.mint_widget_token(&request).await.unwrap();
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(widget.expose())
        .unwrap();
    let payload: WidgetTokenPayload = serde_json::from_slice(&decoded).unwrap();
    let inner = BearerToken::new(payload.token);
    let info = client.scoped_token_info(&inner).await.unwrap();
    let workspaces = client
        .list_workspaces(&WorkspaceQuery {
            name_contains: Some("acme.widget".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(workspaces[0].id, info.workspace_id);

    request.allowed_origin = "https://app.example.com/".into();
    match client.mint_widget_token(&request).await {
        Err(ApiError::Validation { errors, .. }) => {
            assert_eq!(errors[0].field.as_deref(), Some("body.allowed_origin"))
        }
        other => panic!("expected 422, got {other:?}"),
    }
}

#[tokio::test]
async fn source_templates_and_their_tags_round_trip() {
    let sim = simulator().await;
    let client = client(&sim);
    let id = template(
        &client,
        POSTGRES_DEFINITION_ID,
        json!({"port": 5432}),
        &["crm", "eu"],
    )
    .await;

    let patched = client
        .patch_source_template(
            &id,
            &PatchSourceTemplate {
                name: Some("Postgres (EU)".into()),
                partial_default_config: object(json!({"port": 5433, "database": "app"})),
                propagate: false,
                customization: Some(TemplateCustomization {
                    stream_selection_mode: StreamSelectionMode::Whitelist,
                    stream_whitelist: vec!["users".into()],
                }),
            },
        )
        .await
        .unwrap();
    assert_eq!(patched.name, "Postgres (EU)");
    assert_eq!(patched.partial_default_config["port"], 5433);

    let tagged = client.add_source_template_tag(&id, "gold").await.unwrap();
    assert_eq!(tagged.tags, ["crm", "eu", "gold"]);
    client.remove_source_template_tag(&id, "crm").await.unwrap();
    assert_eq!(
        client.get_source_template(&id).await.unwrap().tags,
        ["eu", "gold"]
    );

    let bad_whitelist = client
        .patch_source_template(
            &id,
            &PatchSourceTemplate {
                partial_default_config: object(json!({"port": 5433})),
                customization: Some(TemplateCustomization {
                    stream_selection_mode: StreamSelectionMode::Whitelist,
                    stream_whitelist: vec![],
                }),
                ..Default::default()
            },
        )
        .await;
    assert!(
        matches!(bad_whitelist, Err(ApiError::Validation { .. })),
        "{bad_whitelist:?}"
    );

    client.delete_source_template(&id).await.unwrap();
    assert!(
        client
            .get_source_template(&id)
            .await
            .unwrap_err()
            .is_not_found()
    );
    client
        .delete_source_template(&id)
        .await
        .expect("deleting twice is fine");
}

#[tokio::test]
async fn template_listing_applies_any_and_all() {
    let sim = simulator().await;
    let client = client(&sim);
    let a = template(&client, FAKER_DEFINITION_ID, json!({}), &["crm"]).await;
    let ab = template(&client, FAKER_DEFINITION_ID, json!({}), &["crm", "eu"]).await;
    let b = template(&client, FAKER_DEFINITION_ID, json!({}), &["eu"]).await;
    let wanted = vec!["crm".to_string(), "eu".to_string()];

    let ids = |templates: Vec<airbyte_client::models::SourceTemplate>| {
        let mut ids: Vec<String> = templates.into_iter().map(|t| t.id).collect();
        ids.sort();
        ids
    };
    let mut any = vec![a.clone(), ab.clone(), b.clone()];
    any.sort();
    assert_eq!(
        ids(client
            .list_source_templates(&wanted, TagMode::Any)
            .await
            .unwrap()),
        any
    );
    assert_eq!(
        ids(client
            .list_source_templates(&wanted, TagMode::All)
            .await
            .unwrap()),
        vec![ab.clone()]
    );
    let everything = ids(client
        .list_source_templates(&[], TagMode::Any)
        .await
        .unwrap());
    assert!(!everything.contains(&STANDARD_FAKER_TEMPLATE_ID.to_string()));
    assert_eq!(everything.len(), 3, "the organization's templates only");
}

#[tokio::test]
async fn template_tags_are_created_listed_and_deleted() {
    let sim = simulator().await;
    let client = client(&sim);
    let tag = client.create_template_tag("tier-1").await.unwrap();
    assert_eq!(tag.name, "tier-1");
    let duplicate = client.create_template_tag("tier-1").await;
    assert!(
        matches!(duplicate, Err(ApiError::Rejected { status: 409, .. })),
        "{duplicate:?}"
    );
    let names: Vec<String> = client
        .list_template_tags()
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.name)
        .collect();
    assert!(names.contains(&"tier-1".to_string()));
    let deleted = client.delete_template_tag("tier-1").await.unwrap();
    assert_eq!(deleted.id, Some(tag.id));
    assert!(
        client
            .delete_template_tag("tier-1")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

#[tokio::test]
async fn sources_are_listed_by_workspace_and_replaced_with_put() {
    let sim = simulator().await;
    let client = client(&sim);
    let template_id = template(
        &client,
        STRIPE_DEFINITION_ID,
        json!({"lookback_window_days": 1}),
        &[],
    )
    .await;
    let scoped = client
        .mint_scoped_token("acme.sources", None)
        .await
        .unwrap();

    let created = client
        .create_source(
            &scoped.token,
            &CreateSource {
                name: "stripe".into(),
                workspace_id: scoped.workspace_id.clone(),
                source_template_id: template_id.clone(),
                source_config: object(
                    json!({"account_id": "acct_1", "client_secret": "sk_test_1"}),
                ),
                selected_connection_template_tags: Some(vec!["s3".into()]),
                selected_connection_template_tags_mode: Some(TagMode::All),
            },
        )
        .await
        .unwrap();
    assert_eq!(
        created.source_config["client_secret"], MASKED_SECRET,
        "secrets are masked"
    );
    assert_eq!(
        created.source_config["lookback_window_days"], 1,
        "template defaults apply"
    );
    assert_eq!(created.template_id(), Some(template_id.as_str()));
    assert_eq!(
        created.workspace_id, None,
        "sources do not say their workspace"
    );

    let listed = client
        .list_sources(&scoped.token, &scoped.workspace_id)
        .await
        .unwrap();
    assert_eq!(listed.len(), 1);
    assert!(
        listed[0].source_config.is_empty(),
        "list items carry no config"
    );
    let fetched = client.get_source(&scoped.token, &created.id).await.unwrap();
    assert_eq!(fetched.source_config["account_id"], "acct_1");

    let updated = client
        .update_source(
            &scoped.token,
            &created.id,
            &UpdateSource {
                name: None,
                source_config: Some(object(
                    json!({"account_id": "acct_2", "client_secret": MASKED_SECRET}),
                )),
            },
        )
        .await
        .unwrap();
    assert_eq!(updated.source_config["account_id"], "acct_2");
    assert_eq!(
        count(&sim, Endpoint::SourceUpdate, 200),
        1,
        "with PUT, no fallback"
    );
    let stored = sim.state().world().sources[&created.id].own_config.clone();
    assert_eq!(
        stored["client_secret"], "sk_test_1",
        "a masked value keeps the stored secret"
    );

    client
        .delete_source(&scoped.token, &created.id)
        .await
        .unwrap();
    assert!(
        client
            .get_source(&scoped.token, &created.id)
            .await
            .unwrap_err()
            .is_not_found()
    );
    client
        .delete_source(&scoped.token, &created.id)
        .await
        .expect("idempotent delete");
}

#[tokio::test]
async fn a_scoped_token_used_on_another_workspaces_source_is_forbidden() {
    let sim = simulator().await;
    let client = client(&sim);
    let tenant_a = client
        .mint_scoped_token("tenant-a.main", None)
        .await
        .unwrap();
    let tenant_b = client
        .mint_scoped_token("tenant-b.main", None)
        .await
        .unwrap();
    let source = client
        .create_source(
            &tenant_a.token,
            &CreateSource {
                name: "faker".into(),
                workspace_id: tenant_a.workspace_id.clone(),
                source_template_id: STANDARD_FAKER_TEMPLATE_ID.into(),
                source_config: Map::new(),
                selected_connection_template_tags: None,
                selected_connection_template_tags_mode: None,
            },
        )
        .await
        .unwrap();
    for result in [
        client
            .get_source(&tenant_b.token, &source.id)
            .await
            .map(|_| ()),
        client.delete_source(&tenant_b.token, &source.id).await,
    ] {
        match result {
            Err(ApiError::Forbidden { endpoint, detail }) => {
                assert!(matches!(
                    endpoint,
                    Endpoint::SourceGet | Endpoint::SourceDelete
                ));
                assert_eq!(detail, "the source belongs to another workspace");
            }
            other => panic!("expected 403, got {other:?}"),
        }
    }
    let creating_elsewhere = client
        .create_source(
            &tenant_b.token,
            &CreateSource {
                name: "sneaky".into(),
                workspace_id: tenant_a.workspace_id.clone(),
                source_template_id: STANDARD_FAKER_TEMPLATE_ID.into(),
                source_config: Map::new(),
                selected_connection_template_tags: None,
                selected_connection_template_tags_mode: None,
            },
        )
        .await;
    assert!(matches!(
        creating_elsewhere,
        Err(ApiError::Forbidden { .. })
    ));
    assert!(
        sim.state().world().sources.contains_key(&source.id),
        "nothing was deleted"
    );
}

#[tokio::test]
async fn a_missing_required_field_not_covered_by_the_template_is_a_422_naming_it() {
    let sim = simulator().await;
    let client = client(&sim);
    let template_id = template(
        &client,
        POSTGRES_DEFINITION_ID,
        json!({"host": "db.internal", "port": 5432}),
        &[],
    )
    .await;
    let scoped = client.mint_scoped_token("acme.pg", None).await.unwrap();
    let request = |config: Value| CreateSource {
        name: "pg".into(),
        workspace_id: scoped.workspace_id.clone(),
        source_template_id: template_id.clone(),
        source_config: object(config),
        selected_connection_template_tags: None,
        selected_connection_template_tags_mode: None,
    };
    let error = client
        .create_source(&scoped.token, &request(json!({"database": "app"})))
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(422));
    assert!(
        error
            .to_string()
            .contains("body.source_config.username: Field required"),
        "{error}"
    );
    assert!(
        !error.to_string().contains("host"),
        "fields covered by the template are not reported"
    );
    client
        .create_source(
            &scoped.token,
            &request(json!({"database": "app", "username": "u"})),
        )
        .await
        .expect("complete once username is given");
}

#[tokio::test]
async fn an_expired_organization_token_is_reminted_transparently() {
    let sim = simulator().await;
    let client = client(&sim);
    client.get_workspace("missing").await.unwrap_err();
    assert_eq!(count(&sim, Endpoint::ApplicationToken, 200), 1);

    // The server's clock jumps past the token's expiry: the cached token is now expired there.
    sim.state().set_clock_offset(3600);
    let minted = client
        .mint_scoped_token("acme.after-expiry", None)
        .await
        .unwrap();
    assert!(!minted.workspace_id.is_empty());
    assert_eq!(
        count(&sim, Endpoint::ScopedTokenCreate, 403),
        1,
        "the stale token was refused once (403, as the reference documents)"
    );
    assert_eq!(count(&sim, Endpoint::ScopedTokenCreate, 200), 1);
    assert_eq!(
        count(&sim, Endpoint::ApplicationToken, 200),
        2,
        "one re-mint"
    );
}

#[tokio::test]
async fn revoked_credentials_give_one_remint_then_a_clear_error() {
    let sim = simulator().await;
    let mut config = test_support::client_config(&sim);
    fast_retries(&mut config);
    config.credentials =
        OrganizationCredentials::AccessToken(BearerToken::new("not-a-valid-token"));
    let static_client = AirbyteClient::new(config).unwrap();
    let error = static_client.list_template_tags().await.unwrap_err();
    assert!(matches!(error, ApiError::Forbidden { .. }), "{error:?}");
    assert_eq!(
        count(&sim, Endpoint::TemplateTagsList, 403),
        1,
        "a static token is not retried"
    );

    let mut config = test_support::client_config(&sim);
    fast_retries(&mut config);
    config.credentials = OrganizationCredentials::ClientCredentials {
        client_id: sim.state().config.client_id.clone(),
        client_secret: "wrong".to_string().into(),
    };
    let error = AirbyteClient::new(config)
        .unwrap()
        .list_template_tags()
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            ApiError::Forbidden {
                endpoint: Endpoint::ApplicationToken,
                ..
            }
        ),
        "{error:?}"
    );
    assert!(
        error
            .to_string()
            .contains("Invalid authentication credentials")
    );
}

#[tokio::test]
async fn concurrent_calls_share_one_organization_token_mint() {
    let sim = simulator().await;
    let client = client(&sim);
    let calls = (0..16).map(|i| {
        let client = client.clone();
        async move { client.mint_scoped_token(&format!("t{i}.main"), None).await }
    });
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    assert_eq!(count(&sim, Endpoint::ApplicationToken, 200), 1);
}

#[tokio::test]
async fn the_request_budget_is_a_token_bucket_across_all_calls() {
    let sim = simulator().await;
    let mut config = test_support::client_config(&sim);
    fast_retries(&mut config);
    config.max_requests_per_second = std::num::NonZeroU32::new(10);
    let client = AirbyteClient::new(config).unwrap();
    let calls = (0..25).map(|i| {
        let client = client.clone();
        async move { client.mint_scoped_token(&format!("t{i}.main"), None).await }
    });
    for result in futures::future::join_all(calls).await {
        result.unwrap();
    }
    // 26 requests (25 mints and the organization token): a burst of 10, then 10 per second.
    let times: Vec<u64> = sim
        .state()
        .recorder
        .log_since(0)
        .iter()
        .map(|r| r.received_ms)
        .collect();
    assert_eq!(times.len(), 26);
    let span = times.iter().max().unwrap() - times.iter().min().unwrap();
    assert!(
        span >= 1_400,
        "26 requests within {span} ms at 10 per second"
    );
    for start in &times {
        let in_window = times
            .iter()
            .filter(|t| (*start..*start + 1_000).contains(*t))
            .count();
        assert!(in_window <= 20, "{in_window} requests within one second");
    }
}

#[tokio::test]
async fn a_429_with_retry_after_is_waited_out_then_succeeds() {
    let sim = simulator().await;
    let client = client(&sim);
    client.list_template_tags().await.unwrap();
    *sim.state().faults.lock().unwrap() = vec![FaultRule {
        endpoints: vec![Endpoint::ScopedTokenCreate.label().into()],
        error_rate: 1.0,
        status: 429,
        retry_after_seconds: Some(1),
        max_failures: Some(1),
        ..Default::default()
    }];
    let started = Instant::now();
    client
        .mint_scoped_token("acme.throttled", None)
        .await
        .unwrap();
    let elapsed = started.elapsed();
    assert!(elapsed >= Duration::from_secs(1), "waited only {elapsed:?}");
    let log: Vec<_> = sim
        .state()
        .recorder
        .log_since(0)
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::ScopedTokenCreate.label())
        .collect();
    assert_eq!(log.iter().map(|r| r.status).collect::<Vec<_>>(), [429, 200]);
    assert_eq!(log[0].retry_after_seconds, Some(1));
    assert!(log[1].received_ms >= log[0].answered_ms + 1000, "{log:?}");
}

#[tokio::test]
async fn a_retry_after_longer_than_the_inline_limit_is_returned_to_the_caller() {
    let sim = simulator().await;
    let client = client(&sim);
    *sim.state().faults.lock().unwrap() = vec![FaultRule {
        endpoints: vec![Endpoint::TemplateTagsList.label().into()],
        error_rate: 1.0,
        status: 429,
        retry_after_seconds: Some(120),
        ..Default::default()
    }];
    let started = Instant::now();
    let error = client.list_template_tags().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(5));
    assert_eq!(error.retry_after(), Some(Duration::from_secs(120)));
    assert!(error.is_transient());
}

#[tokio::test]
async fn server_errors_twice_then_success() {
    let sim = simulator().await;
    let client = client(&sim);
    *sim.state().faults.lock().unwrap() = vec![FaultRule {
        endpoints: vec![Endpoint::SourceTemplatesList.label().into()],
        error_rate: 1.0,
        status: 503,
        max_failures: Some(2),
        ..Default::default()
    }];
    client
        .list_source_templates(&[], TagMode::Any)
        .await
        .unwrap();
    assert_eq!(count(&sim, Endpoint::SourceTemplatesList, 503), 2);
    assert_eq!(count(&sim, Endpoint::SourceTemplatesList, 200), 1);
}

#[tokio::test]
async fn persistent_server_errors_stop_after_the_attempt_budget() {
    let sim = simulator().await;
    let client = client(&sim);
    *sim.state().faults.lock().unwrap() = vec![FaultRule {
        endpoints: vec![Endpoint::SourceTemplatesList.label().into()],
        error_rate: 1.0,
        status: 500,
        ..Default::default()
    }];
    let error = client
        .list_source_templates(&[], TagMode::Any)
        .await
        .unwrap_err();
    assert!(
        matches!(error, ApiError::Server { status: 500, .. }),
        "{error:?}"
    );
    assert_eq!(
        count(&sim, Endpoint::SourceTemplatesList, 500),
        4,
        "max_attempts"
    );
}

#[tokio::test]
async fn client_errors_other_than_auth_failures_and_429_are_not_retried() {
    let sim = simulator().await;
    let client = client(&sim);
    assert!(
        client
            .get_source_template(&uuid::Uuid::new_v4().to_string())
            .await
            .unwrap_err()
            .is_not_found()
    );
    assert_eq!(count(&sim, Endpoint::SourceTemplateGet, 404), 1);
}

#[tokio::test]
async fn connection_failures_are_retried_then_reported() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let mut config = ClientConfig::new(
        url.parse().unwrap(),
        "org",
        OrganizationCredentials::AccessToken(BearerToken::new("t")),
    );
    fast_retries(&mut config);
    struct Count(AtomicUsize);
    impl CallObserver for Count {
        fn observe(&self, _: Endpoint, status: Option<u16>, _: Duration) {
            assert_eq!(status, None);
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
    let observer = Arc::new(Count(AtomicUsize::new(0)));
    let client = AirbyteClient::with_observer(config, Some(observer.clone())).unwrap();
    let error = client.list_template_tags().await.unwrap_err();
    assert!(matches!(error, ApiError::Transport { .. }), "{error:?}");
    assert_eq!(observer.0.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn workspaces_are_listed_across_three_pages_and_updated_and_deleted() {
    let sim = simulator().await;
    let client = client(&sim);
    for i in 0..5 {
        client
            .mint_scoped_token(&format!("paged-{i}.main"), None)
            .await
            .unwrap();
    }
    client.mint_scoped_token("other.main", None).await.unwrap();
    let query = WorkspaceQuery {
        name_contains: Some("paged-".into()),
        limit: Some(2),
        ..Default::default()
    };
    let all = client.list_workspaces(&query).await.unwrap();
    let mut names: Vec<String> = all.iter().map(|w| w.name.clone()).collect();
    names.sort();
    assert_eq!(
        names,
        (0..5)
            .map(|i| format!("paged-{i}.main"))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        count(&sim, Endpoint::WorkspacesList, 200),
        3,
        "three pages of 2, 2 and 1"
    );

    let target = &all[0];
    let inactive = client
        .update_workspace(
            &target.id,
            &UpdateWorkspace::status(WorkspaceStatus::Inactive),
        )
        .await
        .unwrap();
    assert_eq!(inactive.status, WorkspaceStatus::Inactive);
    let inactive_only = client
        .list_workspaces(&WorkspaceQuery {
            status: Some(WorkspaceStatus::Inactive),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(inactive_only.len(), 1);
    client.delete_workspace(&target.id).await.unwrap();
    assert!(
        client
            .get_workspace(&target.id)
            .await
            .unwrap_err()
            .is_not_found()
    );
    client
        .delete_workspace(&target.id)
        .await
        .expect("idempotent delete");

    let bad_limit = client
        .list_workspaces_page(
            &WorkspaceQuery {
                limit: Some(101),
                ..Default::default()
            },
            None,
        )
        .await;
    assert!(
        matches!(bad_limit, Err(ApiError::Validation { .. })),
        "{bad_limit:?}"
    );
}

#[tokio::test]
async fn the_admin_surface_reports_counters_requests_state_and_revokes_tokens() {
    let sim = simulator().await;
    let client = client(&sim);
    let scoped = client.mint_scoped_token("admin.main", None).await.unwrap();
    let http = reqwest::Client::new();
    let base = sim.url().as_str().trim_end_matches('/').to_string();

    let counters: Value = http
        .get(format!("{base}/_sim/counters"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        counters["calls"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["endpoint"] == "scoped_token_create"
                && c["status"] == 200
                && c["count"] == 1)
    );
    let state: Value = http
        .get(format!("{base}/_sim/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        state["workspaces"][&scoped.workspace_id]["name"],
        "admin.main"
    );

    let status = http
        .put(format!("{base}/_sim/faults"))
        .json(&json!({"rules": [{"endpoints": ["source_get"], "error_rate": 2.0, "status": 500}]}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 422, "an impossible rate is refused");
    let status = http
        .put(format!("{base}/_sim/faults"))
        .json(&json!({"rules": [{"endpoints": ["source_get"], "latency_ms": 5}]}))
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 204);

    assert!(client.scoped_token_info(&scoped.token).await.is_ok());
    http.post(format!("{base}/_sim/revoke-tokens"))
        .send()
        .await
        .unwrap();
    let error = client.scoped_token_info(&scoped.token).await.unwrap_err();
    assert!(matches!(error, ApiError::Forbidden { .. }), "{error:?}");
    client
        .mint_scoped_token("admin.main", None)
        .await
        .expect("the organization token is re-minted after revocation");

    let requests: Value = http
        .get(format!("{base}/_sim/requests"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let log = requests["requests"].as_array().unwrap();
    assert!(
        log.iter()
            .any(|r| r["endpoint"] == "scoped_token_info" && r["status"] == 403)
    );
    let text = requests.to_string();
    assert!(
        !text.contains(scoped.token.expose()),
        "the request log holds no token"
    );
}

#[tokio::test]
async fn plain_http_to_a_remote_host_is_refused() {
    let config = ClientConfig::new(
        "http://api.airbyte.ai".parse().unwrap(),
        "org",
        OrganizationCredentials::AccessToken(BearerToken::new("t")),
    );
    assert!(matches!(
        AirbyteClient::new(config),
        Err(ApiError::Config(_))
    ));
}

#[tokio::test]
async fn a_redirect_never_carries_the_organization_token_to_another_host() {
    use axum::http::StatusCode;
    use axum::response::IntoResponse;
    // The host a redirect points to counts what reaches it.
    let reached = Arc::new(AtomicUsize::new(0));
    let counter = reached.clone();
    let other = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let other_addr = other.local_addr().unwrap();
    let other_app = axum::Router::new().fallback(move || {
        let counter = counter.clone();
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            "stolen"
        }
    });
    tokio::spawn(async move { axum::serve(other, other_app).await.unwrap() });
    let redirecting = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let redirect_addr = redirecting.local_addr().unwrap();
    let redirect_app = axum::Router::new().fallback(move || async move {
        (
            StatusCode::TEMPORARY_REDIRECT,
            [("location", format!("http://{other_addr}/api/v1/workspaces"))],
        )
            .into_response()
    });
    tokio::spawn(async move { axum::serve(redirecting, redirect_app).await.unwrap() });

    let mut config = ClientConfig::new(
        format!("http://{redirect_addr}").parse().unwrap(),
        "org",
        OrganizationCredentials::AccessToken(BearerToken::new("organization-token")),
    );
    fast_retries(&mut config);
    let error = AirbyteClient::new(config)
        .unwrap()
        .list_workspaces(&WorkspaceQuery::default())
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(307), "{error}");
    assert_eq!(
        reached.load(Ordering::SeqCst),
        0,
        "the redirect was not followed"
    );
}

/// Records the fallbacks the client takes.
#[derive(Default)]
struct Fallbacks(std::sync::Mutex<Vec<(&'static str, &'static str)>>);

impl CallObserver for Fallbacks {
    fn observe(&self, _: Endpoint, _: Option<u16>, _: Duration) {}
    fn fallback(&self, feature: &'static str, choice: &'static str) {
        self.0.lock().unwrap().push((feature, choice));
    }
}

fn observed_client(sim: &Simulator) -> (AirbyteClient, Arc<Fallbacks>) {
    let mut config = test_support::client_config(sim);
    fast_retries(&mut config);
    let fallbacks = Arc::new(Fallbacks::default());
    let client = AirbyteClient::with_observer(config, Some(fallbacks.clone())).unwrap();
    (client, fallbacks)
}

/// Everything the operator does with the API, once.
async fn operator_story(sim: &Simulator, client: &AirbyteClient, tenant: &str) {
    let scoped = client.mint_scoped_token(tenant, None).await.unwrap();
    let again = client.mint_scoped_token(tenant, None).await.unwrap();
    assert_eq!(
        scoped.workspace_id, again.workspace_id,
        "idempotent by name"
    );
    let info = client.scoped_token_info(&scoped.token).await.unwrap();
    assert_eq!(info.workspace_id, scoped.workspace_id);
    let widget = WidgetTokenRequest {
        workspace_name: tenant.into(),
        allowed_origin: "https://app.example.com:8443".into(),
        ..Default::default()
    };
    client.mint_widget_token(&widget).await.unwrap();
    let found = client.find_workspaces_named(tenant).await.unwrap();
    assert_eq!(found.len(), 1);

    let id = template(
        &client.clone(),
        STRIPE_DEFINITION_ID,
        json!({"lookback_window_days": 1}),
        &["crm"],
    )
    .await;
    let fetched = client.get_source_template(&id).await.unwrap();
    assert_eq!(
        fetched.source_definition_id.as_deref(),
        Some(STRIPE_DEFINITION_ID)
    );
    assert_eq!(fetched.tags, ["crm"]);
    client.remove_source_template_tag(&id, "crm").await.unwrap();
    client
        .patch_source_template(
            &id,
            &PatchSourceTemplate {
                name: Some("Stripe".into()),
                partial_default_config: object(json!({"lookback_window_days": 2})),
                ..Default::default()
            },
        )
        .await
        .unwrap();

    let request = CreateSource {
        name: "billing".into(),
        workspace_id: scoped.workspace_id.clone(),
        source_template_id: id.clone(),
        source_config: object(json!({"account_id": "acct_1", "client_secret": "sk_1"})),
        selected_connection_template_tags: Some(vec!["s3".into()]),
        selected_connection_template_tags_mode: Some(TagMode::Any),
    };
    let created = client.create_source(&scoped.token, &request).await.unwrap();
    let listed = client
        .list_sources(&scoped.token, &scoped.workspace_id)
        .await
        .unwrap();
    assert_eq!(
        listed.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        std::slice::from_ref(&created.id)
    );
    client
        .update_source(
            &scoped.token,
            &created.id,
            &UpdateSource {
                name: Some("billing-2".into()),
                source_config: None,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        client
            .get_source(&scoped.token, &created.id)
            .await
            .unwrap()
            .name,
        "billing-2"
    );

    // A refusal names the field whatever the error shape.
    let mut incomplete = request.clone();
    incomplete.source_config = object(json!({"account_id": "acct_1"}));
    let error = client
        .create_source(&scoped.token, &incomplete)
        .await
        .unwrap_err();
    assert!(
        error
            .fields()
            .iter()
            .any(|f| f.field.as_deref() == Some("body.source_config.client_secret")),
        "{error}"
    );
    client
        .delete_source(&scoped.token, &created.id)
        .await
        .unwrap();
    client.delete_source_template(&id).await.unwrap();
    let counts = sim.state().recorder.counts();
    assert!(
        counts.iter().all(|c| c.status != 500),
        "the simulator's answers fit the reference: {counts:?}"
    );
}

#[tokio::test]
async fn the_client_works_against_every_mode_of_the_simulator() {
    let modes: Vec<(&str, Modes)> = vec![
        ("the current reference, strict", Modes::strict()),
        (
            "FastAPI error bodies and 401 for a bad token",
            Modes {
                error_shape: ErrorShape::FastApi,
                auth_failure: AuthFailure::Unauthorized,
                ..Modes::strict()
            },
        ),
        (
            "without the deprecated paths",
            Modes {
                deprecated_paths: false,
                ..Modes::strict()
            },
        ),
        (
            "a server of the embedded reference's era (deprecated paths only)",
            Modes {
                current_paths: false,
                ..Modes::strict()
            },
        ),
        (
            "the Agent Engine reference's customer_name",
            Modes {
                tenant_field: TenantField::CustomerName,
                ..Modes::strict()
            },
        ),
        (
            "one workspace per page",
            Modes {
                workspace_page_size: Some(1),
                ..Modes::strict()
            },
        ),
        (
            "an account in several organizations",
            Modes {
                organization_header_required: true,
                ..Modes::strict()
            },
        ),
    ];
    for (mode, modes) in modes {
        let sim = simulator_with(modes).await;
        let (client, _) = observed_client(&sim);
        for other in ["neighbour-1.main", "neighbour-2.main"] {
            client.mint_scoped_token(other, None).await.unwrap();
        }
        eprintln!("mode: {mode}");
        operator_story(&sim, &client, "acme.main").await;
    }
}

#[tokio::test]
async fn token_endpoints_fall_back_to_the_deprecated_paths_once_and_remember_it() {
    let sim = simulator_with(Modes {
        current_paths: false,
        ..Modes::strict()
    })
    .await;
    let (client, fallbacks) = observed_client(&sim);
    for name in ["a.main", "b.main", "c.main"] {
        client.mint_scoped_token(name, None).await.unwrap();
    }
    let refused = sim
        .state()
        .recorder
        .log_since(0)
        .into_iter()
        .filter(|r| r.status == 404)
        .count();
    assert_eq!(refused, 1, "the current path is tried once per process");
    assert_eq!(
        *fallbacks.0.lock().unwrap(),
        [("token_paths", "/api/v1/embedded/*")]
    );
}

#[tokio::test]
async fn the_tenant_field_follows_the_server_after_one_refusal_naming_it() {
    let sim = simulator_with(Modes {
        tenant_field: TenantField::CustomerName,
        ..Modes::strict()
    })
    .await;
    let (client, fallbacks) = observed_client(&sim);
    client.mint_scoped_token("a.main", None).await.unwrap();
    client.mint_scoped_token("b.main", None).await.unwrap();
    assert_eq!(count(&sim, Endpoint::ScopedTokenCreate, 422), 1);
    assert_eq!(count(&sim, Endpoint::ScopedTokenCreate, 200), 2);
    assert_eq!(
        *fallbacks.0.lock().unwrap(),
        [("tenant_field", "customer_name")]
    );
}

#[tokio::test]
async fn a_403_on_an_organization_call_re_mints_the_organization_token_once() {
    let sim = simulator().await;
    let client = client(&sim);
    client.list_template_tags().await.unwrap();
    sim.state().revoke_all_tokens();
    client
        .list_template_tags()
        .await
        .expect("re-minted after a 403");
    assert_eq!(count(&sim, Endpoint::TemplateTagsList, 403), 1);
    assert_eq!(count(&sim, Endpoint::ApplicationToken, 200), 2);
}

#[tokio::test]
async fn a_refusal_that_survives_a_fresh_organization_token_is_forbidden_naming_the_endpoint() {
    let sim = simulator().await;
    let client = client(&sim);
    // Every request is refused as a bad token would be, the fresh one included.
    *sim.state().faults.lock().unwrap() = vec![FaultRule {
        endpoints: vec!["template_tags_list".into()],
        error_rate: 1.0,
        status: 403,
        ..Default::default()
    }];
    let error = client.list_template_tags().await.unwrap_err();
    assert!(
        matches!(
            error,
            ApiError::Forbidden {
                endpoint: Endpoint::TemplateTagsList,
                ..
            }
        ),
        "{error:?}"
    );
    assert_eq!(
        count(&sim, Endpoint::TemplateTagsList, 403),
        2,
        "one retry with a fresh token"
    );
    assert!(
        error.to_string().starts_with("template_tags_list:"),
        "{error}"
    );
}

#[tokio::test]
async fn a_template_change_reaches_existing_sources_only_when_propagated() {
    let sim = simulator().await;
    let client = client(&sim);
    let id = template(&client, FAKER_DEFINITION_ID, json!({"count": 10}), &[]).await;
    let scoped = client
        .mint_scoped_token("acme.propagate", None)
        .await
        .unwrap();
    let source = client
        .create_source(
            &scoped.token,
            &CreateSource {
                name: "faker".into(),
                workspace_id: scoped.workspace_id.clone(),
                source_template_id: id.clone(),
                source_config: Map::new(),
                selected_connection_template_tags: None,
                selected_connection_template_tags_mode: None,
            },
        )
        .await
        .unwrap();
    let count_now = |client: AirbyteClient, token: BearerToken, id: String| async move {
        client.get_source(&token, &id).await.unwrap().source_config["count"].clone()
    };
    for (propagate, expected) in [(false, 10), (true, 30)] {
        client
            .patch_source_template(
                &id,
                &PatchSourceTemplate {
                    partial_default_config: object(
                        json!({"count": if propagate { 30 } else { 20 }}),
                    ),
                    propagate,
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert_eq!(
            count_now(client.clone(), scoped.token.clone(), source.id.clone()).await,
            expected,
            "propagate: {propagate}"
        );
    }
}

#[tokio::test]
async fn a_source_update_falls_back_to_patch_once_on_a_server_that_refuses_put() {
    use axum::routing::any;
    // A server of the October 2025 revision: sources are updated with PATCH only.
    let app = axum::Router::new().route(
        "/api/v1/embedded/sources/{id}",
        any(|method: axum::http::Method| async move {
            match method.as_str() {
                "PATCH" => (
                    axum::http::StatusCode::OK,
                    axum::Json(json!({"id": "s", "name": "n"})),
                ),
                _ => (
                    axum::http::StatusCode::METHOD_NOT_ALLOWED,
                    axum::Json(json!({"detail": "Method Not Allowed"})),
                ),
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let mut config = ClientConfig::new(
        format!("http://{addr}").parse().unwrap(),
        "org",
        OrganizationCredentials::AccessToken(BearerToken::new("t")),
    );
    fast_retries(&mut config);
    let fallbacks = Arc::new(Fallbacks::default());
    let client = AirbyteClient::with_observer(config, Some(fallbacks.clone())).unwrap();
    let token = BearerToken::new("scoped");
    for _ in 0..2 {
        client
            .update_source(&token, "s", &UpdateSource::default())
            .await
            .unwrap();
    }
    assert_eq!(*fallbacks.0.lock().unwrap(), [("source_update", "PATCH")]);
}
