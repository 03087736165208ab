//! The token Secret an EmbeddedWorkspace owns: its content (built here, purely) and what its
//! metadata records about the token (read back here), so that the controller can decide from the
//! watch cache of Secret metadata alone, without reading Secret data, whether a token is fresh.

use std::collections::BTreeMap;
use std::time::SystemTime;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use sha2::{Digest, Sha256};

use crate::controllers::clock::parse_rfc3339 as parse_time;
pub use crate::controllers::clock::rfc3339;
use crate::controllers::memory::StoredToken;
use embedded_crds::MANAGER;

pub const ANNOTATION_MINTED_AT: &str = "embedded.airbyte.ai/minted-at";
pub const ANNOTATION_EXPIRES_AT: &str = "embedded.airbyte.ai/expires-at";
pub const ANNOTATION_SETTINGS_HASH: &str = "embedded.airbyte.ai/settings-hash";
pub const ANNOTATION_DATA_HASH: &str = "embedded.airbyte.ai/data-hash";
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
pub const LABEL_WORKSPACE: &str = "embedded.airbyte.ai/workspace";

/// The annotations this operator reads back; all others are dropped from the watch cache.
pub const OWN_ANNOTATIONS: [&str; 4] = [
    ANNOTATION_MINTED_AT,
    ANNOTATION_EXPIRES_AT,
    ANNOTATION_SETTINGS_HASH,
    ANNOTATION_DATA_HASH,
];

/// Everything that goes into the Secret's data.
pub struct TokenData<'a> {
    pub token: &'a str,
    pub workspace_id: &'a str,
    pub organization_id: &'a str,
    pub region_id: &'a str,
    pub expires_at: SystemTime,
    pub widget_token: Option<&'a str>,
}

/// SHA-256 over the data, keys sorted (a tamper check; never the token itself).
pub fn data_hash(data: &BTreeMap<String, ByteString>) -> String {
    let mut hasher = Sha256::new();
    for (key, value) in data {
        hasher.update((key.len() as u64).to_be_bytes());
        hasher.update(key.as_bytes());
        hasher.update((value.0.len() as u64).to_be_bytes());
        hasher.update(&value.0);
    }
    hex::encode(hasher.finalize())
}

/// Hash of the settings a token is minted for; a change means a new token.
pub fn settings_hash(parts: &[&str]) -> String {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part.as_bytes());
    }
    hex::encode(&hasher.finalize()[..16])
}

/// The Secret's data: the documented keys, `widgetToken` when there is one.
fn secret_data(data: &TokenData<'_>) -> BTreeMap<String, ByteString> {
    let mut values = BTreeMap::from([
        (
            "token".to_string(),
            ByteString(data.token.as_bytes().to_vec()),
        ),
        (
            "workspaceId".to_string(),
            ByteString(data.workspace_id.as_bytes().to_vec()),
        ),
        (
            "organizationId".to_string(),
            ByteString(data.organization_id.as_bytes().to_vec()),
        ),
        (
            "regionId".to_string(),
            ByteString(data.region_id.as_bytes().to_vec()),
        ),
        (
            "expiresAt".to_string(),
            ByteString(rfc3339(data.expires_at).into_bytes()),
        ),
    ]);
    if let Some(widget) = data.widget_token {
        values.insert(
            "widgetToken".to_string(),
            ByteString(widget.as_bytes().to_vec()),
        );
    }
    values
}

/// The Secret to apply: owned by the workspace, labelled as managed, with its data hash and the
/// token's times in annotations.
pub fn build(
    name: &str,
    namespace: &str,
    workspace: &str,
    owner: OwnerReference,
    data: &TokenData<'_>,
    minted_at: SystemTime,
    settings_hash: &str,
) -> Secret {
    let values = secret_data(data);
    let annotations = BTreeMap::from([
        (ANNOTATION_MINTED_AT.to_string(), rfc3339(minted_at)),
        (ANNOTATION_EXPIRES_AT.to_string(), rfc3339(data.expires_at)),
        (
            ANNOTATION_SETTINGS_HASH.to_string(),
            settings_hash.to_string(),
        ),
        (ANNOTATION_DATA_HASH.to_string(), data_hash(&values)),
    ]);
    Secret {
        metadata: ObjectMeta {
            name: Some(name.to_string()),
            namespace: Some(namespace.to_string()),
            labels: Some(BTreeMap::from([
                (LABEL_MANAGED_BY.to_string(), MANAGER.to_string()),
                (LABEL_WORKSPACE.to_string(), workspace.to_string()),
            ])),
            annotations: Some(annotations),
            owner_references: Some(vec![owner]),
            ..Default::default()
        },
        type_: Some("Opaque".into()),
        data: Some(values),
        ..Default::default()
    }
}

/// What the Secret's metadata says about its token; `intact` is decided separately (it needs the
/// data) and defaults to true here.
pub fn stored_token(metadata: &ObjectMeta) -> Option<StoredToken> {
    let annotations = metadata.annotations.as_ref()?;
    Some(StoredToken {
        minted_at: parse_time(annotations.get(ANNOTATION_MINTED_AT)?)?,
        expires_at: parse_time(annotations.get(ANNOTATION_EXPIRES_AT)?)?,
        settings_hash: annotations.get(ANNOTATION_SETTINGS_HASH)?.clone(),
        intact: true,
    })
}

/// Whether a full Secret's data still matches the hash recorded when it was written, with every
/// key present.
pub fn intact(secret: &Secret, widget_expected: bool) -> bool {
    let Some(data) = secret.data.as_ref() else {
        return false;
    };
    let recorded = secret
        .metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(ANNOTATION_DATA_HASH));
    let keys_present = [
        "token",
        "workspaceId",
        "organizationId",
        "regionId",
        "expiresAt",
    ]
    .iter()
    .all(|key| data.contains_key(*key))
        && data.contains_key("widgetToken") == widget_expected;
    keys_present && recorded.is_some_and(|hash| *hash == data_hash(data))
}

/// Whether `metadata` belongs to a Secret owned by the workspace with `uid`.
pub fn owned_by(metadata: &ObjectMeta, uid: &str) -> bool {
    metadata
        .owner_references
        .as_ref()
        .is_some_and(|owners| owners.iter().any(|o| o.uid == uid))
}

/// The token, workspace id and expiry in a full Secret (for the sources of the workspace).
pub fn read_token(secret: &Secret) -> Option<(String, String, SystemTime)> {
    let data = secret.data.as_ref()?;
    let text = |key: &str| {
        data.get(key)
            .and_then(|v| String::from_utf8(v.0.clone()).ok())
    };
    Some((
        text("token")?,
        text("workspaceId")?,
        parse_time(&text("expiresAt")?)?,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn owner() -> OwnerReference {
        OwnerReference {
            api_version: "embedded.airbyte.ai/v1alpha1".into(),
            kind: "EmbeddedWorkspace".into(),
            name: "main".into(),
            uid: "uid-1".into(),
            controller: Some(true),
            block_owner_deletion: Some(true),
        }
    }

    fn secret(widget: Option<&str>) -> Secret {
        let data = TokenData {
            token: "jwt",
            workspace_id: "ws",
            organization_id: "org",
            region_id: "region",
            expires_at: UNIX_EPOCH + Duration::from_secs(2_000_000_000),
            widget_token: widget,
        };
        build(
            "main-airbyte-token",
            "tenant-a",
            "main",
            owner(),
            &data,
            UNIX_EPOCH + Duration::from_secs(1_999_998_800),
            "h",
        )
    }

    #[test]
    fn the_secret_holds_the_documented_keys_and_records_its_token() {
        let secret = secret(Some("widget"));
        let keys: Vec<&String> = secret.data.as_ref().unwrap().keys().collect();
        assert_eq!(
            keys,
            [
                "expiresAt",
                "organizationId",
                "regionId",
                "token",
                "widgetToken",
                "workspaceId"
            ]
        );
        let stored = stored_token(&secret.metadata).unwrap();
        assert_eq!(
            stored.expires_at,
            UNIX_EPOCH + Duration::from_secs(2_000_000_000)
        );
        assert_eq!(stored.settings_hash, "h");
        assert!(owned_by(&secret.metadata, "uid-1"));
        assert!(!owned_by(&secret.metadata, "uid-2"));
        assert_eq!(secret.metadata.labels.unwrap()[LABEL_MANAGED_BY], MANAGER);
    }

    #[test]
    fn an_edit_of_the_data_is_detected() {
        let original = secret(None);
        assert!(intact(&original, false));
        assert!(
            !intact(&original, true),
            "a widget token is expected but missing"
        );
        let mut edited = original.clone();
        edited
            .data
            .as_mut()
            .unwrap()
            .insert("token".into(), ByteString(b"forged".to_vec()));
        assert!(!intact(&edited, false));
        let mut emptied = original;
        emptied.data = None;
        assert!(!intact(&emptied, false));
    }

    #[test]
    fn annotations_never_hold_the_token() {
        let secret = secret(Some("widget-secret-value"));
        let annotations = serde_json::to_string(&secret.metadata.annotations).unwrap();
        assert!(!annotations.contains("jwt") && !annotations.contains("widget-secret-value"));
    }
}
