//! Upgrading from the previous release (the operator before organizations were resources): the
//! objects it made, and the tokens and Airbyte objects it made for them, are taken over by the
//! current operator with nothing re-minted and nothing re-created. The previous release is built
//! from this repository's history by `scripts/previous-release.sh` (`scripts/test.sh` builds it
//! once; `$AEO_PREVIOUS_OPERATOR_BIN` names a binary).

use std::path::PathBuf;
use std::time::Duration;

use airbyte_client::Endpoint;
use airbyte_sim::catalog::STRIPE_DEFINITION_ID;
use embedded_crds::conditions;

use crate::support::operator::{Operator, OperatorOptions, install_crds, simulator};
use crate::support::{Scenario, TestContext, repo_path, wait_for};

/// The previous release's binary; `None` when this clone has no history to build it from.
fn previous_release() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("AEO_PREVIOUS_OPERATOR_BIN") {
        return Some(PathBuf::from(path));
    }
    let output = std::process::Command::new("bash")
        .arg(repo_path("scripts/previous-release.sh"))
        .output()
        .expect("run scripts/previous-release.sh");
    if output.status.code() == Some(3) {
        eprintln!(
            "SKIPPED: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        );
        return None;
    }
    assert!(
        output.status.success(),
        "scripts/previous-release.sh failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    Some(PathBuf::from(
        stdout.lines().last().unwrap_or_default().trim(),
    ))
}

const WRITES: [Endpoint; 5] = [
    Endpoint::ScopedTokenCreate,
    Endpoint::WidgetTokenCreate,
    Endpoint::SourcesCreate,
    Endpoint::SourceTemplateCreate,
    Endpoint::ConnectionTemplateCreate,
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_made_by_the_previous_release_are_taken_over_with_nothing_re_minted_or_re_created()
{
    let Some(previous) = previous_release() else {
        return;
    };
    let ctx = TestContext::new("upgrade").await;
    install_crds(&ctx);
    let sim = simulator(Duration::from_secs(24 * 3600)).await;
    let options = OperatorOptions {
        binary: Some(previous),
        log_name: "operator-previous.log".into(),
        ..Default::default()
    };
    let operator = Operator::start(&ctx, &sim, options);
    let mut s = Scenario { operator, sim, ctx };
    let ns = s.ns().to_string();
    s.apply(&format!(
        r#"apiVersion: v1
kind: Secret
metadata: {secret}
stringData: {{client_secret: sk_test_upgrade}}
---
apiVersion: embedded.airbyte.ai/v1alpha1
kind: SourceTemplate
metadata: {template}
spec: {{name: Stripe upgrade {ns}, actorDefinitionId: {STRIPE_DEFINITION_ID}}}
---
apiVersion: embedded.airbyte.ai/v1alpha1
kind: EmbeddedWorkspace
metadata: {workspace}
spec: {{widget: {{allowedOrigin: "https://app.example.com"}}}}
---
apiVersion: embedded.airbyte.ai/v1alpha1
kind: EmbeddedSource
metadata: {source}
spec:
  workspaceRef: {{name: main}}
  sourceTemplateRef: {{name: {template_name}}}
  sourceConfig: {{account_id: acct_1}}
  sourceConfigSecretRefs: [{{path: client_secret, secretKeyRef: {{name: stripe-secret, key: client_secret}}}}]
"#,
        secret = s.meta("stripe-secret"),
        template = s.template_meta("stripe"),
        template_name = s.cluster_name("stripe"),
        workspace = s.meta("main"),
        source = s.meta("feed"),
    ))
    .success();
    s.wait_ready(&s.sources(), "feed").await;
    let token_secret = s.secrets().get("main-airbyte-token").await.unwrap();
    let before: Vec<u64> = WRITES.iter().map(|e| s.calls(*e)).collect();

    // The upgrade: the previous operator stops, the current one starts on its objects.
    assert!(s.operator.stop().is_some_and(|status| status.success()));
    s.operator = Operator::start(
        &s.ctx,
        &s.sim,
        OperatorOptions {
            log_name: "operator-current.log".into(),
            ..Default::default()
        },
    );
    let organization_id = s.sim.organization_id().to_string();
    wait_for(
        "the current operator records each object's organization",
        Duration::from_secs(60),
        || async {
            let workspace = s.workspaces().get("main").await.ok()?.status?;
            let source = s.sources().get("feed").await.ok()?.status?;
            let template = s
                .templates()
                .get(&s.cluster_name("stripe"))
                .await
                .ok()?
                .status?;
            let bound = [
                (
                    workspace.organization,
                    workspace.organization_id,
                    conditions::is_ready(&workspace.conditions),
                ),
                (
                    source.organization,
                    source.organization_id,
                    conditions::is_ready(&source.conditions),
                ),
                (
                    template.organization,
                    template.organization_id,
                    conditions::is_ready(&template.conditions),
                ),
            ];
            bound
                .iter()
                .all(|(name, id, ready)| {
                    name.as_deref() == Some("ClusterAirbyteOrganization/default")
                        && id.as_deref() == Some(organization_id.as_str())
                        && *ready
                })
                .then_some(())
        },
    )
    .await;
    // A while longer: any re-mint or re-create would have happened by now.
    tokio::time::sleep(Duration::from_secs(10)).await;
    let after: Vec<u64> = WRITES.iter().map(|e| s.calls(*e)).collect();
    assert_eq!(
        before, after,
        "{WRITES:?}: nothing re-minted, nothing re-created"
    );
    let kept = s.secrets().get("main-airbyte-token").await.unwrap();
    assert_eq!(
        kept.data, token_secret.data,
        "the token Secret is the previous release's"
    );
    assert_eq!(
        kept.metadata.resource_version,
        token_secret.metadata.resource_version
    );
    let world = s.sim.state().world();
    assert_eq!((world.workspaces.len(), world.sources.len()), (1, 1));
}
