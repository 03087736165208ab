//! What Kubernetes can check, the real apiserver refuses at admission, naming the field.

use crate::support::Scenario;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_manifests_are_refused_by_the_apiserver_naming_the_field() {
    let s = Scenario::new("admission").await;
    let cases: Vec<(&str, String, Vec<&str>)> = vec![
        (
            "both region fields",
            format!(
                "kind: EmbeddedWorkspace\nmetadata: {}\nspec: {{region: eu, regionId: b9e48d61-f082-4a14-a8d0-799a907938cb}}",
                s.meta("both")
            ),
            vec!["set region or regionId, not both"],
        ),
        (
            "a widget without a kept token",
            format!(
                "kind: EmbeddedWorkspace\nmetadata: {}\nspec: {{tokenPolicy: OnDemand, widget: {{allowedOrigin: 'https://app.example.com'}}}}",
                s.meta("widget-on-demand")
            ),
            vec!["spec.tokenPolicy", "no token Secret is kept"],
        ),
        (
            "an unknown token policy",
            format!(
                "kind: EmbeddedWorkspace\nmetadata: {}\nspec: {{tokenPolicy: Sometimes}}",
                s.meta("sometimes")
            ),
            vec!["spec.tokenPolicy", "Keep", "OnDemand"],
        ),
        (
            "an unknown region",
            format!(
                "kind: EmbeddedWorkspace\nmetadata: {}\nspec: {{region: mars}}",
                s.meta("mars")
            ),
            vec!["spec.region", "mars"],
        ),
        (
            "a region id that is not a UUID",
            format!(
                "kind: EmbeddedWorkspace\nmetadata: {}\nspec: {{regionId: not-a-uuid}}",
                s.meta("baduuid")
            ),
            vec!["spec.regionId"],
        ),
        (
            "an origin with a path",
            format!(
                "kind: EmbeddedWorkspace\nmetadata: {}\nspec: {{widget: {{allowedOrigin: 'https://app.example.com/embed'}}}}",
                s.meta("badorigin")
            ),
            vec!["spec.widget.allowedOrigin"],
        ),
        (
            "a wildcard origin",
            format!(
                "kind: EmbeddedWorkspace\nmetadata: {}\nspec: {{widget: {{allowedOrigin: 'https://*.example.com'}}}}",
                s.meta("wildcard")
            ),
            vec!["spec.widget.allowedOrigin"],
        ),
        (
            "neither template field",
            format!(
                "kind: EmbeddedSource\nmetadata: {}\nspec: {{workspaceRef: {{name: main}}}}",
                s.meta("neither")
            ),
            vec!["set exactly one of sourceTemplateRef or sourceTemplateId"],
        ),
        (
            "both template fields",
            format!(
                "kind: EmbeddedSource\nmetadata: {}\nspec: {{workspaceRef: {{name: main}}, sourceTemplateRef: {{name: x}}, sourceTemplateId: 00000000-0000-4000-8000-00000000fa4e}}",
                s.meta("both-templates")
            ),
            vec!["set exactly one of sourceTemplateRef or sourceTemplateId"],
        ),
        (
            "a workspace in another namespace",
            format!(
                "kind: EmbeddedSource\nmetadata: {}\nspec: {{workspaceRef: {{name: main, namespace: other}}, sourceTemplateId: 00000000-0000-4000-8000-00000000fa4e}}",
                s.meta("crossns")
            ),
            vec!["spec.workspaceRef", "cross-namespace"],
        ),
        (
            "a Secret in another namespace",
            format!(
                "kind: EmbeddedSource\nmetadata: {}\nspec: {{workspaceRef: {{name: main}}, sourceTemplateId: 00000000-0000-4000-8000-00000000fa4e, sourceConfigSecretRefs: [{{path: a, secretKeyRef: {{name: s, key: k, namespace: other}}}}]}}",
                s.meta("crosssecret")
            ),
            vec!["secretKeyRef", "cross-namespace"],
        ),
        (
            "a bad connector definition id",
            format!(
                "kind: SourceTemplate\nmetadata: {}\nspec: {{name: x, actorDefinitionId: postgres}}",
                s.template_meta("bad")
            ),
            vec!["spec.actorDefinitionId"],
        ),
        (
            "a whitelist without streams",
            format!(
                "kind: SourceTemplate\nmetadata: {}\nspec: {{name: x, actorDefinitionId: decd338e-5647-4c0b-adf4-da0e75f5a750, streamSelection: {{mode: whitelist}}}}",
                s.template_meta("whitelist")
            ),
            vec!["whitelist needs at least one stream"],
        ),
        (
            "a bad tag mode",
            format!(
                "kind: EmbeddedSource\nmetadata: {}\nspec: {{workspaceRef: {{name: main}}, sourceTemplateId: 00000000-0000-4000-8000-00000000fa4e, connectionTemplateTags: {{tags: [a], mode: some}}}}",
                s.meta("badmode")
            ),
            vec!["spec.connectionTemplateTags.mode"],
        ),
        (
            "a secret path with an empty segment",
            format!(
                "kind: EmbeddedSource\nmetadata: {}\nspec: {{workspaceRef: {{name: main}}, sourceTemplateId: 00000000-0000-4000-8000-00000000fa4e, sourceConfigSecretRefs: [{{path: 'a..b', secretKeyRef: {{name: s, key: k}}}}]}}",
                s.meta("badpath")
            ),
            vec!["path"],
        ),
        (
            "an organization reference with a namespace",
            format!(
                "kind: EmbeddedWorkspace\nmetadata: {}\nspec: {{organizationRef: {{kind: AirbyteOrganization, name: other, namespace: elsewhere}}}}",
                s.meta("orgns")
            ),
            vec!["organizationRef takes no namespace"],
        ),
        (
            "an organization reference of an unknown kind",
            format!(
                "kind: EmbeddedWorkspace\nmetadata: {}\nspec: {{organizationRef: {{kind: Issuer, name: other}}}}",
                s.meta("orgkind")
            ),
            vec!["spec.organizationRef.kind", "Issuer"],
        ),
        (
            "a template naming a namespaced organization",
            format!(
                "kind: SourceTemplate\nmetadata: {}\nspec: {{name: t, actorDefinitionId: dfd88b22-b603-4c3d-aad7-3701784586b1, organizationRef: {{kind: AirbyteOrganization, name: own}}}}",
                s.template_meta("orgtemplate")
            ),
            vec![
                "may name only a ClusterAirbyteOrganization",
                "spec.organizationRef",
            ],
        ),
        (
            "an organization id that is not a UUID",
            format!(
                "kind: ClusterAirbyteOrganization\nmetadata: {}\nspec: {{organizationId: prod, credentialsSecretRef: {{name: s}}}}",
                s.template_meta("orgid")
            ),
            vec!["spec.organizationId"],
        ),
        (
            "credentials in another namespace",
            format!(
                "kind: AirbyteOrganization\nmetadata: {}\nspec: {{organizationId: 00000000-0000-4000-8000-0000000000b1, credentialsSecretRef: {{name: s, namespace: elsewhere}}}}",
                s.meta("orgsecret")
            ),
            vec!["credentialsSecretRef takes no namespace"],
        ),
        (
            "namespace rules that admit nothing",
            format!(
                "kind: ClusterAirbyteOrganization\nmetadata: {}\nspec: {{organizationId: 00000000-0000-4000-8000-0000000000b1, credentialsSecretRef: {{name: s}}, namespaces: {{}}}}",
                s.template_meta("orgnothing")
            ),
            vec!["namespaces admits nothing"],
        ),
        (
            "an API URL that is not one",
            format!(
                "kind: ClusterAirbyteOrganization\nmetadata: {}\nspec: {{organizationId: 00000000-0000-4000-8000-0000000000b1, apiUrl: 'api.airbyte.ai', credentialsSecretRef: {{name: s}}}}",
                s.template_meta("orgurl")
            ),
            vec!["spec.apiUrl"],
        ),
    ];
    for (case, body, expected) in cases {
        let manifest = format!("apiVersion: embedded.airbyte.ai/v1alpha1\n{body}\n");
        let run = s.apply(&manifest).failure();
        let stderr = run.stderr();
        for needle in expected {
            assert!(
                stderr.contains(needle),
                "{case}: expected {needle:?} in: {stderr}"
            );
        }
    }

    // workspaceName is immutable once set.
    s.apply(&format!(
        "apiVersion: embedded.airbyte.ai/v1alpha1\nkind: EmbeddedWorkspace\nmetadata: {}\nspec: {{workspaceName: {}.first}}\n",
        s.meta("named"),
        s.ns()
    ))
    .success();
    let changed = s
        .apply(&format!(
            "apiVersion: embedded.airbyte.ai/v1alpha1\nkind: EmbeddedWorkspace\nmetadata: {}\nspec: {{workspaceName: {}.second}}\n",
            s.meta("named"),
            s.ns()
        ))
        .failure();
    assert!(
        changed.stderr().contains("workspaceName is immutable"),
        "{}",
        changed.stderr()
    );
    assert!(
        changed.stderr().contains("spec.workspaceName"),
        "{}",
        changed.stderr()
    );
    let removed = s
        .apply(&format!("apiVersion: embedded.airbyte.ai/v1alpha1\nkind: EmbeddedWorkspace\nmetadata: {}\nspec: {{}}\n", s.meta("named")))
        .failure();
    assert!(
        removed.stderr().contains("workspaceName is immutable"),
        "{}",
        removed.stderr()
    );
}
