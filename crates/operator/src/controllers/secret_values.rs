//! Configurations with values from Secrets: `sourceConfig` (or a template's defaults) plus each
//! `{path, secretKeyRef}` placed at its dotted path. The merge is a pure function; reading the
//! Secrets is the thin I/O around it.
//!
//! A configuration holding Secret values is a [`ResolvedConfig`], which never prints its values.
//! What status records about it is a [`config_hash`] over the spec and the Secrets' uid and
//! resourceVersion: nothing derived from a Secret's value reaches status, events or logs (a hash
//! of a password is a password to anyone with a dictionary).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{GetParams, PartialObjectMeta};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client};
use serde_json::{Map, Value};

use sha2::{Digest, Sha256};

use super::error::Error;
use embedded_crds::SecretValueRef;

/// A configuration with Secret values merged in. `Debug` shows the keys only.
#[derive(Clone, Default, PartialEq)]
pub struct ResolvedConfig(pub Map<String, Value>);

impl std::fmt::Debug for ResolvedConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

/// Which version of each referenced Secret a configuration was built from: `uid@resourceVersion`
/// per reference, in reference order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SecretVersions(pub Vec<String>);

/// The Secret values of a configuration, read at known versions.
pub struct Resolved {
    pub values: BTreeMap<String, String>,
    pub versions: SecretVersions,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved")
            .field("paths", &self.values.keys().collect::<Vec<_>>())
            .field("versions", &self.versions)
            .finish()
    }
}

/// `sha256:` + 32 hex characters over the declared (non-secret) configuration and the versions of
/// the referenced Secrets. A changed Secret changes it; the Secret's value cannot be recovered or
/// tested against it.
pub fn config_hash(declared: &impl serde::Serialize, versions: &SecretVersions) -> String {
    let canonical = serde_json::to_vec(&serde_json::json!({
        "declared": serde_json::to_value(declared).unwrap_or_default(),
        "secrets": versions.0,
    }))
    .unwrap_or_default();
    format!("sha256:{}", hex::encode(&Sha256::digest(&canonical)[..16]))
}

/// Places `value` at the dotted `path` of `config`, creating objects on the way. Refuses a path
/// that runs through a value that is not an object.
pub fn set_path(config: &mut Map<String, Value>, path: &str, value: Value) -> Result<(), String> {
    let segments: Vec<&str> = path.split('.').collect();
    if segments.iter().any(|s| s.is_empty()) {
        return Err(format!("path {path:?} has an empty segment"));
    }
    let (last, parents) = segments
        .split_last()
        .ok_or_else(|| format!("path {path:?} is empty"))?;
    let mut current = config;
    for (depth, segment) in parents.iter().enumerate() {
        let entry = current
            .entry(segment.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        current = match entry {
            Value::Object(map) => map,
            _ => {
                return Err(format!(
                    "path {path} runs through {}, which is not an object",
                    segments[..=depth].join(".")
                ));
            }
        };
    }
    current.insert(last.to_string(), value);
    Ok(())
}

/// `base` with every Secret value placed at its path. `values` maps each reference's path to the
/// Secret's text. Two references to one path, or to paths of which one contains the other
/// (`a` and `a.b`: the order would decide silently which value survives), are refused.
pub fn merge(
    base: &Map<String, Value>,
    values: &BTreeMap<String, String>,
    refs: &[SecretValueRef],
) -> Result<Map<String, Value>, String> {
    for (i, first) in refs.iter().enumerate() {
        for second in &refs[i + 1..] {
            let (a, b) = (first.path.as_str(), second.path.as_str());
            if a == b {
                return Err(format!("path {a} is set by two secret references"));
            }
            let (short, long) = if a.len() < b.len() { (a, b) } else { (b, a) };
            if long.starts_with(short) && long.as_bytes().get(short.len()) == Some(&b'.') {
                return Err(format!("secret reference paths {short} and {long} overlap"));
            }
        }
    }
    let mut config = base.clone();
    for reference in refs {
        let value = values
            .get(&reference.path)
            .ok_or_else(|| format!("no value read for path {}", reference.path))?;
        set_path(&mut config, &reference.path, Value::String(value.clone()))?;
    }
    Ok(config)
}

/// The cached versions of the referenced Secrets, in reference order; `None` when one is not
/// cached (it must be read to know anything about it).
pub fn cached_versions(
    cached: &Store<PartialObjectMeta<Secret>>,
    namespace: &str,
    refs: &[SecretValueRef],
) -> Option<SecretVersions> {
    refs.iter()
        .map(|reference| {
            let name = reference.secret_key_ref.name.as_str();
            let meta = cached.get(&ObjectRef::new(name).within(namespace))?;
            Some(format!(
                "{}@{}",
                meta.metadata.uid.as_deref().unwrap_or_default(),
                meta.metadata.resource_version.as_deref()?
            ))
        })
        .collect::<Option<Vec<String>>>()
        .map(SecretVersions)
}

/// Reads the Secrets and merges their values into `base` at their paths.
pub async fn resolve(
    client: &Client,
    cached: Option<&Store<PartialObjectMeta<Secret>>>,
    namespace: &str,
    base: &Map<String, Value>,
    refs: &[SecretValueRef],
    field: &str,
) -> Result<(ResolvedConfig, SecretVersions), Error> {
    let resolved = read(client, cached, namespace, refs).await?;
    let config = merge(base, &resolved.values, refs)
        .map_err(|problem| Error::InvalidConfig(format!("{field}: {problem}")))?;
    Ok((ResolvedConfig(config), resolved.versions))
}

/// Reads the referenced Secret keys (Secrets in `namespace`), keyed by the reference's path, with
/// the version of each Secret read.
///
/// A Secret the metadata cache has seen is read "not older than" the cached version, which the
/// apiserver serves from its watch cache instead of a quorum read from etcd; any later change
/// reaches the cache and wakes the object again. A Secret not cached yet is read from etcd.
pub async fn read(
    client: &Client,
    cached: Option<&Store<PartialObjectMeta<Secret>>>,
    namespace: &str,
    refs: &[SecretValueRef],
) -> Result<Resolved, Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut secrets: BTreeMap<&str, Secret> = BTreeMap::new();
    let mut values = BTreeMap::new();
    let mut versions = Vec::new();
    for reference in refs {
        let name = reference.secret_key_ref.name.as_str();
        if !secrets.contains_key(name) {
            secrets.insert(name, read_secret(&api, cached, namespace, name).await?);
        }
        let secret = &secrets[name];
        versions.push(version_of(&secret.metadata));
        let text = key_text(secret, namespace, name, &reference.secret_key_ref.key)?;
        values.insert(reference.path.clone(), text);
    }
    Ok(Resolved {
        values,
        versions: SecretVersions(versions),
    })
}

/// One Secret: at (or after) the version the metadata cache has seen, else from etcd.
async fn read_secret(
    api: &Api<Secret>,
    cached: Option<&Store<PartialObjectMeta<Secret>>>,
    namespace: &str,
    name: &str,
) -> Result<Secret, Error> {
    let seen = cached
        .and_then(|c| c.get(&ObjectRef::new(name).within(namespace)))
        .and_then(|meta| meta.metadata.resource_version.clone());
    let read = match seen {
        Some(version) => match api.get_with(name, &GetParams::at(&version)).await {
            Ok(secret) => Some(secret),
            Err(kube::Error::Api(status)) if status.code == 404 => None,
            Err(error) => return Err(error.into()),
        },
        None => api.get_opt(name).await?,
    };
    read.ok_or_else(|| Error::SecretNotFound {
        namespace: namespace.to_string(),
        name: name.to_string(),
    })
}

/// `uid@resourceVersion`: which version of an object something was read at.
pub(crate) fn version_of(
    metadata: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
) -> String {
    format!(
        "{}@{}",
        metadata.uid.as_deref().unwrap_or_default(),
        metadata.resource_version.as_deref().unwrap_or_default()
    )
}

/// A key of a Secret as text.
pub(crate) fn key_text(
    secret: &Secret,
    namespace: &str,
    name: &str,
    key: &str,
) -> Result<String, Error> {
    let bytes = secret
        .data
        .as_ref()
        .and_then(|data| data.get(key))
        .map(|v| v.0.clone())
        .or_else(|| {
            secret
                .string_data
                .as_ref()
                .and_then(|data| data.get(key))
                .map(|v| v.clone().into_bytes())
        })
        .ok_or_else(|| Error::SecretKeyNotFound {
            namespace: namespace.to_string(),
            name: name.to_string(),
            key: key.to_string(),
        })?;
    String::from_utf8(bytes).map_err(|_| {
        Error::InvalidConfig(format!(
            "Secret {namespace}/{name} key {key} is not UTF-8 text"
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use embedded_crds::SecretKeyRef;
    use serde_json::json;

    fn reference(path: &str) -> SecretValueRef {
        SecretValueRef {
            path: path.into(),
            secret_key_ref: SecretKeyRef {
                name: "s".into(),
                key: "k".into(),
                namespace: None,
            },
        }
    }

    #[test]
    fn values_land_at_their_paths() {
        let base = json!({"account_id": "acct", "credentials": {"auth_type": "key"}});
        let refs = [reference("client_secret"), reference("credentials.api_key")];
        let values = BTreeMap::from([
            ("client_secret".to_string(), "sk".to_string()),
            ("credentials.api_key".to_string(), "ak".to_string()),
        ]);
        let merged = merge(base.as_object().unwrap(), &values, &refs).unwrap();
        assert_eq!(
            Value::Object(merged),
            json!({"account_id": "acct", "client_secret": "sk", "credentials": {"auth_type": "key", "api_key": "ak"}})
        );
    }

    #[test]
    fn paths_create_missing_objects_and_override_plain_values() {
        let table = [
            (json!({}), "a.b.c", Ok(json!({"a": {"b": {"c": "v"}}}))),
            (json!({"a": "old"}), "a", Ok(json!({"a": "v"}))),
            (
                json!({"a": "text"}),
                "a.b",
                Err("path a.b runs through a, which is not an object"),
            ),
            (
                json!({"a": [1]}),
                "a.b",
                Err("path a.b runs through a, which is not an object"),
            ),
            (json!({}), "a..b", Err("path \"a..b\" has an empty segment")),
        ];
        for (base, path, expected) in table {
            let mut config = base.as_object().unwrap().clone();
            let result = set_path(&mut config, path, json!("v")).map(|_| Value::Object(config));
            assert_eq!(result, expected.map_err(String::from), "{path}");
        }
    }

    #[test]
    fn overlapping_paths_are_refused_in_either_order() {
        for paths in [["a", "a.b"], ["a.b", "a"]] {
            let refs = [reference(paths[0]), reference(paths[1])];
            let values = BTreeMap::from([
                ("a".to_string(), "v".to_string()),
                ("a.b".to_string(), "w".to_string()),
            ]);
            assert_eq!(
                merge(&Map::new(), &values, &refs).unwrap_err(),
                "secret reference paths a and a.b overlap"
            );
        }
        let refs = [reference("ab"), reference("a.b")];
        let values = BTreeMap::from([
            ("ab".to_string(), "v".to_string()),
            ("a.b".to_string(), "w".to_string()),
        ]);
        assert!(
            merge(&Map::new(), &values, &refs).is_ok(),
            "a shared prefix that is not a segment is fine"
        );
    }

    #[test]
    fn the_hash_moves_with_secret_versions_and_never_depends_on_values() {
        let declared = json!({"account_id": "acct"});
        let v1 = SecretVersions(vec!["uid-1@10".into()]);
        let v2 = SecretVersions(vec!["uid-1@11".into()]);
        assert_ne!(config_hash(&declared, &v1), config_hash(&declared, &v2));
        assert_eq!(config_hash(&declared, &v1), config_hash(&declared, &v1));
        // The value is not an input at all: two passwords at the same version hash the same.
        let resolved = ResolvedConfig(json!({"password": "hunter2"}).as_object().unwrap().clone());
        assert!(!format!("{resolved:?}").contains("hunter2"));
    }

    #[test]
    fn a_path_set_twice_is_refused() {
        let refs = [reference("a"), reference("a")];
        let values = BTreeMap::from([("a".to_string(), "v".to_string())]);
        assert!(
            merge(&Map::new(), &values, &refs)
                .unwrap_err()
                .contains("two secret references")
        );
    }
}
