//! The Helm chart: lint and render, install and uninstall with helm 4 and helm 3, least-privilege
//! RBAC proven by the real authorizer (the operator runs as the chart's ServiceAccount through a
//! whole story, with no 403 and no unused rule), the pod spec admitted at PodSecurity
//! `restricted`, and the workspace-name admission policy.

use std::collections::BTreeSet;
use std::time::Duration;

use airbyte_sim::catalog::{POSTGRES_DEFINITION_ID, S3_DESTINATION_DEFINITION_ID};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Role};
use kube::Api;
use kube::api::DeleteParams;

use crate::support::operator::install_crds;
use crate::support::{Generation, Scenario, TestContext, repo_path, wait_for};

const CHART: &str = "charts/airbyte-embedded-operator";
const ORG: &str = "7b0e7c44-9c1e-4c55-a1a1-0f7b2d1c3a11";

fn chart() -> String {
    repo_path(CHART).display().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_lints_clean_renders_for_default_and_other_values_and_refuses_wrong_types() {
    let ctx = TestContext::new("chart-lint").await;
    for generation in Generation::ALL {
        let tools = ctx.tools(generation);
        let org = format!("airbyte.organizationId={ORG}");
        let lint = tools
            .helm(&["lint", &chart(), "--strict", "--set", &org])
            .success();
        assert!(
            lint.stdout().contains("0 chart(s) failed"),
            "{}",
            lint.stdout()
        );
        let default = tools
            .helm(&["template", "aeo", &chart(), "--set", &org])
            .success()
            .stdout();
        for kind in [
            "Deployment",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Service",
            "ValidatingAdmissionPolicy",
        ] {
            assert!(
                default.contains(&format!("kind: {kind}\n")),
                "{:?}: default render lacks {kind}",
                generation
            );
        }
        assert!(!default.contains("kind: ServiceMonitor") && !default.contains("argocd-health"));
        let custom = tools
            .helm(&[
                "template",
                "aeo",
                &chart(),
                "--set",
                &org,
                "--set",
                "replicas=2",
                "--set",
                "metrics.serviceMonitor.enabled=true",
                "--set",
                "argocd.healthChecks=true",
                "--set",
                "operator.workspaceNamePolicy=any",
                "--set",
                "operator.watchNamespace=tenants",
                "--set",
                "image.tag=9.9.9",
            ])
            .success()
            .stdout();
        assert!(
            custom.contains("kind: ServiceMonitor")
                && custom
                    .contains("resource.customizations.health.embedded.airbyte.ai_EmbeddedSource")
        );
        assert!(
            custom.contains("replicas: 2")
                && custom.contains("--watch-namespace=tenants")
                && custom.contains(":9.9.9\"")
        );
        assert!(
            !custom.contains("kind: ValidatingAdmissionPolicy\n"),
            "the any policy ships no admission policy"
        );
        for (set, field) in [
            ("replicas=two", "replicas"),
            ("operator.concurrency=many", "concurrency"),
            ("operator.workspaceNamePolicy=loose", "workspaceNamePolicy"),
            ("metrics.port=99999", "port"),
        ] {
            let refused = tools
                .helm(&["template", "aeo", &chart(), "--set", &org, "--set", set])
                .failure();
            assert!(
                refused.stderr().contains(field),
                "{:?}: {set}: {}",
                generation,
                refused.stderr()
            );
        }
        // Without an organization id every organization is a resource: no flags, no
        // credentials from the environment; a malformed id is refused.
        let resources_only = tools
            .helm(&["template", "aeo", &chart()])
            .success()
            .stdout();
        assert!(
            !resources_only.contains("--organization-id")
                && !resources_only.contains("AIRBYTE_CLIENT_SECRET"),
            "{resources_only}"
        );
        let malformed = tools
            .helm(&[
                "template",
                "aeo",
                &chart(),
                "--set",
                "airbyte.organizationId=acme",
            ])
            .failure();
        assert!(
            malformed.stderr().contains("organizationId"),
            "{}",
            malformed.stderr()
        );
    }
}

async fn install_and_uninstall(generation: Generation, prefix: &str) {
    let ctx = TestContext::new(prefix).await;
    install_crds(&ctx);
    let tools = ctx.tools(generation);
    let ns = ctx.namespace.clone();
    let release = format!("aeo-{}", &ns[ns.len() - 6..]);
    let selector = format!(
        "operator.workspaceNamePolicyNamespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name={ns}"
    );
    tools
        .helm(&[
            "install",
            &release,
            &chart(),
            "-n",
            &ns,
            "--set",
            &format!("airbyte.organizationId={ORG}"),
            "--set",
            &selector,
        ])
        .success();
    let list = tools.helm(&["list", "-n", &ns]).success().stdout();
    assert!(
        list.contains(&release) && list.contains("deployed"),
        "{list}"
    );
    let deployments: Api<Deployment> = Api::namespaced(ctx.client.clone(), &ns);
    let name = format!("{release}-airbyte-embedded-operator");
    assert!(deployments.get_opt(&name).await.unwrap().is_some());
    tools
        .helm(&[
            "uninstall",
            &release,
            "-n",
            &ns,
            "--wait",
            "--timeout",
            "60s",
        ])
        .success();
    assert!(deployments.get_opt(&name).await.unwrap().is_none());
    let roles: Api<ClusterRole> = Api::all(ctx.client.clone());
    assert!(
        roles.get_opt(&name).await.unwrap().is_none(),
        "cluster-scoped objects go too"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_4_installs_and_uninstalls_the_chart() {
    install_and_uninstall(Generation::Current, "chart-helm4").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_3_installs_and_uninstalls_the_chart() {
    install_and_uninstall(Generation::Previous, "chart-helm3").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chart_pod_spec_is_admitted_at_pod_security_restricted() {
    let ctx = TestContext::new("chart-psa").await;
    let tools = ctx.tools(Generation::Current);
    let ns = ctx.namespace.clone();
    tools
        .kubectl(&[
            "label",
            "namespace",
            &ns,
            "pod-security.kubernetes.io/enforce=restricted",
            "pod-security.kubernetes.io/enforce-version=latest",
        ])
        .success();
    let rendered = tools
        .helm(&[
            "template",
            "psa",
            &chart(),
            "-n",
            &ns,
            "--set",
            &format!("airbyte.organizationId={ORG}"),
            "--show-only",
            "templates/deployment.yaml",
        ])
        .success()
        .stdout();
    let deployment: Deployment = serde_yaml::from_str(&rendered).unwrap();
    let template = deployment.spec.template;
    let mut spec = template.spec.unwrap();
    spec.service_account_name = Some("default".into());
    let pod = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "operator-pod", "namespace": ns, "labels": template.metadata.and_then(|m| m.labels)},
        "spec": spec,
    });
    let admitted =
        tools.kubectl_stdin(&["create", "--dry-run=server", "-f", "-"], &pod.to_string());
    assert!(
        admitted.ok(),
        "restricted refused the chart's pod: {}",
        admitted.stderr()
    );
    // The namespace really enforces: a privileged pod is refused.
    let privileged = serde_json::json!({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "bad", "namespace": ns},
        "spec": {"containers": [{"name": "c", "image": "x", "securityContext": {"privileged": true}}]},
    });
    let refused = tools
        .kubectl_stdin(
            &["create", "--dry-run=server", "-f", "-"],
            &privileged.to_string(),
        )
        .failure();
    assert!(
        refused.stderr().contains("restricted"),
        "{}",
        refused.stderr()
    );
}

/// Whether some audit event by `user` used `verb` on `group`/`resource` (with subresource).
fn used(
    events: &[local_control_plane::AuditEvent],
    user: &str,
    group: &str,
    resource: &str,
    verb: &str,
    namespace: Option<&str>,
) -> bool {
    let (resource, subresource) = match resource.split_once('/') {
        Some((r, s)) => (r, Some(s)),
        None => (resource, None),
    };
    events.iter().any(|e| {
        e.user.username == user
            && e.verb == verb
            && e.api_group() == group
            && e.resource() == resource
            && e.subresource() == subresource
            && namespace.is_none_or(|ns| e.namespace() == Some(ns))
    })
}

fn rule_grants(rules: &[PolicyRule]) -> BTreeSet<(String, String, String)> {
    let mut grants = BTreeSet::new();
    for rule in rules {
        for group in rule.api_groups.clone().unwrap_or_default() {
            for resource in rule.resources.clone().unwrap_or_default() {
                for verb in &rule.verbs {
                    grants.insert((group.clone(), resource.clone(), verb.clone()));
                }
            }
        }
    }
    grants
}

/// The whole story through the chart's identity `user` (a SourceTemplate and a ConnectionTemplate
/// with Secret-held settings, a workspace whose 8 s tokens refresh, a source whose Secret changes,
/// then deletion of everything), and the proof from the audit log since `mark`: no 403, and every
/// rule of the chart's ClusterRole and leader-election Role used. The in-cluster test runs it with
/// the operator in its pod, then checks [`STORY_SECRET_VALUES`] leaked nowhere.
pub async fn whole_story_uses_every_rule(
    s: &Scenario,
    audit: &local_control_plane::AuditLog,
    mark: u64,
    user: &str,
    full: &str,
    api_url: &str,
) {
    let ns = s.ns();
    let template = s.cluster_name("pg");
    organizations_in_use(s, api_url).await;
    s.apply(&format!(
        r#"apiVersion: v1
kind: Secret
metadata: {defaults}
stringData: {{password: rbac-template-password}}
---
apiVersion: embedded.airbyte.ai/v1alpha1
kind: SourceTemplate
metadata: {tpl}
spec:
  name: pg {ns}
  actorDefinitionId: {POSTGRES_DEFINITION_ID}
  partialDefaultConfig: {{host: db, port: 5432}}
  partialDefaultConfigSecretRefs: [{{path: password, secretKeyRef: {{name: pg-defaults, key: password}}}}]
---
apiVersion: v1
kind: Secret
metadata: {s3_keys}
stringData: {{secret: rbac-destination-secret}}
---
apiVersion: embedded.airbyte.ai/v1alpha1
kind: ConnectionTemplate
metadata: {lake}
spec:
  destinationName: lake {ns}
  destinationDefinitionId: {S3_DESTINATION_DEFINITION_ID}
  destinationConfig: {{s3_bucket_name: tenants, s3_bucket_path: raw, s3_bucket_region: eu-west-1, format: {{format_type: JSONL}}, access_key_id: AKIA}}
  destinationConfigSecretRefs: [{{path: secret_access_key, secretKeyRef: {{name: s3-keys, key: secret}}}}]
  cronExpression: "0 0 2 * * ?"
  tags: [rbac]
---
apiVersion: embedded.airbyte.ai/v1alpha1
kind: EmbeddedWorkspace
metadata: {ws}
spec: {{deletionPolicy: Delete}}
---
apiVersion: v1
kind: Secret
metadata: {login}
stringData: {{username: reader-one}}
---
apiVersion: embedded.airbyte.ai/v1alpha1
kind: EmbeddedSource
metadata: {src}
spec:
  workspaceRef: {{name: main}}
  sourceTemplateRef: {{name: {template}}}
  sourceConfig: {{database: app}}
  sourceConfigSecretRefs: [{{path: username, secretKeyRef: {{name: login, key: username}}}}]
"#,
        defaults = s.meta("pg-defaults"),
        s3_keys = s.meta("s3-keys"),
        lake = s.template_meta("lake"),
        tpl = s.template_meta("pg"),
        ws = s.meta("main"),
        login = s.meta("login"),
        src = s.meta("pg"),
    ))
    .success();
    s.wait_ready(&s.workspaces(), "main").await;
    s.wait_ready(&s.templates(), &template).await;
    s.wait_ready(&s.connection_templates(), &s.cluster_name("lake"))
        .await;
    let source = s.wait_ready(&s.sources(), "pg").await;
    let id = source.status.unwrap().source_id.unwrap();
    // Refreshes (8 s tokens), a Secret change, then deletion of everything.
    // The workspace `main`'s, in the operator's own organization (the organizations' workspaces
    // mint in the partner's).
    let own = s.sim.organization_id().to_string();
    wait_for("two token refreshes", Duration::from_secs(60), || async {
        (s.calls_for(airbyte_client::Endpoint::ScopedTokenCreate, &own) >= 3).then_some(())
    })
    .await;
    s.apply(&format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {}\nstringData: {{username: reader-two}}\n",
        s.meta("login")
    ))
    .success();
    wait_for(
        "the Secret change in Airbyte",
        Duration::from_secs(60),
        || async {
            (s.sim.state().world().sources.get(&id)?.config()["username"] == "reader-two")
                .then_some(())
        },
    )
    .await;
    s.sources()
        .delete("pg", &DeleteParams::default())
        .await
        .unwrap();
    s.templates()
        .delete(&template, &DeleteParams::default())
        .await
        .unwrap();
    s.connection_templates()
        .delete(&s.cluster_name("lake"), &DeleteParams::default())
        .await
        .unwrap();
    s.workspaces()
        .delete("main", &DeleteParams::default())
        .await
        .unwrap();
    wait_for(
        "every object to be gone from Airbyte",
        Duration::from_secs(60),
        || async {
            let world = s.sim.state().world();
            (world.sources.is_empty()
                && world.workspaces.is_empty()
                && world.connection_templates.is_empty()
                && world.source_templates.len() == 1)
                .then_some(())
        },
    )
    .await;
    wait_for(
        "the objects to be released",
        Duration::from_secs(60),
        || async {
            (s.sources().get_opt("pg").await.ok()?.is_none()
                && s.workspaces().get_opt("main").await.ok()?.is_none())
            .then_some(())
        },
    )
    .await;

    organizations_released(s).await;
    let events = audit.events_since(mark);
    let forbidden: Vec<String> = events
        .iter()
        .filter(|e| e.user.username == user && e.code() == 403)
        .map(|e| format!("{} {} {}", e.verb, e.request_uri, e.code()))
        .collect();
    assert!(
        forbidden.is_empty(),
        "the chart's RBAC refused the operator: {forbidden:?}"
    );
    assert!(
        events.iter().any(|e| e.user.username == user),
        "the operator acted as the chart's ServiceAccount"
    );

    let cluster_role = Api::<ClusterRole>::all(s.ctx.client.clone())
        .get(full)
        .await
        .unwrap();
    let role = Api::<Role>::namespaced(s.ctx.client.clone(), &s.ctx.namespace)
        .get(&format!("{full}-leader-election"))
        .await
        .unwrap();
    let mut unused = Vec::new();
    for (group, resource, verb) in rule_grants(&cluster_role.rules.unwrap_or_default()) {
        if !used(&events, user, &group, &resource, &verb, None) {
            unused.push(format!("ClusterRole: {verb} {group}/{resource}"));
        }
    }
    for (group, resource, verb) in rule_grants(&role.rules.unwrap_or_default()) {
        if !used(
            &events,
            user,
            &group,
            &resource,
            &verb,
            Some(&s.ctx.namespace),
        ) {
            unused.push(format!("Role: {verb} {group}/{resource}"));
        }
    }
    assert!(
        unused.is_empty(),
        "rules the operator never used: {unused:?}"
    );
}

/// Both organization kinds for the simulator's second organization, each used by a workspace
/// (their in-use finalizers and statuses are written).
async fn organizations_in_use(s: &Scenario, api_url: &str) {
    let partner = s.partner();
    let spec = format!(
        "{{organizationId: {}, apiUrl: {api_url}, credentialsSecretRef: {{name: partner}}}}",
        partner.id
    );
    s.apply(&format!(
        r#"apiVersion: v1
kind: Secret
metadata: {secret}
stringData: {{clientId: {client}, clientSecret: {client_secret}}}
---
apiVersion: embedded.airbyte.ai/v1alpha1
kind: ClusterAirbyteOrganization
metadata: {cluster}
spec: {spec}
---
apiVersion: embedded.airbyte.ai/v1alpha1
kind: AirbyteOrganization
metadata: {own}
spec: {spec}
---
apiVersion: embedded.airbyte.ai/v1alpha1
kind: EmbeddedWorkspace
metadata: {via_cluster}
spec: {{organizationRef: {{kind: ClusterAirbyteOrganization, name: {cluster_name}}}}}
---
apiVersion: embedded.airbyte.ai/v1alpha1
kind: EmbeddedWorkspace
metadata: {via_own}
spec: {{organizationRef: {{kind: AirbyteOrganization, name: partner}}}}
"#,
        secret = s.meta("partner"),
        client = partner.client_id,
        client_secret = partner.client_secret(),
        cluster = s.template_meta("partner"),
        cluster_name = s.cluster_name("partner"),
        own = s.meta("partner"),
        via_cluster = s.meta("via-cluster"),
        via_own = s.meta("via-own"),
    ))
    .success();
    s.wait_ready(&s.workspaces(), "via-cluster").await;
    s.wait_ready(&s.workspaces(), "via-own").await;
}

/// Deletes the organizations' users, then the organizations, which let go.
async fn organizations_released(s: &Scenario) {
    for name in ["via-cluster", "via-own"] {
        s.workspaces()
            .delete(name, &DeleteParams::default())
            .await
            .unwrap();
    }
    let cluster: Api<embedded_crds::ClusterAirbyteOrganization> = Api::all(s.ctx.client.clone());
    let own: Api<embedded_crds::AirbyteOrganization> =
        Api::namespaced(s.ctx.client.clone(), s.ns());
    let name = s.cluster_name("partner");
    cluster
        .delete(&name, &DeleteParams::default())
        .await
        .unwrap();
    own.delete("partner", &DeleteParams::default())
        .await
        .unwrap();
    wait_for(
        "the organizations to let go",
        Duration::from_secs(60),
        || async {
            (cluster.get_opt(&name).await.ok()?.is_none()
                && own.get_opt("partner").await.ok()?.is_none())
            .then_some(())
        },
    )
    .await;
}

/// The Secret values [`whole_story_uses_every_rule`] puts in Secrets: none may appear in the
/// operator's log, events, statuses or the audit log.
pub const STORY_SECRET_VALUES: [&str; 4] = [
    "rbac-template-password",
    "reader-one",
    "reader-two",
    "rbac-destination-secret",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admission_policy_confines_workspace_names_to_their_namespace() {
    let ctx = TestContext::new("chart-vap").await;
    install_crds(&ctx);
    let tools = ctx.tools(Generation::Current);
    let ns = ctx.namespace.clone();
    let release = format!("vap-{}", &ns[ns.len() - 6..]);
    tools
        .helm(&[
            "install", &release, &chart(), "-n", &ns, "--set", &format!("airbyte.organizationId={ORG}"),
            "--set", &format!("operator.workspaceNamePolicyNamespaceSelector.matchLabels.kubernetes\\.io/metadata\\.name={ns}"),
        ])
        .success();
    let workspace = |name: &str, workspace_name: &str| {
        format!(
            "apiVersion: embedded.airbyte.ai/v1alpha1\nkind: EmbeddedWorkspace\nmetadata: {{name: {name}, namespace: {ns}}}\nspec: {{workspaceName: {workspace_name}}}\n"
        )
    };
    // The policy becomes active a moment after it is created: retry the allowed create until then.
    let own = workspace("own", &format!("{ns}.own"));
    let foreign = workspace("foreign", "other-tenant.main");
    wait_for(
        "the admission policy to refuse a foreign name",
        Duration::from_secs(60),
        || async {
            let run = tools.kubectl_stdin(&["apply", "--dry-run=server", "-f", "-"], &foreign);
            (!run.ok() && run.stderr().contains("must start with")).then_some(())
        },
    )
    .await;
    tools.kubectl_stdin(&["apply", "-f", "-"], &own).success();
    let refused = tools
        .kubectl_stdin(&["apply", "-f", "-"], &foreign)
        .failure();
    assert!(
        refused
            .stderr()
            .contains(&format!("must start with \"{ns}.\"")),
        "{}",
        refused.stderr()
    );
    // A platform admin's label lets the namespace adopt any name.
    tools
        .kubectl(&[
            "label",
            "namespace",
            &ns,
            "embedded.airbyte.ai/workspace-name-policy=any",
        ])
        .success();
    wait_for(
        "the label to let the name through",
        Duration::from_secs(30),
        || async {
            tools
                .kubectl_stdin(&["apply", "-f", "-"], &foreign)
                .ok()
                .then_some(())
        },
    )
    .await;
    tools.helm(&["uninstall", &release, "-n", &ns]).success();
}
