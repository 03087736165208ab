//! A platform team applies a tenant, a template and a source with kubectl; each becomes Ready, the
//! tenant's token lands in its Secret, and that token opens that tenant's workspace only.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use airbyte_client::models::{CreateSource, WidgetTokenPayload};
use airbyte_client::{ApiError, BearerToken, Endpoint, SourceApi, TokenApi};
use airbyte_sim::STANDARD_FAKER_TEMPLATE_ID;
use airbyte_sim::catalog::STRIPE_DEFINITION_ID;
use base64::Engine;
use embedded_crds::REGION_EU;
use serde_json::Map;

use crate::support::operator::OperatorOptions;
use crate::support::{Generation, Scenario, wait_for};
use embedded_crds::conditions;

const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workspace_template_and_source_become_ready_and_the_token_opens_only_its_workspace() {
    // 20-minute tokens: the expiry metric below is checked against that lifetime.
    let s = Scenario::with(
        "happy",
        Duration::from_secs(20 * 60),
        OperatorOptions::default(),
    )
    .await;
    let ns = s.ns().to_string();
    let template = s.cluster_name("stripe");
    s.apply(&format!(
        r#"
apiVersion: embedded.airbyte.ai/v1alpha1
kind: EmbeddedWorkspace
metadata: {meta_ws}
spec:
  region: eu
  widget:
    allowedOrigin: https://app.example.com
    sourceTemplateTags: {{tags: [billing]}}
---
apiVersion: embedded.airbyte.ai/v1alpha1
kind: SourceTemplate
metadata: {meta_tpl}
spec:
  name: Stripe for {ns}
  actorDefinitionId: {STRIPE_DEFINITION_ID}
  partialDefaultConfig: {{lookback_window_days: 2}}
  tags: [billing]
---
apiVersion: v1
kind: Secret
metadata: {meta_secret}
stringData: {{client_secret: sk_test_happy_path_value}}
---
apiVersion: embedded.airbyte.ai/v1alpha1
kind: EmbeddedSource
metadata: {meta_src}
spec:
  workspaceRef: {{name: main}}
  sourceTemplateRef: {{name: {template}}}
  sourceConfig: {{account_id: acct_123}}
  sourceConfigSecretRefs:
  - path: client_secret
    secretKeyRef: {{name: stripe-creds, key: client_secret}}
  connectionTemplateTags: {{tags: [s3], mode: all}}
"#,
        meta_ws = s.meta("main"),
        meta_tpl = s.template_meta("stripe"),
        meta_secret = s.meta("stripe-creds"),
        meta_src = s.meta("stripe"),
    ))
    .success();

    let tools = s.ctx.tools(Generation::Current);
    for target in ["embeddedworkspace/main", "embeddedsource/stripe"] {
        tools
            .kubectl(&[
                "wait",
                "--for=condition=Ready",
                target,
                "-n",
                &ns,
                "--timeout=90s",
            ])
            .success();
    }
    tools
        .kubectl(&[
            "wait",
            "--for=condition=Ready",
            &format!("sourcetemplate/{template}"),
            "--timeout=90s",
        ])
        .success();

    // The Secret: every documented key, owned by the workspace, labelled as managed.
    let secret = s.secrets().get("main-airbyte-token").await.unwrap();
    let data = secret.data.clone().unwrap();
    let text = |key: &str| String::from_utf8(data[key].0.clone()).unwrap();
    for key in [
        "token",
        "workspaceId",
        "organizationId",
        "regionId",
        "expiresAt",
        "widgetToken",
    ] {
        assert!(data.contains_key(key), "Secret lacks {key}");
    }
    assert_eq!(text("organizationId"), s.sim.organization_id());
    assert_eq!(text("regionId"), REGION_EU);
    let owner = &secret.metadata.owner_references.as_ref().unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("EmbeddedWorkspace", "main", Some(true))
    );
    assert_eq!(
        secret.metadata.labels.as_ref().unwrap()["app.kubernetes.io/managed-by"],
        "airbyte-embedded-operator"
    );

    // Status agrees with the Secret and with Airbyte.
    let workspace = s.workspaces().get("main").await.unwrap();
    let status = workspace.status.clone().unwrap();
    assert_eq!(
        status.workspace_id.as_deref(),
        Some(text("workspaceId").as_str())
    );
    assert_eq!(
        status.workspace_name.as_deref(),
        Some(format!("{ns}.main").as_str())
    );
    assert_eq!(status.observed_generation, workspace.metadata.generation);
    let world_workspace = s.sim.state().world().workspaces[&text("workspaceId")].clone();
    assert_eq!(world_workspace.name, format!("{ns}.main"));
    assert_eq!(world_workspace.region_id, REGION_EU);

    // The token opens its own workspace and nothing else.
    let airbyte = s.airbyte();
    let token = BearerToken::new(text("token"));
    let info = airbyte
        .scoped_token_info(&token)
        .await
        .expect("the simulator accepts the stored token");
    assert_eq!(info.workspace_id, text("workspaceId"));
    let source_status = s.sources().get("stripe").await.unwrap().status.unwrap();
    let source_id = source_status.source_id.clone().unwrap();
    let source = airbyte.get_source(&token, &source_id).await.unwrap();
    let stored = s.sim.state().world().sources[&source_id].clone();
    assert_eq!(stored.workspace_id, text("workspaceId"));
    assert_eq!(stored.connection_template_tags, ["s3"]);
    assert_eq!(
        source.template_id(),
        source_status.source_template_id.as_deref()
    );
    let stored = stored.config();
    assert_eq!(
        stored["client_secret"], "sk_test_happy_path_value",
        "the Secret value reached Airbyte"
    );
    assert_eq!(
        stored["lookback_window_days"], 2,
        "the template default applies"
    );
    let other = airbyte
        .mint_scoped_token("someone-else.main", None)
        .await
        .unwrap();
    let foreign = airbyte
        .create_source(
            &other.token,
            &CreateSource {
                name: "foreign".into(),
                workspace_id: other.workspace_id.clone(),
                source_template_id: STANDARD_FAKER_TEMPLATE_ID.into(),
                source_config: Map::new(),
                selected_connection_template_tags: None,
                selected_connection_template_tags_mode: None,
            },
        )
        .await
        .unwrap();
    assert!(matches!(
        airbyte.get_source(&token, &foreign.id).await,
        Err(ApiError::Forbidden { .. })
    ));

    // The widget token wraps a scoped token of the same workspace.
    let payload: WidgetTokenPayload = serde_json::from_slice(
        &base64::engine::general_purpose::STANDARD
            .decode(text("widgetToken"))
            .unwrap(),
    )
    .unwrap();
    let widget_info = airbyte
        .scoped_token_info(&BearerToken::new(payload.token))
        .await
        .unwrap();
    assert_eq!(widget_info.workspace_id, text("workspaceId"));

    // kubectl shows it all: the category, printer columns, and explain documents every field.
    let table = tools
        .kubectl(&["get", "airbyte", "-n", &ns])
        .success()
        .stdout();
    assert!(
        table.contains("embeddedworkspace.embedded.airbyte.ai/main")
            && table.contains("TokenIssued"),
        "{table}"
    );
    assert!(table.contains(&source_id), "{table}");
    let short = tools
        .kubectl(&["get", "aew,aes", "-n", &ns])
        .success()
        .stdout();
    assert!(
        short.contains("READY") && short.contains("REASON"),
        "{short}"
    );
    // TOKEN EXPIRES shows the moment itself (a `date` column shows a moment to come as
    // `<invalid>`).
    let expires = s
        .workspaces()
        .get("main")
        .await
        .unwrap()
        .status
        .and_then(|status| status.token_expires_at)
        .expect("an expiry in status");
    let row = tools
        .kubectl(&["get", "aew", "main", "-n", &ns])
        .success()
        .stdout();
    assert!(
        row.contains("TOKEN EXPIRES") && row.contains(&expires) && !row.contains("<invalid>"),
        "{row}"
    );
    let explain = tools
        .kubectl(&["explain", "embeddedworkspace.spec"])
        .success()
        .stdout();
    for field in [
        "workspaceName",
        "region",
        "regionId",
        "tokenSecretName",
        "refreshBefore",
        "widget",
        "suspend",
        "deletionPolicy",
    ] {
        assert!(explain.contains(field), "explain lacks {field}: {explain}");
    }

    // Metrics: reconciles, API calls by endpoint and status, token expiry, leader; no secrets.
    let metrics = s.operator.metrics().await;
    for needle in [
        "airbyte_embedded_operator_reconciles_total{kind=\"EmbeddedSource\",reason=\"Synced\"}",
        "airbyte_embedded_operator_airbyte_api_calls_total{organization=\"default\",endpoint=\"scoped_token_create\",status=\"200\"}",
        "airbyte_embedded_operator_reconcile_duration_seconds_count{kind=\"EmbeddedWorkspace\"}",
        "airbyte_embedded_operator_leader 1",
    ] {
        assert!(metrics.contains(needle), "metrics lack {needle}");
    }
    let expiry_line = metrics
        .lines()
        .find(|l| l.starts_with(&format!("airbyte_embedded_operator_workspace_token_expiry_timestamp_seconds{{namespace=\"{ns}\",name=\"main\"}}")))
        .expect("a token expiry gauge for the workspace");
    // A Unix timestamp (alerts compute `expiry - time()`), about 20 minutes from now.
    let expiry: f64 = expiry_line.rsplit(' ').next().unwrap().parse().unwrap();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        expiry - now > 1000.0 && expiry - now <= 1200.0,
        "{expiry_line}"
    );
    for token in s.sim.state().issued_tokens() {
        assert!(!metrics.contains(&token), "a token leaked into the metrics");
    }
    assert!(!metrics.contains("sk_test_happy_path_value"));
    for endpoint in ["healthz", "readyz"] {
        let status = reqwest::get(format!(
            "http://127.0.0.1:{}/{endpoint}",
            s.operator.metrics_port
        ))
        .await
        .unwrap()
        .status();
        assert!(status.is_success(), "/{endpoint}: {status}");
    }

    s.assert_no_leaks(&["sk_test_happy_path_value"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_is_refreshed_before_it_expires_repeatedly() {
    let s = Scenario::with(
        "refresh",
        Duration::from_secs(8),
        OperatorOptions::default(),
    )
    .await;
    s.apply(&format!(
        "apiVersion: embedded.airbyte.ai/v1alpha1\nkind: EmbeddedWorkspace\nmetadata: {}\nspec: {{}}\n",
        s.meta("main")
    ))
    .success();
    s.wait_ready(&s.workspaces(), "main").await;

    let mut tokens: Vec<String> = Vec::new();
    let mut observations = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    while tokens.len() < 4 {
        assert!(
            std::time::Instant::now() < deadline,
            "only {} distinct tokens seen",
            tokens.len()
        );
        if let Ok(secret) = s.secrets().get("main-airbyte-token").await
            && let Some(token) = secret.data.and_then(|d| {
                d.get("token")
                    .map(|v| String::from_utf8_lossy(&v.0).into_owned())
            })
        {
            let exp = BearerToken::new(token.clone())
                .expires_at()
                .expect("a JWT with exp");
            // Observed at any moment, the stored token is never expired.
            let now = SystemTime::now();
            assert!(
                exp > now,
                "the Secret held an expired token (exp {:?}, now {:?})",
                exp.duration_since(UNIX_EPOCH),
                now.duration_since(UNIX_EPOCH)
            );
            observations += 1;
            if tokens.last() != Some(&token) {
                tokens.push(token);
            }
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        observations >= 10,
        "polled often enough to catch an expired token"
    );
    let workspace = s.workspaces().get("main").await.unwrap();
    assert!(workspace.status.unwrap().token_expires_at.is_some());
    let events = s
        .kubectl(&[
            "get",
            "events",
            "-n",
            s.ns(),
            "--field-selector",
            "reason=TokenRefreshed",
        ])
        .success()
        .stdout();
    assert!(
        events.contains("TokenRefreshed"),
        "refreshes are announced as events: {events}"
    );
    s.assert_no_leaks(&[]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workspace_that_keeps_no_token_has_no_secret_yet_its_sources_live_and_steady_state_mints_nothing()
 {
    let s = Scenario::new("on-demand").await;
    let template = s.cluster_name("stripe");
    s.apply(&format!(
        r#"
apiVersion: embedded.airbyte.ai/v1alpha1
kind: EmbeddedWorkspace
metadata: {meta_ws}
spec: {{tokenPolicy: OnDemand}}
---
apiVersion: embedded.airbyte.ai/v1alpha1
kind: EmbeddedWorkspace
metadata: {meta_kept}
spec: {{}}
---
apiVersion: embedded.airbyte.ai/v1alpha1
kind: SourceTemplate
metadata: {meta_tpl}
spec: {{name: Stripe {ns}, actorDefinitionId: {STRIPE_DEFINITION_ID}}}
---
apiVersion: v1
kind: Secret
metadata: {meta_secret}
stringData: {{client_secret: sk_on_demand}}
---
apiVersion: embedded.airbyte.ai/v1alpha1
kind: EmbeddedSource
metadata: {meta_src}
spec:
  workspaceRef: {{name: main}}
  sourceTemplateRef: {{name: {template}}}
  sourceConfig: {{account_id: acct_1}}
  sourceConfigSecretRefs: [{{path: client_secret, secretKeyRef: {{name: creds, key: client_secret}}}}]
"#,
        ns = s.ns(),
        meta_ws = s.meta("main"),
        meta_kept = s.meta("kept"),
        meta_tpl = s.template_meta("stripe"),
        meta_secret = s.meta("creds"),
        meta_src = s.meta("stripe"),
    ))
    .success();
    let main = s.wait_ready(&s.workspaces(), "main").await;
    s.wait_ready(&s.workspaces(), "kept").await;
    let source = s.wait_ready(&s.sources(), "stripe").await;
    let status = main.status.unwrap();
    assert_eq!(status.token_secret_name, None);
    assert_eq!(status.token_expires_at, None);
    assert!(
        s.secrets()
            .get_opt("main-airbyte-token")
            .await
            .unwrap()
            .is_none(),
        "no token Secret for a workspace that keeps none"
    );
    let id = source.status.unwrap().source_id.unwrap();

    // Updated: the new config reaches Airbyte with a token minted on demand.
    s.kubectl(&[
        "patch",
        "embeddedsource",
        "stripe",
        "-n",
        s.ns(),
        "--type=merge",
        "-p",
        r#"{"spec":{"sourceConfig":{"account_id":"acct_2"}}}"#,
    ])
    .success();
    wait_for("the new config in Airbyte", WAIT, || async {
        (s.sim.state().world().sources[&id].config()["account_id"] == "acct_2").then_some(())
    })
    .await;
    s.wait(&s.sources(), "stripe", "Ready at generation 2", |c| {
        conditions::ready(c).is_some_and(|r| r.status == "True" && r.observed_generation == Some(2))
    })
    .await;

    // Steady state: a minute without a mint, although the kept workspace's token is 20 minutes.
    let mints = s.calls(Endpoint::ScopedTokenCreate);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(
        s.calls(Endpoint::ScopedTokenCreate),
        mints,
        "no mint in a steady minute"
    );

    // A kept token's Secret goes when its workspace switches to OnDemand.
    assert!(
        s.secrets()
            .get_opt("kept-airbyte-token")
            .await
            .unwrap()
            .is_some()
    );
    s.kubectl(&[
        "patch",
        "embeddedworkspace",
        "kept",
        "-n",
        s.ns(),
        "--type=merge",
        "-p",
        r#"{"spec":{"tokenPolicy":"OnDemand"}}"#,
    ])
    .success();
    wait_for("the kept workspace's Secret deleted", WAIT, || async {
        s.secrets()
            .get_opt("kept-airbyte-token")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;

    // Deleted: the source goes from Airbyte too.
    s.kubectl(&[
        "delete",
        "embeddedsource",
        "stripe",
        "-n",
        s.ns(),
        "--wait=true",
    ])
    .success();
    assert!(!s.sim.state().world().sources.contains_key(&id));
}
