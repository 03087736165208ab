//! The local control plane is a real Kubernetes API for real clients: kubectl and helm of two
//! generations each.

use std::time::Duration;

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use serde_json::json;

use crate::support::{Generation, TestContext, repo_path, wait_for};

fn short(generation: Generation) -> &'static str {
    match generation {
        Generation::Current => "k135",
        Generation::Previous => "k132",
    }
}

fn widget_crd(group: &str) -> String {
    format!(
        r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: widgets.{group}
spec:
  group: {group}
  names: {{kind: Widget, plural: widgets, singular: widget}}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {{status: {{}}}}
    additionalPrinterColumns:
    - {{name: Size, type: integer, jsonPath: .spec.size}}
    - {{name: Ready, type: string, jsonPath: '.status.conditions[?(@.type=="Ready")].status'}}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [size]
            properties:
              size: {{type: integer, minimum: 1}}
              color: {{type: string, enum: [red, blue]}}
          status:
            type: object
            x-kubernetes-preserve-unknown-fields: true
"#
    )
}

async fn kubectl_story(generation: Generation) {
    let ctx = TestContext::new(&format!("kubectl-{}", short(generation))).await;
    let tools = ctx.tools(generation);
    let ns = ctx.namespace.as_str();
    let group = format!(
        "{}-{}.e2e.airbyte.ai",
        short(generation),
        &ns[ns.len() - 6..]
    );

    if ctx.cluster.is_local() {
        // The control plane was built with version ldflags: clients see the real version.
        let version = tools.kubectl(&["version", "-o", "json"]).success().stdout();
        let version: serde_json::Value = serde_json::from_str(&version).unwrap();
        assert_eq!(
            version["serverVersion"]["gitVersion"], "v1.35.4",
            "{version}"
        );
        assert_eq!(version["serverVersion"]["minor"], "35");
    }
    tools
        .kubectl_stdin(&["apply", "-f", "-"], &widget_crd(&group))
        .success();
    tools
        .kubectl(&[
            "wait",
            "--for=condition=Established",
            &format!("crd/widgets.{group}"),
            "--timeout=60s",
        ])
        .success();

    let objects = format!(
        r#"apiVersion: {group}/v1
kind: Widget
metadata: {{name: w1, namespace: {ns}}}
spec: {{size: 3, color: red}}
---
apiVersion: v1
kind: Secret
metadata: {{name: creds, namespace: {ns}}}
stringData: {{password: hunter2}}
"#
    );
    // Discovery of a CRD established a moment ago can lag in kubectl's cache: retry briefly.
    wait_for(
        "the widget to be applied",
        Duration::from_secs(30),
        || async {
            tools
                .kubectl_stdin(&["apply", "-f", "-"], &objects)
                .ok()
                .then_some(())
        },
    )
    .await;

    // Fully qualified: other tests install `widgets` of other groups at the same time.
    let widgets_resource = format!("widgets.{group}");
    let widget = |name: &str| format!("{widgets_resource}/{name}");
    let table = tools
        .kubectl(&["get", &widgets_resource, "-n", ns])
        .success()
        .stdout();
    assert!(
        table.contains("SIZE") && table.contains("READY"),
        "printer columns: {table}"
    );
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("w1") && l.contains(" 3 ")),
        "{table}"
    );
    let yaml = tools
        .kubectl(&["get", &widget("w1"), "-n", ns, "-o", "yaml"])
        .success()
        .stdout();
    assert!(
        yaml.contains("size: 3") && yaml.contains("color: red"),
        "{yaml}"
    );
    let password = tools
        .kubectl(&[
            "get",
            "secret",
            "creds",
            "-n",
            ns,
            "-o",
            "jsonpath={.data.password}",
        ])
        .success()
        .stdout();
    assert_eq!(
        password.trim(),
        "aHVudGVyMg==",
        "stringData was stored as data"
    );

    // The test plays controller: it sets Ready through the status subresource.
    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(&group, "v1", "Widget"),
        "widgets",
    );
    let widgets: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, &resource);
    let waiter = {
        let tools = ctx.tools(generation);
        let (ns, w1) = (ns.to_string(), widget("w1"));
        std::thread::spawn(move || {
            tools.kubectl(&[
                "wait",
                "--for=condition=Ready",
                &w1,
                "-n",
                &ns,
                "--timeout=60s",
            ])
        })
    };
    let status = json!({"status": {"conditions": [{
        "type": "Ready", "status": "True", "reason": "Tested", "message": "set by the test",
        "lastTransitionTime": "2026-01-01T00:00:00Z"
    }]}});
    widgets
        .patch_status("w1", &PatchParams::default(), &Patch::Merge(&status))
        .await
        .unwrap();
    waiter.join().unwrap().success();
    let table = tools
        .kubectl(&["get", &widgets_resource, "-n", ns])
        .success()
        .stdout();
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("w1") && l.contains("True")),
        "{table}"
    );

    let server_side = format!(
        "apiVersion: {group}/v1\nkind: Widget\nmetadata: {{name: w2, namespace: {ns}}}\nspec: {{size: 5}}\n"
    );
    for _ in 0..2 {
        tools
            .kubectl_stdin(
                &["apply", "--server-side", "--field-manager=e2e", "-f", "-"],
                &server_side,
            )
            .success();
    }
    let managers = tools
        .kubectl(&[
            "get",
            &widget("w2"),
            "-n",
            ns,
            "--show-managed-fields",
            "-o",
            "jsonpath={.metadata.managedFields[*].manager}",
        ])
        .success()
        .stdout();
    assert_eq!(managers.trim(), "e2e");

    // Deletion waits for a finalizer that the test removes.
    let finalizer = json!({"metadata": {"finalizers": ["e2e.airbyte.ai/hold"]}});
    widgets
        .patch("w1", &PatchParams::default(), &Patch::Merge(&finalizer))
        .await
        .unwrap();
    let deleter = {
        let tools = ctx.tools(generation);
        let (ns, w1) = (ns.to_string(), widget("w1"));
        std::thread::spawn(move || tools.kubectl(&["delete", &w1, "-n", &ns, "--timeout=60s"]))
    };
    wait_for(
        "the deletion timestamp",
        Duration::from_secs(30),
        || async {
            widgets
                .get("w1")
                .await
                .ok()?
                .metadata
                .deletion_timestamp
                .map(|_| ())
        },
    )
    .await;
    assert!(
        !deleter.is_finished(),
        "kubectl delete returned while the finalizer was still there"
    );
    let release = json!({"metadata": {"finalizers": null}});
    widgets
        .patch("w1", &PatchParams::default(), &Patch::Merge(&release))
        .await
        .unwrap();
    deleter.join().unwrap().success();
    assert!(widgets.get_opt("w1").await.unwrap().is_none());

    let invalid = format!(
        "apiVersion: {group}/v1\nkind: Widget\nmetadata: {{name: bad, namespace: {ns}}}\nspec: {{size: big}}\n"
    );
    let refused = tools
        .kubectl_stdin(&["apply", "-f", "-"], &invalid)
        .failure();
    assert!(
        refused.stderr().contains("spec.size"),
        "{}",
        refused.stderr()
    );

    tools
        .kubectl(&["delete", "crd", &format!("widgets.{group}"), "--wait=false"])
        .success();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_1_35_drives_custom_resources_secrets_status_and_finalizers() {
    kubectl_story(Generation::Current).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kubectl_1_32_drives_custom_resources_secrets_status_and_finalizers() {
    kubectl_story(Generation::Previous).await;
}

async fn helm_story(generation: Generation) {
    let ctx = TestContext::new(&format!("helm-{}", short(generation))).await;
    let tools = ctx.tools(generation);
    let ns = ctx.namespace.as_str();
    let release = format!("r{}", &ns[ns.len() - 6..]);
    let chart = repo_path("tests/fixtures/e2e-chart");
    let chart = chart.to_str().unwrap();

    tools
        .helm(&["install", &release, chart, "-n", ns])
        .success();
    let list = tools.helm(&["list", "-n", ns]).success().stdout();
    assert!(
        list.contains(&release) && list.contains("deployed"),
        "{list}"
    );

    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(ctx.client.clone(), ns);
    let replicas = |d: k8s_openapi::api::apps::v1::Deployment| d.spec.replicas;
    assert_eq!(replicas(deployments.get(&release).await.unwrap()), Some(1));

    tools
        .helm(&["upgrade", &release, chart, "-n", ns, "--set", "replicas=2"])
        .success();
    assert_eq!(replicas(deployments.get(&release).await.unwrap()), Some(2));
    let history = tools
        .helm(&["history", &release, "-n", ns])
        .success()
        .stdout();
    assert!(history.lines().count() >= 3, "two revisions: {history}");

    tools.helm(&["uninstall", &release, "-n", ns]).success();
    assert!(deployments.get_opt(&release).await.unwrap().is_none());
    let roles: Api<k8s_openapi::api::rbac::v1::ClusterRole> = Api::all(ctx.client.clone());
    assert!(
        roles
            .get_opt(&format!("{release}-gadgets"))
            .await
            .unwrap()
            .is_none()
    );
    let list = tools.helm(&["list", "-n", ns]).success().stdout();
    assert!(!list.contains(&release), "{list}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_4_installs_upgrades_lists_and_uninstalls_a_chart() {
    helm_story(Generation::Current).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_3_installs_upgrades_lists_and_uninstalls_a_chart() {
    helm_story(Generation::Previous).await;
}
