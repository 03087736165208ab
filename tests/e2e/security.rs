//! Tenant isolation: a reference cannot reach another namespace, tenant namespaces never receive
//! organization credentials, and a tenant allowed to edit its own objects cannot obtain another
//! tenant's token, neither through a reference nor by naming the other tenant's workspace.

use std::time::Duration;

use airbyte_client::Endpoint;
use airbyte_sim::STANDARD_FAKER_TEMPLATE_ID;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::Api;
use kube::api::{ListParams, PostParams};
use serde_json::json;

use crate::support::Scenario;
use crate::support::operator::{OperatorOptions, TEST_LABEL};

/// A second tenant namespace, labelled like the test's objects so the test's operator sees it.
async fn other_namespace(s: &Scenario) -> String {
    let name = format!("{}-b", s.ns());
    let namespace: Namespace = serde_json::from_value(
        json!({"metadata": {"name": name, "labels": {"e2e.airbyte.ai/suite": "true"}}}),
    )
    .unwrap();
    Api::<Namespace>::all(s.ctx.client.clone())
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();
    name
}

fn meta(name: &str, namespace: &str, owner: &str) -> String {
    format!("{{name: {name}, namespace: {namespace}, labels: {{{TEST_LABEL}: {owner}}}}}")
}

/// Every Secret value in `namespace`, decoded.
async fn secret_values(s: &Scenario, namespace: &str) -> Vec<String> {
    Api::<Secret>::namespaced(s.ctx.client.clone(), namespace)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .flat_map(|secret| secret.data.unwrap_or_default().into_values())
        .map(|value| String::from_utf8_lossy(&value.0).into_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn references_never_reach_another_namespace_and_tenants_never_receive_organization_credentials()
 {
    let options = OperatorOptions {
        all_namespaces: true,
        ..Default::default()
    };
    let s = Scenario::with("isolation", Duration::from_secs(1200), options).await;
    let a = s.ns().to_string();
    let b = other_namespace(&s).await;
    // Tenant B: a workspace and a Secret.
    s.apply(&format!(
        "apiVersion: embedded.airbyte.ai/v1alpha1\nkind: EmbeddedWorkspace\nmetadata: {}\nspec: {{}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {}\nstringData: {{k: tenant-b-private-value}}\n",
        meta("main", &b, &a),
        meta("creds", &b, &a)
    ))
    .success();
    let b_workspaces: Api<embedded_crds::EmbeddedWorkspace> =
        Api::namespaced(s.ctx.client.clone(), &b);
    let b_main = s.wait_ready(&b_workspaces, "main").await;
    let b_id = b_main.status.unwrap().workspace_id.unwrap();
    // Tenant A points at B's names: they resolve in A only.
    s.apply(&format!(
        r#"apiVersion: embedded.airbyte.ai/v1alpha1
kind: EmbeddedSource
metadata: {src_ws}
spec: {{workspaceRef: {{name: main}}, sourceTemplateId: {STANDARD_FAKER_TEMPLATE_ID}}}
---
apiVersion: embedded.airbyte.ai/v1alpha1
kind: EmbeddedWorkspace
metadata: {ws_a}
spec: {{}}
---
apiVersion: embedded.airbyte.ai/v1alpha1
kind: EmbeddedSource
metadata: {src_secret}
spec:
  workspaceRef: {{name: own}}
  sourceTemplateId: {STANDARD_FAKER_TEMPLATE_ID}
  sourceConfigSecretRefs: [{{path: token, secretKeyRef: {{name: creds, key: k}}}}]
"#,
        src_ws = meta("sneaky-workspace", &a, &a),
        ws_a = meta("own", &a, &a),
        src_secret = meta("sneaky-secret", &a, &a),
    ))
    .success();
    s.wait_reason(&s.sources(), "sneaky-workspace", "WorkspaceNotReady")
        .await;
    let stalled = s
        .wait_reason(&s.sources(), "sneaky-secret", "SecretNotFound")
        .await;
    let message = embedded_crds::conditions::ready(&stalled.status.unwrap().conditions)
        .unwrap()
        .message
        .clone();
    assert!(message.contains(&format!("Secret {a}/creds")), "{message}");
    assert!(
        s.sim
            .state()
            .world()
            .sources
            .values()
            .all(|r| r.workspace_id != b_id),
        "nothing was created in tenant B's workspace"
    );

    // No tenant namespace holds organization credentials or another tenant's token.
    let organization_tokens: Vec<String> = s
        .sim
        .state()
        .issued_tokens()
        .into_iter()
        .filter(|t| {
            airbyte_client::BearerToken::new(t.clone())
                .claims()
                .is_some_and(|c| c.workspace_scope.is_none())
        })
        .collect();
    assert!(
        !organization_tokens.is_empty(),
        "the operator used an organization token"
    );
    let b_token = secret_values(&s, &b)
        .await
        .into_iter()
        .find(|v| v.matches('.').count() == 2)
        .expect("B's token");
    for namespace in [&a, &b] {
        for value in secret_values(&s, namespace).await {
            assert_ne!(
                value,
                s.sim.state().config.client_secret,
                "organization credentials in {namespace}"
            );
            assert!(
                !organization_tokens.contains(&value),
                "an organization token in {namespace}"
            );
            if namespace == &a {
                assert_ne!(value, b_token, "tenant B's token in tenant A");
                assert_ne!(
                    value, "tenant-b-private-value",
                    "tenant B's Secret value in tenant A"
                );
            }
        }
    }
    s.assert_no_leaks(&["tenant-b-private-value"]);
    let _ = Api::<Namespace>::all(s.ctx.client.clone())
        .delete(&b, &Default::default())
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_editing_its_own_objects_cannot_obtain_another_tenants_token() {
    let options = OperatorOptions {
        all_namespaces: true,
        ..Default::default()
    };
    // Day-long tokens: the mint count below must not include an early scheduled refresh.
    let s = Scenario::with("hijack", Duration::from_secs(24 * 3600), options).await;
    let a = s.ns().to_string();
    let b = other_namespace(&s).await;
    s.apply(&format!("apiVersion: embedded.airbyte.ai/v1alpha1\nkind: EmbeddedWorkspace\nmetadata: {}\nspec: {{}}\n", meta("main", &b, &a))).success();
    let b_workspaces: Api<embedded_crds::EmbeddedWorkspace> =
        Api::namespaced(s.ctx.client.clone(), &b);
    s.wait_ready(&b_workspaces, "main").await;

    // Tenant A's identity: edit rights on the operator's kinds and read on Secrets, in A only.
    let _client = s.ctx.client.clone();
    let tenant = s
        .tenant(
            &a,
            json!([
                {"apiGroups": ["embedded.airbyte.ai"], "resources": ["embeddedworkspaces", "embeddedsources"], "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
                {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list"]}
            ]),
        )
        .await;

    // Naming B's workspace: refused (namespaced policy), and no token is minted for it.
    let b_name = format!("{b}.main");
    tenant
        .kubectl_stdin(&["apply", "-f", "-"], &format!("apiVersion: embedded.airbyte.ai/v1alpha1\nkind: EmbeddedWorkspace\nmetadata: {}\nspec: {{workspaceName: {b_name}}}\n", meta("hijack", &a, &a)))
        .success();
    s.wait_reason(&s.workspaces(), "hijack", "WorkspaceNameNotAllowed")
        .await;
    // Even where an admin lets A's namespace use any name, B's claim stands.
    s.kubectl(&[
        "label",
        "namespace",
        &a,
        "embedded.airbyte.ai/workspace-name-policy=any",
    ])
    .success();
    s.wait_reason(&s.workspaces(), "hijack", "WorkspaceNameConflict")
        .await;
    let mints_for_b = s
        .sim
        .state()
        .recorder
        .log_since(0)
        .iter()
        .filter(|r| {
            r.endpoint == Endpoint::ScopedTokenCreate.label()
                && r.key == format!("workspace_name={b_name}")
        })
        .count();
    assert_eq!(mints_for_b, 1, "only B's own workspace minted B's token");
    assert!(
        tenant
            .kubectl(&["get", "secret", "hijack-airbyte-token", "-n", &a])
            .failure()
            .stderr()
            .contains("NotFound")
    );

    // A reference cannot cross either, and the tenant cannot read B's Secrets.
    let refused = tenant
        .kubectl_stdin(&["apply", "-f", "-"], &format!("apiVersion: embedded.airbyte.ai/v1alpha1\nkind: EmbeddedSource\nmetadata: {}\nspec: {{workspaceRef: {{name: main, namespace: {b}}}, sourceTemplateId: {STANDARD_FAKER_TEMPLATE_ID}}}\n", meta("cross", &a, &a)))
        .failure();
    assert!(
        refused.stderr().contains("cross-namespace"),
        "{}",
        refused.stderr()
    );
    let forbidden = tenant
        .kubectl(&["get", "secret", "main-airbyte-token", "-n", &b])
        .failure();
    assert!(
        forbidden.stderr().contains("forbidden"),
        "{}",
        forbidden.stderr()
    );
    let b_token = secret_values(&s, &b)
        .await
        .into_iter()
        .find(|v| v.matches('.').count() == 2)
        .expect("B's token");
    assert!(
        !secret_values(&s, &a).await.contains(&b_token),
        "B's token never lands in A"
    );
    let _ = Api::<Namespace>::all(s.ctx.client.clone())
        .delete(&b, &Default::default())
        .await;
}
