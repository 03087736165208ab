//! Quiet: once everything is Ready, a minute passes without a single write to Airbyte or to
//! Kubernetes by the operator, and a restarted operator writes nothing either.

use std::time::Duration;

use airbyte_client::Endpoint;
use airbyte_sim::catalog::STRIPE_DEFINITION_ID;
use embedded_operator::controllers::USER_AGENT;

use crate::support::operator::OperatorOptions;
use crate::support::{Scenario, wait_for};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_everything_is_ready_nothing_is_written_not_even_after_a_restart() {
    // Day-long tokens: no refresh is due during the test.
    let mut s = Scenario::with(
        "steady",
        Duration::from_secs(24 * 3600),
        OperatorOptions::default(),
    )
    .await;
    let Some(audit) = s.ctx.cluster.audit("steady state").cloned() else {
        return;
    };
    let ns = s.ns().to_string();
    let setup_mark = audit.mark();
    let template = s.cluster_name("stripe");
    s.apply(&format!(
        r#"apiVersion: embedded.airbyte.ai/v1alpha1
kind: EmbeddedWorkspace
metadata: {ws}
spec: {{widget: {{allowedOrigin: "http://localhost:3000"}}}}
---
apiVersion: embedded.airbyte.ai/v1alpha1
kind: EmbeddedWorkspace
metadata: {ws2}
spec: {{region: eu, deletionPolicy: Delete}}
---
apiVersion: embedded.airbyte.ai/v1alpha1
kind: SourceTemplate
metadata: {tpl}
spec: {{name: Stripe {ns}, actorDefinitionId: {STRIPE_DEFINITION_ID}, tags: [billing]}}
---
apiVersion: v1
kind: Secret
metadata: {secret}
stringData: {{client_secret: sk_steady}}
---
apiVersion: embedded.airbyte.ai/v1alpha1
kind: EmbeddedSource
metadata: {src}
spec:
  workspaceRef: {{name: main}}
  sourceTemplateRef: {{name: {template}}}
  sourceConfig: {{account_id: acct_1}}
  sourceConfigSecretRefs: [{{path: client_secret, secretKeyRef: {{name: creds, key: client_secret}}}}]
"#,
        ws = s.meta("main"),
        ws2 = s.meta("second"),
        tpl = s.template_meta("stripe"),
        secret = s.meta("creds"),
        src = s.meta("stripe"),
    ))
    .success();
    for name in ["main", "second"] {
        s.wait_ready(&s.workspaces(), name).await;
    }
    s.wait_ready(&s.templates(), &template).await;
    s.wait_ready(&s.sources(), "stripe").await;
    // Let the last status writes and their watch events settle.
    tokio::time::sleep(Duration::from_secs(3)).await;

    // This test's operator only: its user agent ends in its identity.
    let agent = format!("{USER_AGENT} ({})", s.operator.identity);
    let operator_writes = |mark: u64| {
        audit
            .since(mark)
            .into_iter()
            .filter(|e| e.user_agent.as_deref() == Some(agent.as_str()) && e.is_write())
            .map(|e| {
                format!(
                    "{} {} {}/{}",
                    e.verb,
                    e.resource(),
                    e.namespace().unwrap_or(""),
                    e.name().unwrap_or("")
                )
            })
            .collect::<Vec<_>>()
    };
    let setup = operator_writes(setup_mark);
    assert!(
        setup
            .iter()
            .any(|w| w.starts_with("create secrets") || w.starts_with("patch secrets"))
            && setup.iter().any(|w| w.contains("embeddedsources")),
        "the audit log shows the operator's own writes during setup (so the filter is not vacuous): {setup:?}"
    );
    assert!(setup.len() <= 3 * 4 + 8, "writes to reach Ready: {setup:?}");
    for phase in ["running", "restarted"] {
        let mark = audit.mark();
        let airbyte_writes = s.airbyte_writes();
        let calls_before: u64 = s
            .sim
            .state()
            .recorder
            .counts()
            .iter()
            .map(|c| c.count)
            .sum();
        if phase == "restarted" {
            s.operator.restart();
            wait_for(
                "the restarted operator to be ready",
                Duration::from_secs(30),
                || async {
                    let url = format!("http://127.0.0.1:{}/readyz", s.operator.metrics_port);
                    reqwest::get(url)
                        .await
                        .ok()?
                        .status()
                        .is_success()
                        .then_some(())
                },
            )
            .await;
        }
        // The minute is the point of this test.
        tokio::time::sleep(Duration::from_secs(60)).await;
        let writes = operator_writes(mark);
        assert!(
            writes.is_empty(),
            "{phase}: the operator wrote to Kubernetes: {writes:?}"
        );
        assert_eq!(
            s.airbyte_writes(),
            airbyte_writes,
            "{phase}: the operator wrote to Airbyte"
        );
        let calls: u64 = s
            .sim
            .state()
            .recorder
            .counts()
            .iter()
            .map(|c| c.count)
            .sum::<u64>()
            - calls_before;
        // Reads are allowed only as drift checks (one per object per interval, here 10 min).
        assert!(
            calls <= 4,
            "{phase}: {calls} Airbyte calls while nothing changed"
        );
    }
    assert_eq!(
        s.calls(Endpoint::ScopedTokenCreate),
        2,
        "one mint per workspace, none after the restart"
    );
    s.assert_no_leaks(&["sk_steady"]);
}
