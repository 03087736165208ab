//! Organizations as resources: two Airbyte organizations served by one operator side by side
//! (the flags' one as `default`, the simulator's second as a ClusterAirbyteOrganization), a
//! namespace a cluster organization does not admit, credentials refused and then fixed,
//! deleting an organization in use, and a tenant who cannot make the operator act for an
//! organization the platform team did not grant, with the real authorizer and admission.

use std::time::Duration;

use airbyte_client::Endpoint;
use airbyte_sim::STANDARD_FAKER_TEMPLATE_ID;
use airbyte_sim::catalog::FAKER_DEFINITION_ID;
use embedded_crds::conditions::{self, Reason};
use embedded_crds::{AirbyteOrganization, ClusterAirbyteOrganization};
use kube::Api;
use serde_json::json;

use crate::support::operator::TEST_LABEL;
use crate::support::{Scenario, wait_for};

const GROUP: &str = "apiVersion: embedded.airbyte.ai/v1alpha1";

/// The partner organization's credentials Secret (in the operator's namespace, the test's).
fn credentials(s: &Scenario, name: &str, client_id: &str, secret: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {}\nstringData: {{clientId: {client_id}, clientSecret: {secret}}}\n",
        s.meta(name)
    )
}

/// A ClusterAirbyteOrganization for the simulator's second organization.
fn partner_organization(s: &Scenario, name: &str, secret: &str, extra: &str) -> String {
    format!(
        "{GROUP}\nkind: ClusterAirbyteOrganization\nmetadata: {}\nspec:\n  organizationId: {}\n  apiUrl: {}\n  credentialsSecretRef: {{name: {secret}}}\n{extra}",
        s.template_meta(name),
        s.partner().id,
        s.sim.url()
    )
}

/// The partner organization `partner` and its credentials Secret, joined.
fn partner_with_credentials(s: &Scenario, extra: &str) -> String {
    let partner = s.partner();
    [
        credentials(
            s,
            "partner-credentials",
            &partner.client_id,
            &partner.client_secret(),
        ),
        partner_organization(s, "partner", "partner-credentials", extra),
    ]
    .join("---\n")
}

fn organization_ref(s: &Scenario, name: &str) -> String {
    format!(
        "organizationRef: {{kind: ClusterAirbyteOrganization, name: {}}}",
        s.cluster_name(name)
    )
}

fn faker_template(s: &Scenario, name: &str, reference: &str) -> String {
    format!(
        "{GROUP}\nkind: SourceTemplate\nmetadata: {}\nspec:\n  name: Faker {name} {ns}\n  actorDefinitionId: {FAKER_DEFINITION_ID}\n  partialDefaultConfig: {{count: 10}}\n  {reference}\n",
        s.template_meta(name),
        ns = s.ns()
    )
}

fn workspace(s: &Scenario, name: &str, reference: &str) -> String {
    format!(
        "{GROUP}\nkind: EmbeddedWorkspace\nmetadata: {}\nspec: {{{reference}}}\n",
        s.meta(name)
    )
}

fn source(s: &Scenario, name: &str, workspace: &str, template: &str) -> String {
    format!(
        "{GROUP}\nkind: EmbeddedSource\nmetadata: {}\nspec: {{workspaceRef: {{name: {workspace}}}, sourceTemplateRef: {{name: {}}}}}\n",
        s.meta(name),
        s.cluster_name(template)
    )
}

fn organizations(s: &Scenario) -> Api<ClusterAirbyteOrganization> {
    Api::all(s.ctx.client.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_organizations_serve_their_tenants_side_by_side_and_each_airbyte_holds_only_its_own() {
    let s = Scenario::new("orgs").await;
    let partner = s.partner();
    let name = s.cluster_name("partner");
    let manifest = [
        partner_with_credentials(&s, ""),
        faker_template(&s, "ours", ""),
        faker_template(&s, "theirs", &organization_ref(&s, "partner")),
        workspace(&s, "ours", ""),
        workspace(&s, "theirs", &organization_ref(&s, "partner")),
        source(&s, "ours", "ours", "ours"),
        source(&s, "theirs", "theirs", "theirs"),
    ]
    .join("---\n");
    s.apply(&manifest).success();
    let organization = s.wait_ready(&organizations(&s), &name).await;
    for source in ["ours", "theirs"] {
        s.wait_ready(&s.sources(), source).await;
    }
    let status = organization.status.unwrap();
    assert_eq!(status.organization_id.as_deref(), Some(partner.id.as_str()));
    assert!(status.token_expires_at.is_some());
    wait_for(
        "the partner organization counts its three users",
        Duration::from_secs(30),
        || async {
            let organization = organizations(&s).get(&name).await.ok()?;
            (organization.status?.users == Some(3)).then_some(())
        },
    )
    .await;
    let theirs = s.workspaces().get("theirs").await.unwrap().status.unwrap();
    assert_eq!(
        theirs.organization.as_deref(),
        Some(format!("ClusterAirbyteOrganization/{name}").as_str())
    );
    assert_eq!(theirs.organization_id.as_deref(), Some(partner.id.as_str()));
    let ours = s.workspaces().get("ours").await.unwrap().status.unwrap();
    assert_eq!(
        ours.organization.as_deref(),
        Some("ClusterAirbyteOrganization/default")
    );

    // Each Airbyte organization holds only its own tenant, template and source.
    let primary = s.sim.state().primary().clone();
    for (holder, own, other) in [(&primary, "ours", "theirs"), (&partner, "theirs", "ours")] {
        let world = holder.world();
        let names: Vec<String> = world.workspaces.values().map(|w| w.name.clone()).collect();
        assert_eq!(names, [format!("{}.{own}", s.ns())], "{}", holder.id);
        let templates: Vec<String> = world
            .source_templates
            .values()
            .filter(|t| t.organization_id.is_some())
            .map(|t| t.name.clone())
            .collect();
        assert_eq!(
            templates,
            [format!("Faker {own} {}", s.ns())],
            "not {other}"
        );
        let sources: Vec<String> = world.sources.values().map(|t| t.name.clone()).collect();
        assert_eq!(sources, [own.to_string()]);
    }

    // kubectl shows both kinds: the category, the columns, explain.
    let listed = s.kubectl(&["get", "airbyte", "-A"]).success().stdout();
    assert!(
        listed.contains(&format!(
            "clusterairbyteorganization.embedded.airbyte.ai/{name}"
        )),
        "{listed}"
    );
    let row = s.kubectl(&["get", "caorg", &name]).success().stdout();
    assert!(
        row.contains("Authenticated") && row.contains(&partner.id),
        "{row}"
    );
    let explain = s
        .kubectl(&["explain", "clusterairbyteorganization.spec"])
        .success()
        .stdout();
    for field in [
        "organizationId",
        "apiUrl",
        "credentialsSecretRef",
        "namespaces",
        "requestBudget",
    ] {
        assert!(explain.contains(field), "explain lacks {field}: {explain}");
    }
    let metrics = s.operator.metrics().await;
    for needle in [
        format!("airbyte_embedded_operator_organization_ready{{organization=\"{name}\"}} 1"),
        format!("airbyte_embedded_operator_airbyte_api_calls_total{{organization=\"{name}\",endpoint=\"sources_create\",status=\"200\"}} 1"),
        "airbyte_embedded_operator_airbyte_api_calls_total{organization=\"default\",endpoint=\"sources_create\",status=\"200\"} 1".into(),
    ] {
        assert!(metrics.contains(&needle), "metrics lack {needle}");
    }
    let secret = partner.client_secret();
    s.assert_no_leaks(&[secret.as_str()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_namespace_a_cluster_organization_does_not_admit_is_stalled_and_costs_no_airbyte_call() {
    let s = Scenario::new("orgs-admit").await;
    let partner = s.partner();
    let name = s.cluster_name("partner");
    let manifest = [
        partner_with_credentials(
            &s,
            "  namespaces: {names: [some-other-team], selector: {matchLabels: {team: partner}}}\n",
        ),
        workspace(&s, "main", &organization_ref(&s, "partner")),
    ]
    .join("---\n");
    s.apply(&manifest).success();
    s.wait_ready(&organizations(&s), &name).await;
    let stalled = s
        .wait_reason(
            &s.workspaces(),
            "main",
            Reason::OrganizationNotAllowed.as_str(),
        )
        .await;
    let ready = conditions::ready(&stalled.status.unwrap().conditions)
        .unwrap()
        .clone();
    assert!(
        ready
            .message
            .contains(&format!("does not admit namespace {}", s.ns()))
            && ready.message.contains("some-other-team")
            && ready.message.contains("team=partner"),
        "{}",
        ready.message
    );
    for endpoint in [Endpoint::ScopedTokenCreate, Endpoint::WorkspacesList] {
        assert_eq!(s.calls_for(endpoint, &partner.id), 0, "{endpoint}");
        assert_eq!(
            s.calls(endpoint),
            0,
            "nothing in the default organization either"
        );
    }
    // The platform team labels the namespace: the workspace is admitted at once.
    s.kubectl(&["label", "namespace", s.ns(), "team=partner"])
        .success();
    s.wait_ready(&s.workspaces(), "main").await;
    assert_eq!(partner.world().workspaces.len(), 1);

    // Admission withdrawn: the workspace (Delete policy, so held by the operator's finalizer)
    // stalls, and its deletion does not wait for ever: it goes without touching Airbyte.
    s.kubectl(&[
        "patch",
        "aew",
        "main",
        "-n",
        s.ns(),
        "--type=merge",
        "-p",
        r#"{"spec":{"deletionPolicy":"Delete"}}"#,
    ])
    .success();
    wait_for("the finalizer", Duration::from_secs(60), || async {
        let workspace = s.workspaces().get("main").await.ok()?;
        workspace
            .metadata
            .finalizers
            .filter(|f| !f.is_empty())
            .map(drop)
    })
    .await;
    s.kubectl(&["label", "namespace", s.ns(), "team-"])
        .success();
    s.wait_reason(
        &s.workspaces(),
        "main",
        Reason::OrganizationNotAllowed.as_str(),
    )
    .await;
    s.kubectl(&["delete", "aew", "main", "-n", s.ns(), "--wait=false"])
        .success();
    wait_for("the workspace is gone", Duration::from_secs(60), || async {
        s.workspaces()
            .get_opt("main")
            .await
            .ok()?
            .is_none()
            .then_some(())
    })
    .await;
    assert_eq!(
        partner.world().workspaces.len(),
        1,
        "nothing deleted in Airbyte"
    );
    assert_eq!(s.calls_for(Endpoint::WorkspaceDelete, &partner.id), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_credentials_stall_the_organization_its_objects_wait_and_a_fixed_secret_recovers_them()
 {
    let s = Scenario::new("orgs-refused").await;
    let partner = s.partner();
    let name = s.cluster_name("partner");
    let manifest = [
        credentials(
            &s,
            "partner-credentials",
            &partner.client_id,
            "not-the-secret",
        ),
        partner_organization(&s, "partner", "partner-credentials", ""),
        faker_template(&s, "theirs", &organization_ref(&s, "partner")),
        workspace(&s, "theirs", &organization_ref(&s, "partner")),
        source(&s, "theirs", "theirs", "theirs"),
    ]
    .join("---\n");
    s.apply(&manifest).success();
    let stalled = s
        .wait_reason(
            &organizations(&s),
            &name,
            Reason::CredentialsRefused.as_str(),
        )
        .await;
    let message = conditions::ready(&stalled.status.unwrap().conditions)
        .unwrap()
        .message
        .clone();
    assert!(
        message.contains(&format!("{}/partner-credentials", s.ns())),
        "{message}"
    );
    assert!(!message.contains("not-the-secret"), "{message}");
    s.wait_reason(
        &s.workspaces(),
        "theirs",
        Reason::OrganizationNotReady.as_str(),
    )
    .await;
    s.wait_reason(
        &s.templates(),
        &s.cluster_name("theirs"),
        Reason::OrganizationNotReady.as_str(),
    )
    .await;
    // A minute of waiting costs a handful of token requests, not one per object per retry.
    let before = s.calls_for(Endpoint::ApplicationToken, &partner.id);
    tokio::time::sleep(Duration::from_secs(60)).await;
    let during = s.calls_for(Endpoint::ApplicationToken, &partner.id) - before;
    assert!(during <= 6, "{during} token requests in a minute");
    assert_eq!(s.calls_for(Endpoint::ScopedTokenCreate, &partner.id), 0);
    assert_eq!(s.calls_for(Endpoint::SourceTemplateCreate, &partner.id), 0);

    // The Secret is fixed: everything recovers without a restart.
    s.apply(&credentials(
        &s,
        "partner-credentials",
        &partner.client_id,
        &partner.client_secret(),
    ))
    .success();
    s.wait_ready(&organizations(&s), &name).await;
    s.wait_ready(&s.sources(), "theirs").await;
    assert_eq!(s.operator.starts(), 1, "no restart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_in_use_waits_for_its_users_before_it_goes() {
    let s = Scenario::new("orgs-delete").await;
    let name = s.cluster_name("partner");
    let manifest = [
        partner_with_credentials(&s, ""),
        workspace(&s, "theirs", &organization_ref(&s, "partner")),
    ]
    .join("---\n");
    s.apply(&manifest).success();
    s.wait_ready(&s.workspaces(), "theirs").await;
    s.kubectl(&["delete", "caorg", &name, "--wait=false"])
        .success();
    let waiting = s
        .wait_reason(&organizations(&s), &name, Reason::InUse.as_str())
        .await;
    let message = conditions::ready(&waiting.status.unwrap().conditions)
        .unwrap()
        .message
        .clone();
    assert!(
        message.contains(&format!("EmbeddedWorkspace {}/theirs", s.ns())),
        "{message}"
    );
    assert!(waiting.metadata.deletion_timestamp.is_some(), "Terminating");
    // Its users keep working meanwhile.
    s.kubectl(&[
        "annotate",
        "aew",
        "theirs",
        "-n",
        s.ns(),
        "embedded.airbyte.ai/reconcile-requested-at=now",
    ])
    .success();
    wait_for(
        "the workspace handled the request",
        Duration::from_secs(60),
        || async {
            let status = s.workspaces().get("theirs").await.ok()?.status?;
            (status.last_handled_reconcile_at.as_deref() == Some("now")
                && conditions::is_ready(&status.conditions))
            .then_some(())
        },
    )
    .await;
    s.kubectl(&["delete", "aew", "theirs", "-n", s.ns()])
        .success();
    wait_for(
        "the organization is gone",
        Duration::from_secs(60),
        || async {
            organizations(&s)
                .get_opt(&name)
                .await
                .ok()?
                .is_none()
                .then_some(())
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_cannot_make_the_operator_act_for_an_organization_not_granted_to_its_namespace() {
    let s = Scenario::new("orgs-tenant").await;
    let partner = s.partner();
    let primary = s.sim.state().primary().clone();
    // The platform team: the partner organization for another team's namespace only, and a
    // partner template and source (in a namespace of that team's: here, made directly in Airbyte).
    let manifest = [
        partner_with_credentials(&s, "  namespaces: {names: [partner-team]}\n"),
        faker_template(&s, "theirs", &organization_ref(&s, "partner")),
    ]
    .join("---\n");
    s.apply(&manifest).success();
    let template = s
        .wait_ready(&s.templates(), &s.cluster_name("theirs"))
        .await;
    let partner_template = template.status.unwrap().template_id.unwrap();
    let partner_source = {
        let mut world = partner.world();
        let workspace = world.add_workspace("partner-team.main", airbyte_sim::state::REGION_US);
        let id = uuid::Uuid::new_v4().to_string();
        let now = airbyte_sim::state::timestamp();
        world.sources.insert(
            id.clone(),
            airbyte_sim::state::SourceRecord {
                id: id.clone(),
                name: "billing".into(),
                workspace_id: workspace,
                template_id: partner_template.clone(),
                definition_id: FAKER_DEFINITION_ID.into(),
                own_config: Default::default(),
                defaults: Default::default(),
                connection_template_tags: Vec::new(),
                connection_template_tags_mode: "any".into(),
                created_at: now.clone(),
                updated_at: now,
            },
        );
        id
    };
    let tenant = s
        .tenant(
            s.ns(),
            json!([
                {"apiGroups": ["embedded.airbyte.ai"], "resources": ["embeddedworkspaces", "embeddedsources", "airbyteorganizations"], "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"]},
                {"apiGroups": [""], "resources": ["secrets"], "verbs": ["get", "list", "create", "patch"]}
            ]),
        )
        .await;
    let apply = |manifest: String| tenant.kubectl_stdin(&["apply", "-f", "-"], &manifest);

    // RBAC: a tenant cannot declare a cluster organization.
    let refused = apply(partner_organization(&s, "mine", "partner-credentials", "")).failure();
    assert!(
        refused.stderr().contains("forbidden"),
        "{}",
        refused.stderr()
    );
    // Admission: a reference takes no namespace.
    let refused = apply(workspace(
        &s,
        "elsewhere",
        "organizationRef: {kind: AirbyteOrganization, name: x, namespace: partner-team}",
    ))
    .failure();
    assert!(
        refused
            .stderr()
            .contains("organizationRef takes no namespace"),
        "{}",
        refused.stderr()
    );
    // A cluster organization that does not admit the namespace: stalled, no call.
    apply(workspace(&s, "borrowed", &organization_ref(&s, "partner"))).success();
    s.wait_reason(
        &s.workspaces(),
        "borrowed",
        Reason::OrganizationNotAllowed.as_str(),
    )
    .await;
    // Its own AirbyteOrganization naming the platform's organization, with a guessed secret:
    // refused by Airbyte, and nothing the platform's credentials opened is used for it.
    apply(credentials(&s, "guess", &primary.client_id, "a-guess")).success();
    apply(format!(
        "{GROUP}\nkind: AirbyteOrganization\nmetadata: {}\nspec: {{organizationId: {}, apiUrl: {}, credentialsSecretRef: {{name: guess}}}}\n",
        s.meta("own"),
        primary.id,
        s.sim.url()
    ))
    .success();
    let own: Api<AirbyteOrganization> = Api::namespaced(s.ctx.client.clone(), s.ns());
    s.wait_reason(&own, "own", Reason::CredentialsRefused.as_str())
        .await;
    // Its own AirbyteOrganization naming a server of its choosing: the operator sends the Secret's
    // values only to the APIs the platform team allows.
    apply(format!(
        "{GROUP}\nkind: AirbyteOrganization\nmetadata: {}\nspec: {{organizationId: {}, apiUrl: 'https://collector.example.com', credentialsSecretRef: {{name: guess}}}}\n",
        s.meta("collector"),
        primary.id
    ))
    .success();
    let collector = s
        .wait_reason(&own, "collector", Reason::InvalidConfig.as_str())
        .await;
    let message = conditions::ready(&collector.status.unwrap().conditions)
        .unwrap()
        .message
        .clone();
    assert!(message.contains("--allowed-api-urls"), "{message}");
    apply(workspace(
        &s,
        "via-own",
        "organizationRef: {kind: AirbyteOrganization, name: own}",
    ))
    .success();
    s.wait_reason(
        &s.workspaces(),
        "via-own",
        Reason::OrganizationNotReady.as_str(),
    )
    .await;
    // A source in the default organization naming the partner's template by reference, by
    // id, or adopting the partner's source: refused, and nothing is made anywhere.
    apply(workspace(&s, "main", "")).success();
    s.wait_ready(&s.workspaces(), "main").await;
    apply(source(&s, "by-ref", "main", "theirs")).success();
    s.wait_reason(
        &s.sources(),
        "by-ref",
        Reason::OrganizationMismatch.as_str(),
    )
    .await;
    apply(format!(
        "{GROUP}\nkind: EmbeddedSource\nmetadata: {}\nspec: {{workspaceRef: {{name: main}}, sourceTemplateId: {partner_template}}}\n",
        s.meta("by-id")
    ))
    .success();
    s.wait_reason(&s.sources(), "by-id", Reason::ApiRejected.as_str())
        .await;
    apply(format!(
        "{GROUP}\nkind: EmbeddedSource\nmetadata: {{name: adopt, namespace: {ns}, labels: {{{TEST_LABEL}: {ns}}}, annotations: {{embedded.airbyte.ai/external-id: {partner_source}}}}}\nspec: {{workspaceRef: {{name: main}}, sourceTemplateId: {STANDARD_FAKER_TEMPLATE_ID}}}\n",
        ns = s.ns()
    ))
    .success();
    s.wait_reason(&s.sources(), "adopt", Reason::AdoptionFailed.as_str())
        .await;

    // The partner organization saw only its own template and the operator's token checks.
    for endpoint in [
        Endpoint::ScopedTokenCreate,
        Endpoint::SourcesCreate,
        Endpoint::SourceGet,
    ] {
        assert_eq!(s.calls_for(endpoint, &partner.id), 0, "{endpoint}");
    }
    assert_eq!(
        partner.world().sources.len(),
        1,
        "the partner's own source only"
    );
    assert!(
        primary.world().sources.is_empty(),
        "nothing made in the default organization"
    );
    let names: Vec<String> = primary
        .world()
        .workspaces
        .values()
        .map(|w| w.name.clone())
        .collect();
    assert_eq!(
        names,
        [format!("{}.main", s.ns())],
        "only the tenant's own workspace"
    );
}
