//! Bad input never crashes the operator and never loops hot: each case ends in a condition whose
//! reason says what is wrong and whose message names the culprit, and Airbyte sees a bounded
//! number of calls.

use std::time::Duration;

use airbyte_client::Endpoint;
use airbyte_sim::STANDARD_FAKER_TEMPLATE_ID;
use airbyte_sim::catalog::POSTGRES_DEFINITION_ID;
use embedded_crds::conditions;
use embedded_operator::controllers::lifecycle::Managed;
use kube::Api;

use crate::support::Scenario;

const API: &str = "apiVersion: embedded.airbyte.ai/v1alpha1";

struct Case<'a> {
    kind: &'a str,
    name: String,
    reason: &'a str,
    stalled: bool,
    culprit: String,
}

async fn check<K: Managed>(s: &Scenario, api: &Api<K>, case: &Case<'_>) {
    let object = s.wait_reason(api, &case.name, case.reason).await;
    let status = object.status().unwrap();
    let ready = conditions::ready(K::conditions(status)).unwrap().clone();
    assert!(
        ready.message.contains(&case.culprit),
        "{} {}: message {:?} does not name {:?}",
        case.kind,
        case.name,
        ready.message,
        case.culprit
    );
    let flag = if case.stalled {
        conditions::STALLED
    } else {
        conditions::RECONCILING
    };
    assert!(
        K::conditions(status)
            .iter()
            .any(|c| c.type_ == flag && c.status == "True" && c.reason == case.reason),
        "{} {}: expected {flag}=True",
        case.kind,
        case.name
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_ends_in_a_clear_condition_with_bounded_calls() {
    let s = Scenario::new("bad-input").await;
    let ns = s.ns().to_string();
    let pg = s.cluster_name("pg");
    let ghost_template = s.cluster_name("ghost");
    let bogus = s.cluster_name("bogus-connector");
    let src = |name: &str, spec: &str| {
        format!(
            "{API}\nkind: EmbeddedSource\nmetadata: {}\nspec: {spec}\n",
            s.meta(name)
        )
    };
    let faker = format!("sourceTemplateId: {STANDARD_FAKER_TEMPLATE_ID}");
    let manifests = [
        format!(
            "{API}\nkind: EmbeddedWorkspace\nmetadata: {}\nspec: {{}}\n",
            s.meta("main")
        ),
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {}\nstringData: {{present: present-value-9f3k}}\n",
            s.meta("partial")
        ),
        format!(
            "{API}\nkind: SourceTemplate\nmetadata: {}\nspec: {{name: pg {ns}, actorDefinitionId: {POSTGRES_DEFINITION_ID}, partialDefaultConfig: {{host: db, port: 5432}}}}\n",
            s.template_meta("pg")
        ),
        format!(
            "{API}\nkind: SourceTemplate\nmetadata: {}\nspec: {{name: bogus {ns}, actorDefinitionId: 11111111-2222-4333-8444-555555555555}}\n",
            s.template_meta("bogus-connector")
        ),
        src(
            "missing-secret",
            &format!(
                "{{workspaceRef: {{name: main}}, {faker}, sourceConfigSecretRefs: [{{path: token, secretKeyRef: {{name: nope, key: k}}}}]}}"
            ),
        ),
        src(
            "missing-key",
            &format!(
                "{{workspaceRef: {{name: main}}, {faker}, sourceConfigSecretRefs: [{{path: token, secretKeyRef: {{name: partial, key: absent_key}}}}]}}"
            ),
        ),
        src(
            "unknown-template",
            &format!(
                "{{workspaceRef: {{name: main}}, sourceTemplateRef: {{name: {ghost_template}}}}}"
            ),
        ),
        src(
            "no-workspace",
            &format!("{{workspaceRef: {{name: ghost-workspace}}, {faker}}}"),
        ),
        src(
            "rejected",
            &format!(
                "{{workspaceRef: {{name: main}}, sourceTemplateRef: {{name: {pg}}}, sourceConfig: {{database: app}}}}"
            ),
        ),
        src(
            "first",
            &format!("{{name: same, workspaceRef: {{name: main}}, {faker}}}"),
        ),
        src(
            "semantic",
            &format!(
                "{{workspaceRef: {{name: main}}, {faker}, sourceConfig: {{credentials: plain-text}}, sourceConfigSecretRefs: [{{path: credentials.api_key, secretKeyRef: {{name: partial, key: present}}}}]}}"
            ),
        ),
        src(
            "unknown-template-id",
            "{workspaceRef: {name: main}, sourceTemplateId: 99999999-8888-4777-8666-555555555555}",
        ),
        format!(
            "{API}\nkind: EmbeddedSource\nmetadata: {{name: bad-adoption, namespace: {ns}, labels: {{e2e.airbyte.ai/test: {ns}}}, annotations: {{embedded.airbyte.ai/external-id: 12345678-1234-4234-8234-123456789012}}}}\nspec: {{workspaceRef: {{name: main}}, {faker}}}\n"
        ),
        format!(
            "{API}\nkind: EmbeddedWorkspace\nmetadata: {}\nspec: {{workspaceName: other-tenant.main}}\n",
            s.meta("elsewhere")
        ),
    ];
    for manifest in &manifests {
        s.apply(manifest).success();
    }
    s.wait_ready(&s.workspaces(), "main").await;
    s.wait_ready(&s.sources(), "first").await;
    // Later claims on names already taken.
    s.apply(&src(
        "second",
        &format!("{{name: same, workspaceRef: {{name: main}}, {faker}}}"),
    ))
    .success();
    s.apply(&format!(
        "{API}\nkind: EmbeddedWorkspace\nmetadata: {}\nspec: {{workspaceName: {ns}.main}}\n",
        s.meta("second-claim")
    ))
    .success();

    let source_cases = [
        Case {
            kind: "source",
            name: "missing-secret".into(),
            reason: "SecretNotFound",
            stalled: true,
            culprit: format!("Secret {ns}/nope"),
        },
        Case {
            kind: "source",
            name: "missing-key".into(),
            reason: "SecretKeyNotFound",
            stalled: true,
            culprit: "absent_key".into(),
        },
        Case {
            kind: "source",
            name: "unknown-template".into(),
            reason: "TemplateNotReady",
            stalled: false,
            culprit: ghost_template.clone(),
        },
        Case {
            kind: "source",
            name: "no-workspace".into(),
            reason: "WorkspaceNotReady",
            stalled: false,
            culprit: "ghost-workspace".into(),
        },
        Case {
            kind: "source",
            name: "rejected".into(),
            reason: "ApiRejected",
            stalled: true,
            culprit: "body.source_config.username: Field required".into(),
        },
        Case {
            kind: "source",
            name: "second".into(),
            reason: "DuplicateSourceName",
            stalled: true,
            culprit: "first".into(),
        },
        Case {
            kind: "source",
            name: "semantic".into(),
            reason: "InvalidConfig",
            stalled: true,
            culprit: "credentials.api_key".into(),
        },
        Case {
            kind: "source",
            name: "unknown-template-id".into(),
            reason: "ApiRejected",
            stalled: true,
            culprit: "body.source_template_id: Source template not found".into(),
        },
        Case {
            kind: "source",
            name: "bad-adoption".into(),
            reason: "AdoptionFailed",
            stalled: true,
            culprit: "12345678-1234-4234-8234-123456789012".into(),
        },
    ];
    for case in &source_cases {
        check(&s, &s.sources(), case).await;
    }
    let workspace_cases = [
        Case {
            kind: "workspace",
            name: "second-claim".into(),
            reason: "WorkspaceNameConflict",
            stalled: true,
            culprit: format!("{ns}/main"),
        },
        Case {
            kind: "workspace",
            name: "elsewhere".into(),
            reason: "WorkspaceNameNotAllowed",
            stalled: true,
            culprit: format!("{ns}."),
        },
    ];
    for case in &workspace_cases {
        check(&s, &s.workspaces(), case).await;
    }
    check(
        &s,
        &s.templates(),
        &Case {
            kind: "template",
            name: bogus.clone(),
            reason: "ApiRejected",
            stalled: true,
            culprit: "body.actor_definition_id".into(),
        },
    )
    .await;

    // The conflicting and disallowed claims got no token: one mint for the name, by its owner.
    let mints_for = |name: String| {
        s.sim
            .state()
            .recorder
            .log_since(0)
            .into_iter()
            .filter(|r| {
                r.endpoint == Endpoint::ScopedTokenCreate.label()
                    && r.key == format!("workspace_name={name}")
            })
            .count()
    };
    // Every mint of the name is the owner's: its first, and perhaps one early refresh that moves
    // the new token into its workspace's refresh phase (refreshes are spread by uid), logged
    // as such.
    let mints_logged = |name: &str| {
        let logs = without_ansi(&s.operator.logs());
        let object = format!("namespace={ns} name={name} ");
        logs.lines()
            .filter(|l| l.contains("minted token") && l.contains(&object))
            .count()
    };
    let owner_mints = mints_logged("main");
    assert_eq!(mints_for(format!("{ns}.main")), owner_mints);
    assert!(
        (1..=2).contains(&owner_mints),
        "the owner minted {owner_mints} times"
    );
    assert_eq!(mints_logged("second-claim"), 0, "the second claim minted");
    assert_eq!(mints_for("other-tenant.main".into()), 0);
    assert!(
        s.secrets()
            .get_opt("second-claim-airbyte-token")
            .await
            .unwrap()
            .is_none()
    );

    // No hot loop: once settled, 20 seconds bring at most a couple of calls to Airbyte.
    let before: u64 = s
        .sim
        .state()
        .recorder
        .counts()
        .iter()
        .map(|c| c.count)
        .sum();
    tokio::time::sleep(Duration::from_secs(20)).await;
    let after: u64 = s
        .sim
        .state()
        .recorder
        .counts()
        .iter()
        .map(|c| c.count)
        .sum();
    assert!(
        after - before <= 2,
        "{} Airbyte calls in 20 s with nothing to do",
        after - before
    );
    s.assert_no_leaks(&["present-value-9f3k"]);
}

/// The operator's text log without terminal colour sequences.
fn without_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // ESC [ parameters final-byte
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}
