//! Configurations with values from Secrets: `sourceConfig` (or a template's defaults) plus each
//! `{path, secretKeyRef}` placed at its dotted path. The merge is a pure function; reading the
//! Secrets is the thin I/O around it.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{GetParams, PartialObjectMeta};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Client};
use serde_json::{Map, Value};

use super::error::Error;
use embedded_crds::SecretValueRef;

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
) -> Option<Vec<String>> {
    refs.iter()
        .map(|reference| {
            let name = reference.secret_key_ref.name.as_str();
            cached
                .get(&ObjectRef::new(name).within(namespace))?
                .metadata
                .resource_version
                .clone()
        })
        .collect()
}

/// Reads the referenced Secret keys (Secrets in `namespace`), keyed by the reference's path.
///
/// A Secret the metadata cache has seen is read "not older than" the cached version, which the
/// apiserver serves from its watch cache instead of a quorum read from etcd; any later change
/// reaches the cache and wakes the object again. A Secret not cached yet is read from etcd.
pub async fn read(
    client: &Client,
    cached: &Store<PartialObjectMeta<Secret>>,
    namespace: &str,
    refs: &[SecretValueRef],
) -> Result<BTreeMap<String, String>, Error> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut secrets: BTreeMap<&str, Secret> = BTreeMap::new();
    let mut values = BTreeMap::new();
    for reference in refs {
        let name = reference.secret_key_ref.name.as_str();
        if !secrets.contains_key(name) {
            let seen = cached
                .get(&ObjectRef::new(name).within(namespace))
                .and_then(|meta| meta.metadata.resource_version.clone());
            let read = match seen {
                Some(version) => match api.get_with(name, &GetParams::at(&version)).await {
                    Ok(secret) => Some(secret),
                    Err(kube::Error::Api(status)) if status.code == 404 => None,
                    Err(error) => return Err(error.into()),
                },
                None => api.get_opt(name).await?,
            };
            let secret = read.ok_or_else(|| Error::SecretNotFound {
                namespace: namespace.to_string(),
                name: name.to_string(),
            })?;
            secrets.insert(name, secret);
        }
        let key = reference.secret_key_ref.key.as_str();
        let secret = &secrets[name];
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
        let text = String::from_utf8(bytes).map_err(|_| {
            Error::InvalidConfig(format!(
                "Secret {namespace}/{name} key {key} is not UTF-8 text"
            ))
        })?;
        values.insert(reference.path.clone(), text);
    }
    Ok(values)
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
