//! The ConnectionTemplate driver without a control plane: a fake Airbyte and a scripted
//! apiserver.

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use std::time::{Duration, SystemTime};

    use k8s_openapi::ByteString;
    use k8s_openapi::api::core::v1::Secret;
    use serde_json::{Value, json};

    use crate::controllers::clock::parse_rfc3339;
    use crate::controllers::testing::{Harness, stored};
    use airbyte_client::Endpoint;
    use embedded_crds::{ConnectionTemplate, ConnectionTemplateSpec, SecretKeyRef, SecretValueRef};

    fn now() -> SystemTime {
        parse_rfc3339("2026-06-01T12:00:00Z").unwrap()
    }

    fn template(cron: &str) -> ConnectionTemplate {
        stored(
            ConnectionTemplate::new(
                "lake",
                ConnectionTemplateSpec {
                    destination_name: Some("lake".into()),
                    destination_definition_id: Some("4816b78f-1489-44c1-9060-4b19d5fa9362".into()),
                    destination_config: json!({"s3_bucket_name": "b"}).as_object().cloned(),
                    destination_config_secret_refs: vec![SecretValueRef {
                        path: "secret_access_key".into(),
                        secret_key_ref: SecretKeyRef {
                            name: "s3".into(),
                            key: "secret".into(),
                            namespace: None,
                        },
                    }],
                    cron_expression: Some(cron.into()),
                    tags: vec!["s3".into()],
                    ..Default::default()
                },
            ),
            None,
            now() - Duration::from_secs(60),
        )
    }

    fn secret() -> Value {
        let mut data = BTreeMap::new();
        data.insert("secret".to_string(), ByteString(b"s3cr3t".to_vec()));
        let mut secret = Secret {
            data: Some(data),
            ..Default::default()
        };
        secret.metadata.name = Some("s3".into());
        secret.metadata.uid = Some("secret-uid".into());
        secret.metadata.resource_version = Some("9".into());
        serde_json::to_value(secret).unwrap()
    }

    /// The first reconcile of `lake` with this schedule: the Secret read, the metadata and the
    /// status written.
    async fn first_reconcile(cron: &str) -> Harness {
        let harness = Harness::new(now());
        let lake = template(cron);
        harness
            .kube
            .expect("GET", "/namespaces/operator/secrets/s3", |_| {
                (200, secret())
            });
        harness.expect_write("/connectiontemplates/lake?", &lake, 2);
        harness.expect_write("/connectiontemplates/lake/status", &lake, 3);
        harness.reconcile(&lake).await;
        harness
    }

    #[tokio::test]
    async fn a_template_with_secret_held_keys_is_created_tagged_and_described() {
        let harness = first_reconcile("0 0 2 * * ?").await;
        assert_eq!(
            harness.airbyte.calls(),
            [
                Endpoint::CronDescribe,
                Endpoint::ConnectionTemplatesList,
                Endpoint::ConnectionTemplateCreate,
                Endpoint::ConnectionTemplateTagAdd
            ]
        );
        let created = harness.airbyte.world().connection_templates["connection-template-1"].clone();
        assert_eq!(created.destination_config["secret_access_key"], "s3cr3t");
        assert_eq!(created.tags, ["s3"]);
        let status = harness.status_written();
        assert_eq!(status["templateId"], "connection-template-1");
        assert_eq!(status["scheduleDescription"], "runs at 0 0 2 * * ?");
        assert!(
            !status.to_string().contains("s3cr3t"),
            "no credential in status"
        );
    }

    #[tokio::test]
    async fn an_invalid_cron_expression_stalls_with_airbytes_description_and_creates_nothing() {
        let harness = first_reconcile("0 0 2 * *").await;
        assert_eq!(harness.airbyte.calls(), [Endpoint::CronDescribe]);
        let condition = &harness.status_written()["conditions"][0];
        assert_eq!(condition["reason"], "InvalidCronExpression");
        assert!(
            condition["message"].as_str().unwrap().contains("6 or 7"),
            "{condition}"
        );
    }
}
