//! Two replicas with leader election: only the leader writes, and when it is killed the standby
//! takes over within the lease duration and finishes the work.

use std::time::{Duration, Instant};

use embedded_operator::controllers::USER_AGENT;

use crate::support::operator::{Operator, OperatorOptions};
use crate::support::{Scenario, wait_for};

fn workspace(s: &Scenario, name: &str) -> String {
    format!(
        "apiVersion: embedded.airbyte.ai/v1alpha1\nkind: EmbeddedWorkspace\nmetadata: {}\nspec: {{}}\n",
        s.meta(name)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_writes_and_the_standby_takes_over_when_it_dies() {
    let s = Scenario::with(
        "leader",
        Duration::from_secs(1200),
        OperatorOptions::leader("replica-a"),
    )
    .await;
    let Some(audit) = s.ctx.cluster.audit("leader election").cloned() else {
        return;
    };
    let ns = s.ns().to_string();
    let mark = audit.mark();
    wait_for("replica-a to lead", Duration::from_secs(30), || async {
        s.operator.logs().contains("leading").then_some(())
    })
    .await;
    let standby = Operator::start(&s.ctx, &s.sim, OperatorOptions::leader("replica-b"));
    let mut s = s;

    for name in ["one", "two"] {
        s.apply(&workspace(&s, name)).success();
    }
    for name in ["one", "two"] {
        s.wait_ready(&s.workspaces(), name).await;
    }
    let writers = |mark: u64| {
        let mut agents: Vec<String> = audit
            .since(mark)
            .into_iter()
            .filter(|e| {
                e.is_write() && e.namespace() == Some(ns.as_str()) && e.resource() != "leases"
            })
            .filter_map(|e| e.user_agent.filter(|ua| ua.starts_with(USER_AGENT)))
            .collect();
        agents.sort();
        agents.dedup();
        agents
    };
    assert_eq!(
        writers(mark),
        [format!("{USER_AGENT} (replica-a)")],
        "one writer: the leader"
    );

    // The leader dies without a goodbye; the standby takes the Lease when it expires.
    let killed = Instant::now();
    let after_kill = audit.mark();
    s.operator.kill();
    s.apply(&workspace(&s, "three")).success();
    s.wait_ready(&s.workspaces(), "three").await;
    let took = killed.elapsed();
    assert!(
        took < Duration::from_secs(10 + 20),
        "the standby finished the work {took:?} after the leader died"
    );
    assert_eq!(writers(after_kill), [format!("{USER_AGENT} (replica-b)")]);
    assert!(standby.logs().contains("leading"));
    // Nothing was lost or duplicated: one workspace per object in Airbyte.
    assert_eq!(s.sim.state().world().workspaces.len(), 3);
}
