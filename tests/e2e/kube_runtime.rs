//! kube-rs against the real apiserver and controller manager: watches, finalizers, garbage
//! collection, optimistic concurrency, Leases and RBAC as the operator will rely on them.

use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::runtime::finalizer::{Event as FinalizerEvent, finalizer};
use kube::runtime::watcher;
use serde_json::json;

use crate::support::{Generation, TestContext, wait_for};

fn config_map(name: &str, value: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"value": value}})).unwrap()
}

async fn watch_sees_create_update_delete(config: watcher::Config, prefix: &str) {
    let ctx = TestContext::new(prefix).await;
    let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let mut stream = watcher(maps.clone(), config).boxed();
    let mut seen = Vec::new();
    let mut initialized = false;
    let mut step = 0;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while seen.len() < 3 {
        let event = tokio::time::timeout_at(deadline, stream.next())
            .await
            .unwrap_or_else(|_| panic!("watch saw only {seen:?}"))
            .expect("watch stream ended")
            .expect("watch error");
        match event {
            watcher::Event::InitDone => initialized = true,
            watcher::Event::Apply(cm) if cm.metadata.name.as_deref() == Some("watched") => {
                let value = cm
                    .data
                    .unwrap_or_default()
                    .get("value")
                    .cloned()
                    .unwrap_or_default();
                if !seen.contains(&format!("apply:{value}")) {
                    seen.push(format!("apply:{value}"));
                }
            }
            watcher::Event::Delete(cm) if cm.metadata.name.as_deref() == Some("watched") => {
                seen.push("delete".into())
            }
            _ => {}
        }
        if initialized {
            match (step, seen.len()) {
                (0, _) => {
                    maps.create(&PostParams::default(), &config_map("watched", "one"))
                        .await
                        .unwrap();
                    step = 1;
                }
                (1, 1) => {
                    let patch = json!({"data": {"value": "two"}});
                    maps.patch("watched", &PatchParams::default(), &Patch::Merge(&patch))
                        .await
                        .unwrap();
                    step = 2;
                }
                (2, 2) => {
                    maps.delete("watched", &DeleteParams::default())
                        .await
                        .unwrap();
                    step = 3;
                }
                _ => {}
            }
        }
    }
    assert_eq!(seen, ["apply:one", "apply:two", "delete"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_watch_watcher_sees_create_update_and_delete() {
    watch_sees_create_update_delete(watcher::Config::default(), "watch-list").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streaming_list_watcher_sees_create_update_and_delete() {
    watch_sees_create_update_delete(watcher::Config::default().streaming_lists(), "watch-stream")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_finalizer_helper_completes_a_delete() {
    let ctx = TestContext::new("finalizer").await;
    let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    maps.create(&PostParams::default(), &config_map("guarded", "x"))
        .await
        .unwrap();
    let name = "e2e.airbyte.ai/cleanup";

    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::<&str>::new()));
    let step = |maps: Api<ConfigMap>| {
        let seen = seen.clone();
        async move {
            let object = std::sync::Arc::new(maps.get("guarded").await.unwrap());
            finalizer(&maps, name, object, |event| async move {
                seen.lock().unwrap().push(match event {
                    FinalizerEvent::Apply(_) => "applied",
                    FinalizerEvent::Cleanup(_) => "cleaned",
                });
                Ok::<_, std::convert::Infallible>(kube::runtime::controller::Action::await_change())
            })
            .await
            .unwrap();
        }
    };
    // The first pass only adds the finalizer; the second runs Apply.
    step(maps.clone()).await;
    step(maps.clone()).await;
    assert_eq!(*seen.lock().unwrap(), ["applied"]);
    let finalizers = maps
        .get("guarded")
        .await
        .unwrap()
        .metadata
        .finalizers
        .unwrap_or_default();
    assert_eq!(finalizers, [name]);

    maps.delete("guarded", &DeleteParams::default())
        .await
        .unwrap();
    assert!(
        maps.get("guarded")
            .await
            .unwrap()
            .metadata
            .deletion_timestamp
            .is_some()
    );
    step(maps.clone()).await;
    assert_eq!(*seen.lock().unwrap(), ["applied", "cleaned"]);
    assert!(
        maps.get_opt("guarded").await.unwrap().is_none(),
        "the finalizer released the object"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_secret_owned_by_a_custom_resource_is_garbage_collected_with_it() {
    let ctx = TestContext::new("gc").await;
    let tools = ctx.tools(Generation::Current);
    let group = format!(
        "gc-{}.e2e.airbyte.ai",
        &ctx.namespace[ctx.namespace.len() - 6..]
    );
    let crd = format!(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {{name: owners.{group}}}\nspec:\n  group: {group}\n  names: {{kind: Owner, plural: owners}}\n  scope: Namespaced\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}\n"
    );
    tools.kubectl_stdin(&["apply", "-f", "-"], &crd).success();
    tools
        .kubectl(&[
            "wait",
            "--for=condition=Established",
            &format!("crd/owners.{group}"),
            "--timeout=60s",
        ])
        .success();

    let resource =
        ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(&group, "v1", "Owner"), "owners");
    let owners: Api<DynamicObject> =
        Api::namespaced_with(ctx.client.clone(), &ctx.namespace, &resource);
    let owner = wait_for(
        "the owner to be created",
        Duration::from_secs(30),
        || async {
            let object = DynamicObject::new("parent", &resource);
            owners.create(&PostParams::default(), &object).await.ok()
        },
    )
    .await;
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "child", "ownerReferences": [{
            "apiVersion": format!("{group}/v1"), "kind": "Owner", "name": "parent",
            "uid": owner.metadata.uid.clone().unwrap(), "controller": true, "blockOwnerDeletion": true
        }]},
        "stringData": {"token": "x"}
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();

    owners
        .delete("parent", &DeleteParams::background())
        .await
        .unwrap();
    // The garbage collector rediscovers new resource types every 30 s: wait generously.
    wait_for(
        "the owned Secret to be garbage-collected",
        Duration::from_secs(90),
        || async {
            secrets
                .get_opt("child")
                .await
                .unwrap()
                .is_none()
                .then_some(())
        },
    )
    .await;
    tools
        .kubectl(&["delete", "crd", &format!("owners.{group}"), "--wait=false"])
        .success();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_with_a_stale_resource_version_gets_409() {
    let ctx = TestContext::new("conflict").await;
    let maps: Api<ConfigMap> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let created = maps
        .create(&PostParams::default(), &config_map("cas", "1"))
        .await
        .unwrap();
    let mut first = created.clone();
    first.data = Some([("value".to_string(), "2".to_string())].into());
    maps.replace("cas", &PostParams::default(), &first)
        .await
        .unwrap();
    let mut stale = created;
    stale.data = Some([("value".to_string(), "3".to_string())].into());
    match maps.replace("cas", &PostParams::default(), &stale).await {
        Err(kube::Error::Api(status)) => assert_eq!(status.code, 409, "{status:?}"),
        other => panic!("expected 409, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lease_is_created_and_renewed() {
    let ctx = TestContext::new("lease").await;
    let leases: Api<Lease> = Api::namespaced(ctx.client.clone(), &ctx.namespace);
    let now = || k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(jiff::Timestamp::now());
    let lease: Lease = serde_json::from_value(json!({
        "metadata": {"name": "leader"},
        "spec": {"holderIdentity": "e2e", "leaseDurationSeconds": 15}
    }))
    .unwrap();
    let mut lease = leases.create(&PostParams::default(), &lease).await.unwrap();
    let mut renewals = Vec::new();
    for _ in 0..2 {
        let spec = lease.spec.get_or_insert_default();
        spec.renew_time = Some(now());
        lease = leases
            .replace("leader", &PostParams::default(), &lease)
            .await
            .unwrap();
        renewals.push(lease.spec.clone().unwrap().renew_time.unwrap().0);
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        renewals[1] > renewals[0],
        "renewTime advances: {renewals:?}"
    );
    assert_eq!(lease.spec.unwrap().holder_identity.as_deref(), Some("e2e"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_account_with_a_narrow_role_is_refused_elsewhere_and_the_audit_log_shows_it() {
    let ctx = TestContext::new("rbac").await;
    let ns = ctx.namespace.clone();
    let accounts: Api<ServiceAccount> = Api::namespaced(ctx.client.clone(), &ns);
    accounts
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({"metadata": {"name": "narrow"}})).unwrap(),
        )
        .await
        .unwrap();
    let roles: Api<Role> = Api::namespaced(ctx.client.clone(), &ns);
    roles
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "read-config-maps"},
                "rules": [{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]
            }))
            .unwrap(),
        )
        .await
        .unwrap();
    let bindings: Api<RoleBinding> = Api::namespaced(ctx.client.clone(), &ns);
    bindings
        .create(
            &PostParams::default(),
            &serde_json::from_value(json!({
                "metadata": {"name": "narrow"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-config-maps"},
                "subjects": [{"kind": "ServiceAccount", "name": "narrow", "namespace": ns}]
            }))
            .unwrap(),
        )
        .await
        .unwrap();

    let path = ctx.path("narrow.kubeconfig");
    ctx.cluster
        .service_account_kubeconfig(&path, &ns, "narrow")
        .await;
    let narrow = local_control_plane::kubeconfig::client(&path)
        .await
        .unwrap();
    let mark = ctx.cluster.audit.as_ref().map(|audit| audit.mark());

    let allowed: Api<ConfigMap> = Api::namespaced(narrow.clone(), &ns);
    allowed
        .list(&Default::default())
        .await
        .expect("configmaps in its namespace");
    let secrets: Api<Secret> = Api::namespaced(narrow.clone(), &ns);
    let other_namespace: Api<ConfigMap> = Api::namespaced(narrow.clone(), "kube-system");
    for result in [
        secrets.list(&Default::default()).await.map(|_| ()),
        other_namespace.list(&Default::default()).await.map(|_| ()),
    ] {
        match result {
            Err(kube::Error::Api(status)) => assert_eq!(status.code, 403, "{status:?}"),
            other => panic!("expected 403, got {other:?}"),
        }
    }

    let Some(audit) = ctx.cluster.audit("rbac audit") else {
        return;
    };
    let user = format!("system:serviceaccount:{ns}:narrow");
    let events = audit.since(mark.unwrap());
    let denied: Vec<_> = events
        .iter()
        .filter(|e| e.user.username == user && e.code() == 403)
        .map(|e| {
            (
                e.resource().to_string(),
                e.namespace().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert!(
        denied.contains(&("secrets".into(), ns.clone())),
        "{denied:?}"
    );
    assert!(
        denied.contains(&("configmaps".into(), "kube-system".into())),
        "{denied:?}"
    );
    assert!(
        events
            .iter()
            .any(|e| e.user.username == user && e.code() == 200 && e.resource() == "configmaps")
    );
}
