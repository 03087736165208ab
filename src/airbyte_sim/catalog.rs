//! The simulator's connector catalog: published connection specifications shipped as data files
//! (`connectors/*.json`), used to validate `source_config` and to mask secret fields the way
//! Airbyte does in its answers.

use std::collections::BTreeMap;

use jsonschema::paths::LocationSegment;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::airbyte::error::{FieldError, LocPart};
use crate::airbyte::models::MASKED_SECRET;

const SPECS: [&str; 3] = [
    include_str!("connectors/faker.json"),
    include_str!("connectors/stripe.json"),
    include_str!("connectors/postgres.json"),
];

/// Well-known connector definition ids, for examples and tests.
pub const FAKER_DEFINITION_ID: &str = "dfd88b22-b603-4c3d-aad7-3701784586b1";
pub const STRIPE_DEFINITION_ID: &str = "e094cb9a-26de-4645-8761-65c0c425d1de";
pub const POSTGRES_DEFINITION_ID: &str = "decd338e-5647-4c0b-adf4-da0e75f5a750";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpecFile {
    definition_id: String,
    name: String,
    connection_specification: Value,
}

pub struct Connector {
    pub definition_id: String,
    pub name: String,
    spec: Value,
    validator: jsonschema::Validator,
}

pub struct Catalog {
    connectors: BTreeMap<String, Connector>,
}

impl Catalog {
    /// The shipped catalog. The specs are part of the binary, so a broken file is a build defect.
    pub fn builtin() -> Catalog {
        let connectors = SPECS
            .iter()
            .map(|text| {
                let file: SpecFile =
                    serde_json::from_str(text).expect("shipped connector spec is valid JSON");
                let validator = jsonschema::validator_for(&file.connection_specification)
                    .expect("shipped connector spec is a valid JSON schema");
                (
                    file.definition_id.clone(),
                    Connector {
                        definition_id: file.definition_id,
                        name: file.name,
                        spec: file.connection_specification,
                        validator,
                    },
                )
            })
            .collect();
        Catalog { connectors }
    }

    pub fn get(&self, definition_id: &str) -> Option<&Connector> {
        self.connectors.get(definition_id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Connector> {
        self.connectors.values()
    }
}

impl Connector {
    /// Validates a complete configuration (template defaults merged with the source's own
    /// values). Errors are located under `loc_prefix` (e.g. `body.source_config`) and never quote
    /// the offending value, which may be a secret.
    pub fn validate(&self, config: &Map<String, Value>, loc_prefix: &[&str]) -> Vec<FieldError> {
        let instance = Value::Object(config.clone());
        self.validator
            .iter_errors(&instance)
            .map(|error| {
                let mut loc: Vec<LocPart> = loc_prefix
                    .iter()
                    .map(|part| LocPart::Name(part.to_string()))
                    .collect();
                for segment in error.instance_path().iter() {
                    loc.push(match segment {
                        LocationSegment::Property(name) => LocPart::Name(name.into_owned()),
                        LocationSegment::Index(i) => LocPart::Index(i as u64),
                    });
                }
                match error.kind() {
                    jsonschema::error::ValidationErrorKind::Required { property } => {
                        loc.push(LocPart::Name(
                            property.as_str().unwrap_or_default().to_string(),
                        ));
                        FieldError {
                            loc,
                            msg: "field required".into(),
                            kind: Some("value_error.missing".into()),
                        }
                    }
                    _ => FieldError {
                        loc,
                        msg: error.masked().to_string(),
                        kind: Some("value_error".into()),
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
    ) -> Vec<FieldError> {
        self.validate(config, loc_prefix)
            .into_iter()
            .filter(|error| error.kind.as_deref() != Some("value_error.missing"))
            .collect()
    }

    /// A copy of `config` with every `airbyte_secret` field replaced by the mask.
    pub fn mask(&self, config: &Map<String, Value>) -> Map<String, Value> {
        mask_object(&self.spec, config)
    }

    /// Merges `update` over `stored`, keeping the stored value wherever `update` sends the mask
    /// back for a secret field (what Airbyte does on update).
    pub fn keep_masked_secrets(
        &self,
        stored: &Map<String, Value>,
        update: &Map<String, Value>,
    ) -> Map<String, Value> {
        let mut result = update.clone();
        for (key, value) in update {
            if value.as_str() == Some(MASKED_SECRET)
                && let Some(old) = stored.get(key)
            {
                result.insert(key.clone(), old.clone());
            }
        }
        result
    }
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

    #[test]
    fn postgres_requires_its_documented_fields() {
        let catalog = Catalog::builtin();
        let postgres = catalog.get(POSTGRES_DEFINITION_ID).unwrap();
        let errors = postgres.validate(
            &object(json!({"host": "db", "port": 5432, "database": "app"})),
            &["body", "source_config"],
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path(), "body.source_config.username");
        assert_eq!(errors[0].msg, "field required");
    }

    #[test]
    fn type_errors_do_not_quote_the_value() {
        let catalog = Catalog::builtin();
        let stripe = catalog.get(STRIPE_DEFINITION_ID).unwrap();
        let errors = stripe.validate(
            &object(json!({"account_id": "acct_1", "client_secret": 12345678})),
            &["body", "source_config"],
        );
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert_eq!(errors[0].path(), "body.source_config.client_secret");
        assert!(!errors[0].msg.contains("12345678"), "{}", errors[0].msg);
    }

    #[test]
    fn faker_accepts_an_empty_config() {
        let catalog = Catalog::builtin();
        assert!(
            catalog
                .get(FAKER_DEFINITION_ID)
                .unwrap()
                .validate(&Map::new(), &[])
                .is_empty()
        );
    }

    #[test]
    fn secrets_are_masked_and_masks_keep_the_stored_secret() {
        let catalog = Catalog::builtin();
        let stripe = catalog.get(STRIPE_DEFINITION_ID).unwrap();
        let stored = object(json!({"account_id": "acct_1", "client_secret": "sk_live_x"}));
        let masked = stripe.mask(&stored);
        assert_eq!(masked["client_secret"], MASKED_SECRET);
        assert_eq!(masked["account_id"], "acct_1");
        let update = object(json!({"account_id": "acct_2", "client_secret": MASKED_SECRET}));
        let kept = stripe.keep_masked_secrets(&stored, &update);
        assert_eq!(kept["client_secret"], "sk_live_x");
        assert_eq!(kept["account_id"], "acct_2");
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
