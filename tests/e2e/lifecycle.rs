//! Living with the objects: Secret changes reach Airbyte, deletion follows the policy, the token
//! Secret is cared for, annotations force work or adopt, and kstatus reads progress correctly.

use std::time::Duration;

use airbyte_client::models::{CreateSource, CreateSourceTemplate};
use airbyte_client::{Endpoint, SourceApi, SourceTemplateApi, TokenApi};
use airbyte_sim::FaultRule;
use airbyte_sim::catalog::{FAKER_DEFINITION_ID, STRIPE_DEFINITION_ID};
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{DeleteParams, Patch, PatchParams};
use serde_json::json;

use crate::support::operator::OperatorOptions;
use crate::support::{Scenario, wait_for};

const WAIT: Duration = Duration::from_secs(60);

fn workspace(s: &Scenario, name: &str, spec: &str) -> String {
    format!(
        "apiVersion: embedded.airbyte.ai/v1alpha1\nkind: EmbeddedWorkspace\nmetadata: {}\nspec: {spec}\n",
        s.meta(name)
    )
}

fn stripe_source(s: &Scenario, name: &str, template: &str, extra: &str) -> String {
    format!(
        "apiVersion: embedded.airbyte.ai/v1alpha1\nkind: EmbeddedSource\nmetadata: {}\nspec:\n  workspaceRef: {{name: main}}\n  sourceTemplateRef: {{name: {template}}}\n  sourceConfig: {{account_id: acct_1}}\n  sourceConfigSecretRefs:\n  - path: client_secret\n    secretKeyRef: {{name: stripe-creds, key: client_secret}}\n{extra}",
        s.meta(name)
    )
}

fn stripe_template(s: &Scenario, name: &str, extra: &str) -> String {
    format!(
        "apiVersion: embedded.airbyte.ai/v1alpha1\nkind: SourceTemplate\nmetadata: {}\nspec:\n  name: Stripe {name} {ns}\n  actorDefinitionId: {STRIPE_DEFINITION_ID}\n{extra}",
        s.template_meta(name),
        ns = s.ns()
    )
}

fn secret(s: &Scenario, name: &str, key: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {}\nstringData: {{{key}: {value}}}\n",
        s.meta(name)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_a_referenced_secret_updates_the_source_in_airbyte() {
    let s = Scenario::new("secret-change").await;
    let template = s.cluster_name("stripe");
    s.apply(&workspace(&s, "main", "{}")).success();
    s.apply(&stripe_template(&s, "stripe", "")).success();
    s.apply(&secret(
        &s,
        "stripe-creds",
        "client_secret",
        "sk_first_value",
    ))
    .success();
    s.apply(&stripe_source(&s, "stripe", &template, ""))
        .success();
    let source = s.wait_ready(&s.sources(), "stripe").await;
    let id = source.status.clone().unwrap().source_id.unwrap();
    let hash = source.status.unwrap().config_hash.unwrap();
    assert_eq!(
        s.sim.state().world().sources[&id].config()["client_secret"],
        "sk_first_value"
    );

    s.apply(&secret(
        &s,
        "stripe-creds",
        "client_secret",
        "sk_second_value",
    ))
    .success();
    wait_for("the new Secret value in Airbyte", WAIT, || async {
        (s.sim.state().world().sources[&id].config()["client_secret"] == "sk_second_value")
            .then_some(())
    })
    .await;
    let updated = wait_for("the new config hash in status", WAIT, || async {
        let status = s.sources().get("stripe").await.ok()?.status?;
        (status.config_hash.as_deref() != Some(hash.as_str())).then_some(status)
    })
    .await;
    assert_eq!(
        updated.source_id.as_deref(),
        Some(id.as_str()),
        "the same source was updated, not replaced"
    );
    assert_eq!(s.calls(Endpoint::SourcesCreate), 1);
    assert!(s.calls(Endpoint::SourceUpdate) >= 1);

    // Back to the first value: the same config as at first, yet another hash. A hash that
    // were a function of the values would come back, and anyone who can read the object could
    // test guesses of the secret against it offline.
    let second = updated.config_hash.unwrap();
    s.apply(&secret(
        &s,
        "stripe-creds",
        "client_secret",
        "sk_first_value",
    ))
    .success();
    let third = wait_for("the third config hash in status", WAIT, || async {
        let status = s.sources().get("stripe").await.ok()?.status?;
        let hash = status.config_hash?;
        (hash != second).then_some(hash)
    })
    .await;
    assert_eq!(
        s.sim.state().world().sources[&id].config()["client_secret"],
        "sk_first_value"
    );
    assert_ne!(
        third, hash,
        "status.configHash is derived from the Secret's values"
    );
    s.assert_no_leaks(&["sk_first_value", "sk_second_value"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deletion_follows_the_policy_and_waits_for_a_failing_api() {
    let s = Scenario::new("deletion").await;
    let template = s.cluster_name("stripe");
    s.apply(&workspace(&s, "main", "{deletionPolicy: Delete}"))
        .success();
    s.apply(&workspace(&s, "kept", "{}")).success();
    s.apply(&stripe_template(&s, "stripe", "")).success();
    s.apply(&secret(&s, "stripe-creds", "client_secret", "sk_deletion"))
        .success();
    s.apply(&stripe_source(&s, "doomed", &template, ""))
        .success();
    s.apply(&stripe_source(
        &s,
        "orphaned",
        &template,
        "  deletionPolicy: Orphan\n",
    ))
    .success();
    for name in ["doomed", "orphaned"] {
        s.wait_ready(&s.sources(), name).await;
    }
    let main = s.wait_ready(&s.workspaces(), "main").await;
    let kept = s.wait_ready(&s.workspaces(), "kept").await;
    let sources = s.sources();
    let source_id = |name: &'static str| {
        let sources = sources.clone();
        async move {
            sources
                .get(name)
                .await
                .unwrap()
                .status
                .unwrap()
                .source_id
                .unwrap()
        }
    };
    let doomed = source_id("doomed").await;
    let orphaned = source_id("orphaned").await;
    let template_id = s
        .templates()
        .get(&template)
        .await
        .unwrap()
        .status
        .unwrap()
        .template_id
        .unwrap();

    // While Airbyte fails, a Delete source keeps its finalizer and says why.
    *s.sim.state().faults.lock().unwrap() = vec![FaultRule {
        endpoints: vec![Endpoint::SourceDelete.label().into()],
        error_rate: 1.0,
        status: 503,
        ..Default::default()
    }];
    s.sources()
        .delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    let stuck = s
        .wait_reason(&s.sources(), "doomed", "DeletionFailed")
        .await;
    assert!(
        stuck
            .finalizers()
            .contains(&"embedded.airbyte.ai/cleanup".to_string())
    );
    let message = embedded_crds::conditions::ready(&stuck.status.unwrap().conditions)
        .unwrap()
        .message
        .clone();
    assert!(
        message.contains("503") && message.contains("finalizer"),
        "{message}"
    );
    assert!(s.sim.state().world().sources.contains_key(&doomed));
    s.sim.state().faults.lock().unwrap().clear();
    wait_for("the source object to go", WAIT, || async {
        s.sources()
            .get_opt("doomed")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        !s.sim.state().world().sources.contains_key(&doomed),
        "Delete removed the Airbyte source"
    );

    s.sources()
        .delete("orphaned", &DeleteParams::default())
        .await
        .unwrap();
    wait_for("the orphaned source object to go", WAIT, || async {
        s.sources()
            .get_opt("orphaned")
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        s.sim.state().world().sources.contains_key(&orphaned),
        "Orphan kept the Airbyte source"
    );

    s.templates()
        .delete(&template, &DeleteParams::default())
        .await
        .unwrap();
    wait_for("the template object to go", WAIT, || async {
        s.templates()
            .get_opt(&template)
            .await
            .unwrap()
            .is_none()
            .then_some(())
    })
    .await;
    assert!(
        !s.sim
            .state()
            .world()
            .source_templates
            .contains_key(&template_id),
        "templates default to Delete"
    );

    // Workspaces: Delete removes the Airbyte workspace, Orphan (default) keeps it; the token
    // Secret goes with its workspace through the real garbage collector.
    let main_id = main.status.unwrap().workspace_id.unwrap();
    let kept_id = kept.status.unwrap().workspace_id.unwrap();
    for name in ["main", "kept"] {
        s.workspaces()
            .delete(name, &DeleteParams::background())
            .await
            .unwrap();
    }
    for name in ["main", "kept"] {
        wait_for("the workspace object to go", WAIT, || async {
            s.workspaces()
                .get_opt(name)
                .await
                .unwrap()
                .is_none()
                .then_some(())
        })
        .await;
    }
    assert!(!s.sim.state().world().workspaces.contains_key(&main_id));
    assert!(s.sim.state().world().workspaces.contains_key(&kept_id));
    for secret in ["main-airbyte-token", "kept-airbyte-token"] {
        wait_for(
            "the token Secret to be garbage-collected",
            Duration::from_secs(90),
            || async {
                s.secrets()
                    .get_opt(secret)
                    .await
                    .unwrap()
                    .is_none()
                    .then_some(())
            },
        )
        .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_secret_is_repaired_and_a_foreign_secret_is_never_touched() {
    let s = Scenario::new("secret-care").await;
    s.apply(&workspace(&s, "main", "{}")).success();
    s.wait_ready(&s.workspaces(), "main").await;
    let secrets = s.secrets();
    let original = secrets.get("main-airbyte-token").await.unwrap();

    // Deleted by hand: re-created.
    secrets
        .delete("main-airbyte-token", &DeleteParams::default())
        .await
        .unwrap();
    let recreated = wait_for("the token Secret to be re-created", WAIT, || async {
        let secret = secrets.get_opt("main-airbyte-token").await.ok()??;
        (secret.uid() != original.uid()).then_some(secret)
    })
    .await;
    assert!(recreated.data.unwrap().contains_key("token"));

    // Edited by hand: restored.
    let forged = json!({"data": {"token": "Zm9yZ2Vk"}});
    secrets
        .patch(
            "main-airbyte-token",
            &PatchParams::default(),
            &Patch::Merge(&forged),
        )
        .await
        .unwrap();
    wait_for("the token Secret to be restored", WAIT, || async {
        let secret = secrets.get("main-airbyte-token").await.ok()?;
        let token = String::from_utf8(secret.data?.get("token")?.0.clone()).ok()?;
        (token != "forged" && token.matches('.').count() == 2).then_some(())
    })
    .await;

    // A Secret of that name the operator does not own is left alone.
    s.apply(&secret(&s, "other-airbyte-token", "token", "not-yours"))
        .success();
    s.apply(&workspace(&s, "other", "{}")).success();
    let stalled = s
        .wait_reason(&s.workspaces(), "other", "SecretConflict")
        .await;
    let message = embedded_crds::conditions::ready(&stalled.status.unwrap().conditions)
        .unwrap()
        .message
        .clone();
    assert!(
        message.contains("other-airbyte-token") && message.contains("not owned"),
        "{message}"
    );
    let foreign: Secret = secrets.get("other-airbyte-token").await.unwrap();
    assert_eq!(foreign.data.unwrap()["token"].0, b"not-yours");
    assert!(foreign.metadata.owner_references.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotations_force_a_fresh_token_and_adopt_existing_objects() {
    let s = Scenario::new("annotations").await;
    s.apply(&workspace(&s, "main", "{}")).success();
    s.wait_ready(&s.workspaces(), "main").await;
    let token =
        |secret: Secret| String::from_utf8(secret.data.unwrap()["token"].0.clone()).unwrap();
    let before = token(s.secrets().get("main-airbyte-token").await.unwrap());
    let mints = s.calls(Endpoint::ScopedTokenCreate);

    s.kubectl(&[
        "annotate",
        "embeddedworkspace",
        "main",
        "-n",
        s.ns(),
        "embedded.airbyte.ai/reconcile-requested-at=first",
    ])
    .success();
    let status = wait_for("the request to be handled", WAIT, || async {
        let status = s.workspaces().get("main").await.ok()?.status?;
        (status.last_handled_reconcile_at.as_deref() == Some("first")).then_some(status)
    })
    .await;
    assert!(status.token_expires_at.is_some());
    let after = token(s.secrets().get("main-airbyte-token").await.unwrap());
    assert_ne!(before, after, "a fresh token");
    assert_eq!(s.calls(Endpoint::ScopedTokenCreate), mints + 1);

    // Adoption: a template and a source made outside Kubernetes are taken over, not re-created.
    let airbyte = s.airbyte();
    let existing_template = airbyte
        .create_source_template(&CreateSourceTemplate {
            actor_definition_id: FAKER_DEFINITION_ID.into(),
            partial_default_config: serde_json::Map::new(),
            name: Some("Faker (made by hand)".into()),
            customization: None,
        })
        .await
        .unwrap();
    airbyte
        .add_source_template_tag(&existing_template.id, "legacy")
        .await
        .unwrap();
    let workspace_id = status.workspace_id.unwrap();
    let scoped = airbyte
        .mint_scoped_token(&format!("{}.main", s.ns()), None)
        .await
        .unwrap();
    assert_eq!(scoped.workspace_id, workspace_id);
    let existing_source = airbyte
        .create_source(
            &scoped.token,
            &CreateSource {
                name: "legacy".into(),
                workspace_id: workspace_id.clone(),
                source_template_id: existing_template.id.clone(),
                source_config: serde_json::Map::new(),
                selected_connection_template_tags: None,
                selected_connection_template_tags_mode: None,
            },
        )
        .await
        .unwrap();
    let creates = (
        s.calls(Endpoint::SourceTemplateCreate),
        s.calls(Endpoint::SourcesCreate),
    );
    let template = s.cluster_name("adopted");
    s.apply(&format!(
        "apiVersion: embedded.airbyte.ai/v1alpha1\nkind: SourceTemplate\nmetadata: {{name: {template}, labels: {{e2e.airbyte.ai/test: {ns}}}, annotations: {{embedded.airbyte.ai/external-id: {id}}}}}\nspec: {{name: Faker (managed), actorDefinitionId: {FAKER_DEFINITION_ID}, tags: [managed]}}\n",
        ns = s.ns(),
        id = existing_template.id
    ))
    .success();
    s.apply(&format!(
        "apiVersion: embedded.airbyte.ai/v1alpha1\nkind: EmbeddedSource\nmetadata: {{name: legacy, namespace: {ns}, labels: {{e2e.airbyte.ai/test: {ns}}}, annotations: {{embedded.airbyte.ai/external-id: {id}}}}}\nspec: {{workspaceRef: {{name: main}}, sourceTemplateRef: {{name: {template}}}, sourceConfig: {{count: 5}}}}\n",
        ns = s.ns(),
        id = existing_source.id
    ))
    .success();
    let adopted = s.wait_ready(&s.templates(), &template).await;
    assert_eq!(
        adopted.status.unwrap().template_id.as_deref(),
        Some(existing_template.id.as_str())
    );
    let source = s.wait_ready(&s.sources(), "legacy").await;
    assert_eq!(
        source.status.unwrap().source_id.as_deref(),
        Some(existing_source.id.as_str())
    );
    assert_eq!(
        (
            s.calls(Endpoint::SourceTemplateCreate),
            s.calls(Endpoint::SourcesCreate)
        ),
        creates,
        "nothing was created"
    );
    let world = s.sim.state().world();
    let template_now = &world.source_templates[&existing_template.id];
    assert_eq!(
        template_now.name, "Faker (managed)",
        "the adopted template follows the spec"
    );
    assert_eq!(
        template_now.tags,
        ["managed"],
        "tags: only the difference was changed"
    );
    assert_eq!(world.sources[&existing_source.id].config()["count"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kstatus_reads_in_progress_until_a_generation_is_reconciled() {
    let mut s = Scenario::with(
        "kstatus",
        Duration::from_secs(1200),
        OperatorOptions::default(),
    )
    .await;
    s.operator.stop();
    s.apply(&workspace(&s, "main", "{}")).success();
    s.apply(&format!(
        "apiVersion: embedded.airbyte.ai/v1alpha1\nkind: ConnectionTemplate\nmetadata: {}\nspec: {{dataHostingType: airbyte_hosted, tags: [kstatus]}}\n",
        s.template_meta("hosted")
    ))
    .success();
    let fresh = s.workspaces().get("main").await.unwrap();
    assert_eq!(
        fresh.status.as_ref().and_then(|st| st.observed_generation),
        Some(-1),
        "the schema default marks a never-reconciled object"
    );
    let hosted = s.cluster_name("hosted");
    let fresh = s.connection_templates().get(&hosted).await.unwrap();
    assert_eq!(
        fresh.status.as_ref().and_then(|st| st.observed_generation),
        Some(-1),
        "the fourth kind too"
    );
    let partner = s.partner();
    s.apply(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {}\nstringData: {{clientId: {}, clientSecret: {}}}\n---\napiVersion: embedded.airbyte.ai/v1alpha1\nkind: ClusterAirbyteOrganization\nmetadata: {}\nspec: {{organizationId: {}, apiUrl: {}, credentialsSecretRef: {{name: partner}}}}\n",
        s.meta("partner"),
        partner.client_id,
        partner.client_secret(),
        s.template_meta("partner"),
        partner.id,
        s.sim.url()
    ))
    .success();
    let organizations: kube::Api<embedded_crds::ClusterAirbyteOrganization> =
        kube::Api::all(s.ctx.client.clone());
    let organization = s.cluster_name("partner");
    let fresh = organizations.get(&organization).await.unwrap();
    assert_eq!(
        fresh.status.as_ref().and_then(|st| st.observed_generation),
        Some(-1),
        "and the organization kinds"
    );
    s.operator.start_again();
    let ready = s.wait_ready(&organizations, &organization).await;
    assert_eq!(
        ready.status.unwrap().observed_generation,
        ready.metadata.generation
    );
    organizations
        .delete(&organization, &DeleteParams::default())
        .await
        .unwrap();
    let ready = s.wait_ready(&s.workspaces(), "main").await;
    assert_eq!(
        ready.status.unwrap().observed_generation,
        ready.metadata.generation
    );
    let ready = s.wait_ready(&s.connection_templates(), &hosted).await;
    assert_eq!(
        ready.status.unwrap().observed_generation,
        ready.metadata.generation
    );
    s.connection_templates()
        .delete(&hosted, &DeleteParams::default())
        .await
        .unwrap();

    s.operator.stop();
    s.apply(&workspace(&s, "main", "{suspend: true}")).success();
    let changed = s.workspaces().get("main").await.unwrap();
    let generation = changed.metadata.generation.unwrap();
    assert!(
        changed.status.unwrap().observed_generation.unwrap() < generation,
        "observedGeneration trails the new generation"
    );
    s.operator.start_again();
    wait_for("the new generation to be reconciled", WAIT, || async {
        let workspace = s.workspaces().get("main").await.ok()?;
        (workspace.status?.observed_generation == Some(generation)).then_some(())
    })
    .await;
    let id = s
        .workspaces()
        .get("main")
        .await
        .unwrap()
        .status
        .unwrap()
        .workspace_id
        .unwrap();
    assert_eq!(
        s.sim.state().world().workspaces[&id].status,
        "inactive",
        "suspend set the Airbyte workspace inactive"
    );
    s.apply(&workspace(&s, "main", "{suspend: false}"))
        .success();
    wait_for("the workspace to be active again", WAIT, || async {
        (s.sim.state().world().workspaces[&id].status == "active").then_some(())
    })
    .await;
}
