//! The operator dies at the worst moment, and Airbyte is changed behind its back: still exactly
//! one source, and the declared state comes back.

use std::time::Duration;

use airbyte_client::models::UpdateSource;
use airbyte_client::{Endpoint, SourceApi, TokenApi};
use airbyte_sim::{FaultRule, STANDARD_FAKER_TEMPLATE_ID};
use serde_json::json;

use crate::support::operator::OperatorOptions;
use crate::support::{Scenario, wait_for};

const WAIT: Duration = Duration::from_secs(60);

fn faker_source(s: &Scenario, name: &str, count: u32) -> String {
    format!(
        "apiVersion: embedded.airbyte.ai/v1alpha1\nkind: EmbeddedSource\nmetadata: {}\nspec: {{workspaceRef: {{name: main}}, sourceTemplateId: {STANDARD_FAKER_TEMPLATE_ID}, sourceConfig: {{count: {count}}}}}\n",
        s.meta(name)
    )
}

fn main_workspace(s: &Scenario) -> String {
    format!(
        "apiVersion: embedded.airbyte.ai/v1alpha1\nkind: EmbeddedWorkspace\nmetadata: {}\nspec: {{}}\n",
        s.meta("main")
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_right_after_airbyte_created_the_source_the_restarted_operator_makes_no_second_one()
{
    let mut s = Scenario::new("crash").await;
    s.apply(&main_workspace(&s)).success();
    s.wait_ready(&s.workspaces(), "main").await;
    // Airbyte makes the source, then holds the answer: the operator is killed in that window.
    *s.sim.state().faults.lock().unwrap() = vec![FaultRule {
        endpoints: vec![Endpoint::SourcesCreate.label().into()],
        latency_after_ms: 30_000,
        ..Default::default()
    }];
    s.apply(&faker_source(&s, "fragile", 10)).success();
    wait_for("Airbyte to have created the source", WAIT, || async {
        (!s.sim.state().world().sources.is_empty()).then_some(())
    })
    .await;
    s.operator.kill();
    assert!(
        s.sources()
            .get("fragile")
            .await
            .unwrap()
            .status
            .and_then(|st| st.source_id)
            .is_none(),
        "the operator never learnt the id"
    );
    s.sim.state().faults.lock().unwrap().clear();
    s.operator.start_again();
    let ready = s.wait_ready(&s.sources(), "fragile").await;
    let world = s.sim.state().world();
    assert_eq!(world.sources.len(), 1, "exactly one source exists");
    let only = world.sources.keys().next().unwrap().clone();
    assert_eq!(
        ready.status.unwrap().source_id,
        Some(only),
        "the existing source was adopted"
    );
    let creates: Vec<u16> = s
        .sim
        .state()
        .recorder
        .log_since(0)
        .into_iter()
        .filter(|r| r.endpoint == Endpoint::SourcesCreate.label())
        .map(|r| r.status)
        .collect();
    assert_eq!(
        creates,
        [499],
        "one create, whose answer the killed operator never read; none after the restart"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_source_deleted_or_changed_in_airbyte_is_restored_by_the_drift_check() {
    let options = OperatorOptions {
        drift_interval_seconds: 10,
        ..Default::default()
    };
    let s = Scenario::with("drift", Duration::from_secs(1200), options).await;
    s.apply(&main_workspace(&s)).success();
    s.apply(&faker_source(&s, "watched", 7)).success();
    let ready = s.wait_ready(&s.sources(), "watched").await;
    let first_id = ready.status.unwrap().source_id.unwrap();
    let airbyte = s.airbyte();
    let token = airbyte
        .mint_scoped_token(&format!("{}.main", s.ns()), None)
        .await
        .unwrap()
        .token;

    // Changed out of band: restored.
    airbyte
        .update_source(
            &token,
            &first_id,
            &UpdateSource {
                source_config: Some(json!({"count": 99}).as_object().unwrap().clone()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    wait_for(
        "the drift check to restore the config",
        Duration::from_secs(45),
        || async {
            (s.sim.state().world().sources[&first_id].config()["count"] == 7).then_some(())
        },
    )
    .await;

    // Deleted out of band: re-created, and the new id is recorded.
    airbyte.delete_source(&token, &first_id).await.unwrap();
    let second_id = wait_for(
        "the drift check to re-create the source",
        Duration::from_secs(45),
        || async {
            let id = s.sources().get("watched").await.ok()?.status?.source_id?;
            (id != first_id && s.sim.state().world().sources.contains_key(&id)).then_some(id)
        },
    )
    .await;
    assert_eq!(
        s.sim.state().world().sources[&second_id].config()["count"],
        7
    );
    assert_eq!(s.sim.state().world().sources.len(), 1);
    let events = s
        .kubectl(&[
            "get",
            "events",
            "-n",
            s.ns(),
            "--field-selector",
            "reason=DriftDetected",
        ])
        .success()
        .stdout();
    assert!(events.contains("DriftDetected"), "{events}");
}
