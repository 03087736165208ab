//! The simulator as an independent judge: raw HTTP requests (no client types anywhere) that a
//! wrong client would send are refused the way the reference says, and the simulator's modes
//! answer where the documents leave room.

use std::net::SocketAddr;

use airbyte_sim::catalog::{
    FAKER_DEFINITION_ID, S3_DESTINATION_DEFINITION_ID, STRIPE_DEFINITION_ID,
};
use airbyte_sim::{AuthFailure, ErrorShape, Modes, SimConfig, Simulator, TenantField};
use serde_json::{Value, json};

fn loopback() -> SocketAddr {
    "127.0.0.1:0".parse().unwrap()
}

async fn start(modes: Modes) -> Simulator {
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

struct Raw {
    http: reqwest::Client,
    base: String,
}

struct Answer {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Raw {
    fn new(sim: &Simulator) -> Raw {
        Raw {
            http: reqwest::Client::builder().no_proxy().build().unwrap(),
            base: sim.url().to_string().trim_end_matches('/').to_string(),
        }
    }

    async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let mut request = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.unwrap();
        Answer {
            status,
            headers,
            body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        }
    }

    async fn organization_token(&self, sim: &Simulator) -> String {
        let answer = self
            .send(
                "POST",
                "/api/v1/account/applications/token",
                None,
                Some(json!({"client_id": sim.client_id(), "client_secret": sim.client_secret()})),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        answer.body["access_token"].as_str().unwrap().to_string()
    }

    /// The application token request of `client_id`, whatever the answer.
    async fn application_token(&self, client_id: &str, client_secret: &str) -> Answer {
        self.send(
            "POST",
            "/api/v1/account/applications/token",
            None,
            Some(json!({"client_id": client_id, "client_secret": client_secret})),
        )
        .await
    }

    async fn scoped_token(&self, organization: &str, workspace: &str) -> (String, String) {
        let answer = self
            .send(
                "POST",
                "/api/v1/account/applications/scoped-token",
                Some(organization),
                Some(json!({"workspace_name": workspace})),
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let token = answer.body["token"].as_str().unwrap().to_string();
        let info = self
            .send(
                "GET",
                "/api/v1/account/applications/scoped-token/info",
                Some(&token),
                None,
            )
            .await;
        (
            token,
            info.body["workspace_id"].as_str().unwrap().to_string(),
        )
    }
}

fn error_fields(body: &Value) -> Vec<String> {
    body["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| e["field"].as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn a_request_with_a_misnamed_required_field_is_refused_naming_the_field() {
    let sim = start(Modes::strict()).await;
    let raw = Raw::new(&sim);
    let token = raw.organization_token(&sim).await;
    let answer = raw
        .send(
            "POST",
            "/api/v1/integrations/templates/sources",
            Some(&token),
            Some(json!({"actor_definition_id": FAKER_DEFINITION_ID, "partialDefaultConfig": {}})),
        )
        .await;
    assert_eq!(answer.status, 422);
    let fields = error_fields(&answer.body);
    assert!(
        fields.contains(&"body.partial_default_config".to_string()),
        "{fields:?}"
    );
    assert!(
        fields.contains(&"body.partialDefaultConfig".to_string()),
        "strict: {fields:?}"
    );
}

#[tokio::test]
async fn a_wrong_method_is_405_and_a_removed_path_is_404() {
    let sim = start(Modes {
        deprecated_paths: false,
        ..Modes::strict()
    })
    .await;
    let raw = Raw::new(&sim);
    let organization = raw.organization_token(&sim).await;
    let (scoped, _) = raw.scoped_token(&organization, "acme").await;
    let patch = raw
        .send(
            "PATCH",
            &format!("/api/v1/embedded/sources/{}", uuid::Uuid::new_v4()),
            Some(&scoped),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(
        patch.status, 405,
        "sources are updated with PUT: {}",
        patch.body
    );
    let old = raw
        .send(
            "POST",
            "/api/v1/embedded/scoped-token",
            Some(&organization),
            Some(json!({"workspace_name": "acme"})),
        )
        .await;
    assert_eq!(old.status, 404, "{}", old.body);
    let counts = sim.state().recorder.counts();
    assert!(
        counts
            .iter()
            .any(|c| c.endpoint == "unmatched" && c.status == 404)
    );
}

#[tokio::test]
async fn deprecated_paths_answer_with_a_deprecation_header_and_take_workspace_name() {
    let sim = start(Modes {
        tenant_field: TenantField::CustomerName,
        ..Modes::strict()
    })
    .await;
    let raw = Raw::new(&sim);
    let organization = raw.organization_token(&sim).await;
    let current = raw
        .send(
            "POST",
            "/api/v1/account/applications/scoped-token",
            Some(&organization),
            Some(json!({"workspace_name": "acme"})),
        )
        .await;
    assert_eq!(
        current.status, 422,
        "the current path wants customer_name here"
    );
    assert!(error_fields(&current.body).contains(&"body.customer_name".to_string()));
    let old = raw
        .send(
            "POST",
            "/api/v1/embedded/scoped-token",
            Some(&organization),
            Some(json!({"workspace_name": "acme"})),
        )
        .await;
    assert_eq!(old.status, 200, "{}", old.body);
    assert_eq!(old.headers["deprecation"], "true");
    let new = raw
        .send(
            "POST",
            "/api/v1/account/applications/scoped-token",
            Some(&organization),
            Some(json!({"customer_name": "acme"})),
        )
        .await;
    assert_eq!(new.status, 200);
    assert!(!new.headers.contains_key("deprecation"));
}

#[tokio::test]
async fn unknown_fields_are_ignored_by_default_like_pydantic() {
    let sim = start(Modes::default()).await;
    let raw = Raw::new(&sim);
    let organization = raw.organization_token(&sim).await;
    let answer = raw
        .send(
            "POST",
            "/api/v1/account/applications/scoped-token",
            Some(&organization),
            Some(json!({"workspace_name": "acme", "favourite_colour": "blue"})),
        )
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
}

#[tokio::test]
async fn authentication_failures_are_403_with_the_current_error_shape_or_401_with_fastapis() {
    let sim = start(Modes::strict()).await;
    let raw = Raw::new(&sim);
    let answer = raw
        .send("GET", "/api/v1/workspaces", Some("not-a-token"), None)
        .await;
    assert_eq!(answer.status, 403);
    assert!(
        answer.body["message"].is_string() && answer.body["errors"].is_array(),
        "{}",
        answer.body
    );

    let sim = start(Modes {
        auth_failure: AuthFailure::Unauthorized,
        error_shape: ErrorShape::FastApi,
        ..Modes::strict()
    })
    .await;
    let raw = Raw::new(&sim);
    let answer = raw.send("GET", "/api/v1/workspaces", None, None).await;
    assert_eq!(answer.status, 401);
    assert_eq!(
        answer.body,
        json!({"detail": "Invalid authentication credentials"})
    );
}

#[tokio::test]
async fn the_organization_header_is_optional_unless_the_account_has_several() {
    let sim = start(Modes::strict()).await;
    let raw = Raw::new(&sim);
    let token = raw.organization_token(&sim).await;
    assert_eq!(
        raw.send("GET", "/api/v1/workspaces", Some(&token), None)
            .await
            .status,
        200
    );
    let sim = start(Modes {
        organization_header_required: true,
        ..Modes::strict()
    })
    .await;
    let raw = Raw::new(&sim);
    let token = raw.organization_token(&sim).await;
    assert_eq!(
        raw.send("GET", "/api/v1/workspaces", Some(&token), None)
            .await
            .status,
        400
    );
}

/// A Stripe template, a workspace `acme` and a source `billing` in it: (scoped token,
/// workspace id, the template's answer, the source's answer).
async fn billing_source(raw: &Raw, organization: &str) -> (String, String, Value, Value) {
    let template = raw
        .send(
            "POST",
            "/api/v1/integrations/templates/sources",
            Some(organization),
            Some(json!({"actor_definition_id": STRIPE_DEFINITION_ID, "partial_default_config": {"lookback_window_days": 3}, "name": "Stripe"})),
        )
        .await;
    assert_eq!(template.status, 200, "{}", template.body);
    let (scoped, workspace) = raw.scoped_token(organization, "acme").await;
    let created = raw
        .send(
            "POST",
            "/api/v1/embedded/sources",
            Some(&scoped),
            Some(json!({
                "workspace_id": workspace,
                "source_template_id": template.body["id"],
                "source_config": {"account_id": "acct_1", "client_secret": "sk_live_1", "start_date": "2024-01-01T00:00:00Z"},
                "name": "billing",
                "selected_connection_template_tags": ["s3"],
                "selected_connection_template_tags_mode": "all"
            })),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    (scoped, workspace, template.body, created.body)
}

#[tokio::test]
async fn sources_answer_masked_and_are_listed_by_workspace() {
    let sim = start(Modes::strict()).await;
    let raw = Raw::new(&sim);
    let organization = raw.organization_token(&sim).await;
    let (scoped, workspace, template, created) = billing_source(&raw, &organization).await;
    assert_eq!(template["source_definition_id"], STRIPE_DEFINITION_ID);
    assert!(template.get("actor_definition_id").is_none());
    assert_eq!(created["source_config"]["client_secret"], "**********");
    assert!(created.get("workspace_id").is_none());
    assert_eq!(created["source_template"]["id"], template["id"]);

    let without_workspace = raw
        .send("GET", "/api/v1/embedded/sources", Some(&scoped), None)
        .await;
    assert_eq!(without_workspace.status, 422);
    assert_eq!(
        error_fields(&without_workspace.body),
        ["query.workspace_id"]
    );
    let listed = raw
        .send(
            "GET",
            &format!("/api/v1/embedded/sources?workspace_id={workspace}"),
            Some(&scoped),
            None,
        )
        .await;
    assert_eq!(listed.status, 200);
    assert_eq!(listed.body["data"][0]["id"], created["id"]);
    assert!(listed.body["data"][0].get("source_config").is_none());
}

#[tokio::test]
async fn sources_are_updated_with_put_name_and_config_only() {
    let sim = start(Modes::strict()).await;
    let raw = Raw::new(&sim);
    let organization = raw.organization_token(&sim).await;
    let (scoped, _, _, created) = billing_source(&raw, &organization).await;
    let id = created["id"].as_str().unwrap().to_string();
    let tags = raw
        .send(
            "PUT",
            &format!("/api/v1/embedded/sources/{id}"),
            Some(&scoped),
            Some(json!({"selected_connection_template_tags": ["other"]})),
        )
        .await;
    assert_eq!(
        tags.status, 422,
        "strict: the tag selection is not part of an update"
    );
    let renamed = raw
        .send(
            "PUT",
            &format!("/api/v1/embedded/sources/{id}"),
            Some(&scoped),
            Some(json!({"name": "billing-2", "source_config": {"account_id": "acct_2", "client_secret": "**********", "start_date": "2024-01-01T00:00:00Z"}})),
        )
        .await;
    assert_eq!(renamed.status, 200, "{}", renamed.body);
    let state = raw.send("GET", "/_sim/state", None, None).await.body;
    assert_eq!(
        state["sources"][&id]["own_config"]["client_secret"], "sk_live_1",
        "the mask kept the secret"
    );
}

/// A Faker template with `count: 10`: (its path, its answer).
async fn faker_template(raw: &Raw, organization: &str) -> (String, Value) {
    let template = raw
        .send(
            "POST",
            "/api/v1/integrations/templates/sources",
            Some(organization),
            Some(json!({"actor_definition_id": FAKER_DEFINITION_ID, "partial_default_config": {"count": 10}})),
        )
        .await
        .body;
    let path = format!(
        "/api/v1/integrations/templates/sources/{}",
        template["id"].as_str().unwrap()
    );
    (path, template)
}

#[tokio::test]
async fn template_updates_need_the_full_defaults_and_reach_sources_only_when_propagated() {
    let sim = start(Modes::strict()).await;
    let raw = Raw::new(&sim);
    let organization = raw.organization_token(&sim).await;
    let (path, template) = faker_template(&raw, &organization).await;
    let name_only = raw
        .send(
            "PATCH",
            &path,
            Some(&organization),
            Some(json!({"name": "x"})),
        )
        .await;
    assert_eq!(name_only.status, 422);
    assert_eq!(
        error_fields(&name_only.body),
        ["body.partial_default_config"]
    );
    let (scoped, workspace) = raw.scoped_token(&organization, "acme").await;
    let source = raw
        .send(
            "POST",
            "/api/v1/embedded/sources",
            Some(&scoped),
            Some(json!({"workspace_id": workspace, "source_template_id": template["id"], "source_config": {}})),
        )
        .await
        .body;
    let source_path = format!(
        "/api/v1/embedded/sources/{}",
        source["id"].as_str().unwrap()
    );
    let count_after = async |update: Value| {
        raw.send("PATCH", &path, Some(&organization), Some(update))
            .await;
        raw.send("GET", &source_path, Some(&scoped), None)
            .await
            .body["source_config"]["count"]
            .clone()
    };
    assert_eq!(
        count_after(json!({"partial_default_config": {"count": 20}})).await,
        10
    );
    assert_eq!(
        count_after(json!({"partial_default_config": {"count": 30}, "propagate": true})).await,
        30
    );
}

#[tokio::test]
async fn untagging_a_template_answers_only_the_deletion_time() {
    let sim = start(Modes::strict()).await;
    let raw = Raw::new(&sim);
    let organization = raw.organization_token(&sim).await;
    let (path, _) = faker_template(&raw, &organization).await;
    raw.send(
        "POST",
        &format!("{path}/tags"),
        Some(&organization),
        Some(json!({"tag": "crm"})),
    )
    .await;
    let untag = raw
        .send(
            "DELETE",
            &format!("{path}/tags/crm"),
            Some(&organization),
            None,
        )
        .await;
    assert_eq!(untag.status, 200);
    assert_eq!(
        untag.body.as_object().unwrap().keys().collect::<Vec<_>>(),
        ["deleted_at"]
    );
}

#[tokio::test]
async fn template_lists_default_to_all_tags_and_carry_no_definition_id() {
    let sim = start(Modes::strict()).await;
    let raw = Raw::new(&sim);
    let organization = raw.organization_token(&sim).await;
    for tags in [vec!["a"], vec!["a", "b"]] {
        let id = raw
            .send(
                "POST",
                "/api/v1/integrations/templates/sources",
                Some(&organization),
                Some(json!({"actor_definition_id": FAKER_DEFINITION_ID, "partial_default_config": {}})),
            )
            .await
            .body["id"]
            .as_str()
            .unwrap()
            .to_string();
        for tag in tags {
            raw.send(
                "POST",
                &format!("/api/v1/integrations/templates/sources/{id}/tags"),
                Some(&organization),
                Some(json!({"tag": tag})),
            )
            .await;
        }
    }
    let list = |query: &'static str| {
        let raw = &raw;
        let organization = organization.clone();
        async move {
            raw.send(
                "GET",
                &format!("/api/v1/integrations/templates/sources{query}"),
                Some(&organization),
                None,
            )
            .await
            .body["data"]
                .as_array()
                .unwrap()
                .clone()
        }
    };
    assert_eq!(list("?tags=a&tags=b").await.len(), 1, "default mode is all");
    assert_eq!(list("?tags=a&tags=b&tags_mode=any").await.len(), 2);
    assert!(
        list("")
            .await
            .iter()
            .all(|t| t.get("source_definition_id").is_none())
    );
}

#[tokio::test]
async fn workspaces_page_by_the_next_url_under_a_page_size_cap() {
    let sim = start(Modes {
        workspace_page_size: Some(2),
        ..Modes::strict()
    })
    .await;
    let raw = Raw::new(&sim);
    let organization = raw.organization_token(&sim).await;
    for i in 0..5 {
        raw.scoped_token(&organization, &format!("tenant-{i}"))
            .await;
    }
    let mut path = "/api/v1/workspaces?limit=100".to_string();
    let mut names = Vec::new();
    loop {
        let page = raw.send("GET", &path, Some(&organization), None).await.body;
        names.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|w| w["name"].as_str().unwrap().to_string()),
        );
        match page["next"].as_str() {
            Some(next) => {
                path = next
                    .split_once("/api")
                    .map(|(_, p)| format!("/api{p}"))
                    .unwrap()
            }
            None => break,
        }
    }
    assert_eq!(
        names,
        ["tenant-0", "tenant-1", "tenant-2", "tenant-3", "tenant-4"]
    );
}

#[tokio::test]
async fn an_hourly_quota_answers_429_with_retry_after_once_spent() {
    let sim = start(Modes {
        hourly_quota: Some(3),
        ..Modes::strict()
    })
    .await;
    let raw = Raw::new(&sim);
    let token = raw.organization_token(&sim).await;
    assert_eq!(
        raw.send("GET", "/api/v1/workspaces", Some(&token), None)
            .await
            .status,
        200
    );
    assert_eq!(
        raw.send("GET", "/api/v1/workspaces", Some(&token), None)
            .await
            .status,
        200
    );
    let spent = raw
        .send("GET", "/api/v1/workspaces", Some(&token), None)
        .await;
    assert_eq!(spent.status, 429);
    let wait: u64 = spent.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(wait > 3000, "{wait}");
}

#[tokio::test]
async fn connection_templates_validate_the_destination_and_the_cron_and_mask_keys() {
    let sim = start(Modes::strict()).await;
    let raw = Raw::new(&sim);
    let organization = raw.organization_token(&sim).await;
    let body = |cron: &str, config: Value| {
        json!({
            "destination_name": "lake",
            "destination_definition_id": S3_DESTINATION_DEFINITION_ID,
            "destination_config": config,
            "cron_expression": cron,
        })
    };
    let good = json!({"s3_bucket_name": "b", "s3_bucket_path": "p", "s3_bucket_region": "eu-west-1", "format": {"format_type": "JSONL"}, "secret_access_key": "s3cr3t"});
    let path = "/api/v1/integrations/templates/connections";
    let bad_cron = raw
        .send(
            "POST",
            path,
            Some(&organization),
            Some(body("0 0 25 * * ?", good.clone())),
        )
        .await;
    assert_eq!(bad_cron.status, 422);
    assert_eq!(error_fields(&bad_cron.body), ["body.cron_expression"]);
    let missing = raw
        .send(
            "POST",
            path,
            Some(&organization),
            Some(body("0 0 12 * * ?", json!({"s3_bucket_name": "b"}))),
        )
        .await;
    assert_eq!(missing.status, 422);
    assert!(error_fields(&missing.body).contains(&"body.destination_config.format".to_string()));
    let created = raw
        .send(
            "POST",
            path,
            Some(&organization),
            Some(body("0 0 12 * * ?", good)),
        )
        .await;
    assert_eq!(created.status, 200, "{}", created.body);
    assert_eq!(
        created.body["destination_config"]["secret_access_key"],
        "**********"
    );
    let described = raw
        .send(
            "POST",
            &format!("{path}/cron/describe"),
            Some(&organization),
            Some(json!({"cron_expression": "0 30 2 * * ?"})),
        )
        .await;
    assert_eq!(
        described.body,
        json!({"description": "At 02:30:00, every day", "is_valid": true})
    );
}

#[tokio::test]
async fn every_answer_of_a_whole_session_fits_the_reference() {
    // `Modes::strict()` checks every 200 answer against the response schemas; a mismatch would
    // be a 500 here.
    let sim = start(Modes::strict()).await;
    let raw = Raw::new(&sim);
    let organization = raw.organization_token(&sim).await;
    let (scoped, _) = raw.scoped_token(&organization, "acme").await;
    for (method, path, token) in [
        ("GET", "/api/v1/workspaces", &organization),
        ("GET", "/api/v1/workspaces/stats", &organization),
        ("GET", "/api/v1/integrations/templates/tags", &organization),
        (
            "GET",
            "/api/v1/integrations/templates/sources",
            &organization,
        ),
        (
            "GET",
            "/api/v1/integrations/templates/connections",
            &organization,
        ),
        (
            "GET",
            "/api/v1/account/applications/scoped-token/info",
            &scoped,
        ),
        ("GET", "/api/v1/embedded/scoped-token-info", &scoped),
    ] {
        let answer = raw.send(method, path, Some(token), None).await;
        assert_eq!(answer.status, 200, "{path}: {}", answer.body);
    }
    let counts = sim.state().recorder.counts();
    assert!(counts.iter().all(|c| c.status != 500), "{counts:?}");
}

/// Two organizations in one simulator: each token opens only its own organization's objects;
/// the other's ids answer 404 (templates, sources, workspaces), its name mints a workspace of
/// its own, and a header naming the other organization is 403.
#[tokio::test]
async fn a_token_of_one_organization_is_refused_by_the_others_objects() {
    let second = airbyte_sim::OrganizationConfig::random("second-client");
    let sim = Simulator::start(
        SimConfig {
            modes: Modes::strict(),
            more_organizations: vec![second.clone()],
            ..SimConfig::default()
        },
        loopback(),
    )
    .await
    .unwrap();
    let raw = Raw::new(&sim);
    let first = raw.organization_token(&sim).await;
    let answer = raw
        .application_token(&second.client_id, &second.client_secret)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["organization_id"], second.organization_id);
    let other = answer.body["access_token"].as_str().unwrap().to_string();
    let wrong = raw
        .application_token(&second.client_id, &sim.client_secret())
        .await;
    assert_ne!(
        wrong.status, 200,
        "another organization's secret opens nothing"
    );

    // A template of the first organization is invisible to the second.
    let template = raw
        .send(
            "POST",
            "/api/v1/integrations/templates/sources",
            Some(&first),
            Some(json!({"actor_definition_id": FAKER_DEFINITION_ID, "partial_default_config": {}, "name": "mine"})),
        )
        .await;
    assert_eq!(template.status, 200, "{}", template.body);
    let template_id = template.body["id"].as_str().unwrap().to_string();
    let seen = raw
        .send(
            "GET",
            &format!("/api/v1/integrations/templates/sources/{template_id}"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(seen.status, 404, "{}", seen.body);
    let listed = raw
        .send(
            "GET",
            "/api/v1/integrations/templates/sources",
            Some(&other),
            None,
        )
        .await;
    assert_eq!(listed.body["data"], json!([]), "{}", listed.body);

    // The same workspace name is two workspaces, one per organization.
    let (_, first_workspace) = raw.scoped_token(&first, "acme").await;
    let (other_scoped, other_workspace) = raw.scoped_token(&other, "acme").await;
    assert_ne!(first_workspace, other_workspace);
    let workspace = raw
        .send(
            "GET",
            &format!("/api/v1/workspaces/{first_workspace}"),
            Some(&other),
            None,
        )
        .await;
    assert_eq!(workspace.status, 404, "{}", workspace.body);

    // A source of the second organization cannot be made from the first's template.
    let source = raw
        .send(
            "POST",
            "/api/v1/embedded/sources",
            Some(&other_scoped),
            Some(json!({"workspace_id": other_workspace, "source_template_id": template_id, "source_config": {}})),
        )
        .await;
    assert_eq!(source.status, 422, "{}", source.body);

    // The organization header must name the token's organization.
    let response = reqwest::Client::builder()
        .no_proxy()
        .build()
        .unwrap()
        .get(format!("{}/api/v1/workspaces", raw.base))
        .bearer_auth(&other)
        .header("X-Organization-Id", sim.organization_id())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 403);

    // Revoking one organization's tokens leaves the other's working; a rotated secret is
    // refused and the new one accepted.
    let organization = sim.state().organization(&second.organization_id).unwrap();
    organization.revoke_tokens();
    let revoked = raw
        .send("GET", "/api/v1/workspaces", Some(&other), None)
        .await;
    assert_ne!(revoked.status, 200);
    let still = raw
        .send("GET", "/api/v1/workspaces", Some(&first), None)
        .await;
    assert_eq!(still.status, 200, "{}", still.body);
    organization.set_client_secret("rotated");
    let old = raw
        .application_token(&second.client_id, &second.client_secret)
        .await;
    assert_ne!(old.status, 200);
    let new = raw.application_token(&second.client_id, "rotated").await;
    assert_eq!(new.status, 200, "{}", new.body);
    let log = sim.state().recorder.log_since(0);
    assert!(
        log.iter().any(|r| r.endpoint == "application_token"
            && r.organization.as_deref() == Some(second.organization_id.as_str())),
        "the request log names the organization of each token request"
    );
}
