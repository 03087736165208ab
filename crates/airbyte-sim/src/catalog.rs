//! The simulator's connector catalog: published connection specifications shipped as data files
//! (`connectors/*.json`), plus any a user adds from a folder, used to validate source and
//! destination configurations and to mask secret fields the way Airbyte does in its answers.
//!
//! A file holds one connector, either in the connector registry's shape (`sourceDefinitionId` or
//! `destinationDefinitionId`, `name`, `spec.connectionSpecification`, as in Airbyte's
//! `cloud_registry.json`) or in the compact shape `{definitionId, name, connectionSpecification}`.

use std::collections::BTreeMap;
use std::path::Path;

use jsonschema::paths::LocationSegment;
use serde_json::{Map, Value};

use crate::errors::Problem;

/// What Airbyte shows instead of a secret configuration value.
pub const MASKED_SECRET: &str = "**********";

const SHIPPED: [(&str, &str); 4] = [
    ("faker.json", include_str!("connectors/faker.json")),
    ("stripe.json", include_str!("connectors/stripe.json")),
    ("postgres.json", include_str!("connectors/postgres.json")),
    (
        "s3-destination.json",
        include_str!("connectors/s3-destination.json"),
    ),
];

/// Well-known connector definition ids, for examples and tests.
pub const FAKER_DEFINITION_ID: &str = "dfd88b22-b603-4c3d-aad7-3701784586b1";
pub const STRIPE_DEFINITION_ID: &str = "e094cb9a-26de-4645-8761-65c0c425d1de";
pub const POSTGRES_DEFINITION_ID: &str = "decd338e-5647-4c0b-adf4-da0e75f5a750";
pub const S3_DESTINATION_DEFINITION_ID: &str = "4816b78f-1489-44c1-9060-4b19d5fa9362";

/// Whether a connector reads (source) or writes (destination).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectorKind {
    Source,
    Destination,
}

pub struct Connector {
    pub definition_id: String,
    pub name: String,
    pub kind: ConnectorKind,
    pub spec: Value,
    validator: jsonschema::Validator,
}

pub struct Catalog {
    connectors: BTreeMap<String, Connector>,
}

impl Catalog {
    /// The shipped connectors and those of `folder` (every `*.json` in it). A broken shipped file
    /// is a build defect (a unit test loads them); a broken file of the folder is an error
    /// naming it.
    pub fn load(folder: Option<&Path>) -> Result<Catalog, String> {
        let mut connectors = BTreeMap::new();
        for (name, text) in SHIPPED {
            let connector = parse(text).map_err(|e| format!("shipped {name}: {e}"))?;
            connectors.insert(connector.definition_id.clone(), connector);
        }
        if let Some(folder) = folder {
            let entries = std::fs::read_dir(folder)
                .map_err(|e| format!("connector folder {}: {e}", folder.display()))?;
            let mut paths: Vec<_> = entries
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
                .collect();
            paths.sort();
            for path in paths {
                let text = std::fs::read_to_string(&path)
                    .map_err(|e| format!("{}: {e}", path.display()))?;
                let connector = parse(&text).map_err(|e| format!("{}: {e}", path.display()))?;
                connectors.insert(connector.definition_id.clone(), connector);
            }
        }
        Ok(Catalog { connectors })
    }

    pub fn get(&self, definition_id: &str) -> Option<&Connector> {
        self.connectors.get(&definition_id.to_lowercase())
    }

    /// A connector of this kind, or the problem Airbyte reports for an unknown definition.
    pub fn find(
        &self,
        definition_id: &str,
        kind: ConnectorKind,
        loc: &[&str],
    ) -> Result<&Connector, Problem> {
        self.get(definition_id)
            .filter(|c| c.kind == kind)
            .ok_or_else(|| {
                Problem::new(
                    loc,
                    format!(
                        "Actor definition {definition_id} was not found among the {} definitions",
                        match kind {
                            ConnectorKind::Source => "source",
                            ConnectorKind::Destination => "destination",
                        }
                    ),
                    "not_found",
                )
            })
    }

    pub fn iter(&self) -> impl Iterator<Item = &Connector> {
        self.connectors.values()
    }
}

fn parse(text: &str) -> Result<Connector, String> {
    let file: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let text_field = |key: &str| file.get(key).and_then(Value::as_str).map(str::to_string);
    let (definition_id, kind) = match (
        text_field("sourceDefinitionId"),
        text_field("destinationDefinitionId"),
        text_field("definitionId"),
    ) {
        (Some(id), _, _) | (None, None, Some(id)) => (id, ConnectorKind::Source),
        (None, Some(id), _) => (id, ConnectorKind::Destination),
        (None, None, None) => {
            return Err(
                "no sourceDefinitionId, destinationDefinitionId or definitionId".to_string(),
            );
        }
    };
    uuid::Uuid::parse_str(&definition_id)
        .map_err(|_| format!("definition id {definition_id:?} is not a UUID"))?;
    let name = text_field("name").ok_or("no name")?;
    let spec = file
        .pointer("/spec/connectionSpecification")
        .or_else(|| file.get("connectionSpecification"))
        .cloned()
        .ok_or("no spec.connectionSpecification or connectionSpecification")?;
    let validator = jsonschema::validator_for(&spec)
        .map_err(|e| format!("the connection specification is not a JSON schema: {e}"))?;
    Ok(Connector {
        definition_id: definition_id.to_lowercase(),
        name,
        kind,
        spec,
        validator,
    })
}

impl Connector {
    /// Validates a complete configuration. Problems are located under `loc_prefix` (e.g.
    /// `body.source_config`) and never quote the offending value, which may be a secret.
    pub fn validate(&self, config: &Map<String, Value>, loc_prefix: &[&str]) -> Vec<Problem> {
        let instance = Value::Object(config.clone());
        self.validator
            .iter_errors(&instance)
            .map(|error| {
                let mut loc: Vec<String> = loc_prefix.iter().map(|p| p.to_string()).collect();
                for segment in error.instance_path().iter() {
                    loc.push(match segment {
                        LocationSegment::Property(name) => name.into_owned(),
                        LocationSegment::Index(i) => i.to_string(),
                    });
                }
                match error.kind() {
                    jsonschema::error::ValidationErrorKind::Required { property } => {
                        loc.push(property.as_str().unwrap_or_default().to_string());
                        Problem {
                            loc,
                            message: "Field required".into(),
                            code: "missing".into(),
                        }
                    }
                    _ => Problem {
                        loc,
                        message: error.masked().to_string(),
                        code: "value_error".into(),
                    },
                }
            })
            .collect()
    }

    /// Validates only the values present (a template's partial defaults need not be complete).
    pub fn validate_partial(
        &self,
        config: &Map<String, Value>,
        loc_prefix: &[&str],
    ) -> Vec<Problem> {
        self.validate(config, loc_prefix)
            .into_iter()
            .filter(|problem| problem.code != "missing")
            .collect()
    }

    /// A copy of `config` with every `airbyte_secret` field replaced by the mask.
    pub fn mask(&self, config: &Map<String, Value>) -> Map<String, Value> {
        mask_object(&self.spec, config)
    }

    /// `update` with the stored value kept wherever `update` sends the mask back for a secret
    /// field (what Airbyte does on update), at any depth.
    pub fn keep_masked_secrets(
        &self,
        stored: &Map<String, Value>,
        update: &Map<String, Value>,
    ) -> Map<String, Value> {
        keep_masked(stored, update)
    }
}

fn keep_masked(stored: &Map<String, Value>, update: &Map<String, Value>) -> Map<String, Value> {
    update
        .iter()
        .map(|(key, value)| {
            let kept = match (value, stored.get(key)) {
                (Value::String(mask), Some(old)) if mask == MASKED_SECRET => old.clone(),
                (Value::Object(inner), Some(Value::Object(old))) => {
                    Value::Object(keep_masked(old, inner))
                }
                _ => value.clone(),
            };
            (key.clone(), kept)
        })
        .collect()
}

fn mask_object(schema: &Value, config: &Map<String, Value>) -> Map<String, Value> {
    let properties = schema.get("properties").and_then(Value::as_object);
    config
        .iter()
        .map(|(key, value)| {
            let field = properties.and_then(|p| p.get(key));
            let masked = match (field, value) {
                (Some(field), _) if field.get("airbyte_secret") == Some(&Value::Bool(true)) => {
                    Value::String(MASKED_SECRET.into())
                }
                (Some(field), Value::Object(inner)) => Value::Object(mask_object(field, inner)),
                _ => value.clone(),
            };
            (key.clone(), masked)
        })
        .collect()
}

/// Deep merge: objects merge key by key, anything else in `overlay` replaces `base`.
pub fn deep_merge(base: &Map<String, Value>, overlay: &Map<String, Value>) -> Map<String, Value> {
    let mut result = base.clone();
    for (key, value) in overlay {
        let merged = match (result.get(key), value) {
            (Some(Value::Object(old)), Value::Object(new)) => Value::Object(deep_merge(old, new)),
            _ => value.clone(),
        };
        result.insert(key.clone(), merged);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Map<String, Value> {
        value.as_object().unwrap().clone()
    }

    fn catalog() -> Catalog {
        Catalog::load(None).unwrap()
    }

    #[test]
    fn postgres_requires_its_documented_fields() {
        let catalog = catalog();
        let postgres = catalog.get(POSTGRES_DEFINITION_ID).unwrap();
        let problems = postgres.validate(
            &object(json!({"host": "db", "port": 5432, "database": "app"})),
            &["body", "source_config"],
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].field(), "body.source_config.username");
        assert_eq!(problems[0].message, "Field required");
    }

    #[test]
    fn type_errors_do_not_quote_the_value() {
        let catalog = catalog();
        let stripe = catalog.get(STRIPE_DEFINITION_ID).unwrap();
        let problems = stripe.validate(
            &object(json!({"account_id": "acct_1", "client_secret": 12345678})),
            &["body", "source_config"],
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].field(), "body.source_config.client_secret");
        assert!(!problems[0].message.contains("12345678"));
    }

    #[test]
    fn the_s3_destination_is_a_destination_with_secret_keys() {
        let catalog = catalog();
        let s3 = catalog
            .find(
                S3_DESTINATION_DEFINITION_ID,
                ConnectorKind::Destination,
                &[],
            )
            .unwrap();
        assert!(
            catalog
                .find(
                    S3_DESTINATION_DEFINITION_ID,
                    ConnectorKind::Source,
                    &["body", "x"]
                )
                .is_err()
        );
        let config = object(
            json!({"s3_bucket_name": "b", "s3_bucket_path": "p", "s3_bucket_region": "eu-west-1", "format": {"format_type": "JSONL"}, "access_key_id": "AKIA", "secret_access_key": "s3cr3t"}),
        );
        assert!(s3.validate(&config, &[]).is_empty());
        let masked = s3.mask(&config);
        assert_eq!(masked["secret_access_key"], MASKED_SECRET);
        assert_eq!(masked["s3_bucket_name"], "b");
        let missing = s3.validate(
            &object(json!({"s3_bucket_name": "b"})),
            &["body", "destination_config"],
        );
        assert!(
            missing
                .iter()
                .any(|p| p.field() == "body.destination_config.format")
        );
    }

    #[test]
    fn a_folder_adds_connectors_in_the_registry_shape() {
        let folder = tempfile::tempdir().unwrap();
        std::fs::write(
            folder.path().join("hubspot.json"),
            json!({
                "sourceDefinitionId": "36c891d9-4bd9-43ac-bad2-10e12756272c",
                "name": "HubSpot",
                "spec": {"connectionSpecification": {"type": "object", "required": ["credentials"], "properties": {"credentials": {"type": "object"}}}}
            })
            .to_string(),
        )
        .unwrap();
        let catalog = Catalog::load(Some(folder.path())).unwrap();
        let hubspot = catalog
            .find(
                "36C891D9-4BD9-43AC-BAD2-10E12756272C",
                ConnectorKind::Source,
                &[],
            )
            .unwrap();
        assert_eq!(hubspot.name, "HubSpot");
        assert_eq!(hubspot.validate(&Map::new(), &[]).len(), 1);
        std::fs::write(folder.path().join("broken.json"), "{\"name\": \"x\"}").unwrap();
        let error = Catalog::load(Some(folder.path())).err().unwrap();
        assert!(error.contains("broken.json"), "{error}");
    }

    #[test]
    fn masks_sent_back_keep_the_stored_secret_at_any_depth() {
        let stored = object(json!({"a": "x", "secret": "s", "nested": {"key": "k"}}));
        let update =
            object(json!({"a": "y", "secret": MASKED_SECRET, "nested": {"key": MASKED_SECRET}}));
        let kept = keep_masked(&stored, &update);
        assert_eq!(
            Value::Object(kept),
            json!({"a": "y", "secret": "s", "nested": {"key": "k"}})
        );
    }

    #[test]
    fn deep_merge_overlays_nested_objects() {
        let merged = deep_merge(
            &object(json!({"a": {"x": 1, "y": 2}, "b": 1})),
            &object(json!({"a": {"y": 3}, "c": 4})),
        );
        assert_eq!(
            Value::Object(merged),
            json!({"a": {"x": 1, "y": 3}, "b": 1, "c": 4})
        );
    }
}
