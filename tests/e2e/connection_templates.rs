//! Connection templates as YAML: a template whose destination keys come from a Secret becomes
//! Ready; a Secret change re-applies it; tags change by difference; a template deleted in Airbyte
//! comes back at the drift check; `Delete` and `Orphan` do what they say; a bad schedule and a
//! missing destination field are refused clearly; and sources get connections from exactly the
//! templates their tag filter selects.

use std::time::Duration;

use airbyte_sim::STANDARD_FAKER_TEMPLATE_ID;
use airbyte_sim::catalog::S3_DESTINATION_DEFINITION_ID;
use kube::api::DeleteParams;

use crate::support::operator::OperatorOptions;
use crate::support::{Scenario, wait_for};

const WAIT: Duration = Duration::from_secs(60);

fn keys(s: &Scenario, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {}\nstringData: {{secret: {value}}}\n",
        s.meta("s3-keys")
    )
}

/// An S3 connection template named `name`, tagged `tags`, with `extra` spec lines.
fn lake(s: &Scenario, name: &str, tags: &str, extra: &str) -> String {
    format!(
        "apiVersion: embedded.airbyte.ai/v1alpha1\nkind: ConnectionTemplate\nmetadata: {meta}\nspec:\n  destinationName: {name} {ns}\n  destinationDefinitionId: {S3_DESTINATION_DEFINITION_ID}\n  destinationConfig: {{s3_bucket_name: tenants, s3_bucket_path: {name}, s3_bucket_region: eu-west-1, format: {{format_type: JSONL}}, access_key_id: AKIAEXAMPLE}}\n  destinationConfigSecretRefs: [{{path: secret_access_key, secretKeyRef: {{name: s3-keys, key: secret}}}}]\n  cronExpression: \"0 0 2 * * ?\"\n  tags: {tags}\n{extra}",
        meta = s.template_meta(name),
        ns = s.ns()
    )
}

/// The Airbyte id of a ready connection template.
async fn ready_id(s: &Scenario, name: &str) -> String {
    let template = s
        .wait_ready(&s.connection_templates(), &s.cluster_name(name))
        .await;
    template.status.unwrap().template_id.unwrap()
}

fn source(s: &Scenario, name: &str, filter: &str) -> String {
    format!(
        "apiVersion: embedded.airbyte.ai/v1alpha1\nkind: EmbeddedSource\nmetadata: {}\nspec:\n  workspaceRef: {{name: main}}\n  sourceTemplateId: {STANDARD_FAKER_TEMPLATE_ID}\n  connectionTemplateTags: {filter}\n",
        s.meta(name)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_template_lives_as_yaml_and_selects_sources_by_tags() {
    let s = Scenario::with(
        "connection-templates",
        Duration::from_secs(20 * 60),
        OperatorOptions {
            drift_interval_seconds: 15,
            ..Default::default()
        },
    )
    .await;
    s.apply(&keys(&s, "first-destination-secret")).success();
    s.apply(&lake(&s, "lake", "[s3, eu]", "")).success();
    let id = ready_id(&s, "lake").await;
    let stored = |id: &str| s.sim.state().world().connection_templates.get(id).cloned();
    let template = stored(&id).unwrap();
    assert_eq!(
        template.destination_config["secret_access_key"],
        "first-destination-secret"
    );
    assert_eq!(template.tags, ["eu", "s3"]);
    let status = s
        .connection_templates()
        .get(&s.cluster_name("lake"))
        .await
        .unwrap()
        .status
        .unwrap();
    assert_eq!(
        status.schedule_description.as_deref(),
        Some("At 02:00:00, every day")
    );

    // A Secret change re-applies the configuration (Airbyte only ever shows it masked).
    s.apply(&keys(&s, "second-destination-secret")).success();
    wait_for("the new key in Airbyte", WAIT, || async {
        (stored(&id)?.destination_config["secret_access_key"] == "second-destination-secret")
            .then_some(())
    })
    .await;

    // Tags change by difference: eu stays, s3 goes, gcs comes.
    let mark = s.sim.state().recorder.log_since(0).len() as u64;
    s.apply(&lake(&s, "lake", "[eu, gcs]", "")).success();
    wait_for("the new tags in Airbyte", WAIT, || async {
        (stored(&id)?.tags == ["eu", "gcs"]).then_some(())
    })
    .await;
    let tag_calls: Vec<String> = s
        .sim
        .state()
        .recorder
        .log_since(mark)
        .into_iter()
        .filter(|r| r.endpoint.starts_with("connection_template_tag"))
        .map(|r| {
            format!(
                "{} {}",
                r.method,
                r.path.rsplit('/').next().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(tag_calls, ["POST tags", "DELETE s3"], "only the difference");

    // Deleted in Airbyte: restored at the drift check, and the new id recorded.
    s.sim.state().world().connection_templates.remove(&id);
    let restored = wait_for("the template to be restored", WAIT, || async {
        let now = s
            .connection_templates()
            .get(&s.cluster_name("lake"))
            .await
            .ok()?
            .status?
            .template_id?;
        (now != id && stored(&now).is_some()).then_some(now)
    })
    .await;
    assert_eq!(stored(&restored).unwrap().tags, ["eu", "gcs"]);

    // Delete removes it from Airbyte; Orphan leaves it.
    s.apply(&lake(&s, "kept", "[eu]", "  deletionPolicy: Orphan\n"))
        .success();
    let kept = ready_id(&s, "kept").await;
    for name in ["lake", "kept"] {
        s.connection_templates()
            .delete(&s.cluster_name(name), &DeleteParams::default())
            .await
            .unwrap();
    }
    wait_for("both objects to be gone", WAIT, || async {
        let api = s.connection_templates();
        (api.get_opt(&s.cluster_name("lake")).await.ok()?.is_none()
            && api.get_opt(&s.cluster_name("kept")).await.ok()?.is_none())
        .then_some(())
    })
    .await;
    assert!(
        stored(&restored).is_none(),
        "Delete removed it from Airbyte"
    );
    assert!(stored(&kept).is_some(), "Orphan left it");
    s.sim.state().world().connection_templates.remove(&kept);
    s.assert_no_leaks(&["first-destination-secret", "second-destination-secret"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_schedule_or_destination_is_refused_naming_what_to_fix() {
    let s = Scenario::new("connection-template-errors").await;
    s.apply(&keys(&s, "k")).success();
    // Six fields but no valid hour: the apiserver admits it (the pattern checks the shape), and
    // Airbyte's cron/describe says what is wrong.
    s.apply(&lake(&s, "cron", "[x]", "").replace("0 0 2 * * ?", "0 0 25 * * ?"))
        .success();
    let stalled = s
        .wait_reason(
            &s.connection_templates(),
            &s.cluster_name("cron"),
            "InvalidCronExpression",
        )
        .await;
    let message = stalled.status.unwrap().conditions[0].message.clone();
    assert!(message.contains("hours: 25 is outside 0-23"), "{message}");
    // Five fields: refused at admission.
    let refused = s
        .apply(&lake(&s, "shape", "[x]", "").replace("0 0 2 * * ?", "0 2 * * *"))
        .failure();
    assert!(
        refused.stderr().contains("cronExpression"),
        "{}",
        refused.stderr()
    );
    // A destination field the connector requires is missing: the condition names it.
    s.apply(&lake(&s, "partial", "[x]", "").replace("s3_bucket_region: eu-west-1, ", ""))
        .success();
    let rejected = s
        .wait_reason(
            &s.connection_templates(),
            &s.cluster_name("partial"),
            "ApiRejected",
        )
        .await;
    let message = rejected.status.unwrap().conditions[0].message.clone();
    assert!(
        message.contains("body.destination_config.s3_bucket_region: Field required"),
        "{message}"
    );
    // No destination at all for a user-hosted template: refused at admission.
    let meta = s.template_meta("empty");
    let refused = s
        .apply(&format!("apiVersion: embedded.airbyte.ai/v1alpha1\nkind: ConnectionTemplate\nmetadata: {meta}\nspec: {{tags: [x]}}\n"))
        .failure();
    assert!(
        refused.stderr().contains("destinationName"),
        "{}",
        refused.stderr()
    );
    // Airbyte-hosted storage takes no destination settings: refused, not silently dropped.
    let refused = s
        .apply(&format!("apiVersion: embedded.airbyte.ai/v1alpha1\nkind: ConnectionTemplate\nmetadata: {}\nspec: {{dataHostingType: airbyte_hosted, syncOnCreate: false}}\n", s.template_meta("hosted")))
        .failure();
    assert!(
        refused
            .stderr()
            .contains("an airbyte_hosted one takes only cronExpression"),
        "{}",
        refused.stderr()
    );
    for name in ["cron", "partial"] {
        let _ = s
            .connection_templates()
            .delete(&s.cluster_name(name), &DeleteParams::default())
            .await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sources_get_connections_from_the_templates_their_tags_select() {
    let s = Scenario::new("connection-template-tags").await;
    s.apply(&keys(&s, "k")).success();
    s.apply(&lake(&s, "both", "[s3, eu]", "")).success();
    s.apply(&lake(&s, "s3only", "[s3]", "")).success();
    s.apply(&lake(&s, "other", "[gcs]", "")).success();
    let ids = [
        ready_id(&s, "both").await,
        ready_id(&s, "s3only").await,
        ready_id(&s, "other").await,
    ];
    s.apply(&format!(
        "apiVersion: embedded.airbyte.ai/v1alpha1\nkind: EmbeddedWorkspace\nmetadata: {}\nspec: {{}}\n",
        s.meta("main")
    ))
    .success();
    s.apply(&source(&s, "all", "{tags: [s3, eu], mode: all}"))
        .success();
    s.apply(&source(&s, "any", "{tags: [eu, gcs], mode: any}"))
        .success();
    let s = &s;
    let connected = |name: &'static str| async move {
        let source = s.wait_ready(&s.sources(), name).await;
        let status = source.status.unwrap();
        let id = status.source_id.unwrap();
        let mut templates: Vec<String> = s
            .sim
            .state()
            .world()
            .connections
            .values()
            .filter(|c| c.source_id == id)
            .map(|c| c.connection_template_id.clone())
            .collect();
        templates.sort();
        (templates, status.connection_templates)
    };
    let (made, shown) = connected("all").await;
    assert_eq!(
        made,
        [ids[0].clone()],
        "all: only the template with every tag"
    );
    assert_eq!(shown, [s.cluster_name("both")]);
    let (made, shown) = connected("any").await;
    let mut expected = vec![ids[0].clone(), ids[2].clone()];
    expected.sort();
    assert_eq!(made, expected, "any: every template with at least one tag");
    assert_eq!(shown, [s.cluster_name("both"), s.cluster_name("other")]);
    for name in ["both", "s3only", "other"] {
        let _ = s
            .connection_templates()
            .delete(&s.cluster_name(name), &DeleteParams::default())
            .await;
    }
}
